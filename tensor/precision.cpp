// precision.cpp: the device-independent precision switch (precision.h).
#include "tensor/precision.h"

#include <atomic>

#include "tensor/check.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cuda_backend.h"

namespace eng {

namespace {
std::atomic<bool> g_bf16_true{false};
}

bool bf16_true() { return g_bf16_true.load(std::memory_order_relaxed); }
void set_bf16_true(bool on) { g_bf16_true.store(on); }

void check_matmul_precision_name(const std::string& name) {
    ENG_CHECK(name == "auto" || name == "fp32" || name == "tf32" || name == "bf16" || name == "bf16-true",
              "unknown precision '", name,
              "'. HINT: one of auto (bf16 on the GPU, fp32 on the CPU), fp32, tf32 (GPU only), bf16, bf16-true "
              "(the reference's pure bf16: every stored value rounded to bf16)");
}

std::string resolve_gpu_precision(const std::string& name, int gpu_cc) {
    check_matmul_precision_name(name);
    if (name != "auto") return name;
    return gpu_has_bf16(gpu_cc) ? "bf16" : "fp32";
}

std::string gpu_products_precision(const std::string& name, int gpu_cc) {
    const std::string p = resolve_gpu_precision(name, gpu_cc);
    // bf16-true's operands are bf16 numbers already: fp32 products on them
    // differ from bf16 ones only in summation order.
    if (p == "bf16-true") return gpu_has_bf16(gpu_cc) ? "bf16" : "fp32";
    return p;
}

std::string resolve_matmul_precision(Device device, const std::string& name) {
    if (device == Device::CUDA) return resolve_gpu_precision(name, cuda::compute_capability());
    check_matmul_precision_name(name);
    return name == "auto" ? "fp32" : name;
}

bool matmul_precision_available(Device device, const std::string& name) {
    const std::string p = resolve_matmul_precision(device, name);
    if (device == Device::CUDA || p == "bf16-true") return true;
    return p == "fp32" || (p == "bf16" && cpu::gemm_bf16_supported());
}

bool products_in_bf16(Device device) {
    return device == Device::CUDA ? cuda::matmul_precision() == cuda::MatmulPrecision::bf16
                                  : cpu::gemm_precision() == cpu::GemmPrecision::bf16;
}

std::string set_matmul_precision(Device device, const std::string& name) {
    const std::string p = resolve_matmul_precision(device, name);
    const bool pure = p == "bf16-true";
    if (device == Device::CUDA) {
        cuda::set_matmul_precision(cuda::parse_matmul_precision(gpu_products_precision(p, cuda::compute_capability())));
    } else {
        // bf16-true's operands are bf16 numbers already: bf16 products where the
        // CPU has them, else fp32 ones (the same products, summed in another order).
        const std::string products = !pure ? p : cpu::gemm_bf16_supported() ? "bf16" : "fp32";
        ENG_CHECK(products != "tf32",
                  "matmul precision tf32 exists only on the GPU. HINT: on the CPU use fp32, bf16 or bf16-true");
        cpu::set_gemm_precision(products == "bf16" ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
    }
    set_bf16_true(pure);
    return p;
}

}  // namespace eng
