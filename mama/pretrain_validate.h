// pretrain_validate.h: what the pretraining loop (mama/pretrain.cpp) measures
// on the validation split: the loss as training defines it at that step, and
// the top-1/top-5 retrieval accuracy both ways; and the loader batch as the
// model's input, which training shares.
#pragma once
#include <cstdint>
#include <string>

#include "mama/loader.h"
#include "mama/model.h"

namespace mama {

// A loader batch as the model's input, on `device`.
MamaBatch to_model_batch(const Batch& b, const MamaSpecialIds& ids, eng::Device device);

// Fraction of rows of the square similarity matrix S whose matching column
// (the diagonal) is among the k best of the row.
double topk_diagonal(const eng::Tensor& S, int64_t k);

struct ValResult {
    double loss = 0, i2t1 = 0, i2t5 = 0, t2i1 = 0, t2i5 = 0;  // means over the batches
    int64_t batches = 0;
};

// At most max_batches batches of the validation loader (the same ones every
// time), in eval mode.  global_step: the number of updates done (the late
// losses count from it).
ValResult validate(MamaModel& model, BatchLoader& loader, const MamaSpecialIds& ids, int64_t global_step,
                   int64_t max_batches);

// The value of a train.best_metric (one of best_metric_names(), mama/config.h),
// oriented so that larger is better.
double metric_of(const ValResult& v, const std::string& name);

}  // namespace mama
