// cuda_testing.h: helpers of the CUDA tests: the skip rule for machines without
// a GPU, and the CPU-vs-CUDA comparison of an op's forward and backward.
//
// check_devices(fn, inputs) runs fn on CPU leaves and on CUDA copies of them,
// compares the outputs, then back-propagates loss = Σ out ⊙ w (w random, the
// same on both devices, so every output element gets a distinct weight) and
// compares every input's gradient.  The CPU op is the reference: it is itself
// tested against plain loops and finite differences in tests/autograd/.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/cuda_backend.h"
#include "tests/testing.h"

// Skips the current test case, printing why, when no GPU can be used.
#define SKIP_WITHOUT_CUDA()                                                                          \
    do {                                                                                             \
        if (!::eng::cuda::is_available()) {                                                          \
            MESSAGE("skipped: no CUDA device (" << ::eng::cuda::device_summary() << ")");            \
            return;                                                                                  \
        }                                                                                            \
    } while (0)

namespace cudatest {

using eng::Device;
using eng::Tensor;

inline Tensor randn(const eng::Shape& s, uint64_t seed, float scale = 1.0f) {
    eng::Generator g(seed);
    return eng::normal(s, 0.0f, scale, &g);
}

inline Tensor uniform(const eng::Shape& s, uint64_t seed, float lo, float hi) {
    eng::Generator g(seed);
    return eng::uniform(s, lo, hi, &g);
}

// A fresh leaf on device d holding t's values (f32 inputs get requires_grad).
inline Tensor leaf(const Tensor& t, Device d, bool grad) {
    Tensor c = t.to(d).clone().detach();
    if (grad && t.dtype() == eng::DType::f32) c.set_requires_grad(true);
    return c;
}

struct Tolerance {
    double atol = 1e-5, rtol = 1e-5;        // forward
    double grad_atol = 1e-5, grad_rtol = 1e-5;  // backward
};

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// grad_mask[i] false: input i is not differentiated (indices, masks).
inline void check_devices(const Fn& fn, const std::vector<Tensor>& inputs, Tolerance tol = {},
                          std::vector<bool> grad_mask = {}, bool backward = true) {
    if (grad_mask.empty()) grad_mask.assign(inputs.size(), true);
    std::vector<Tensor> cpu_in, gpu_in;
    for (size_t i = 0; i < inputs.size(); ++i) {
        cpu_in.push_back(leaf(inputs[i], Device::CPU, backward && grad_mask[i]));
        gpu_in.push_back(leaf(inputs[i], Device::CUDA, backward && grad_mask[i]));
    }
    Tensor out_cpu = fn(cpu_in), out_gpu = fn(gpu_in);
    REQUIRE(out_gpu.is_cuda());
    CHECK_CLOSE(out_gpu, out_cpu, tol.atol, tol.rtol);
    if (!backward) return;
    Tensor w = randn(out_cpu.shape(), 977);
    eng::backward(eng::sum(eng::mul(out_cpu, w)));
    eng::backward(eng::sum(eng::mul(out_gpu, w.to(Device::CUDA))));
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (!cpu_in[i].requires_grad()) continue;
        INFO("gradient of input " << i);
        REQUIRE(cpu_in[i].grad().defined());
        REQUIRE(gpu_in[i].grad().defined());
        CHECK(gpu_in[i].grad().is_cuda());
        CHECK_CLOSE(gpu_in[i].grad(), cpu_in[i].grad(), tol.grad_atol, tol.grad_rtol);
    }
}

}  // namespace cudatest
