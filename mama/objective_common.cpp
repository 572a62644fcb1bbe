// objective_common.cpp: pieces shared by the MaMA objectives: the two-way
// cross-entropy with diagonal targets, and argument checks.
//
// Two-way CE on a square logit matrix M [n, n] (targets: the diagonal):
//   CE(M)  = (1/n) Σ_r (lse_r − M_rr),   lse_r = log Σ_c e^{M_rc}   (row softmax P)
//   CE(Mᵀ) = (1/n) Σ_c (lse'_c − M_cc),  lse'_c = log Σ_r e^{M_rc}  (column softmax Q)
// ∂CE(M)/∂M_rc = (P_rc − δ_rc)/n and ∂CE(Mᵀ)/∂M_rc = (Q_rc − δ_rc)/n, so
//   d(CE(M) + CE(Mᵀ))/dM = (P + Q − 2I)/n.
// n is a micro-batch (≤ a few dozen), so this runs serially in double.
#include <algorithm>
#include <cmath>

#include "autograd/views.h"
#include "mama/objectives.h"

namespace mama::detail {

double symmetric_ce(const float* M, int64_t n, float* grad) {
    double loss = 0;
    std::vector<double> row_lse(static_cast<size_t>(n)), col_lse(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) {
        double mx = -INFINITY;
        for (int64_t c = 0; c < n; ++c) mx = std::max(mx, double(M[r * n + c]));
        double s = 0;
        for (int64_t c = 0; c < n; ++c) s += std::exp(double(M[r * n + c]) - mx);
        row_lse[size_t(r)] = mx + std::log(s);
    }
    for (int64_t c = 0; c < n; ++c) {
        double mx = -INFINITY;
        for (int64_t r = 0; r < n; ++r) mx = std::max(mx, double(M[r * n + c]));
        double s = 0;
        for (int64_t r = 0; r < n; ++r) s += std::exp(double(M[r * n + c]) - mx);
        col_lse[size_t(c)] = mx + std::log(s);
    }
    for (int64_t i = 0; i < n; ++i) loss += row_lse[size_t(i)] + col_lse[size_t(i)] - 2.0 * double(M[i * n + i]);
    loss /= double(n);
    if (grad) {
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < n; ++c) {
                double m = double(M[r * n + c]);
                double g = std::exp(m - row_lse[size_t(r)]) + std::exp(m - col_lse[size_t(c)]) - (r == c ? 2.0 : 0.0);
                grad[r * n + c] = float(g / double(n));
            }
    }
    return loss;
}

void check_scale(const eng::Tensor& t, const char* op, const char* arg) {
    ENG_CHECK(t.defined(), op, ": ", arg, " is undefined. HINT: pass the log-scale parameter (one element)");
    ENG_CHECK(t.numel() == 1, op, ": ", arg, " must hold one element (the log scale), got shape ",
              eng::shape_str(t.shape()));
    eng::check_dtype(t, eng::DType::f32, op, arg);
}

float scale_value(const eng::Tensor& t, const char* op, const char* arg) {
    check_scale(t, op, arg);
    ENG_CHECK(t.device() == eng::Device::CPU, op, ": ", arg, " must be on the CPU here (internal: any_on_cuda routes GPU inputs)");
    return t.item();
}

std::vector<int64_t> sentence_offsets(const std::vector<int64_t>& counts, int64_t images, int64_t rows,
                                      const char* op) {
    ENG_CHECK(int64_t(counts.size()) == images, op, ": got ", counts.size(), " sentence counts for ", images,
              " images; there must be one caption per image");
    std::vector<int64_t> offsets(counts.size());
    int64_t total = 0;
    for (size_t m = 0; m < counts.size(); ++m) {
        ENG_CHECK(counts[m] >= 1, op, ": caption ", m, " has ", counts[m],
                  " sentences; every caption needs at least one. HINT: a caption without a separator token "
                  "has no sentence features (check the tokenizer's separator id and the truncation)");
        offsets[m] = total;
        total += counts[m];
    }
    ENG_CHECK(total == rows, op, ": the sentence counts sum to ", total, " but sentences has ", rows, " rows");
    return offsets;
}

void check_input(const eng::Tensor& t, int64_t dims, const char* op, const char* arg, const char* layout) {
    ENG_CHECK(t.defined(), op, ": ", arg, " is undefined (expected ", layout, ")");
    ENG_CHECK(t.dim() == dims, op, ": ", arg, " must be ", layout, ", got shape ", eng::shape_str(t.shape()));
    eng::check_dtype(t, eng::DType::f32, op, arg);
    ENG_CHECK(t.device() == eng::Device::CPU, op, ": ", arg, " must be on the CPU here (internal: any_on_cuda routes GPU inputs)");
}

bool any_on_cuda(std::initializer_list<const eng::Tensor*> ts) {
    for (const eng::Tensor* t : ts)
        if (t->defined() && t->device() == eng::Device::CUDA) return true;
    return false;
}

}  // namespace mama::detail
