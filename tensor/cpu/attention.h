// attention.h: CPU kernels of scaled dot-product attention: the fused, tiled
// flash-attention style forward and backward, and a plain materialised
// reference (for tests and as a readable statement of the maths).
//
// Notation (per batch b and head h): Q [T, d], K [S, d], V [S, dv],
//   s_ij = scale · q_i·k_j   (scale = 1 / (√d · score_divisor), chosen by the caller),
//   s_ij = -inf where key j is masked (padding, or causal and j > i),
//   P = softmax_j(s),  O = P·V,  lse_i = log Σ_j exp(s_ij).
// A row whose keys are all masked has lse_i = -inf, O_i = 0 and zero gradient.
#pragma once
#include <cstdint>

namespace eng::cpu {

// A [B, H, rows, cols] tensor whose rows are contiguous (last-dim stride 1):
// element (b, h, t, c) is at p[b·sb + h·sh + t·st + c].  Operands are read
// (AttnOperand); results are written (AttnOut: out, dq, dk, dv), in the layout
// the caller picks, e.g. [B, T, H, d] so that merging the heads is free.
template <typename T>
struct AttnView {
    T* p;
    int64_t sb, sh, st;
    T* at(int64_t b, int64_t h) const { return p + b * sb + h * sh; }
};
using AttnOperand = AttnView<const float>;
using AttnOut = AttnView<float>;

// Dropout on the attention probabilities (training): probability (b, h, i, j)
// is multiplied by DropoutMask(p).at(seed, offset + ((b·H + h)·T + i)·S + j)
// (tensor/cpu/dropout.h: 1/(1-p) where kept, 0 where dropped).  That is the mask eng::dropout
// draws for a packed [B, H, T, S] tensor of probabilities from the same
// generator state, so the fused kernels drop exactly what the materialised
// softmax-then-dropout would.  p = 0: no dropout.
struct AttnDropout {
    float p = 0.0f;
    uint64_t seed = 0, offset = 0;
};

struct AttnDims {
    int64_t B, H, T, S, d, dv;
    float scale;        // multiplies q·k
    bool causal;        // query i sees keys j <= i (top-left aligned when T != S)
    const uint8_t* keep;  // [B, S], 0 = masked key; null = no padding mask
    AttnDropout dropout = {};  // fused kernels on the CPU only (the others require p = 0)
};

// out [B, H, T, dv] (written, any row-contiguous layout), lse [B, H, T] (packed);
// q [B,H,T,d], k [B,H,S,d], v [B,H,S,dv].
// Memory: per thread one Br×Bc score tile and one Br×dv accumulator.  The tiles
// are whole T×S rows only for short heads (T, S <= 512, so at most 512×512);
// longer ones use 64×256 tiles: memory does not grow with T×S.
void attention_forward(AttnOut out, float* lse, AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n);

// dq [B,H,T,d], dk [B,H,S,d], dv [B,H,S,dv] (ACCUMULATED into: zero them
// first); dout, out [B,H,T,dv] and lse [B,H,T] (packed) from attention_forward.
// Memory: per thread two Br×Bc tiles (three with dropout) and T floats (D_i);
// as in the forward, the tiles are at most 512×512 for short heads and 64×256
// for longer ones.
void attention_backward(AttnOut dq, AttnOut dk, AttnOut dv, AttnOperand dout, AttnOperand out, const float* lse,
                        AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n);

// The same two functions computed the plain way, with the T×S score matrix
// of one head materialised (memory T·S per thread).  Same outputs and contract.
void attention_reference_forward(AttnOut out, float* lse, AttnOperand q, AttnOperand k, AttnOperand v,
                                 const AttnDims& n);
void attention_reference_backward(AttnOut dq, AttnOut dk, AttnOut dv, AttnOperand dout, AttnOperand out,
                                  const float* lse, AttnOperand q, AttnOperand k, AttnOperand v, const AttnDims& n);

}  // namespace eng::cpu
