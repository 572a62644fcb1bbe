// schedule.h: learning-rate schedules, as functions of the optimiser step k.
//
// Cosine with linear warmup, exactly as the MaMA reference computes it:
//   k < W:  lr = min + (max - min) · k / W
//   else:   lr = min + (max - min) · ½ (1 + cos(π (k - W) / (T - W)))
// Constant, and linear decay from max to min over T steps, are the others.
#pragma once
#include <cstdint>
#include <string>

namespace eng::nn {

struct Schedule {
    enum class Kind { Cosine, Constant, Linear } kind = Kind::Cosine;
    double max_lr = 1e-3;
    double min_lr = 0.0;
    int64_t warmup_steps = 0;
    int64_t total_steps = 1;
    double lr_at(int64_t step) const;
    static Kind parse_kind(const std::string& name);  // "cosine", "constant", "linear"
};

}  // namespace eng::nn
