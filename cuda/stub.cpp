// stub.cpp: the CUDA layer of a build without nvcc (or with CUDA=0).
// Every entry point of tensor/cuda_backend.h reports that CUDA support is
// missing; device_count() is 0 so tests that need a GPU skip themselves.
#include <string>

#include "tensor/check.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

static const char* kNoCuda = "this build has no CUDA support: install the CUDA toolkit and rebuild";
[[noreturn]] static void no_cuda() { ENG_FAIL(kNoCuda); }

bool built_with_cuda() { return false; }
int device_count() { return 0; }
bool is_available() { return false; }
std::string device_summary() { return "none (built without CUDA)"; }
int compute_capability() { return 0; }
int built_gpu_arch() { return 0; }
void require_available(const char* what) { ENG_FAIL(what, ": ", kNoCuda); }
void synchronize() {}
bool profiling() { return false; }
void profile_kernel(const char*) {}
void profile_reset() {}
std::string profile_report(int) { return "  (no CUDA support: nothing profiled)\n"; }

void* alloc(size_t) { ENG_FAIL("CUDA tensor requested: ", kNoCuda); }
void free(void*) {}
MemoryStats memory_stats() { return MemoryStats{}; }
void reset_peak_memory() {}
void empty_cache() {}
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda(); }

void strided_copy(void*, const void*, int, const int64_t*, const int64_t*, int64_t, size_t) { no_cuda(); }
void strided_copy2(void*, const int64_t*, const void*, const int64_t*, int, const int64_t*, size_t) { no_cuda(); }
void fill_f32(float*, float, int64_t) { no_cuda(); }
void add_f32(float*, const float*, const float*, int64_t) { no_cuda(); }
void convert(void*, DType, const void*, DType, int64_t) { no_cuda(); }
void round_to_bf16(float*, int64_t) { no_cuda(); }

void unary_forward(kernels::Unary, float*, const float*, int64_t, float, float) { no_cuda(); }
void unary_backward(kernels::Unary, float*, const float*, const float*, const float*, int64_t, float, float) {
    no_cuda();
}
void binary(kernels::Binary, float*, const float*, const int64_t*, const float*, const int64_t*, int,
            const int64_t*) {
    no_cuda();
}
void where(float*, const float*, const int64_t*, const float*, const int64_t*, const float*, const int64_t*, int,
           const int64_t*) {
    no_cuda();
}
void add_inplace(float*, const float*, const int64_t*, int, const int64_t*) { no_cuda(); }

void reduce_rows(kernels::Reduce, float*, int32_t*, const float*, int64_t, int64_t, int64_t) { no_cuda(); }
void scatter_rows(float*, const float*, const int32_t*, int64_t, int64_t) { no_cuda(); }
void sum_scaled(float*, const float*, int64_t, double) { no_cuda(); }

void gemm_batched(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*,
                  int64_t, int64_t, float, float*, int64_t, int64_t) {
    no_cuda();
}
void gemm_batched_bf16(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const void*, int64_t, int64_t,
                       const void*, int64_t, int64_t, float, float*, int64_t, int64_t) {
    no_cuda();
}
static MatmulPrecision g_precision = MatmulPrecision::fp32;  // recorded, unused: no GPU here
static AttentionKernel g_attention = AttentionKernel::gemm;  // likewise
void set_attention_kernel(AttentionKernel k) { g_attention = k; }
AttentionKernel attention_kernel() { return g_attention; }
bool attention_fused_dropout(const cpu::AttnDims&) { return false; }
void set_matmul_precision(MatmulPrecision p) { g_precision = p; }
MatmulPrecision matmul_precision() { return g_precision; }
static bool g_bf16_copies = true;  // likewise
void set_bf16_copies(bool on) { g_bf16_copies = on; }
bool bf16_copies() { return g_bf16_copies; }

void softmax_forward(float*, const float*, int64_t, int64_t) { no_cuda(); }
void log_softmax_forward(float*, const float*, int64_t, int64_t) { no_cuda(); }
void softmax_backward(float*, const float*, const float*, int64_t, int64_t) { no_cuda(); }
void log_softmax_backward(float*, const float*, const float*, int64_t, int64_t) { no_cuda(); }
void crossentropy_forward(float*, float*, const float*, const int32_t*, int64_t, int64_t, int64_t) { no_cuda(); }
void crossentropy_backward(float*, const float*, const float*, const int32_t*, float, int64_t, int64_t, int64_t) {
    no_cuda();
}

void layernorm_forward(float*, float*, float*, const float*, const float*, const float*, int64_t, int64_t, float) {
    no_cuda();
}
void layernorm_backward(float*, float*, float*, const float*, const float*, const float*, const float*, const float*,
                        int64_t, int64_t) {
    no_cuda();
}
void batchnorm_stats(float*, float*, const float*, int64_t, int64_t, int64_t) { no_cuda(); }
void batchnorm_rstd(float*, const float*, int64_t, float) { no_cuda(); }
void batchnorm_forward(float*, const float*, const float*, const float*, const float*, const float*, int64_t, int64_t,
                       int64_t) {
    no_cuda();
}
void batchnorm_backward(float*, float*, float*, const float*, const float*, const float*, const float*, const float*,
                        int64_t, int64_t, int64_t, bool) {
    no_cuda();
}
void l2norm_forward(float*, float*, const float*, int64_t, int64_t, int64_t, float) { no_cuda(); }
void l2norm_backward(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t, float) { no_cuda(); }

void embedding_forward(float*, const float*, const int32_t*, int64_t, int64_t) { no_cuda(); }
void embedding_backward(float*, const float*, const int32_t*, int64_t, int64_t) { no_cuda(); }
void dropout_forward(float*, float*, const float*, uint64_t, uint64_t, float, int64_t) { no_cuda(); }
void index_select_forward(void*, const void*, const int32_t*, int64_t, int64_t, int64_t, int64_t, size_t) {
    no_cuda();
}
void index_add(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t) { no_cuda(); }
void gather_forward(void*, const void*, const int32_t*, const cpu::GatherShapes&, size_t) { no_cuda(); }
void scatter_add(float*, const float*, const int32_t*, const cpu::GatherShapes&) { no_cuda(); }

void adamw_update(float*, float*, float*, const float*, int64_t, float, double, double, float, float, int64_t) {
    no_cuda();
}
void sgd_update(float*, float*, const float*, int64_t, float, float, float, float, bool, bool) { no_cuda(); }
void adamw_update_bf16_true(float*, float*, float*, const float*, int64_t, float, double, double, float, float,
                            int64_t) {
    no_cuda();
}
void sgd_update_bf16_true(float*, float*, const float*, int64_t, float, float, float, float, bool, bool) {
    no_cuda();
}

void patchify_forward(float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t) { no_cuda(); }
void patchify_backward(float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t) { no_cuda(); }

void attention_forward(float*, float*, const cpu::AttnOperand&, const cpu::AttnOperand&, const cpu::AttnOperand&,
                       const cpu::AttnDims&) {
    no_cuda();
}
void attention_backward(float*, float*, float*, const float*, const float*, const float*, const cpu::AttnOperand&,
                        const cpu::AttnOperand&, const cpu::AttnOperand&, const cpu::AttnDims&) {
    no_cuda();
}

}  // namespace eng::cuda
