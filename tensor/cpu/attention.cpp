// attention.cpp: CPU scaled dot-product attention, fused (flash-attention
// style) and plain reference, forward and backward.
//
// Fused forward (per batch·head and block of Br query rows, one task each):
// walk the keys in blocks of Bc, keeping for every row the running maximum m,
// the running sum l = Σ exp(s - m) and the unnormalised output acc = Σ exp(s - m)·v.
// When a new block raises the maximum to m', the old sums are rescaled by
// exp(m - m') (the "online softmax"), so at the end O = acc / l and
// lse = m + log l exactly as if the whole row had been seen at once.  Only the
// Br×Bc score tile exists at any time: memory does not grow with T×S.
//
// Fused backward: with P = exp(s - lse) recomputed tile by tile from the saved
// lse, and dO the upstream gradient,
//   dV = Pᵀ·dO,   dP = dO·Vᵀ,   dS = P ∘ (dP - D),   D_i = Σ_j P_ij dP_ij = rowsum(dO ∘ O)_i,
//   dQ = scale · dS·K,   dK = scale · dSᵀ·Q.
// (softmax Jacobian: ∂P_ij/∂s_ik = P_ij(δ_jk - P_ik), so dS_ik = P_ik(dP_ik - Σ_j P_ij dP_ij),
// and Σ_j P_ij dP_ij = Σ_j P_ij (dO_i·v_j) = dO_i·O_i.)
// One task per batch·head: the key blocks form the outer loop (dK_j, dV_j
// complete in it), the query blocks the inner one, and dQ_i collects its
// contributions in increasing key-block order.  Each gradient element is thus
// summed by one thread in a fixed order: results do not depend on the number
// of threads.  Parallelism is over B·H (enough for the training shapes: 6-20
// heads times the batch); splitting a head further would need either atomics
// or a second pass over the scores.
//
// Key-tile sizes depend only on the shapes; the forward's query-tile height
// may also depend on the thread count (query_tile), but a row's arithmetic does
// not depend on it, so results never depend on the thread count.  Keys are taken whole when a row has at most kWholeKeys of them (the
// ViT's 261 or a 128-token caption), so each tile is one GEMM over all keys
// and the online softmax degenerates to a plain one; longer rows (ViT-B's
// 1374 tokens) use tiles of kBcLong keys.  Likewise the backward takes a
// short non-causal head's query rows whole (one tile per head), else blocks of
// kBr.  Bigger tiles mean fewer and larger GEMM calls, which matters because
// every call packs its operands: K and V are packed once per head rather than
// once per 64 rows (the ViT's backward, 261 tokens, runs about 5 % faster).
// Dropout on the probabilities (training GPT-2, attn_pdrop): the forward
// multiplies each exp(s − m) tile by the mask Z ∈ {0, 1/(1−p)} after the
// online softmax has summed it into l (softmax first, then dropout), so
// O = (P∘Z)·V; the backward redraws Z from the counters (nothing of size T×S
// is stored): dV = (P∘Z)ᵀ·dO, dP = (dO·Vᵀ)∘Z, and D_i = Σ_j P_ij dP_ij is still
// dO_i·O_i, so dS = P∘(dP − D) is unchanged.
// All block products go through eng::cpu::gemm (which runs serially inside
// these parallel regions), so they follow the matmul precision switch: under
// bf16 the tile products take the bf16 route of gemm.h (on AMD's dot-product
// kernel, about 20 % faster), while the softmax stays f32.
#include "tensor/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "tensor/cpu/dropout.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/rows.h"

