// bench_gpu.h: `bench gpu`: the GPU kernels that dominate a MaMA step, against
// their rooflines (header-only, included by tools/bench.cpp).
//
//   GEMM: eng::matmul on CUDA tensors (cuBLAS) in each precision of
//     tensor/cuda_backend.h, on a large square product and on the transformer
//     shapes of the paper configuration (ViT-B/14 at 518 px: 36 images x 1374
//     tokens; BioMedLM: 36 captions x 144 tokens), TFLOP/s against the card's
//     dense peak of that precision (datasheet: fp32 67, tf32 495, bf16 989
//     TFLOP/s on an H100/H200 SXM); bf16 both on bf16 copies of the operands
//     (the default) and with cuBLAS's own rounding (set_bf16_copies(false)).
//   Attention: the CUDA kernels forward and backward on the ViT-B/14 shape
//     (36 x 12 heads x 1374 tokens x 64) and the BioMedLM shape (causal, 36 x 20
//     heads x 144 x 128): the cuBLAS path (cuda/attention_gemm.cu) with bf16 and
//     fp32 products, the fused f32 kernel (cuda/attention.cu) and the
//     tensor-core flash kernel (cuda/attention_flash.cu); TFLOP/s of
//     the attention FLOPs (4·T·S·d forward, halved when causal; 2.5x backward).
// Each figure is the median of --reps timed runs after a warm-up, each run
// ended by a device synchronisation.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/ops.h"
#include "tensor/cuda_backend.h"
#include "tools/bench_common.h"

namespace bench {

inline double median_gpu_time(const std::function<void()>& fn, int reps) {
    fn();  // warm-up: cuBLAS heuristics, allocator
    eng::cuda::synchronize();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const double t0 = now_s();
        fn();
        eng::cuda::synchronize();
        t.push_back(now_s() - t0);
    }
    return median_of(t);
}

