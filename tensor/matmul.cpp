// matmul.cpp: batched, broadcasting matrix multiply over strided views.
//
// Each operand's last two dims must be either row-major (stride[-1] == 1) or a
// transposed view (stride[-2] == 1); the GEMM is told which, so transposes made
// by the backward pass cost no copy.  Batch dims are broadcast and collapsed to
// one batch stride when the view allows it (otherwise the operand is packed).
#include "tensor/cpu/gemm.h"
#include "tensor/cuda_backend.h"
#include "tensor/kernels.h"

namespace eng::kernels {

namespace {

struct MatrixOperand {
    Tensor t;        // the (possibly packed) view, batch dims already broadcast
    bool trans;      // the stored matrix is the transpose of the logical one
    int64_t ld;      // leading dimension of the stored matrix
    int64_t stride;  // elements between consecutive matrices (0 = shared)
};

// Prepares a [batch..., R, C] view for gemm_batched.
MatrixOperand prepare(Tensor t, int64_t nbatch_dims) {
    auto try_view = [&](const Tensor& v, MatrixOperand& m) {
        int64_t nd = v.dim();
        const Shape& sh = v.shape();
        const Shape& st = v.strides();
        int64_t rows = sh[size_t(nd - 2)], cols = sh[size_t(nd - 1)];
        // A GEMM reads row r at r·ld: the stride between rows (columns, when
        // transposed) must be at least a row's length.  A broadcast (stride 0)
        // or overlapping one is not a matrix the GEMM can read, so it is packed.
        if ((st[size_t(nd - 1)] == 1 || cols == 1) && (rows == 1 || st[size_t(nd - 2)] >= cols)) {
            m.trans = false;
            m.ld = std::max<int64_t>(rows == 1 ? cols : st[size_t(nd - 2)], std::max<int64_t>(cols, 1));
        } else if ((st[size_t(nd - 2)] == 1 || rows == 1) && (cols == 1 || st[size_t(nd - 1)] >= rows)) {
            m.trans = true;
            m.ld = std::max<int64_t>(cols == 1 ? rows : st[size_t(nd - 1)], std::max<int64_t>(rows, 1));
        } else {
            return false;
        }
        // The batch dims must be expressible as one stride: b_i's stride equals
        // b_{i+1}'s stride times its size, or every batch stride is 0.
        bool all_zero = true;
        for (int64_t d = 0; d < nbatch_dims; ++d)
            if (sh[size_t(d)] > 1 && st[size_t(d)] != 0) all_zero = false;
        if (all_zero) {
            m.stride = 0;
        } else {
            int64_t expect = -1;
            for (int64_t d = nbatch_dims - 1; d >= 0; --d) {
                if (sh[size_t(d)] == 1) continue;
                if (expect == -1) {
                    m.stride = st[size_t(d)];
                    expect = st[size_t(d)] * sh[size_t(d)];
                } else {
                    if (st[size_t(d)] != expect) return false;
                    expect *= sh[size_t(d)];
                }
            }
            if (m.stride == 0) return false;
        }
        m.t = v;
        return true;
    };
    MatrixOperand m{};
    if (try_view(t, m)) return m;
    Tensor packed = t.contiguous();
    bool ok = try_view(packed, m);
    ENG_CHECK(ok, "matmul: internal error preparing an operand");
    return m;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
    check_same_device(a_in, b_in, "matmul");
    check_dtype(a_in, DType::f32, "matmul", "first input");
    check_dtype(b_in, DType::f32, "matmul", "second input");
    ENG_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: both inputs need at least 1 dim, got ",
              shape_str(a_in.shape()), " and ", shape_str(b_in.shape()));
    Tensor a = a_in.dim() == 1 ? raw_unsqueeze(a_in, 0) : a_in;
    Tensor b = b_in.dim() == 1 ? raw_unsqueeze(b_in, 1) : b_in;
    int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
    ENG_CHECK(b.size(-2) == K, "matmul: shapes ", shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
              " cannot be multiplied (", K, " vs ", b.size(-2), ")");
    Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
    Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
    Shape full_a = batch, full_b = batch, out_shape = batch;
    full_a.insert(full_a.end(), {M, K});
    full_b.insert(full_b.end(), {K, N});
    out_shape.insert(out_shape.end(), {M, N});
    int64_t nb = int64_t(batch.size()), count = shape_numel(batch);
    MatrixOperand A = prepare(raw_expand(a, full_a), nb);
    MatrixOperand B = prepare(raw_expand(b, full_b), nb);
    Tensor out = empty(out_shape, TensorOptions{DType::f32, a_in.device()});
    if (out.numel() > 0 && out.is_cuda()) {
        cuda::gemm_batched(A.trans, B.trans, count, M, N, K, 1.0f, A.t.data<float>(), A.ld, A.stride,
                           B.t.data<float>(), B.ld, B.stride, 0.0f, out.data<float>(), std::max<int64_t>(N, 1), M * N);
    } else if (out.numel() > 0) {
        cpu::gemm_batched(A.trans, B.trans, count, M, N, K, 1.0f, A.t.data<float>(), A.ld, A.stride,
                          B.t.data<float>(), B.ld, B.stride, 0.0f, out.data<float>(), std::max<int64_t>(N, 1), M * N);
    }
    // Drop the dims that 1-D operands added.
    Shape final_shape = batch;
    if (a_in.dim() > 1) final_shape.push_back(M);
    if (b_in.dim() > 1) final_shape.push_back(N);
    return out.view(final_shape);
}

}  // namespace eng::kernels
