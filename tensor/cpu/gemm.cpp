// gemm.cpp: the CPU GEMM driver: argument checks, kernel choice, cache
// blocking, packing and OpenMP threading around the micro-kernels.
//
// Loop nest (the Goto/BLIS scheme, for one thread's rectangle of C):
//   for jc (NC columns of op(B))        B block  KC × NC  lives in L3
//     for pc (KC steps of k)            packed once per (jc, pc)
//       for ic (MC rows of op(A))       A block  MC × KC  lives in L2, packed per
//                                       (pc, ic) or read in place (reads_a_in_place)
//         for jr (NR columns)           B panel  KC × NR  stays in L1
//           for ir (MR rows)            micro-kernel: MR × NR tile in registers
// Threads: C is cut into one rectangle per thread (along M, or N when M is
// short), each computed by the serial nest above with its own reusable
// packing buffers.  K is never split, and the K blocking depends only on K and
// the kernel, so every element of C gets the same summation order whatever
// the thread count: results are bitwise independent of it.  (Whether A is
// read in place can depend on a rectangle's width, but both ways run the
// same FMA chains.)
#include "tensor/cpu/gemm.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "tensor/check.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/gemm_pack.h"

namespace eng::cpu {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// ---- kernel choice -------------------------------------------------------------
const GemmKernel* detect_kernel() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return &kGemmAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &kGemmAvx2;
    return &kGemmScalar;
}
std::atomic<const GemmKernel*> g_forced{nullptr};

// ---- cache blocking ------------------------------------------------------------
struct Blocking {
    int64_t kc, mc, nc;
};

int64_t cache_size(int name, int64_t fallback, int64_t cap) {
    long v = sysconf(name);
    return v > 0 ? std::min<int64_t>(v, cap) : fallback;
}

// A positive integer from the environment variable `name` (a tuning hook),
// at most 2^20, or 0 when it is unset, empty or not such a number: such a
// value is ignored rather than read as 0 (which would have given KC = 8 and a
// 4× slower GEMM).
int64_t env_size(const char* name) {
    const char* s = std::getenv(name);
    if (!s || !*s) return 0;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    return *end == '\0' && v > 0 && v <= (1L << 20) ? v : 0;
}

// KC is the depth of one pass of the micro-kernels: every pass reads and
// writes its tile of C once, so a product of depth K makes K / KC passes over
// C.  MC: the A block (MC × KC) takes about half of L2.  NC: the B block
// (KC × NC) takes up to half of L3 (virtual machines often report the whole
// socket's L3, so it is capped).
//
// The AVX-512 kernels read their B panel (KC × NR) at about 15 bytes a cycle,
// well within what L2 delivers, so the panel need not fit L1: they take long
// passes, KC ≈ 1560 k with MC = 84 rows (f32) on a 1 MiB L2, where the A block
// still fits.  Against the L1-sized KC = 384 (MC = 336) this ran the products
// of depth 1152-1536 and N = 384 (fc2's X·W, qkv's and fc1's dY·Wᵀ) 8-13 %
// faster on Zen 5 and the squares 1024-2048 about 10 % faster; the depth-4176
// weight gradients (Xᵀ·dY) were unchanged.  On Emerald Rapids (2 MiB of L2:
// KC = 2048, MC = 120) the bench-cpu step's twelve ViT products took 149-151 ms
// against 154-158 with KC = 1024 and 155-159 with 512.  The bf16 kernel packs two k per
// slot, so the same KC in k is half the bytes and MC doubles (168 rows; its
// weight gradients were slower with 84).  The AVX2 kernel (6 × 16 tile)
// measured slower with long passes on the squares, so it keeps KC = 384 k,
// a B panel of about L1's size.
//
// KC alone decides the summation order; it depends only on the kernel and the
// machine, never on the thread count.
Blocking compute_blocking(const GemmKernel& kern) {
    static const int64_t l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10, 1 << 20);
    static const int64_t l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 512 << 10, 8 << 20);
    static const int64_t l3 = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 << 20, 32 << 20);
    const bool avx512 = &kern == &kGemmAvx512 || &kern == &kGemmAvx512Bf16;
    const int64_t k_per_slot = &kern == &kGemmAvx512Bf16 ? 2 : 1;  // bytes of a packed k: 4 / k_per_slot
    constexpr int64_t kDeepRows = 84;  // MC of the f32 AVX-512 kernel's long passes
    Blocking b;
    b.kc = avx512 ? std::clamp<int64_t>(l2 / 2 / (4 * kDeepRows) / 8 * 8, 128, 2048)
                  : std::clamp<int64_t>(l1 / (kern.nr * 4) / 8 * 8, 128, 384);
    if (const int64_t v = env_size("ENG_GEMM_KC")) b.kc = std::max<int64_t>(8, v);  // tuning hooks
    const int64_t slots = (b.kc + k_per_slot - 1) / k_per_slot;  // packed depth of a KC block
    b.mc = std::max<int64_t>(kern.mr, l2 / 2 / (slots * 4) / kern.mr * kern.mr);
    b.nc = std::clamp<int64_t>(l3 / 2 / (slots * 4) / kern.nr * kern.nr, 4 * kern.nr, 8192);
    if (const int64_t v = env_size("ENG_GEMM_MC")) b.mc = std::max<int64_t>(kern.mr, v / kern.mr * kern.mr);
    if (const int64_t v = env_size("ENG_GEMM_NC")) b.nc = std::max<int64_t>(kern.nr, v / kern.nr * kern.nr);
    return b;
}

