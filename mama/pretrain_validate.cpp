// pretrain_validate.cpp: validation of the pretraining loop (see
// pretrain_validate.h).
#include "mama/pretrain_validate.h"

#include "autograd/ops.h"

namespace mama {

using namespace eng;

MamaBatch to_model_batch(const Batch& b, const MamaSpecialIds& ids, Device device) {
    MamaBatch m;
    auto put = [&](const Tensor& t) { return t.defined() ? t.to(device) : t; };
    m.images = put(b.images);
    m.partner_images = put(b.partner_images);
    m.input_ids = put(b.input_ids);
    m.attention_mask = put(b.attention_mask);
    m.sep_token_id = ids.sep;
    m.pad_token_id = ids.pad;
    return m;
}

double topk_diagonal(const Tensor& S, int64_t k) {
    int64_t n = S.size(0);
    std::vector<float> s = S.to_vector();
    int64_t hits = 0;
    for (int64_t r = 0; r < n; ++r) {
        float d = s[size_t(r * n + r)];
        int64_t better = 0;
        for (int64_t c = 0; c < n; ++c)
            if (s[size_t(r * n + c)] > d) ++better;
        if (better < k) ++hits;
    }
    return double(hits) / double(n);
}

ValResult validate(MamaModel& model, BatchLoader& loader, const MamaSpecialIds& ids, int64_t global_step,
                   int64_t max_batches) {
    NoGradGuard ng;
    model.eval();
    loader.set_epoch(0);  // the same validation batches every time
    ValResult r;
    Batch b;
    while (r.batches < max_batches && loader.next_in_epoch(b)) {
        if (b.size() < 2) break;
        // The same loss as training at this step (the reference's val_loss), in eval
        // mode as Lightning validates: no dropout, BatchNorm with running statistics.
        MamaLosses l = model.forward(to_model_batch(b, ids, model.logit_scale.device()), global_step);
        r.loss += l.total.item();
        Tensor S = matmul(l.image_emb, transpose(l.text_emb, 0, 1));
        Tensor St = transpose(S, 0, 1).contiguous();
        r.i2t1 += topk_diagonal(S, 1), r.i2t5 += topk_diagonal(S, 5);
        r.t2i1 += topk_diagonal(St, 1), r.t2i5 += topk_diagonal(St, 5);
        ++r.batches;
    }
    if (r.batches) {
        double n = double(r.batches);
        r.loss /= n, r.i2t1 /= n, r.i2t5 /= n, r.t2i1 /= n, r.t2i5 /= n;
    }
    model.train();
    return r;
}

double metric_of(const ValResult& v, const std::string& name) {
    if (name == "val_loss") return -v.loss;  // larger is better for every metric here
    if (name == "val_i2t_top1") return v.i2t1;
    if (name == "val_i2t_top5") return v.i2t5;
    if (name == "val_t2i_top1") return v.t2i1;
    if (name == "val_t2i_top5") return v.t2i5;
    ENG_FAIL("train.best_metric '", name, "' is in best_metric_names() (mama/config.h) but metric_of has no value for it");
}

}  // namespace mama
