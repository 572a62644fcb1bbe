// attention.cpp: argument checks and dispatch for scaled dot-product attention
// (kernels in tensor/cpu/attention.cpp).
#include "tensor/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/attention.h"
#include "tensor/cuda_backend.h"
#include "tensor/index_ops.h"

namespace eng::kernels {

namespace {

const char* kOp = "scaled_dot_product_attention";

// A view the kernels (and the GEMM) can read: each row contiguous and rows at
// least a row apart (packs the tensor otherwise).
Tensor row_contiguous(const Tensor& t) {
    const Shape &s = t.shape(), &st = t.strides();
    bool rows_ok = (s[3] == 1 || st[3] == 1) && (s[2] <= 1 || st[2] >= s[3]) && st[0] >= 0 && st[1] >= 0;
    return t.numel() == 0 || rows_ok ? t : t.contiguous();
}

// t [B, H, rows, c] (rows contiguous) as a kernel operand (T = const float)
// or result (T = float).  With one row its stride is never used to step;
// make it a valid leading dimension.
template <typename T = const float>
cpu::AttnView<T> view_of(const Tensor& t) {
    int64_t st = t.shape()[2] <= 1 ? std::max(t.strides()[2], t.shape()[3]) : t.strides()[2];
    return cpu::AttnView<T>{t.data<float>(), t.strides()[0], t.strides()[1], st};
}
cpu::AttnOperand operand(const Tensor& t) { return view_of(t); }
cpu::AttnOut out_operand(const Tensor& t) { return view_of<float>(t); }

// A new [B, H, T, c] result.  On the CPU it is stored as [B, T, H, c] and
// returned as the permuted view, so that merging the heads afterwards
// (permute(0, 2, 1, 3), reshape to [B, T, H·c]) is a view, not a copy, and so
// is the way back for its gradient.  The GPU kernels write [B, H, T, c] packed.
Tensor heads_result(int64_t B, int64_t H, int64_t T, int64_t c, Device device) {
    if (device == Device::CUDA) return empty({B, H, T, c}, TensorOptions{DType::f32, device});
    return raw_permute(empty({B, T, H, c}), {0, 2, 1, 3});
}

struct Prepared {
    Tensor q, k, v;
    std::vector<uint8_t> keep;  // [B, S] or empty
    std::shared_ptr<void> keep_device;  // CUDA: the same bytes on the GPU (freed with this struct)
    cpu::AttnDims dims;
};

Prepared prepare(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, const Tensor& mask,
                 float score_divisor, const AttentionDropout& dropout = {}, AttentionPath path = AttentionPath::Fused) {
    for (const Tensor* t : {&q, &k, &v}) {
        ENG_CHECK(t->defined(), kOp, ": q, k and v must be defined");
        check_dtype(*t, DType::f32, kOp, t == &q ? "q" : t == &k ? "k" : "v");
        ENG_CHECK(t->dim() == 4, kOp, ": q, k and v must be [B, H, T, d]; got q ", shape_str(q.shape()), ", k ",
                  shape_str(k.shape()), ", v ", shape_str(v.shape()));
        ENG_CHECK(t->device() == q.device(), kOp, ": q, k and v must be on one device; got q on ",
                  device_name(q.device()), ", ", t == &k ? "k" : "v", " on ", device_name(t->device()));
    }
    const Shape &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
    ENG_CHECK(ks[0] == qs[0] && vs[0] == qs[0] && ks[1] == qs[1] && vs[1] == qs[1] && ks[2] == vs[2] &&
                  ks[3] == qs[3],
              kOp, ": shapes do not fit: q ", shape_str(qs), ", k ", shape_str(ks), ", v ", shape_str(vs),
              " (need q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv])");
    ENG_CHECK(qs[3] > 0, kOp, ": head dimension d must be positive, got q ", shape_str(qs));
    ENG_CHECK(vs[3] > 0, kOp, ": value head dimension dv must be positive, got v ", shape_str(vs));
    ENG_CHECK(std::isfinite(score_divisor) && score_divisor > 0.0f, kOp, ": score_divisor must be positive, got ",
              score_divisor);
    Prepared p;
    p.q = row_contiguous(q);
    p.k = row_contiguous(k);
    p.v = row_contiguous(v);
    if (mask.defined()) {
        ENG_CHECK(mask.device() == q.device(), kOp, ": key_padding_mask must be on the same device as q");
        ENG_CHECK(mask.dim() == 2 && mask.shape()[0] == qs[0] && mask.shape()[1] == ks[2], kOp,
                  ": key_padding_mask has shape ", shape_str(mask.shape()), " but must be [B, S] = [", qs[0], ", ",
                  ks[2], "] for k ", shape_str(ks));
        std::vector<float> m = mask.to_vector();
        p.keep.resize(m.size());
        for (size_t i = 0; i < m.size(); ++i) p.keep[i] = m[i] != 0.0f;
    }
    const uint8_t* keep = p.keep.empty() ? nullptr : p.keep.data();
    if (keep && q.is_cuda()) {
        p.keep_device = std::shared_ptr<void>(cuda::alloc(p.keep.size()), [](void* ptr) { cuda::free(ptr); });
        cuda::copy_host_to_device(p.keep_device.get(), p.keep.data(), p.keep.size());
        keep = static_cast<const uint8_t*>(p.keep_device.get());
    }
    p.dims = cpu::AttnDims{qs[0], qs[1], qs[2], ks[2], qs[3], vs[3],
                           float(1.0 / (std::sqrt(double(qs[3])) * double(score_divisor))), causal, keep};
    ENG_CHECK(dropout.p >= 0.0f && dropout.p <= 1.0f, kOp, ": dropout probability ", dropout.p, " is outside [0, 1]");
    ENG_CHECK(dropout.p == 0.0f || (path == AttentionPath::Fused && (!q.is_cuda() || cuda::attention_fused_dropout(p.dims))),
              kOp, ": dropout inside the attention kernel exists only in the fused CPU kernels and the CUDA flash "
              "kernel (head dims up to 128). HINT: select it with cuda::set_attention_kernel(AttentionKernel::flash), "
              "or compute softmax(q·kᵀ) explicitly and apply eng::dropout to it");
    p.dims.dropout = dropout;
    return p;
}

}  // namespace

Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                         const Tensor& key_padding_mask, float score_divisor, Tensor* lse, AttentionPath path,
                         const AttentionDropout& dropout) {
    Prepared p = prepare(q, k, v, causal, key_padding_mask, score_divisor, dropout, path);
    const cpu::AttnDims& n = p.dims;
    Tensor out = heads_result(n.B, n.H, n.T, n.dv, q.device());
    Tensor l = empty({n.B, n.H, n.T}, TensorOptions{DType::f32, q.device()});
    if (q.is_cuda()) {
        // One GPU kernel serves both paths (the plain reference exists on the CPU for tests).
        cuda::attention_forward(out.data<float>(), l.data<float>(), operand(p.q), operand(p.k), operand(p.v), n);
    } else if (out.numel() > 0 || l.numel() > 0) {
        if (path == AttentionPath::Fused)
            cpu::attention_forward(out_operand(out), l.data<float>(), operand(p.q), operand(p.k), operand(p.v), n);
        else
            cpu::attention_reference_forward(out_operand(out), l.data<float>(), operand(p.q), operand(p.k),
                                             operand(p.v), n);
    }
    if (lse) *lse = l;
    return out;
}