namespace eng::cpu {

namespace {

constexpr int64_t kBr = 64;           // query rows per tile
constexpr int64_t kWholeKeys = 512;   // rows with at most this many keys: one key tile
constexpr int64_t kBcLong = 256;      // keys per tile for longer rows
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Threads only pay off above ~0.25 MFLOP: waking a team costs microseconds
// (much more on a loaded machine), and gradcheck runs thousands of tiny calls.
bool worth_threads(const AttnDims& n, int64_t tasks) {
    return tasks > 1 && n.B * n.H * n.T * n.S * (n.d + n.dv) > (int64_t(1) << 18);
}

// Sets masked scores of a rows×cols tile (row stride ld) to -inf.
// Tile row r is query i0 + r, tile column c is key j0 + c.
void mask_tile(float* s, int64_t ld, int64_t rows, int64_t cols, int64_t i0, int64_t j0, const AttnDims& n,
               int64_t b) {
    const uint8_t* keep = n.keep ? n.keep + b * n.S + j0 : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
        float* row = s + r * ld;
        if (keep)
            for (int64_t c = 0; c < cols; ++c)
                if (!keep[c]) row[c] = kNegInf;
        if (n.causal)
            for (int64_t c = std::max<int64_t>(0, i0 + r - j0 + 1); c < cols; ++c) row[c] = kNegInf;
    }
}

// Keys per tile for rows of S keys (at least 1, so empty rows still loop safely).
int64_t key_tile(int64_t S) { return S <= kWholeKeys ? std::max<int64_t>(S, 1) : kBcLong; }

// Row stride of a score tile of kbc keys: whole 16-float vectors, so that the
// exp loops never fall into a scalar tail (the ViT's 261 keys would leave 5
// scalar exps a row, which took about a third of the softmax's time).
int64_t tile_stride(int64_t kbc) { return (kbc + 15) / 16 * 16; }

// Fills columns [cols, tile_stride(cols)) of a rows × ld tile with -inf: the
// padding then adds nothing to a row's max or sum and becomes exp(-inf) = 0.
void pad_tile(float* s, int64_t ld, int64_t rows, int64_t cols) {
    const int64_t padded = tile_stride(cols);
    for (int64_t r = 0; r < rows; ++r) std::fill(s + r * ld + cols, s + r * ld + padded, kNegInf);
}

// Query rows per forward task: a whole head when its rows are short, not
// causal (64-row tiles skip the hidden half of a causal head) and there are
// heads enough for every thread; else kBr.  A whole head packs K and V once
// instead of once per 64 rows: the ViT's forward (261 tokens) runs about 12 %
// faster.  Each row's arithmetic does not depend on the tile, so neither do
// the results.
int64_t query_tile(const AttnDims& n) {
    const bool whole = !n.causal && n.T <= kWholeKeys && n.S <= kWholeKeys &&
                       n.B * n.H >= 4 * int64_t(omp_get_max_threads());
    return whole ? std::max<int64_t>(n.T, 1) : kBr;
}

// Query rows per backward tile: a whole head when it is short and not causal
// (one product per operand and head, so K and V are packed once rather than
// once per 64 rows), else kBr.
int64_t backward_query_tile(const AttnDims& n) {
    const bool whole = !n.causal && n.T <= kWholeKeys && n.S <= kWholeKeys;
    return whole ? std::max<int64_t>(n.T, 1) : kBr;
}

// Keys a query block [i0, i0 + rows) can see at all: [0, end).
int64_t key_end(const AttnDims& n, int64_t i0, int64_t rows) {
    return n.causal ? std::min(n.S, i0 + rows) : n.S;
}

// ---- the per-row work on a score tile -------------------------------------------------
// Written as plain loops over vm::exp_f (vecmath.h) and compiled twice, for
// AVX2 and AVX-512 (the *_avx512 wrappers), like the softmax of softmax.cpp.

// Forward: turns the scores of a rows × cols tile (row stride ld) into
// exp(s - m_new) in place, and updates each row's running max m, running sum
// l and its row of acc (the online softmax, see the top of the file).
ENG_ROW_INLINE void online_softmax_tile(float* s, int64_t ld, int64_t rows, int64_t cols, float* m, float* l,
                                        float* acc, int64_t dv) {
    for (int64_t r = 0; r < rows; ++r) {
        float* __restrict row = s + r * ld;
        float mx = kNegInf;
#pragma omp simd reduction(max : mx)
        for (int64_t c = 0; c < cols; ++c) mx = row[c] > mx ? row[c] : mx;
        const float m_new = std::max(m[r], mx);
        if (m_new == kNegInf) {  // every key so far masked: this tile adds nothing
            std::fill(row, row + cols, 0.0f);
            continue;
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < cols; ++c) {
            const float p = vm::exp_f(row[c] - m_new);  // masked: exp(-inf) = 0
            row[c] = p;
            sum += p;
        }
        const float corr = vm::exp_f(m[r] - m_new);  // 0 when m[r] = -inf
        if (corr != 1.0f) {
            float* __restrict a = acc + r * dv;
#pragma omp simd
            for (int64_t c = 0; c < dv; ++c) a[c] *= corr;
        }
        l[r] = l[r] * corr + sum;
        m[r] = m_new;
    }
}
ENG_AVX512 void online_softmax_tile_avx512(float* s, int64_t ld, int64_t rows, int64_t cols, float* m, float* l,
                                           float* acc, int64_t dv) {
    online_softmax_tile(s, ld, rows, cols, m, l, acc, dv);
}
void online_softmax_tile_avx2(float* s, int64_t ld, int64_t rows, int64_t cols, float* m, float* l, float* acc,
                              int64_t dv) {
    online_softmax_tile(s, ld, rows, cols, m, l, acc, dv);
}

// Backward: P = exp(s - lse) in place (rows whose every key is masked, lse =
// -inf, get P = 0).
ENG_ROW_INLINE void probs_tile(float* s, int64_t ld, int64_t rows, int64_t cols, const float* lse) {
    for (int64_t r = 0; r < rows; ++r) {
        float* __restrict row = s + r * ld;
        const float li = lse[r];
        if (li == kNegInf) {
            std::fill(row, row + cols, 0.0f);
            continue;
        }
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) row[c] = vm::exp_f(row[c] - li);
    }
}
ENG_AVX512 void probs_tile_avx512(float* s, int64_t ld, int64_t rows, int64_t cols, const float* lse) {
    probs_tile(s, ld, rows, cols, lse);
}
void probs_tile_avx2(float* s, int64_t ld, int64_t rows, int64_t cols, const float* lse) {
    probs_tile(s, ld, rows, cols, lse);
}

