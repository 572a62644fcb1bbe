// cuda_backend.h: what tensor/ (and autograd/, nn/) need from the CUDA layer, declared once.
//
// cuda/ implements these, one file per family (device.cu, allocator.cu,
// elementwise.cu, reduce.cu, gemm.cu, softmax.cu, norm.cu, index.cu, optim.cu,
// image.cu, attention.cu); a build without nvcc links cuda/stub.cpp instead,
// whose functions report that CUDA support is missing.
//
// Conventions (as the CPU kernels in tensor/cpu/): pointers are DEVICE pointers
// unless named host; outputs first, then inputs, then sizes; buffers are packed
// unless strides are passed; backward kernels ACCUMULATE (+=) into gradient
// buffers that the front-end zeroed.  Every launch is checked (and, with
// ENG_CUDA_SYNC=1, synchronised so a fault names its kernel).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"
#include "tensor/kernels.h"

namespace eng::cpu {
struct GatherShapes;  // tensor/cpu/index_ops.h
template <typename T>
struct AttnView;  // tensor/cpu/attention.h
using AttnOperand = AttnView<const float>;
struct AttnDims;
}  // namespace eng::cpu

namespace eng::cuda {

// ---- device (cuda/device.cu) ------------------------------------------------------------
bool built_with_cuda();        // false in the stub build
int device_count();            // 0 when no usable GPU (or no CUDA support, or a GPU older than the build)
bool is_available();           // built with CUDA and at least one device
std::string device_summary();  // "NVIDIA H200, 139 GiB, sm_90" or why none
int compute_capability();      // of the current device, major·10 + minor (90 for sm_90); 0 when none
int built_gpu_arch();          // the GPU_ARCH this build's kernels target (90); 0 without CUDA

// Why a GPU of compute capability `cc` (major·10 + minor) cannot run kernels
// built for `built_arch` (make GPU_ARCH=...), or "" when it can.  The build
// holds machine code for that architecture and its PTX, which the driver
// compiles for any later GPU; nothing runs on an earlier one (an sm_90 build
// on an A100, sm_80, would fail at the first kernel with "no kernel image").
inline std::string arch_mismatch(int cc, int built_arch, const std::string& gpu_name) {
    if (cc <= 0 || built_arch <= 0 || cc >= built_arch) return "";
    const std::string c = std::to_string(cc);
    return gpu_name + " is sm_" + c + " (compute capability " + c.substr(0, c.size() - 1) + "." + c.back() +
           "), older than this build's sm_" + std::to_string(built_arch) +
           " kernels. HINT: rebuild for it: make clean && make GPU_ARCH=" + c;
}
void require_available(const char* what);  // throws with a HINT when CUDA cannot be used
void synchronize();

// ---- profile (cuda/profile.cu): ENG_CUDA_PROFILE=1 times every kernel ----------------------
bool profiling();                     // ENG_CUDA_PROFILE=1 in the environment
void profile_kernel(const char* name);  // called by each launch check: synchronises and records
void profile_reset();
std::string profile_report(int top);  // the `top` most expensive kernels and the host time, a table

// ---- memory (cuda/allocator.cu: the caching allocator of cuda/caching_allocator.h) ----------
void* alloc(size_t nbytes);  // out of memory: eng::Error with the request, in use, peak and hints
void free(void* ptr);        // back to the cache (not to the device)
struct MemoryStats {
    size_t in_use = 0;          // bytes of blocks handed out (rounded sizes)
    size_t peak = 0;            // the most in_use has been since the last reset
    size_t cached = 0;          // bytes of free blocks held in the cache
    size_t reserved = 0;        // in_use + cached: what the device has given us
    int64_t requests = 0;       // alloc calls
    int64_t cache_hits = 0;     // requests served from the cache
    int64_t device_allocs = 0;  // calls to cudaMalloc
};
MemoryStats memory_stats();
void reset_peak_memory();
void empty_cache();          // returns the cached blocks to the device

void copy_host_to_device(void* dst, const void* host_src, size_t nbytes);
void copy_device_to_host(void* host_dst, const void* src, size_t nbytes);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);

// ---- copies, fills, conversion (cuda/elementwise.cu) -----------------------------------------
// Strided copy gathers a view of up to 8 dims into a packed buffer: shape/strides
// are element counts, elem_size 2 or 4 bytes.
void strided_copy(void* dst, const void* src, int ndim, const int64_t* shape, const int64_t* strides,
                  int64_t numel, size_t elem_size);
