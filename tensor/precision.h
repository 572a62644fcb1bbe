// precision.h: one switch for the numeric precision of training, on either device.
//
// Names: "fp32" (exact single precision), "bf16" (operands rounded to bfloat16,
// f32 accumulation: tensor cores on the GPU, AVX512-BF16 on the CPU), "tf32"
// (GPU only: tensor cores with 10-bit mantissas), "auto": bf16 on a GPU with
// bf16 tensor cores (Ampere and later), fp32 on older GPUs and on the CPU.
// These change only the products: master weights, activations, reductions,
// attention softmax and the losses stay f32.
//
// "bf16-true" is the reference's pure-bf16 training (Lightning's precision
// "bf16-true"): every parameter, buffer, activation, gradient and optimiser
// state is a bfloat16 number, and there are no f32 master weights.  The engine
// keeps its f32 containers and rounds to bf16 (nearest even) wherever PyTorch
// would store a bf16 tensor: each op's output (autograd::record), each
// gradient a backward returns or sums, the model inputs and parameters, and
// after each step of the optimiser's update (tensor/cpu/optim.h).  So it
// trains with the reference's numbers (an AdamW update under half a bf16 ulp
// rounds away), but not with its memory: storage stays 4 bytes per value.
// The products run as in "bf16" where the device has it, else in fp32, which
// on operands that are already bf16 numbers differs only in summation order.
#pragma once
#include <string>

#include "tensor/dtype.h"

namespace eng {

// Throws eng::Error naming the choices unless `name` is auto, fp32, tf32, bf16 or bf16-true.
void check_matmul_precision_name(const std::string& name);
// The concrete precision ("fp32", "tf32", "bf16" or "bf16-true") that `name` means on `device`.
std::string resolve_matmul_precision(Device device, const std::string& name);

// bf16 and tf32 products run on the tensor cores of GPUs of compute
// capability 8.0 (Ampere) or later.  Older cards have none for them (cuBLAS
// emulates bf16 on some and refuses it on others), so there "auto" means fp32
// and bf16-true runs fp32 products; an explicit bf16 or tf32 is passed on.
constexpr int kGpuBf16Capability = 80;
// Whether a GPU of compute capability `gpu_cc` (major·10 + minor; 0 when
// unknown, taken as a recent GPU) has bf16 tensor cores.
inline bool gpu_has_bf16(int gpu_cc) { return gpu_cc == 0 || gpu_cc >= kGpuBf16Capability; }
// What `name` means on such a GPU, and the precision of its products there
// ("fp32", "tf32" or "bf16"): the rules of resolve_matmul_precision and
// set_matmul_precision for the GPU, testable without one.
std::string resolve_gpu_precision(const std::string& name, int gpu_cc);
std::string gpu_products_precision(const std::string& name, int gpu_cc);
// Whether `device` can run what `name` means there (tf32 only on the GPU,
// bf16 on the CPU only with AVX512-BF16; bf16-true everywhere).
bool matmul_precision_available(Device device, const std::string& name);
// Applies it to the device's GEMMs and sets or clears bf16-true; returns the
// resolved name.  Throws for tf32 on the CPU, and for bf16 on a CPU without
// AVX512-BF16.
std::string set_matmul_precision(Device device, const std::string& name);

// Whether the matrix products on `device` round their operands to bf16
// (bf16 or bf16-true; on the GPU, as cuBLAS does in bf16 mode).
bool products_in_bf16(Device device);

// Whether bf16-true rounding is on (set by set_matmul_precision, or directly).
bool bf16_true();
void set_bf16_true(bool on);

// RAII: bf16-true on (or off) for a scope, restoring the previous setting.
struct Bf16TrueGuard {
    explicit Bf16TrueGuard(bool on = true) : previous(bf16_true()) { set_bf16_true(on); }
    ~Bf16TrueGuard() { set_bf16_true(previous); }
    Bf16TrueGuard(const Bf16TrueGuard&) = delete;
    Bf16TrueGuard& operator=(const Bf16TrueGuard&) = delete;
    bool previous;
};

}  // namespace eng
