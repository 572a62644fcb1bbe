// dtype.h: element types and devices, and the bf16 <-> f32 conversions.
//
// f32 is the compute type everywhere; bf16 is a storage type (and the GPU's
// matmul input type); i32 holds token ids, labels and indices.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace eng {

enum class DType { f32, bf16, i32 };
enum class Device { CPU, CUDA };

inline size_t dtype_size(DType t) { return t == DType::bf16 ? 2 : 4; }
inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::bf16: return "bf16";
        case DType::i32: return "i32";
    }
    return "?";
}
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Functions marked ENG_HOST_DEVICE compile for the GPU too when a .cu file
// includes this header, so the CPU, the CUDA kernels and the bf16-true
// optimiser (tensor/optim_bf16_true.h) round with one definition.
#ifdef __CUDACC__
#define ENG_HOST_DEVICE __host__ __device__
#else
#define ENG_HOST_DEVICE
#endif

// The bits of an f32 and back (a bit cast; memcpy is how C++17 spells it on the host).
ENG_HOST_DEVICE inline uint32_t f32_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
#endif
}
ENG_HOST_DEVICE inline float f32_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}

// bf16 is the top half of an IEEE f32.  Conversion rounds to nearest even
// (as PyTorch does): adding 0x7fff plus the lowest kept bit carries into the
// kept half exactly when the dropped half is over one half, or one half with
// an odd kept half.  NaN stays NaN (a quiet bit is forced so the rounding
// cannot turn it into infinity).
ENG_HOST_DEVICE inline uint16_t f32_to_bf16_bits(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
ENG_HOST_DEVICE inline float bf16_bits_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }

// The nearest bf16 number, as an f32 (what a bf16 tensor would store).
ENG_HOST_DEVICE inline float round_to_bf16(float f) { return bf16_bits_to_f32(f32_to_bf16_bits(f)); }

// The storage type of a host bf16 element.
struct bf16 {
    uint16_t bits;
};
inline bf16 f32_to_bf16(float f) { return bf16{f32_to_bf16_bits(f)}; }
inline float bf16_to_f32(bf16 h) { return bf16_bits_to_f32(h.bits); }

}  // namespace eng
