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

std::string resolve_matmul_precision(Device device, const std::string& name) {
    check_matmul_precision_name(name);
    if (name != "auto") return name;
    return device == Device::CUDA ? "bf16" : "fp32";
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
    // bf16-true's operands are bf16 numbers already: bf16 products where the
    // device has them, else fp32 ones (the same products, summed in another order).
    const std::string products = !pure ? p : device == Device::CUDA || cpu::gemm_bf16_supported() ? "bf16" : "fp32";
    if (device == Device::CUDA) {
        cuda::set_matmul_precision(cuda::parse_matmul_precision(products));
    } else {
        ENG_CHECK(products != "tf32",
                  "matmul precision tf32 exists only on the GPU. HINT: on the CPU use fp32, bf16 or bf16-true");
        cpu::set_gemm_precision(products == "bf16" ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
    }
    set_bf16_true(pure);
    return p;
}

}  // namespace eng