// Backward: dS = P ∘ (dP - D_i), written over P.
ENG_ROW_INLINE void score_grad_tile(float* p, const float* dp, int64_t ld, int64_t rows, int64_t cols,
                                    const float* D) {
    for (int64_t r = 0; r < rows; ++r) {
        float* __restrict row = p + r * ld;
        const float* __restrict g = dp + r * ld;
        const float Di = D[r];
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) row[c] = row[c] * (g[c] - Di);
    }
}
ENG_AVX512 void score_grad_tile_avx512(float* p, const float* dp, int64_t ld, int64_t rows, int64_t cols,
                                       const float* D) {
    score_grad_tile(p, dp, ld, rows, cols, D);
}
void score_grad_tile_avx2(float* p, const float* dp, int64_t ld, int64_t rows, int64_t cols, const float* D) {
    score_grad_tile(p, dp, ld, rows, cols, D);
}

// Backward: D_i = dO_i · O_i for each of `rows` rows (a vector sum, not a
// scalar chain: the ViT's 261 rows × 64 per head were 1 % of the step).
ENG_ROW_INLINE void row_dots(float* D, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t rows,
                             int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* __restrict x = a + r * lda;
        const float* __restrict y = b + r * ldb;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < cols; ++c) s += x[c] * y[c];
        D[r] = s;
    }
}
ENG_AVX512 void row_dots_avx512(float* D, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t rows,
                                int64_t cols) {
    row_dots(D, a, lda, b, ldb, rows, cols);
}
void row_dots_avx2(float* D, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t rows, int64_t cols) {
    row_dots(D, a, lda, b, ldb, rows, cols);
}

// Dropout on a rows × cols tile whose element (r, c) is probability
// (b, h, i0 + r, j0 + c), S keys a row: multiplied by the factor of the mask of
// AttnDropout (`first` is the counter of (b, h, i0, j0)).  The draw is a 64-bit
// hash: AVX-512DQ multiplies those in vectors, hence the two copies.
ENG_ROW_INLINE void dropout_tile(float* s, int64_t ld, int64_t rows, int64_t cols, uint64_t seed, uint64_t first,
                                 int64_t S, DropoutMask dm) {
    for (int64_t r = 0; r < rows; ++r) {
        float* __restrict row = s + r * ld;
        const uint64_t base = first + uint64_t(r * S);
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) row[c] *= dm.at(seed, base + uint64_t(c));
    }
}
ENG_AVX512 void dropout_tile_avx512(float* s, int64_t ld, int64_t rows, int64_t cols, uint64_t seed, uint64_t first,
                                    int64_t S, DropoutMask dm) {
    dropout_tile(s, ld, rows, cols, seed, first, S, dm);
}
void dropout_tile_avx2(float* s, int64_t ld, int64_t rows, int64_t cols, uint64_t seed, uint64_t first, int64_t S,
                       DropoutMask dm) {
    dropout_tile(s, ld, rows, cols, seed, first, S, dm);
}