// Computed once per kernel (the environment overrides are for tuning only).
const Blocking& blocking_for(const GemmKernel& kern) {
    static const Blocking b512 = compute_blocking(kGemmAvx512), b16 = compute_blocking(kGemmAvx512Bf16),
                          b2 = compute_blocking(kGemmAvx2), b1 = compute_blocking(kGemmScalar);
    return &kern == &kGemmAvx512 ? b512 : &kern == &kGemmAvx512Bf16 ? b16 : &kern == &kGemmAvx2 ? b2 : b1;
}

// ---- per-thread packing buffers --------------------------------------------------
// One pair per thread, grown on demand and reused, so the hot loops never allocate.
struct Buffer {
    float* p = nullptr;
    size_t cap = 0;
    float* get(size_t n) {
        if (n > cap) {
            std::free(p);
            p = static_cast<float*>(std::aligned_alloc(64, round_up(int64_t(n) * 4, 64)));
            if (!p) throw std::bad_alloc();
            cap = n;
        }
        return p;
    }
    ~Buffer() { std::free(p); }
};
thread_local Buffer t_pack_a, t_pack_b;

// ---- the serial blocked product ------------------------------------------------------
struct Problem {
    bool ta, tb;
    int64_t K;
    float alpha, beta;
    const float* A;
    int64_t lda;
    const float* B;
    int64_t ldb;
    float* C;
    int64_t ldc;
    const float* bias;  // per-column bias added by the first K block (beta is 0 then), or nullptr
    bool bf16 = false;  // pack into bf16 slots for the bf16 kernel (gemm_pack.h)
    bool rounded = false;  // f32 panels whose values are rounded to bf16 (the FMA route of bf16 precision)
};

// Slots per lane of a packed panel for kc steps of k: one per k, or one per
// pair of k in bf16.
int64_t panel_depth(const Problem& p, int64_t kc) { return p.bf16 ? (kc + 1) / 2 : kc; }

// The packers of a problem's panels: bf16 slots, or f32 slots (rounded to
// bf16 values for the FMA route).
void pack_rows(const Problem& p, const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst) {
    if (p.bf16) pack_block_rows_bf16(src, ld, lanes, width, kc, dst);
    else pack_block_rows(src, ld, lanes, width, kc, dst, p.rounded);
}
void pack_cols(const Problem& p, const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst) {
    if (p.bf16) pack_panel_cols_bf16(src, ld, valid, width, kc, dst);
    else pack_panel_cols(src, ld, valid, width, kc, dst, p.rounded);
}

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] into MR-row panels.
void pack_a(const Problem& p, const GemmKernel& kern, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
    if (p.ta) {
        pack_rows(p, p.A + k0 * p.lda + i0, p.lda, mc, kern.mr, kc, dst);
        return;
    }
    for (int64_t i = 0; i < mc; i += kern.mr)
        pack_cols(p, p.A + (i0 + i) * p.lda + k0, p.lda, int(std::min<int64_t>(kern.mr, mc - i)), kern.mr, kc,
                  dst + i * panel_depth(p, kc));
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] into NR-column panels.
void pack_b(const Problem& p, const GemmKernel& kern, int64_t j0, int64_t nc, int64_t k0, int64_t kc, float* dst) {
    if (!p.tb) {
        pack_rows(p, p.B + k0 * p.ldb + j0, p.ldb, nc, kern.nr, kc, dst);
        return;
    }
    for (int64_t j = 0; j < nc; j += kern.nr)
        pack_cols(p, p.B + (j0 + j) * p.ldb + k0, p.ldb, int(std::min<int64_t>(kern.nr, nc - j)), kern.nr, kc,
                  dst + j * panel_depth(p, kc));
}

