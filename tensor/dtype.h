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

// bf16 is the top half of an IEEE f32.  Conversion rounds to nearest even
// (as PyTorch does); NaN stays NaN (a quiet bit is forced so rounding cannot
// turn it into infinity).
struct bf16 {
    uint16_t bits;
};
inline bf16 f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return bf16{uint16_t((u + rounding) >> 16)};
}
inline float bf16_to_f32(bf16 h) {
    uint32_t u = uint32_t(h.bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
// The nearest bf16 number, as an f32 (what a bf16 tensor would store).
inline float round_to_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

}  // namespace eng
