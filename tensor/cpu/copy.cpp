// copy.cpp: CPU strided copies and dtype conversions.
#include "tensor/cpu/copy.h"

#include <cmath>
#include <cstring>

#include "tensor/cpu/strided.h"

namespace eng::cpu {

template <typename T>
static void copy_typed(const Tensor& dst, const Tensor& src) {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    for_each_row<2>(dst.shape(), {dst.strides().data(), src.strides().data()},
                    [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& st) {
                        T* dp = d + off[0];
                        const T* sp = s + off[1];
                        if (st[0] == 1 && st[1] == 1) {
                            std::memcpy(dp, sp, size_t(len) * sizeof(T));
                        } else {
                            for (int64_t i = 0; i < len; ++i) dp[i * st[0]] = sp[i * st[1]];
                        }
                    });
}

void strided_copy(const Tensor& dst, const Tensor& src) {
    ENG_CHECK(dst.dtype() == src.dtype(), "strided_copy: dtypes differ");
    if (dst.dtype() == DType::bf16) copy_typed<uint16_t>(dst, src);
    else copy_typed<uint32_t>(dst, src);  // f32 and i32 are both 4-byte words
}

// d[i] = f(s[i]) as a plain loop the compiler vectorises.
template <typename To, typename From, typename F>
static void map_elements(void* dst, const void* src, int64_t n, F f) {
    const From* s = static_cast<const From*>(src);
    To* d = static_cast<To*>(dst);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = f(s[i]);
}

void convert(void* dst, DType dt, const void* src, DType st, int64_t n) {
    // f32 <-> bf16 on their own fast path (bf16-true keeps its activations as
    // bf16 copies, so these run on every saved tensor).
    if (st == DType::f32 && dt == DType::bf16)
        return map_elements<bf16, float>(dst, src, n, [](float x) { return f32_to_bf16(x); });
    if (st == DType::bf16 && dt == DType::f32)
        return map_elements<float, bf16>(dst, src, n, [](bf16 x) { return bf16_to_f32(x); });
    // Go through f32 (exact for bf16 and for ints up to 2^24; i32 <-> i32 never gets here).
    auto load = [&](int64_t i) -> float {
        switch (st) {
            case DType::f32: return static_cast<const float*>(src)[i];
            case DType::bf16: return bf16_to_f32(static_cast<const bf16*>(src)[i]);
            case DType::i32: return float(static_cast<const int32_t*>(src)[i]);
        }
        return 0.0f;
    };
    if (dt == DType::i32) {
        // float -> int truncates toward zero as in PyTorch; values must fit.
        int32_t* d = static_cast<int32_t*>(dst);
        for (int64_t i = 0; i < n; ++i) {
            float v = load(i);
            ENG_CHECK(std::isfinite(v) && std::fabs(v) < 2147483648.0f, "to(i32): value ", v, " at index ", i,
                      " does not fit in i32");
            d[i] = int32_t(v);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) {
        float v = load(i);
        switch (dt) {
            case DType::f32: static_cast<float*>(dst)[i] = v; break;
            case DType::bf16: static_cast<bf16*>(dst)[i] = f32_to_bf16(v); break;
            case DType::i32: static_cast<int32_t*>(dst)[i] = int32_t(v); break;
        }
    }
}

void round_to_bf16(float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) x[i] = eng::round_to_bf16(x[i]);
}

}  // namespace eng::cpu
