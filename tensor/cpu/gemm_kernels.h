// gemm_kernels.h: the internal interface between the GEMM driver (gemm.cpp) and
// its register-blocked micro-kernels (gemm_avx512.cpp, gemm_avx2.cpp,
// gemm_scalar.cpp), plus switches that let tests force a kernel, A packing
// and a bf16 route.
//
// Packed layouts (both zero-padded to a full panel; op(A) can also be read in
// place by the kernels' optional forms below):
//   A panel: MR rows of op(A) for kc steps, Ap[k·MR + i] = op(A)[i][k]
//   B panel: NR columns of op(B) for kc steps, Bp[k·NR + j] = op(B)[k][j]
// A micro-kernel computes acc = Σ_k Ap[k·MR+i]·Bp[k·NR+j] for the whole
// MR × NR tile, each element as one fused multiply-add chain in increasing k,
// and then updates the tile of C (row stride ldc):
//   bias given: C = fma(alpha, acc, bias[j])   (beta is 0 then; NR values of bias)
//   beta == 0:  C = alpha·acc                  (old C ignored, even NaN)
//   beta == 1:  C = fma(alpha, acc, C)
//   otherwise:  C = fma(alpha, acc, beta·C)
// Every kernel uses exactly this arithmetic per element, so which threads or
// which tile positions compute an element never changes its value.
#pragma once
#include <cstdint>

namespace eng::cpu {

using GemmMicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                                 float beta, const float* bias);
// The same with op(A) unpacked: row i of the tile at A + i·lda, k contiguous
// (run_rows), or lanes contiguous for each k, k at A + k·lda (run_strided).
using GemmInPlaceKernel = void (*)(int64_t kc, const float* A, int64_t lda, const float* Bp, float* C,
                                   int64_t ldc, float alpha, float beta, const float* bias);

struct GemmKernel {
    const char* name;  // "avx512", "avx2" or "scalar"
    int mr, nr;        // register block: rows of A, columns of B
    GemmMicroKernel run;
    // Optional: a cheaper kernel for a partial tile of rows × cols (it still
    // reads full packed panels and writes a full-stride scratch tile, but
    // only computes what it must).  nullptr: partial tiles use `run`.
    GemmMicroKernel (*edge)(int rows, int cols);
    // Optional: the kernel and its edge variants reading a row-major op(A)
    // in place (gemm.cpp then never packs such an A in f32).  They must give
    // the bits of `run` and `edge`; with no zero padding, an edge variant
    // reads only its `rows` rows of A (its columns still run the full NR
    // into a scratch tile).  nullptr: A is always packed.
    GemmInPlaceKernel run_rows = nullptr;
    GemmInPlaceKernel (*edge_rows)(int rows, int cols) = nullptr;
    // Optional: the same for op(A) = Aᵀ with A stored [K, M] (used by narrow
    // products only): the tile's lanes for step k are A + k·lda + (0 … MR-1),
    // a packed panel's layout with stride lda instead of MR; an edge variant
    // reads only its `rows` lanes.
    GemmInPlaceKernel run_strided = nullptr;
    GemmInPlaceKernel (*edge_strided)(int rows, int cols) = nullptr;
};

// The kernels compiled into this binary.  Each may only be called when
// the CPU supports its instruction set (see gemm_kernel_supported).
extern const GemmKernel kGemmAvx512;
extern const GemmKernel kGemmAvx2;
extern const GemmKernel kGemmScalar;
// The bf16 kernel (gemm_avx512_bf16.cpp): needs AVX512-BF16, and panels
// packed in bf16 slots (gemm_pack.h); its kc counts slots, i.e. pairs of k.
extern const GemmKernel kGemmAvx512Bf16;

// True when the running CPU can execute the named kernel.
bool gemm_kernel_supported(const char* name);

// Forces the named kernel ("avx512", "avx2", "scalar") for later gemm calls,
// or restores the automatic choice with "auto" or nullptr.  Throws eng::Error
// for an unknown name or a kernel this CPU cannot run.  For tests and
// benchmarks; not thread-safe against concurrent gemm calls.
void gemm_force_kernel(const char* name);

// The kernel that gemm currently uses.
const GemmKernel& gemm_active_kernel();

// Packs op(A) always (true), or lets gemm read it in place where it does
// (false, the default: a row-major A always, a transposed one in narrow
// products).  For tests: both ways give the same bits.
void gemm_force_packed_a(bool on);
// How many thread rectangles have read op(A) in place so far (a test hook).
int64_t gemm_in_place_products();

// How bf16 precision multiplies (gemm.h): with VDPBF16PS (`dot`, the bf16
// kernel) or with the f32 AVX-512 kernel on panels rounded to bf16 (`fma`).
// Chosen from the CPU's vendor (ENG_GEMM_BF16=dot|fma overrides).
enum class Bf16Route { dot, fma };

// Forces "dot" or "fma" for later bf16 products, or restores the automatic
// choice with "auto" or nullptr.  For tests and benchmarks; not thread-safe
// against concurrent gemm calls.
void gemm_force_bf16_route(const char* name);

}  // namespace eng::cpu