// Whether a thread's rectangle of N columns reads op(A) where it lies
// instead of packing it (f32 operands and a kernel with the in-place forms;
// the in-place kernels run the same FMA chains, so the bits do not change):
// - A stored row-major: always.  Packing it is a transposing copy, while the
//   kernel's twelve row streams are read from L1/L2 as fast as a packed
//   panel.  Twelve ViT products at 4176 tokens, the eight with a row-major A:
//   1-8 % faster; attention's P·V (N = 64 against a 261 × 261 P) a quarter
//   faster per head, the attention forward about 10 %.
// - A stored transposed ([K, M], op(A) = Aᵀ): a packed panel's layout with
//   stride lda, but each step of k then reads a different row, a line and a
//   page apart.  Only when the kernel reads A at most kDirectPanels times
//   (narrow products: attention's Pᵀ·dO and dSᵀ·Q, N = 64, 8 % off its
//   backward); the weight gradients Xᵀ·dY (K = 4176) ran 16-41 % slower.
// Leading dimensions that are multiples of 4 KiB put the twelve row streams
// in one L1 set; squares of 1024 and 2048 still ran at 88-91 % of the FMA
// peak in place (85.5 % packed).
std::atomic<bool> g_pack_always{false};
std::atomic<int64_t> g_in_place_products{0};  // rectangles computed in place (a test hook)
constexpr int64_t kDirectPanels = 2;
bool reads_a_in_place(const Problem& p, const GemmKernel& kern, int64_t N) {
    if (p.bf16 || p.rounded || g_pack_always.load(std::memory_order_relaxed)) return false;
    if (!p.ta) return kern.run_rows && kern.edge_rows;
    return kern.run_strided && kern.edge_strided && N <= kDirectPanels * kern.nr;
}

// Splits n into ceil(n / block) nearly equal pieces, each a multiple of `unit`.
int64_t balanced_block(int64_t n, int64_t block, int64_t unit) {
    const int64_t pieces = ceil_div(n, block);
    return round_up(ceil_div(n, pieces), unit);
}

