// precision.cpp: the device-independent matmul precision switch (precision.h).
#include "tensor/precision.h"

#include "tensor/check.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cuda_backend.h"

namespace eng {

void check_matmul_precision_name(const std::string& name) {
    ENG_CHECK(name == "auto" || name == "fp32" || name == "tf32" || name == "bf16", "unknown matmul precision '",
              name, "'. HINT: one of auto (bf16 on the GPU, fp32 on the CPU), fp32, tf32 (GPU only), bf16");
}

std::string resolve_matmul_precision(Device device, const std::string& name) {
    check_matmul_precision_name(name);
    if (name != "auto") return name;
    return device == Device::CUDA ? "bf16" : "fp32";
}

bool matmul_precision_available(Device device, const std::string& name) {
    const std::string p = resolve_matmul_precision(device, name);
    if (device == Device::CUDA) return true;
    return p == "fp32" || (p == "bf16" && cpu::gemm_bf16_supported());
}

std::string set_matmul_precision(Device device, const std::string& name) {
    const std::string p = resolve_matmul_precision(device, name);
    if (device == Device::CUDA) {
        cuda::set_matmul_precision(cuda::parse_matmul_precision(p));
        return p;
    }
    ENG_CHECK(p != "tf32", "matmul precision tf32 exists only on the GPU. HINT: on the CPU use fp32 or bf16");
    cpu::set_gemm_precision(p == "bf16" ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
    return p;
}

}  // namespace eng