// dst[idx] = src[idx] for every index of `shape`, both strided (dst must not overlap itself).
void strided_copy2(void* dst, const int64_t* dst_strides, const void* src, const int64_t* src_strides, int ndim,
                   const int64_t* shape, size_t elem_size);
void fill_f32(float* out, float value, int64_t n);
void add_f32(float* out, const float* a, const float* b, int64_t n);
// Packed conversion between f32, bf16 and i32 -> f32 (bf16 rounding as eng::f32_to_bf16).
// Targets i32 are not supported here (the front-end range-checks on the host).
void convert(void* dst, DType dst_type, const void* src, DType src_type, int64_t n);
// x[i] = the nearest bf16 number to x[i], in place (bf16-true, tensor/precision.h).
void round_to_bf16(float* x, int64_t n);

// ---- elementwise (cuda/elementwise.cu) -------------------------------------------------------
void unary_forward(kernels::Unary op, float* y, const float* x, int64_t n, float a, float b);
void unary_backward(kernels::Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n,
                    float a, float b);
// out (packed, `shape`) = a op b, where a and b are read through strides over
// `shape` (0 for broadcast dims).  ndim <= 8.
void binary(kernels::Binary op, float* out, const float* a, const int64_t* a_strides, const float* b,
            const int64_t* b_strides, int ndim, const int64_t* shape);
// out (packed) = cond != 0 ? a : b, all three strided over `shape`.
void where(float* out, const float* cond, const int64_t* c_strides, const float* a, const int64_t* a_strides,
           const float* b, const int64_t* b_strides, int ndim, const int64_t* shape);
// dst (packed, `shape`) += src (strided over `shape`).
void add_inplace(float* dst, const float* src, const int64_t* src_strides, int ndim, const int64_t* shape);

// ---- reductions (cuda/reduce.cu) ---------------------------------------------------------------
// x: packed [rows, len]; out: [rows]; indices (Max/Min, may be null): [rows] i32.
// Same semantics as the CPU rows of tensor/reduce.cpp (double accumulation,
// first extreme on ties, NaN propagates, empty rows give 0 / NaN / -inf).
void reduce_rows(kernels::Reduce op, float* out, int32_t* indices, const float* x, int64_t rows, int64_t len,
                 int64_t correction);
// out: packed [rows, len] (zeroed by the caller); out[r·len + idx[r]] = g[r].
void scatter_rows(float* out, const float* g, const int32_t* idx, int64_t rows, int64_t len);
// out[0] = scale · Σ x[i] (one block, double accumulation).
void sum_scaled(float* out, const float* x, int64_t n, double scale);

// ---- GEMM (cuda/gemm.cu, cuBLAS) -------------------------------------------------------------
// Row-major, exactly the contract of eng::cpu::gemm_batched (tensor/cpu/gemm.h):
// C_i = alpha·op(A_i)·op(B_i) + beta·C_i, matrix i at X + i·stride_x (stride 0 = shared).
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                  float beta, float* C, int64_t ldc, int64_t stride_c);
// The same with bf16 A and B (raw 16-bit words), f32 C, f32 accumulation.
void gemm_batched_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                       const void* A, int64_t lda, int64_t stride_a, const void* B, int64_t ldb, int64_t stride_b,
                       float beta, float* C, int64_t ldc, int64_t stride_c);
// Precision of f32 GEMMs (every matmul and linear of the engine on the GPU).
// fp32 (the default): CUDA cores, results match the CPU to f32 rounding.  tf32 /
// bf16: tensor cores, with cuBLAS rounding the f32 operands to TF32 (10-bit
// mantissa) or bf16 (7-bit) inside the product, f32 accumulation and f32
// output; in bf16 mode, products of at least 1 GFLOP instead run as native
// bf16 GEMMs on bf16 copies of the operands (rounded to nearest even, like
// Tensor::to(bf16); cuda/gemm.cu says why).  set_bf16_copies(false), or
// ENG_CUDA_BF16_COPIES=0 in the environment, keeps cuBLAS's own rounding for
// every size (bench gpu times both).  That is mixed precision with f32 master weights, activations and
// reductions: relative error ~1e-3 (tf32) / ~4e-3 (bf16) per product for
// about 8x / 15x the fp32 speed.  Training programs select bf16 on the GPU.
enum class MatmulPrecision { fp32, tf32, bf16 };
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
void set_bf16_copies(bool on);
bool bf16_copies();
// "fp32" | "tf32" | "bf16" (an error naming the choices otherwise), and back.
MatmulPrecision parse_matmul_precision(const std::string& name);
const char* matmul_precision_name(MatmulPrecision p);