// C[m0 : m1, n0 : n1] of the product, by one thread.
void gemm_rect(const Problem& p, const GemmKernel& kern, const Blocking& blk, int64_t m0, int64_t m1, int64_t n0,
               int64_t n1) {
    const int MR = kern.mr, NR = kern.nr;
    const int64_t M = m1 - m0, N = n1 - n0;
    if (M <= 0 || N <= 0) return;
    // Even K blocks (e.g. 2 × 192 rather than 256 + 128): a function of K only.
    const int64_t kc_blk = balanced_block(p.K, blk.kc, 8);
    // In f32, rows a little over MC stay one block (an A block up to ~60 % of
    // L2 is fine): two half blocks would stream the whole B block from L3
    // twice (with the AVX2 kernel's MC = 336, the weight-gradient products'
    // M = 384 is such a case).  The bf16 step on the dot route (bf16 slots)
    // measured 10 % slower with the same rule, so that route keeps the
    // balanced blocks; the FMA route's f32 panels take the f32 rule.
    const bool one_block = !p.bf16 && M <= blk.mc + blk.mc / 4;
    const int64_t mc_blk = one_block ? round_up(M, MR) : balanced_block(M, blk.mc, MR);
    const int64_t nc_blk = balanced_block(N, blk.nc, NR);
    const bool direct_a = reads_a_in_place(p, kern, N);
    if (direct_a) g_in_place_products.fetch_add(1, std::memory_order_relaxed);
    float* Ap = direct_a ? nullptr : t_pack_a.get(size_t(std::min(mc_blk, round_up(M, MR)) * std::min(kc_blk, p.K)));
    float* Bp = t_pack_b.get(size_t(std::min(nc_blk, round_up(N, NR)) * std::min(kc_blk, p.K)));
    alignas(64) float edge[32 * 32];  // MR × NR scratch tile for partial tiles
    alignas(64) float edge_bias[32];  // and its zero-padded bias

    for (int64_t jc = 0; jc < N; jc += nc_blk) {
        const int64_t nc = std::min(nc_blk, N - jc);
        for (int64_t pc = 0; pc < p.K; pc += kc_blk) {
            const int64_t kc = std::min(kc_blk, p.K - pc), depth = panel_depth(p, kc);
            const float beta = pc == 0 ? p.beta : 1.0f;
            const float* bias = pc == 0 ? p.bias : nullptr;
            pack_b(p, kern, n0 + jc, nc, pc, kc, Bp);
            for (int64_t ic = 0; ic < M; ic += mc_blk) {
                const int64_t mc = std::min(mc_blk, M - ic);
                if (!direct_a) pack_a(p, kern, m0 + ic, mc, pc, kc, Ap);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int nr = int(std::min<int64_t>(NR, nc - jr));
                    const float* bp = Bp + jr * depth;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int mr = int(std::min<int64_t>(MR, mc - ir));
                        // In place, tile row i at step k is A[(row + i)·lda + pc + k]
                        // (row-major) or A[(pc + k)·lda + row + i] (transposed).
                        const int64_t row = m0 + ic + ir;
                        const float* ap = !direct_a ? Ap + ir * depth
                                          : p.ta    ? p.A + pc * p.lda + row
                                                    : p.A + row * p.lda + pc;
                        float* c = p.C + row * p.ldc + (n0 + jc + jr);
                        const float* b = bias ? bias + n0 + jc + jr : nullptr;
                        if (mr == MR && nr == NR) {
                            if (!direct_a)
                                kern.run(depth, ap, bp, c, p.ldc, p.alpha, beta, b);
                            else
                                (p.ta ? kern.run_strided : kern.run_rows)(depth, ap, p.lda, bp, c, p.ldc, p.alpha,
                                                                          beta, b);
                            continue;
                        }
                        // Partial tile: run the full kernel on a scratch tile so
                        // the arithmetic per element is exactly the same (the
                        // kernel reads NR bias values: pad a copy with zeros).
                        if (beta != 0.0f)
                            for (int i = 0; i < mr; ++i) std::memcpy(edge + i * NR, c + i * p.ldc, sizeof(float) * nr);
                        if (b) {
                            std::memcpy(edge_bias, b, sizeof(float) * nr);
                            std::fill(edge_bias + nr, edge_bias + NR, 0.0f);
                            b = edge_bias;
                        }
                        if (direct_a)
                            (p.ta ? kern.edge_strided : kern.edge_rows)(mr, nr)(depth, ap, p.lda, bp, edge, NR, p.alpha,
                                                                              beta, b);
                        else
                            (kern.edge ? kern.edge(mr, nr) : kern.run)(depth, ap, bp, edge, NR, p.alpha, beta, b);
                        for (int i = 0; i < mr; ++i) std::memcpy(c + i * p.ldc, edge + i * NR, sizeof(float) * nr);
                    }
                }
            }
        }
    }
}

// C = beta·C, or C = bias in every row (the whole product when K == 0 or alpha == 0).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc, const float* bias) {
    for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc;
        if (bias)
            std::copy(bias, bias + N, c);
        else if (beta == 0.0f)
            std::fill(c, c + N, 0.0f);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
}

const char* trans_a_text(bool t) { return t ? ", transposed)" : ")"; }

void check_args(const char* op, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                const float* B, int64_t ldb, const float* C, int64_t ldc) {
    ENG_CHECK(M >= 0 && N >= 0 && K >= 0, op, ": negative size M=", M, " N=", N, " K=", K);
    const int64_t a_row = ta ? M : K, b_row = tb ? K : N;
    ENG_CHECK(lda >= a_row, op, ": lda=", lda, " is shorter than a row of A (", a_row, trans_a_text(ta));
    ENG_CHECK(ldb >= b_row, op, ": ldb=", ldb, " is shorter than a row of B (", b_row, trans_a_text(tb));
    ENG_CHECK(ldc >= N, op, ": ldc=", ldc, " is shorter than a row of C (N=", N, ")");
    ENG_CHECK(M == 0 || N == 0 || C, op, ": C is null for a ", M, "x", N, " result");
    ENG_CHECK(M == 0 || N == 0 || K == 0 || (A && B), op, ": A or B is null with M=", M, " N=", N, " K=", K);
}

// Threads worth using for an M × N × K product: about one per 2·64³ FMAs-worth of
// work, so that tiny products are not slowed by the OpenMP fork.
int useful_threads(int64_t M, int64_t N, int64_t K) {
    if (omp_in_parallel()) return 1;
    const double work = double(M) * double(N) * double(K);
    const int64_t by_work = int64_t(work / (64.0 * 64.0 * 64.0 * 2.0));
    return int(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), by_work)));
}

