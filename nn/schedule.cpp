// schedule.cpp: learning-rate schedules (formulas in schedule.h).
#include "nn/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/check.h"

namespace eng::nn {

double Schedule::lr_at(int64_t k) const {
    switch (kind) {
        case Kind::Constant: return max_lr;
        case Kind::Linear: {
            double frac = std::min(1.0, double(k) / double(std::max<int64_t>(total_steps, 1)));
            return max_lr + (min_lr - max_lr) * frac;
        }
        case Kind::Cosine: {
            if (k < warmup_steps) return min_lr + (max_lr - min_lr) * double(k) / double(warmup_steps);
            int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
            double progress = std::min(1.0, double(k - warmup_steps) / double(span));
            return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
        }
    }
    return max_lr;
}

Schedule::Kind Schedule::parse_kind(const std::string& name) {
    if (name == "cosine") return Kind::Cosine;
    if (name == "constant") return Kind::Constant;
    if (name == "linear") return Kind::Linear;
    ENG_FAIL("unknown learning-rate schedule '", name, "' (expected cosine, constant or linear)");
}

}  // namespace eng::nn