// Applies the attention dropout of n (if any) to the tile at (b, h, i0, j0).
void drop_tile(float* s, int64_t ld, int64_t rows, int64_t cols, const AttnDims& n, int64_t b, int64_t h, int64_t i0,
               int64_t j0, bool wide) {
    if (n.dropout.p <= 0.0f) return;
    const DropoutMask dm(n.dropout.p);
    const uint64_t first = n.dropout.offset + uint64_t(((b * n.H + h) * n.T + i0) * n.S + j0);
    if (wide) dropout_tile_avx512(s, ld, rows, cols, n.dropout.seed, first, n.S, dm);
    else dropout_tile_avx2(s, ld, rows, cols, n.dropout.seed, first, n.S, dm);
}

}  // namespace

void attention_forward(AttnOut out, float* lse, AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n) {
    const int64_t br = query_tile(n), nqb = (n.T + br - 1) / br, tasks = n.B * n.H * nqb;
    const int64_t dv = n.dv, kBc = key_tile(n.S), ld = tile_stride(kBc);
    const bool wide = use_avx512();
#pragma omp parallel if (worth_threads(n, tasks))
    {
        std::vector<float> sbuf(static_cast<size_t>(br * ld)), acc(static_cast<size_t>(br * dv));
        std::vector<float> m(static_cast<size_t>(br)), l(static_cast<size_t>(br));
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; ++task) {
            const int64_t bh = task / nqb, b = bh / n.H, h = bh % n.H;
            const int64_t i0 = (task % nqb) * br, rows = std::min(br, n.T - i0);
            const float* Q = q.at(b, h) + i0 * q.st;
            const float* K = k.at(b, h);
            const float* V = v.at(b, h);
            std::fill(m.begin(), m.end(), kNegInf);
            std::fill(l.begin(), l.end(), 0.0f);
            std::fill(acc.begin(), acc.end(), 0.0f);
            const int64_t kend = key_end(n, i0, rows);
            for (int64_t j0 = 0; j0 < kend; j0 += kBc) {
                const int64_t cols = std::min(kBc, kend - j0), padded = tile_stride(cols);
                float* s = sbuf.data();
                gemm(false, true, rows, cols, n.d, n.scale, Q, q.st, K + j0 * k.st, k.st, 0.0f, s, ld);
                mask_tile(s, ld, rows, cols, i0, j0, n, b);
                pad_tile(s, ld, rows, cols);
                if (wide) online_softmax_tile_avx512(s, ld, rows, padded, m.data(), l.data(), acc.data(), dv);
                else online_softmax_tile_avx2(s, ld, rows, padded, m.data(), l.data(), acc.data(), dv);
                // Dropout after l has summed the kept and the dropped alike
                // (softmax first, then dropout): only the product with V sees it.
                drop_tile(s, ld, rows, cols, n, b, h, i0, j0, wide);
                gemm(false, false, rows, dv, cols, 1.0f, s, ld, V + j0 * v.st, v.st, 1.0f, acc.data(), dv);
            }
            float* O = out.at(b, h) + i0 * out.st;
            float* L = lse + (b * n.H + h) * n.T + i0;
            for (int64_t r = 0; r < rows; ++r) {
                if (l[r] > 0.0f) {
                    const float inv = 1.0f / l[r];
                    for (int64_t c = 0; c < dv; ++c) O[r * out.st + c] = acc[size_t(r * dv + c)] * inv;
                    L[r] = m[r] + std::log(l[r]);
                } else {  // fully masked row: defined as zero output
                    std::fill(O + r * out.st, O + r * out.st + dv, 0.0f);
                    L[r] = kNegInf;
                }
            }
        }
    }
}