// The whole product with up to `threads` threads.
void gemm_run(const Problem& p, const GemmKernel& kern, int64_t M, int64_t N, int threads) {
    const Blocking& blk = blocking_for(kern);
    const int64_t tiles_m = ceil_div(M, kern.mr), tiles_n = ceil_div(N, kern.nr);
    threads = int(std::min<int64_t>(threads, tiles_m * tiles_n));
    if (threads <= 1) {
        gemm_rect(p, kern, blk, 0, M, 0, N);
        return;
    }
    // Grid tm × tn of rectangles minimising the largest one's cost: its FMAs
    // (padded to whole tiles) plus the packing it does, each thread packing
    // all of op(B) for its columns and reading all of op(A) for its rows
    // once per NC block, packed or in place (one element moved costs about
    // as much as 32 FMAs; the A term now stands for streaming A from memory).
    int tm = 1, tn = threads;
    double best = -1;
    for (int a = 1; a <= threads; ++a) {
        if (threads % a) continue;
        const int b = threads / a;
        if (a > tiles_m || b > tiles_n) continue;
        const double rows = double(ceil_div(tiles_m, a) * kern.mr), cols = double(ceil_div(tiles_n, b) * kern.nr);
        const double pack = double(p.K) * (cols + rows * double(ceil_div(int64_t(cols), blk.nc)));
        const double cost = rows * cols * double(p.K) + 32.0 * pack;
        if (best < 0 || cost < best) best = cost, tm = a, tn = b;
    }
    if (best < 0) tm = int(std::min<int64_t>(threads, tiles_m)), tn = 1;
#pragma omp parallel for num_threads(tm * tn) schedule(static, 1)
    for (int t = 0; t < tm * tn; ++t) {
        const int64_t ti = t / tn, tj = t % tn;
        const int64_t m0 = tiles_m * ti / tm * kern.mr, m1 = std::min(M, tiles_m * (ti + 1) / tm * kern.mr);
        const int64_t n0 = tiles_n * tj / tn * kern.nr, n1 = std::min(N, tiles_n * (tj + 1) / tn * kern.nr);
        gemm_rect(p, kern, blk, m0, m1, n0, n1);
    }
}

// ---- bf16 precision ------------------------------------------------------------------
std::atomic<GemmPrecision> g_precision{GemmPrecision::fp32};

// How bf16 products are computed (gemm.h): VDPBF16PS does the work of two
// FMAs per instruction, and AMD's Zen 4 and 5 issue it at the FMA rate, so it
// doubles the arithmetic rate there.  Intel's cores (Cooper Lake to Emerald
// Rapids) issue it at half that rate: the bf16 GEMM ran at 165 GFLOP/s against
// the f32 kernel's 305 on two Emerald Rapids cores, and the bench-cpu step
// took 2672 ms against 1511 in fp32.  There the f32 kernel multiplies the same
// bf16-rounded operands instead (the FMA route).
Bf16Route detect_bf16_route() {
    if (const char* s = std::getenv("ENG_GEMM_BF16"); s && *s) {  // tuning hook: dot | fma
        ENG_CHECK(std::string(s) == "dot" || std::string(s) == "fma", "ENG_GEMM_BF16='", s,
                  "' names no bf16 route. HINT: set it to dot or fma, or unset it");
        return std::string(s) == "dot" ? Bf16Route::dot : Bf16Route::fma;
    }
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") ? Bf16Route::dot : Bf16Route::fma;
}
std::atomic<int> g_forced_route{-1};  // -1: detected; else a Bf16Route

Bf16Route active_bf16_route() {
    static const Bf16Route detected = detect_bf16_route();
    const int f = g_forced_route.load();
    return f < 0 ? detected : Bf16Route(f);
}

// The product with bf16 operands: the f32 driver (blocking, threads), the
// operands rounded to bf16 as they are packed, multiplied by the bf16 kernel
// (in bf16 slots) or by the f32 AVX-512 kernel (in f32 slots).
void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias, int threads) {
    Problem q{ta, tb, K, alpha, beta, A, lda, B, ldb, C, ldc, bias};
    if (active_bf16_route() == Bf16Route::dot) {
        q.bf16 = true;
        gemm_run(q, kGemmAvx512Bf16, M, N, threads);
    } else {
        q.rounded = true;
        gemm_run(q, kGemmAvx512, M, N, threads);
    }
}

