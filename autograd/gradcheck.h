// gradcheck.h: compares autograd gradients with central finite differences.
//
// The function's output (any shape) is reduced to a scalar with random weights,
// L = Σ wᵢ·fᵢ(x), so the upstream gradient is not all ones.  For every checked
// element x_j:  numeric = (L(x_j + ε) - L(x_j - ε)) / 2ε,  with L summed in
// double (2ε: the step actually taken, x_j ± ε rounded to float).  In f32, the rounding error of this estimate is about
// 1e-7·|L|/ε, so ε = 1e-3 and a tolerance of atol + rtol·|numeric| with
// atol ≈ 1e-3..5e-3 and rtol ≈ 1e-2 separates real bugs (errors of O(1)) from
// noise.  Non-smooth points (relu at 0, max ties) must be avoided by the caller.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace eng {

struct GradcheckOptions {
    double eps = 1e-3;
    double atol = 2e-3;
    double rtol = 1e-2;
    uint64_t seed = 1234;
    int64_t max_checks_per_input = 400;  // larger inputs are checked on a spread-out subset
};

struct GradcheckResult {
    bool ok = true;
    double max_abs_error = 0;
    std::string report;  // the worst mismatches, "input i[j]: autograd a vs numeric n"
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs that require grad are checked; others are held fixed.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

}  // namespace eng