void attention_backward(AttnOut dq, AttnOut dk, AttnOut dv, AttnOperand dout, AttnOperand out, const float* lse,
                        AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n) {
    const int64_t BH = n.B * n.H, d = n.d, dvn = n.dv, kBc = key_tile(n.S), br = backward_query_tile(n);
    const int64_t ld = tile_stride(kBc);
    const bool wide = use_avx512();
#pragma omp parallel if (worth_threads(n, BH))
    {
        const bool dropping = n.dropout.p > 0.0f;
        std::vector<float> pbuf(size_t(br * ld)), dpbuf(size_t(br * ld)), D(size_t(n.T));
        std::vector<float> pzbuf(dropping ? size_t(br * ld) : 0);  // P with the dropout applied
#pragma omp for schedule(dynamic, 1)
        for (int64_t bh = 0; bh < BH; ++bh) {
            const int64_t b = bh / n.H, h = bh % n.H;
            const float* Q = q.at(b, h);
            const float* K = k.at(b, h);
            const float* V = v.at(b, h);
            const float* dO = dout.at(b, h);
            const float* O = out.at(b, h);
            const float* L = lse + bh * n.T;
            float* dQ = dq.at(b, h);
            float* dK = dk.at(b, h);
            float* dV = dv.at(b, h);
            if (wide) row_dots_avx512(D.data(), dO, dout.st, O, out.st, n.T, dvn);
            else row_dots_avx2(D.data(), dO, dout.st, O, out.st, n.T, dvn);
            for (int64_t j0 = 0; j0 < n.S; j0 += kBc) {
                const int64_t cols = std::min(kBc, n.S - j0);
                // Causal: query i sees key j only if i >= j, so start at the block holding row j0.
                const int64_t first = n.causal ? (j0 / br) * br : 0;
                for (int64_t i0 = first; i0 < n.T; i0 += br) {
                    const int64_t rows = std::min(br, n.T - i0);
                    float* P = pbuf.data();
                    float* dP = dpbuf.data();
                    gemm(false, true, rows, cols, d, n.scale, Q + i0 * q.st, q.st, K + j0 * k.st, k.st, 0.0f, P, ld);
                    mask_tile(P, ld, rows, cols, i0, j0, n, b);
                    pad_tile(P, ld, rows, cols);
                    if (wide) probs_tile_avx512(P, ld, rows, tile_stride(cols), L + i0);
                    else probs_tile_avx2(P, ld, rows, tile_stride(cols), L + i0);
                    // With dropout Z (O = (P∘Z)·V): dV_j += (P∘Z)ᵀ dO_i and dP = (dO_i V_jᵀ)∘Z;
                    // D_i = Σ_j P_ij dP_ij is still dO_i·O_i, and dS below is unchanged.
                    const float* Pz = P;
                    if (dropping) {
                        std::copy(P, P + rows * ld, pzbuf.data());
                        drop_tile(pzbuf.data(), ld, rows, cols, n, b, h, i0, j0, wide);
                        Pz = pzbuf.data();
                    }
                    // dV_j += Pᵀ dO_i
                    gemm(true, false, cols, dvn, rows, 1.0f, Pz, ld, dO + i0 * dout.st, dout.st, 1.0f,
                         dV + j0 * dv.st, dv.st);
                    // dP = dO_i V_jᵀ
                    gemm(false, true, rows, cols, dvn, 1.0f, dO + i0 * dout.st, dout.st, V + j0 * v.st, v.st, 0.0f,
                         dP, ld);
                    drop_tile(dP, ld, rows, cols, n, b, h, i0, j0, wide);
                    // dS = P ∘ (dP - D_i), written over P
                    if (wide) score_grad_tile_avx512(P, dP, ld, rows, cols, D.data() + i0);
                    else score_grad_tile_avx2(P, dP, ld, rows, cols, D.data() + i0);
                    // dK_j += scale dSᵀ Q_i ;  dQ_i += scale dS K_j
                    gemm(true, false, cols, d, rows, n.scale, P, ld, Q + i0 * q.st, q.st, 1.0f, dK + j0 * dk.st,
                         dk.st);
                    gemm(false, false, rows, d, cols, n.scale, P, ld, K + j0 * k.st, k.st, 1.0f, dQ + i0 * dq.st,
                         dq.st);
                }
            }
        }
    }
}

// ---- reference: one head's T×S matrices materialised ----------------------------------