namespace {

// Checks the backward's arguments against the forward's shapes.
void check_backward_args(const Tensor& grad_out, const Tensor& q, const Tensor& out, const Tensor& lse,
                         const cpu::AttnDims& n) {
    const Shape out_shape{n.B, n.H, n.T, n.dv};
    ENG_CHECK(grad_out.shape() == out_shape, kOp, ": backward got a gradient of shape ",
              shape_str(grad_out.shape()), " for an output of shape ", shape_str(out_shape));
    ENG_CHECK(out.shape() == out_shape && lse.shape() == Shape({n.B, n.H, n.T}), kOp,
              ": backward needs the forward's out ", shape_str(out_shape), " and lse [B, H, T]");
    check_dtype(grad_out, DType::f32, kOp, "grad_out");
    check_same_device(q, grad_out, kOp);
}

// Runs the backward kernel of `path` into dq, dk, dv ([B, H, ·, ·] views with
// contiguous rows, zero-filled: the kernels accumulate).
void run_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& grad_out, const Prepared& p,
                  const Tensor& out, const Tensor& lse, AttentionPath path) {
    const cpu::AttnDims& n = p.dims;
    if (p.q.is_cuda()) {  // the GPU kernels read and write packed tensors
        Tensor go = grad_out.contiguous(), o = out.contiguous(), l = lse.contiguous();
        cuda::attention_backward(dq.data<float>(), dk.data<float>(), dv.data<float>(), go.data<float>(),
                                 o.data<float>(), l.data<float>(), operand(p.q), operand(p.k), operand(p.v), n);
        return;
    }
    // The upstream gradient usually arrives as the permuted view of a packed
    // [B, T, H·dv] tensor: its rows are contiguous, so it is read in place.
    Tensor go = row_contiguous(grad_out), o = row_contiguous(out), l = lse.contiguous();
    (path == AttentionPath::Fused ? cpu::attention_backward : cpu::attention_reference_backward)(
        out_operand(dq), out_operand(dk), out_operand(dv), operand(go), operand(o), l.data<float>(), operand(p.q),
        operand(p.k), operand(p.v), n);
}

}  // namespace

AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, bool causal, const Tensor& key_padding_mask,
                                  float score_divisor, AttentionPath path, const AttentionDropout& dropout) {
    Prepared p = prepare(q, k, v, causal, key_padding_mask, score_divisor, dropout, path);
    check_backward_args(grad_out, q, out, lse, p.dims);
    TensorOptions opt{DType::f32, q.device()};
    AttentionGrads g{zeros(q.shape(), opt), zeros(k.shape(), opt), zeros(v.shape(), opt)};
    const cpu::AttnDims& n = p.dims;
    if (n.B * n.H * n.T * n.S == 0) return g;
    run_backward(g.dq, g.dk, g.dv, grad_out, p, out, lse, path);
    return g;
}

Tensor attention_backward_packed(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& out, const Tensor& lse, bool causal, const Tensor& key_padding_mask,
                                 float score_divisor, const AttentionDropout& dropout) {
    ENG_CHECK(q.shape() == k.shape() && q.shape() == v.shape(), kOp,
              ": the packed backward needs q, k and v of one shape, got q ", shape_str(q.shape()), ", k ",
              shape_str(k.shape()), ", v ", shape_str(v.shape()));
    if (q.is_cuda()) {
        AttentionGrads g = attention_backward(grad_out, q, k, v, out, lse, causal, key_padding_mask, score_divisor,
                                              AttentionPath::Fused, dropout);
        return stack({g.dq, g.dk, g.dv}, 0);
    }
    Prepared p = prepare(q, k, v, causal, key_padding_mask, score_divisor, dropout);
    check_backward_args(grad_out, q, out, lse, p.dims);
    const cpu::AttnDims& n = p.dims;
    // [B, T, 3, H, d]: the layout of the fused qkv projection the three views
    // came from, so its gradient goes back through the permute and reshape of
    // the model as views.  Returned as [3, B, H, T, d].
    Tensor packed = raw_permute(zeros({n.B, n.T, 3, n.H, n.d}), {2, 0, 3, 1, 4});
    auto part = [&](int64_t i) { return raw_squeeze(raw_narrow(packed, 0, i, 1), 0); };
    if (n.B * n.H * n.T * n.S > 0) run_backward(part(0), part(1), part(2), grad_out, p, out, lse, AttentionPath::Fused);
    return packed;
}

}  // namespace eng::kernels
