// bench_step_gpu.h: `bench step --device cuda`: the MaMA training step of
// bench_step.h on the GPU (header-only, included by tools/bench.cpp).
//
// The same model, synthetic batch and FLOP model as the CPU step, moved to the
// GPU; GEMMs in the precision asked for (bf16 by default: tensor cores, f32
// master weights and activations, tensor/cuda_backend.h); activation
// checkpointing as the config says (paper.json: every 3 ViT blocks, every GPT-2
// block).  Each phase ends with a device synchronisation, so the wall times
// are the GPU's.  Reported: per-phase medians, images/s, model FLOP/s and its
// fraction of the card's dense bf16 peak (MFU; FLOPs of the model only, not of
// the checkpointing's recomputation), peak GPU memory (the caching allocator's
// high-water mark of blocks in use, and what it reserved from the device).
// --compare-torch runs tools/reference/bench_step_torch.py with --device cuda
// (and --bf16 unless --precision fp32) in the same run and prints the ratios.
// With ENG_CUDA_PROFILE=1 it also prints where the timed steps' time went, per
// kernel (cuda/profile.cu).
#pragma once
#include <cstdio>
#include <string>

#include "tensor/cuda_backend.h"
#include "tools/bench_step.h"

namespace bench {

// The card's dense bf16 tensor-core peak in TFLOP/s, by name (datasheet values;
// 0 when unknown, then MFU is not printed).
inline double gpu_bf16_peak_tflops(const std::string& summary) {
    if (summary.find("H200") != std::string::npos || summary.find("H100") != std::string::npos) return 989.0;
    if (summary.find("A100") != std::string::npos) return 312.0;
    return 0.0;
}

inline int run_step_gpu(const StepOptions& o) {
    ENG_CHECK(o.steps >= 1 && o.warmup >= 0, "bench step: --steps must be >= 1 and --warmup >= 0");
    eng::cuda::require_available("bench step --device cuda");
    eng::set_matmul_precision(eng::Device::CUDA, o.precision);
    const eng::cuda::MatmulPrecision precision = eng::cuda::matmul_precision();
    ENG_CHECK(!(o.compare_torch && eng::bf16_true()), "bench step: --compare-torch has no PyTorch run for "
              "bf16-true (it would run PyTorch under autocast). HINT: drop --compare-torch, or use --precision bf16");
    ENG_CHECK(o.attention == "gemm" || o.attention == "fused" || o.attention == "flash",
              "bench step: --attention must be gemm, fused or flash, got '", o.attention, "'");
    eng::cuda::set_attention_kernel(o.attention == "gemm"    ? eng::cuda::AttentionKernel::gemm
                                    : o.attention == "fused" ? eng::cuda::AttentionKernel::fused
                                                             : eng::cuda::AttentionKernel::flash);
    mama::RunConfig rc = mama::load_run_config(o.config);
    mama::MamaConfig mc = rc.model;
    const int64_t B = rc.train.micro_batch, S = rc.train.image_size, T = rc.train.max_len, V = mc.text.vocab;
    const int64_t step = std::max<int64_t>(mc.schedule.late_start_step, 0);

    const double t_build = now_s();
    eng::manual_seed(rc.train.seed);
    eng::Generator init(rc.train.seed);
    mama::MamaModel model(mc, V, &init);
    model.to(eng::Device::CUDA);
    if (eng::bf16_true()) model.round_to_bf16();  // as pretraining starts in bf16-true
    model.train();
    model.apply_schedule(step);
    eng::nn::AdamW opt({eng::nn::ParamGroup{model.parameters(), float(rc.train.lr), float(rc.train.weight_decay)}});
    StepShape shape;
    mama::MamaBatch batch = make_synthetic_batch(B, S, T, V, rc.train.seed + 7, &shape.sentences);
    for (eng::Tensor* t : {&batch.images, &batch.partner_images, &batch.input_ids, &batch.attention_mask})
        *t = t->to(eng::Device::CUDA);
    shape.batch = B, shape.image_size = S, shape.text_len = T, shape.late = true;
    const FlopModel flops = count_step_flops(mc, shape);
    const std::string gpu = eng::cuda::device_summary();

    std::printf("bench step --device cuda: %s; %ld samples (%ld images) of %ld px, %ld text tokens, %ld sentences; "
                "%d timed steps after %d warm-up\n",
                o.config.c_str(), long(B), long(2 * B), long(S), long(T), long(shape.sentences), o.steps, o.warmup);
    std::printf("GPU: %s; matmuls %s; attention %s; activation checkpointing: ViT every %ld blocks, text every %ld "
                "(0 = off)\n",
                gpu.c_str(), eng::cuda::matmul_precision_name(precision), o.attention.c_str(), long(mc.vit.checkpoint_every),
                long(mc.text.checkpoint_every));
    std::printf("model: %ld parameters, %ld trainable; built and moved in %.1f s\n", long(model.num_parameters()),
                long(model.num_parameters(true)), now_s() - t_build);
    std::printf("FLOP model: forward %.1f, backward %.1f, step %.1f GFLOP\n", flops.forward() * 1e-9,
                flops.backward() * 1e-9, flops.total() * 1e-9);

    PhaseTimes fwd, bwd, upd, all;
    double first_loss = 0, last_loss = 0;
    for (int i = 0; i < o.warmup + o.steps; ++i) {
        if (i == o.warmup) eng::cuda::reset_peak_memory(), eng::cuda::profile_reset();  // the timed steps only
        eng::cuda::synchronize();
        const double w0 = now_s();
        mama::MamaLosses l = model.forward(batch, step);
        eng::cuda::synchronize();
        const double w1 = now_s();
        eng::backward(l.total);
        eng::cuda::synchronize();
        const double w2 = now_s();
        opt.step();
        opt.zero_grad();
        eng::cuda::synchronize();
        const double w3 = now_s();
        const double loss = l.total.item();
        ENG_CHECK(std::isfinite(loss), "bench step --device cuda: the loss is ", loss, " at step ", i);
        if (i == 0) first_loss = loss;
        last_loss = loss;
        std::printf("  step %d: %.1f ms (forward %.1f, backward %.1f, optimizer %.1f), loss %.4f\n", i,
                    1e3 * (w3 - w0), 1e3 * (w1 - w0), 1e3 * (w2 - w1), 1e3 * (w3 - w2), loss);
        std::fflush(stdout);
        if (i < o.warmup) continue;
        fwd.wall.push_back(w1 - w0), bwd.wall.push_back(w2 - w1), upd.wall.push_back(w3 - w2), all.wall.push_back(w3 - w0);
        fwd.cpu.push_back(0), bwd.cpu.push_back(0), upd.cpu.push_back(0), all.cpu.push_back(0);
    }
    const eng::cuda::MemoryStats mem = eng::cuda::memory_stats();
    if (eng::cuda::profiling())
        std::printf("where the timed steps went (kernels synchronised one by one):\n%s",
                    eng::cuda::profile_report(25).c_str());
    const double t_med = median_of(all.wall), tflops = flops.total() / t_med * 1e-12;
    const double peak = gpu_bf16_peak_tflops(gpu), mib = 1.0 / (1024.0 * 1024.0);
    std::printf("loss %.4f at the first step, %.4f at the last\n", first_loss, last_loss);
    std::printf("  %-10s %10s %10s\n", "phase", "median ms", "min ms");
    for (auto [name, p] : {std::pair<const char*, PhaseTimes*>{"forward", &fwd}, {"backward", &bwd},
                           {"optimizer", &upd}, {"step", &all}})
        std::printf("  %-10s %10.1f %10.1f\n", name, 1e3 * median_of(p->wall), 1e3 * min_of(p->wall));
    std::printf("throughput: %.2f samples/s (%.2f images/s)\n", double(B) / t_med, double(2 * B) / t_med);
    std::printf("model TFLOP/s: %.1f", tflops);
    if (peak > 0) std::printf(" = %.1f%% MFU of the %.0f TFLOP/s dense bf16 peak", 100 * tflops / peak, peak);
    std::printf("\npeak GPU memory: %.0f MiB in use, %.0f MiB reserved from the device\n", double(mem.peak) * mib,
                double(mem.reserved) * mib);
    std::printf("result: step_ms=%.1f step_min_ms=%.1f forward_ms=%.1f backward_ms=%.1f optimizer_ms=%.1f "
                "gflop=%.2f peak_gpu_mib=%.0f cuda=1\n",
                1e3 * t_med, 1e3 * min_of(all.wall), 1e3 * median_of(fwd.wall), 1e3 * median_of(bwd.wall),
                1e3 * median_of(upd.wall), flops.total() * 1e-9, double(mem.peak) * mib);

    double torch_ms = o.torch_ms, torch_mib = 0;
    if (o.compare_torch) {
        // The same step in PyTorch eager on the same GPU, bf16 autocast unless we run fp32.
        std::string cmd = "python3 " + shell_quote(o.torch_script) + " --device cuda --config " +
                          shell_quote(o.config) + " --steps " + std::to_string(o.steps) + " --warmup " +
                          std::to_string(o.warmup);
        if (precision == eng::cuda::MatmulPrecision::bf16) cmd += " --bf16";
        if (precision == eng::cuda::MatmulPrecision::tf32) cmd += " --tf32";
        cmd += " 2>&1";
        std::printf("\n$ %s\n", cmd.c_str());
        std::fflush(stdout);
        const std::string out = run_command(cmd);
        auto r = parse_result_line(out);
        ENG_CHECK(r.count("step_ms"), "bench step --compare-torch: no 'result:' line in the script's output");
        torch_ms = r["step_ms"], torch_mib = r.count("peak_gpu_mib") ? r["peak_gpu_mib"] : 0;
    }
    if (torch_ms > 0) {
        std::printf("\nratio ours/PyTorch on the GPU: step time %.3f (%.1f / %.1f ms; goal <= 1, aim 0.7)",
                    1e3 * t_med / torch_ms, 1e3 * t_med, torch_ms);
        if (torch_mib > 0)
            std::printf("; peak memory %.3f (%.0f / %.0f MiB)", double(mem.peak) * mib / torch_mib,
                        double(mem.peak) * mib, torch_mib);
        std::printf("\n");
    }
    return 0;
}

}  // namespace bench