namespace {

// s = scale·Q·Kᵀ for one head, masked, and P = softmax(s) (rows with every key
// masked get P = 0 and lse = -inf).  Plain std::exp, the classic two-pass softmax.
void reference_probs(std::vector<float>& P, float* lse_row, const float* Q, const float* K, int64_t b,
                     const AttnOperand& q, const AttnOperand& k, const AttnDims& n) {
    P.assign(size_t(n.T * n.S), 0.0f);
    if (n.T == 0 || n.S == 0) {
        for (int64_t i = 0; i < n.T; ++i) lse_row[i] = kNegInf;
        return;
    }
    gemm(false, true, n.T, n.S, n.d, n.scale, Q, q.st, K, k.st, 0.0f, P.data(), n.S);
    mask_tile(P.data(), n.S, n.T, n.S, 0, 0, n, b);
    for (int64_t i = 0; i < n.T; ++i) {
        float* row = P.data() + i * n.S;
        float mx = kNegInf;
        for (int64_t j = 0; j < n.S; ++j) mx = std::max(mx, row[j]);
        if (mx == kNegInf) {
            std::fill(row, row + n.S, 0.0f);
            lse_row[i] = kNegInf;
            continue;
        }
        double sum = 0.0;
        for (int64_t j = 0; j < n.S; ++j) sum += std::exp(double(row[j]) - mx);
        for (int64_t j = 0; j < n.S; ++j) row[j] = float(std::exp(double(row[j]) - mx) / sum);
        lse_row[i] = mx + float(std::log(sum));
    }
}

}  // namespace

void attention_reference_forward(AttnOut out, float* lse, AttnOperand q, AttnOperand k, AttnOperand v,
                                 const AttnDims& n) {
    const int64_t BH = n.B * n.H;
#pragma omp parallel if (worth_threads(n, BH))
    {
        std::vector<float> P;
#pragma omp for schedule(dynamic, 1)
        for (int64_t bh = 0; bh < BH; ++bh) {
            const int64_t b = bh / n.H, h = bh % n.H;
            reference_probs(P, lse + bh * n.T, q.at(b, h), k.at(b, h), b, q, k, n);
            float* O = out.at(b, h);
            if (n.S == 0)
                for (int64_t i = 0; i < n.T; ++i) std::fill(O + i * out.st, O + i * out.st + n.dv, 0.0f);
            else
                gemm(false, false, n.T, n.dv, n.S, 1.0f, P.data(), n.S, v.at(b, h), v.st, 0.0f, O, out.st);
        }
    }
}

void attention_reference_backward(AttnOut dq, AttnOut dk, AttnOut dv, AttnOperand dout, AttnOperand, const float*,
                                  AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n) {
    // Recomputes P from scratch (ignores the saved out and lse) and uses
    // D_i = Σ_j P_ij dP_ij directly, an independent check of the fused path's
    // D_i = rowsum(dO ∘ O).
    const int64_t BH = n.B * n.H;
    if (n.T == 0 || n.S == 0) return;
#pragma omp parallel if (worth_threads(n, BH))
    {
        std::vector<float> P, dP(size_t(n.T * n.S)), lse(size_t(n.T));
#pragma omp for schedule(dynamic, 1)
        for (int64_t bh = 0; bh < BH; ++bh) {
            const int64_t b = bh / n.H, h = bh % n.H;
            const float* Q = q.at(b, h);
            const float* K = k.at(b, h);
            const float* V = v.at(b, h);
            const float* dO = dout.at(b, h);
            reference_probs(P, lse.data(), Q, K, b, q, k, n);
            gemm(true, false, n.S, n.dv, n.T, 1.0f, P.data(), n.S, dO, dout.st, 1.0f, dv.at(b, h), dv.st);
            gemm(false, true, n.T, n.S, n.dv, 1.0f, dO, dout.st, V, v.st, 0.0f, dP.data(), n.S);
            for (int64_t i = 0; i < n.T; ++i) {
                float* p = P.data() + i * n.S;
                const float* g = dP.data() + i * n.S;
                double Di = 0.0;
                for (int64_t j = 0; j < n.S; ++j) Di += double(p[j]) * g[j];
                for (int64_t j = 0; j < n.S; ++j) p[j] = p[j] * (g[j] - float(Di));
            }
            gemm(true, false, n.S, n.d, n.T, n.scale, P.data(), n.S, Q, q.st, 1.0f, dk.at(b, h), dk.st);
            gemm(false, false, n.T, n.d, n.S, n.scale, P.data(), n.S, K, k.st, 1.0f, dq.at(b, h), dq.st);
        }
    }
}

}  // namespace eng::cpu
