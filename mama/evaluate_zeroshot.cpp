// evaluate_zeroshot.cpp: zero-shot classification (mama-reference.md §9.1) and
// the local-alignment similarity map of one sentence shown in the report.
//
// Zero-shot: v_n = norm(W_v · mean of the pre-norm tokens) (the training image
// feature), u_nc = norm(W_t · Z[L]) of image n's prompt for class c with Z[L]
// the state at the first pad position (§5.5), and s_nc = e^θ ⟨v_n, u_nc⟩.
// The prompts of different images often coincide (same meta prefix), so each
// distinct prompt text is encoded once; in eval mode a text's embedding does
// not depend on the other texts of its batch.
#include <chrono>
#include <cmath>
#include <iostream>
#include <unordered_map>

#include "autograd/ops.h"
#include "mama/evaluate.h"
#include "tensor/check.h"

namespace mama {

using namespace eng;

std::vector<float> zeroshot_logits(LoadedRun& run, EvalTask task, const LoaderDataset& test, const std::string& pooling,
                                   int64_t eval_batch, int64_t workers, bool progress) {
    const int64_t N = test.size(), E = run.model->config.embed_dim;
    ENG_CHECK(N > 0, "zero-shot: the test set '", test.name, "' is empty");
    ENG_CHECK(task == EvalTask::Rsna || int64_t(test.reports.size()) == N, "zero-shot: the test set '", test.name,
              "' has no report fields to build the per-image prompts from");
    // ---- the prompts: distinct texts, and for each item the row of each class ----
    std::vector<std::string> unique;
    std::unordered_map<std::string, int64_t> row_of;
    std::vector<int64_t> rows;  // [N, K]
    int K = 0;
    for (int64_t n = 0; n < N; ++n) {
        std::vector<std::string> p = zeroshot_prompts(task, task == EvalTask::Rsna ? nullptr : &test.reports[size_t(n)],
                                                      test.caption_options);
        if (n == 0) K = int(p.size());
        ENG_CHECK(int(p.size()) == K && K == test.num_classes, "zero-shot: ", p.size(), " prompts for ",
                  test.num_classes, " classes");
        for (std::string& s : p) {
            auto it = row_of.emplace(s, int64_t(unique.size()));
            if (it.second) unique.push_back(std::move(s));
            rows.push_back(it.first->second);
        }
    }
    // Prompts have train.max_len tokens, or fewer where the dataset says so
    // (RSNA's are cut at 72, §1.8).  A prompt that fills them has no pad
    // position: first-pad pooling then reads Z[0], the BOS state, which is the
    // same for every class (§5.5), as in the reference.
    const bool own_length = test.prompt_max_len > 0 && test.prompt_max_len < run.config.train.max_len;
    const int64_t T = own_length ? test.prompt_max_len : run.config.train.max_len;
    const TextFit fit = fit_texts(run.tokenizer, unique, T);
    if (fit.cut > 0 || (fit.full > 0 && pooling == "first_pad"))
        std::cerr << "warning: zero-shot: " << fit.full << " of " << unique.size() << " distinct prompts fill all " << T
                  << " tokens (" << (own_length ? "the prompt length of " + test.name : "train.max_len") << "; "
                  << fit.cut << " of them are longer, so cut)"
                  << (pooling == "first_pad" ? " and first-pad pooling reads their BOS state, identical for every class" : "")
                  << (own_length ? " (as in the reference)\n"
                                 : ". HINT: pretrain with a larger train.max_len (and model.text.positions) or a "
                                   "larger tokenizer vocabulary\n");
    if (progress)
        std::cerr << "== zero-shot: " << N << " test images, " << K << " classes, " << unique.size()
                  << " distinct prompts (" << pooling << " pooling)\n";
    std::vector<float> U = embed_texts(run, unique, pooling, eval_batch, progress, int(T)).to_vector();

    // ---- the image embeddings, through the loader's eval path ----
    LoaderOptions lo;
    lo.batch_size = int(eval_batch);
    lo.image_size = int(run.config.train.image_size);
    lo.max_len = int(run.config.train.max_len);
    lo.transform = LoaderTransform::Eval;
    lo.captions = CaptionMode::None;
    lo.shuffle = false;
    lo.drop_last = false;
    lo.num_workers = int(workers);
    BatchLoader loader(test, nullptr, lo);
    std::vector<float> V(size_t(N * E), 0.0f);
    int64_t done = 0;
    {
        NoGradGuard ng;
        run.model->eval();
        Batch b;
        while (loader.next_in_epoch(b)) {
            std::vector<float> e = run.model->encode_images(run.on_device(b.images)).to_vector();
            for (int64_t j = 0; j < b.size(); ++j)
                std::copy(e.begin() + j * E, e.begin() + (j + 1) * E, V.begin() + b.items[size_t(j)] * E);
            done += b.size();
            if (progress) std::cerr << "\rimage embeddings " << done << "/" << N << std::flush;
        }
    }
    if (progress) std::cerr << "\n";
    ENG_CHECK(done == N, "zero-shot: the loader delivered ", done, " of ", N, " test images");

    // ---- logits ----
    const double scale = std::exp(double(run.model->logit_scale.item()));
    std::vector<float> logits(size_t(N * K));
    for (int64_t n = 0; n < N; ++n)
        for (int c = 0; c < K; ++c) {
            const float* v = &V[size_t(n * E)];
            const float* u = &U[size_t(rows[size_t(n * K + c)] * E)];
            double dot = 0;
            for (int64_t d = 0; d < E; ++d) dot += double(v[d]) * double(u[d]);
            logits[size_t(n * K + c)] = float(scale * dot);
        }
    return logits;
}

// ---- local-alignment map ------------------------------------------------------------

std::vector<std::string> caption_sentences(const std::string& model_text) {
    std::string s = model_text;
    for (const char* tok : {kBosText, kEosText, kPadText})
        for (size_t p; (p = s.find(tok)) != std::string::npos;) s.erase(p, std::string(tok).size());
    std::vector<std::string> out;
    const std::string sep = kSepText;
    size_t start = 0;
    for (size_t p; (p = s.find(sep, start)) != std::string::npos; start = p + sep.size()) {
        std::string piece = s.substr(start, p - start);
        size_t b = piece.find_first_not_of(' '), e = piece.find_last_not_of(' ');
        out.push_back(b == std::string::npos ? "" : piece.substr(b, e - b + 1));
    }
    return out;
}

std::vector<float> local_similarity_map(LoadedRun& run, const Tensor& image, const std::string& model_text, int sentence,
                                        int* grid_h, int* grid_w, std::string* sentence_text, int max_len) {
    ENG_CHECK(image.dim() == 4 && image.size(0) == 1, "local_similarity_map: one image [1, 3, S, S] expected, got ",
              shape_str(image.shape()));
    NoGradGuard ng;
    MamaModel& m = *run.model;
    m.eval();
    // Sentence features: the text states at the separator tokens (§5.5), through
    // φ_t (eval mode: BatchNorm with its running statistics), normalised.
    const int T = max_len > 0 ? std::min(max_len, int(run.config.train.max_len)) : int(run.config.train.max_len);
    Tensor ids, mask;
    tokenize_texts(run.tokenizer, {model_text}, T, ids, mask);
    std::vector<int32_t> v = ids.to_ivector();
    std::vector<int32_t> sep_rows;
    for (size_t t = 0; t < v.size(); ++t)
        if (v[t] == run.special.sep) sep_rows.push_back(int32_t(t));
    ENG_CHECK(!sep_rows.empty(), "local_similarity_map: the text has no separator token within ", T, " tokens");
    int j = std::min<int>(std::max(sentence, 0), int(sep_rows.size()) - 1);
    Tensor Z = m.text.forward(run.on_device(ids), run.on_device(mask));  // [1, T, Dt]
    Tensor s = index_select(reshape(Z, {Z.size(1), Z.size(2)}), 0, from_ivector({sep_rows[size_t(j)]}, {1}, Z.device()));
    std::vector<float> u = l2_normalize(m.text_local.forward(s)).to_vector();
    // Patch embeddings: the normalised patch tokens through φ_v, normalised.
    auto out = m.image.forward(run.on_device(image), m.config.grayscale_input);
    int64_t N = out.patch_tokens.size(1), D = out.patch_tokens.size(2), E = int64_t(u.size());
    std::vector<float> p = l2_normalize(m.image_local.forward(reshape(out.patch_tokens, {N, D}))).to_vector();
    int gh = int(image.size(2) / m.config.vit.patch), gw = int(image.size(3) / m.config.vit.patch);
    ENG_CHECK(int64_t(gh) * gw == N, "local_similarity_map: ", N, " patch tokens for a ", gh, "x", gw, " grid");
    std::vector<float> grid(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
        double dot = 0;
        for (int64_t d = 0; d < E; ++d) dot += double(p[size_t(i * E + d)]) * double(u[size_t(d)]);
        grid[size_t(i)] = float(dot);
    }
    *grid_h = gh;
    *grid_w = gw;
    if (sentence_text) {
        std::vector<std::string> sents = caption_sentences(model_text);
        *sentence_text = size_t(j) < sents.size() ? sents[size_t(j)] : "";
    }
    return grid;
}

}  // namespace mama
