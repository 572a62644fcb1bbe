// cuda_backend.cpp: the parts of tensor/cuda_backend.h that need no GPU code
// (compiled in every build, with or without nvcc).
#include "tensor/cuda_backend.h"

#include "tensor/check.h"

namespace eng::cuda {

MatmulPrecision parse_matmul_precision(const std::string& name) {
    if (name == "fp32") return MatmulPrecision::fp32;
    if (name == "tf32") return MatmulPrecision::tf32;
    if (name == "bf16") return MatmulPrecision::bf16;
    ENG_FAIL("unknown matmul precision '", name, "'. HINT: one of fp32, tf32, bf16");
}

const char* matmul_precision_name(MatmulPrecision p) {
    switch (p) {
        case MatmulPrecision::tf32: return "tf32";
        case MatmulPrecision::bf16: return "bf16";
        default: return "fp32";
    }
}

}  // namespace eng::cuda
