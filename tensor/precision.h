// precision.h: one switch for the precision of matrix products, on either device.
//
// Names: "fp32" (exact single precision), "bf16" (operands rounded to bfloat16,
// f32 accumulation: tensor cores on the GPU, AVX512-BF16 on the CPU), "tf32"
// (GPU only: tensor cores with 10-bit mantissas), and "auto": bf16 on the GPU,
// fp32 on the CPU.  Only products change: master weights, activations,
// reductions, attention softmax and the losses stay f32 either way.
#pragma once
#include <string>

#include "tensor/dtype.h"

namespace eng {

// Throws eng::Error naming the choices unless `name` is auto, fp32, tf32 or bf16.
void check_matmul_precision_name(const std::string& name);
// The concrete precision ("fp32", "tf32" or "bf16") that `name` means on `device`.
std::string resolve_matmul_precision(Device device, const std::string& name);
// Whether `device` can run what `name` means there (tf32 only on the GPU,
// bf16 on the CPU only with AVX512-BF16).
bool matmul_precision_available(Device device, const std::string& name);
// Applies it to the device's GEMMs; returns the resolved name.  Throws for tf32
// on the CPU, and for bf16 on a CPU without AVX512-BF16.
std::string set_matmul_precision(Device device, const std::string& name);

}  // namespace eng