void gemm_one(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
              const float* bias = nullptr) {
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc, bias);
        return;
    }
    if (g_precision.load() == GemmPrecision::bf16) {
        gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, threads);
        return;
    }
    gemm_run(Problem{ta, tb, K, alpha, beta, A, lda, B, ldb, C, ldc, bias}, gemm_active_kernel(), M, N, threads);
}

}  // namespace

bool gemm_kernel_supported(const char* name) {
    if (!name) return false;
    __builtin_cpu_init();
    const std::string n = name;
    if (n == "scalar") return true;
    if (n == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (n == "avx512") return __builtin_cpu_supports("avx512f");
    return false;
}

void gemm_force_kernel(const char* name) {
    if (!name || std::string(name) == "auto") {
        g_forced.store(nullptr);
        return;
    }
    const std::string n = name;
    ENG_CHECK(n == "scalar" || n == "avx2" || n == "avx512", "gemm_force_kernel: unknown kernel '", n,
              "'. HINT: use avx512, avx2, scalar or auto");
    ENG_CHECK(gemm_kernel_supported(name), "gemm_force_kernel: this CPU cannot run the ", n, " kernel");
    g_forced.store(n == "avx512" ? &kGemmAvx512 : n == "avx2" ? &kGemmAvx2 : &kGemmScalar);
}

const GemmKernel& gemm_active_kernel() {
    static const GemmKernel* detected = detect_kernel();
    const GemmKernel* f = g_forced.load();
    return f ? *f : *detected;
}

const char* gemm_kernel_name() {
    if (g_precision.load() != GemmPrecision::bf16) return gemm_active_kernel().name;
    return active_bf16_route() == Bf16Route::dot ? kGemmAvx512Bf16.name : "avx512-bf16-fma";
}

void gemm_force_packed_a(bool on) { g_pack_always.store(on); }
int64_t gemm_in_place_products() { return g_in_place_products.load(); }

void gemm_force_bf16_route(const char* name) {
    const std::string n = name ? name : "auto";
    ENG_CHECK(n == "auto" || n == "dot" || n == "fma", "gemm_force_bf16_route: unknown route '", n,
              "'. HINT: use dot, fma or auto");
    g_forced_route.store(n == "auto" ? -1 : int(n == "dot" ? Bf16Route::dot : Bf16Route::fma));
}

bool gemm_bf16_supported() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

void set_gemm_precision(GemmPrecision p) {
    ENG_CHECK(p != GemmPrecision::bf16 || gemm_bf16_supported(),
              "bf16 matmuls on the CPU need the AVX512-BF16 instructions (AMD Zen 4 and later, Intel Cooper Lake, "
              "Sapphire Rapids and later), which this CPU lacks. HINT: use precision fp32");
    // Choose the route now, so that a bad ENG_GEMM_BF16 is reported here and
    // not by a product inside a parallel region (where it could not throw).
    if (p == GemmPrecision::bf16) active_bf16_route();
    g_precision.store(p);
}

GemmPrecision gemm_precision() { return g_precision.load(); }

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    check_args("gemm", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    gemm_one(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, useful_threads(M, N, K));
}

void gemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, const float* bias, float* C, int64_t ldc) {
    check_args("gemm_bias", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    ENG_CHECK(M == 0 || N == 0 || bias, "gemm_bias: bias is null");
    gemm_one(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc, useful_threads(M, N, K), bias);
}

void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                  float beta, float* C, int64_t ldc, int64_t stride_c) {
    ENG_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
    check_args("gemm_batched", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    if (batch == 0 || M == 0 || N == 0) return;
    // Broadcast C (stride 0) accumulates the entries one after another, so it
    // must stay in batch order; otherwise small products run one per thread
    // (attention: many 257 × 257 × 64 products), large ones use all threads each.
    const int per = useful_threads(M, N, K);
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    const bool by_batch = stride_c != 0 && threads > 1 && batch > 1 &&
                          (per < threads || batch >= 4 * threads || batch % threads == 0);
    // (A or B may be null when K == 0: never offset a null pointer.)
    auto entry = [&](int64_t i, int nthreads) {
        gemm_one(trans_a, trans_b, M, N, K, alpha, A ? A + i * stride_a : A, lda, B ? B + i * stride_b : B, ldb,
                 beta, C + i * stride_c, ldc, nthreads);
    };
    if (!by_batch) {
        for (int64_t i = 0; i < batch; ++i) entry(i, per);
        return;
    }
#pragma omp parallel for num_threads(int(std::min<int64_t>(threads, batch))) schedule(dynamic, 1)
    for (int64_t i = 0; i < batch; ++i) entry(i, 1);
}

}  // namespace eng::cpu