// ---- softmax family (cuda/softmax.cu): rows of a packed [N, C] -----------------------------------
void softmax_forward(float* out, const float* inp, int64_t N, int64_t C);
void log_softmax_forward(float* out, const float* inp, int64_t N, int64_t C);
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);
void log_softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);
void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                          int64_t C, int64_t ignore_index);
void crossentropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                           float dloss, int64_t N, int64_t C, int64_t ignore_index);

// ---- normalisation (cuda/norm.cu): the contracts of tensor/cpu/norm.h --------------------------
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);
void batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L);
// rstd[c] = 1/sqrt(var[c] + eps) (in double, as the CPU front-end).
void batchnorm_rstd(float* rstd, const float* var, int64_t C, float eps);
void batchnorm_forward(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t N, int64_t C, int64_t L);
void batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t L,
                        bool training);
void l2norm_forward(float* out, float* norm, const float* inp, int64_t outer, int64_t C, int64_t inner, float eps);
void l2norm_backward(float* dinp, const float* dout, const float* inp, const float* norm, int64_t outer, int64_t C,
                     int64_t inner, float eps);

// ---- embedding, dropout, index ops (cuda/index.cu): contracts of tensor/cpu/*.h ---------------
void embedding_forward(float* out, const float* weight, const int32_t* ids, int64_t n, int64_t D);
// Deterministic (no atomics): each column is summed over the ids in order, as on the CPU.
void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t n, int64_t D);
// Bit-identical masks to eng::cpu::dropout_forward for the same (seed, offset).
void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n);
void index_select_forward(void* out, const void* x, const int32_t* index, int64_t outer, int64_t n_in,
                          int64_t n_idx, int64_t inner, size_t elem);
void index_add(float* out, const float* src, const int32_t* index, int64_t outer, int64_t n_out, int64_t n_idx,
               int64_t inner);
void gather_forward(void* out, const void* x, const int32_t* index, const cpu::GatherShapes& s, size_t elem);
void scatter_add(float* out, const float* src, const int32_t* index, const cpu::GatherShapes& s);

// ---- optimisers (cuda/optim.cu): the formulas of tensor/cpu/optim.h -------------------------------
void adamw_update(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1, double beta2,
                  float eps, float weight_decay, int64_t step);
void sgd_update(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first_step);
// Under bf16-true: the steps of tensor/optim_bf16_true.h, each rounded to bf16.
void adamw_update_bf16_true(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1,
                            double beta2, float eps, float weight_decay, int64_t step);
void sgd_update_bf16_true(float* p, float* buf, const float* g, int64_t n, float lr, float momentum,
                          float dampening, float weight_decay, bool nesterov, bool first_step);

// ---- image ops (cuda/image.cu) ---------------------------------------------------------------------
void patchify_forward(float* out, const float* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
void patchify_backward(float* dx, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

// ---- attention (cuda/attention.cu): the contract of tensor/cpu/attention.h ---------------------------
// Operand pointers and n.keep are device pointers.  Two implementations:
//   gemm (default): batched cuBLAS products on the tensor cores (at the matmul
//     precision) with the scores of a chunk of heads in a workspace of at most
//     1 GiB (2 in backward), or of one head when its T×S alone is larger
//     (then fused or flash keep memory flat), softmax rows in between
//     (cuda/attention_gemm.cu);
//   fused: tiled kernels with an online softmax that never store T×S, f32 CUDA
//     cores, one warp per query row; backward one pass per query row (dq) and
//     one per key row (dk, dv), no atomics (cuda/attention.cu);
//   flash: the same tiling on the tensor cores (bf16 WMMA products, f32
//     softmax and accumulators; cuda/attention_flash.cu), for head dims up to
//     128 on compute capability 8.0 and later (other problems take the gemm path).
//     Its products are bf16 whatever the matmul precision: choosing flash
//     means bf16 attention products even in an fp32 run.
enum class AttentionKernel { gemm, fused, flash };
void set_attention_kernel(AttentionKernel kernel);
AttentionKernel attention_kernel();
// Whether the current kernel applies dropout on the probabilities itself (as
// the fused CPU kernels do): flash, when it takes the problem (n's d and dv).
bool attention_fused_dropout(const cpu::AttnDims& n);
void attention_forward(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                       const cpu::AttnOperand& v, const cpu::AttnDims& n);
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const cpu::AttnOperand& q, const cpu::AttnOperand& k, const cpu::AttnOperand& v,
                        const cpu::AttnDims& n);

}  // namespace eng::cuda