inline int run_gpu_kernels(int reps) {
    using eng::Device;
    using eng::Tensor;
    using eng::cuda::MatmulPrecision;
    eng::cuda::require_available("bench gpu");
    std::printf("bench gpu: %s; median of %d runs after a warm-up\n", eng::cuda::device_summary().c_str(), reps);
    eng::Generator g(1);
    auto randn_gpu = [&](const eng::Shape& s) { return eng::randn(s, &g).to(Device::CUDA); };

    struct Shape {
        const char* name;
        int64_t M, N, K;
    };
    const std::vector<Shape> shapes = {
        {"square 8192", 8192, 8192, 8192},
        {"ViT-B qkv (49464x768 @ 768x2304)", 36 * 1374, 2304, 768},
        {"ViT-B fc1 (49464x768 @ 768x3072)", 36 * 1374, 3072, 768},
        {"ViT-B fc2 (49464x3072 @ 3072x768)", 36 * 1374, 768, 3072},
        {"BioMedLM c_attn (5184x2560 @ 2560x7680)", 36 * 144, 7680, 2560},
        {"BioMedLM c_fc (5184x2560 @ 2560x10240)", 36 * 144, 10240, 2560},
    };
    // bf16 twice: on bf16 copies of the operands (the default for large
    // products) and with cuBLAS rounding the f32 operands itself ("bf16c").
    const std::tuple<MatmulPrecision, bool, const char*, double> precisions[] = {
        {MatmulPrecision::fp32, true, "fp32", 67.0},
        {MatmulPrecision::tf32, true, "tf32", 495.0},
        {MatmulPrecision::bf16, true, "bf16", 989.0},
        {MatmulPrecision::bf16, false, "bf16c", 989.0}};
    const MatmulPrecision saved = eng::cuda::matmul_precision();
    const bool saved_copies = eng::cuda::bf16_copies();
    std::printf("\nGEMM (eng::matmul, f32 in and out)                 %-6s %10s %10s %8s\n", "prec", "ms", "TFLOP/s",
                "of peak");
    for (const Shape& s : shapes) {
        Tensor a = randn_gpu({s.M, s.K}), b = randn_gpu({s.K, s.N});
        for (auto [p, copies, label, peak] : precisions) {
            eng::cuda::set_matmul_precision(p);
            eng::cuda::set_bf16_copies(copies);
            const double t = median_gpu_time(
                [&] {
                    eng::NoGradGuard no_grad;
                    eng::matmul(a, b);
                },
                reps);
            const double tf = 2.0 * double(s.M) * double(s.N) * double(s.K) / t * 1e-12;
            std::printf("  %-48s %-6s %10.3f %10.1f %7.1f%%\n", s.name, label, 1e3 * t, tf, 100 * tf / peak);
        }
    }
    eng::cuda::set_matmul_precision(saved);
    eng::cuda::set_bf16_copies(saved_copies);
    std::printf("(bf16: large products on bf16 copies of the operands; bf16c: cuBLAS rounds the f32 operands)\n");

    struct AttnShape {
        const char* name;
        int64_t B, H, T, d;
        bool causal;
        double divisor;
    };
    const std::vector<AttnShape> attn = {{"ViT-B/14 518 px (36x12x1374x64)", 36, 12, 1374, 64, false, 1.0},
                                         {"BioMedLM (36x20x144x128, causal)", 36, 20, 144, 128, true, 4.0}};
    std::printf("\nattention                                          %10s %10s %10s %10s\n", "fwd ms", "bwd ms",
                "fwd TF/s", "bwd TF/s");
    const std::tuple<const char*, eng::cuda::AttentionKernel, MatmulPrecision> kernels[] = {
        {"gemm bf16", eng::cuda::AttentionKernel::gemm, MatmulPrecision::bf16},
        {"gemm fp32", eng::cuda::AttentionKernel::gemm, MatmulPrecision::fp32},
        {"fused f32", eng::cuda::AttentionKernel::fused, MatmulPrecision::fp32},
        {"flash bf16", eng::cuda::AttentionKernel::flash, MatmulPrecision::bf16}};
    const eng::cuda::AttentionKernel saved_kernel = eng::cuda::attention_kernel();
    for (const AttnShape& s : attn)
        for (auto [label, kernel, precision] : kernels) {
            eng::cuda::set_attention_kernel(kernel);
            eng::cuda::set_matmul_precision(precision);
            Tensor q = randn_gpu({s.B, s.H, s.T, s.d}), k = randn_gpu({s.B, s.H, s.T, s.d}),
                   v = randn_gpu({s.B, s.H, s.T, s.d});
            const double fwd_flops = 4.0 * double(s.B * s.H) * double(s.T) * double(s.T) * double(s.d) *
                                     (s.causal ? 0.5 : 1.0);
            const double tf = median_gpu_time(
                [&] {
                    eng::NoGradGuard no_grad;
                    eng::scaled_dot_product_attention(q, k, v, s.causal, Tensor(), float(s.divisor));
                },
                reps);
            // Backward: a fresh graph per run; the forward is timed apart and subtracted.
            Tensor qg = q.clone(), kg = k.clone(), vg = v.clone();
            for (Tensor* t : {&qg, &kg, &vg}) t->set_requires_grad(true);
            Tensor w = randn_gpu({s.B, s.H, s.T, s.d});
            const double tfb = median_gpu_time(
                [&] {
                    Tensor out = eng::scaled_dot_product_attention(qg, kg, vg, s.causal, Tensor(), float(s.divisor));
                    eng::backward(eng::sum(eng::mul(out, w)));
                    for (Tensor* t : {&qg, &kg, &vg}) t->set_grad(Tensor());
                },
                reps);
            const double tb = std::max(tfb - tf, 1e-9);
            const std::string name = std::string(s.name) + " " + label;
            std::printf("  %-48s %10.3f %10.3f %10.1f %10.1f\n", name.c_str(), 1e3 * tf, 1e3 * tb,
                        fwd_flops / tf * 1e-12, 2.5 * fwd_flops / tb * 1e-12);
            std::fflush(stdout);
        }
    eng::cuda::set_attention_kernel(saved_kernel);
    eng::cuda::set_matmul_precision(saved);
    std::printf("(attention backward = 2.5x the forward's FLOPs; the f32 CUDA-core peak is 67 TFLOP/s)\n");
    return 0;
}

}  // namespace bench
