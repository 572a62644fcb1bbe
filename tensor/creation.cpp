// creation.cpp: empty/zeros/ones/full/arange, tensors from host data, and random draws.
//
// Random tensors are drawn on the host from the counter-based generator
// (element i of a draw uses counter offset+i) and then moved to the requested
// device, so a seed gives the same values on the CPU and the GPU and for any
// number of threads.
#include <climits>
#include <cmath>
#include <cstring>

#include "tensor/tensor.h"

namespace eng {

Tensor empty(const Shape& shape, TensorOptions opt) {
    for (int64_t d : shape) ENG_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(opt.dtype), opt.device);
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->dtype = opt.dtype;
    return Tensor(impl);
}

Tensor full(const Shape& shape, float value, TensorOptions opt) {
    if (opt.device == Device::CUDA && opt.dtype == DType::f32) {  // filled on the device, no host copy
        Tensor t = empty(shape, opt);
        t.fill_(value);
        return t;
    }
    Tensor t = empty(shape, TensorOptions{opt.dtype, Device::CPU});
    int64_t n = t.numel();
    switch (opt.dtype) {
        case DType::f32: {
            float* p = t.data<float>();
            for (int64_t i = 0; i < n; ++i) p[i] = value;
            break;
        }
        case DType::bf16: {
            bf16* p = t.data<bf16>();
            bf16 v = f32_to_bf16(value);
            for (int64_t i = 0; i < n; ++i) p[i] = v;
            break;
        }
        case DType::i32: {
            int32_t* p = t.data<int32_t>();
            for (int64_t i = 0; i < n; ++i) p[i] = int32_t(value);
            break;
        }
    }
    return t.to(opt.device);
}

Tensor zeros(const Shape& shape, TensorOptions opt) { return full(shape, 0.0f, opt); }
Tensor ones(const Shape& shape, TensorOptions opt) { return full(shape, 1.0f, opt); }
Tensor scalar_tensor(float value, TensorOptions opt) { return full({}, value, opt); }

Tensor arange(int64_t start, int64_t end, int64_t step, TensorOptions opt) {
    ENG_CHECK(step != 0, "arange: step must not be 0");
    int64_t n = std::max<int64_t>(0, (end - start + step - (step > 0 ? 1 : -1)) / step);
    if (opt.dtype == DType::i32) {  // directly: a float holds every integer only up to 2^24
        ENG_CHECK(n == 0 || (std::min(start, start + (n - 1) * step) >= INT32_MIN &&
                             std::max(start, start + (n - 1) * step) <= INT32_MAX),
                  "arange: values from ", start, " by ", step, " do not fit in i32");
        std::vector<int32_t> iv(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) iv[size_t(i)] = int32_t(start + i * step);
        return from_ivector(iv, {n}, opt.device);
    }
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(start + i * step);
    return from_vector(v, {n}, opt);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opt) {
    ENG_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values do not fill shape ", shape_str(shape), " (", shape_numel(shape), " elements)");
    Tensor t = empty(shape, TensorOptions{DType::f32, Device::CPU});
    if (!values.empty()) std::memcpy(t.data<float>(), values.data(), values.size() * sizeof(float));
    return t.to(opt.dtype).to(opt.device);
}

Tensor from_ivector(const std::vector<int32_t>& values, const Shape& shape, Device device) {
    ENG_CHECK(int64_t(values.size()) == shape_numel(shape), "from_ivector: ", values.size(),
              " values do not fill shape ", shape_str(shape));
    Tensor t = empty(shape, TensorOptions{DType::i32, Device::CPU});
    if (!values.empty()) std::memcpy(t.data<int32_t>(), values.data(), values.size() * sizeof(int32_t));
    return t.to(device);
}

// ---- random draws -------------------------------------------------------------------

static Generator& pick(Generator* g) { return g ? *g : default_generator(); }

// Fills a host f32 tensor with f(word_i) for counters offset..offset+n-1.
template <typename F>
static Tensor draw(const Shape& shape, Generator* gen, TensorOptions opt, uint64_t words_per_elem, F f) {
    Tensor t = empty(shape, TensorOptions{DType::f32, Device::CPU});
    Generator& g = pick(gen);
    int64_t n = t.numel();
    uint64_t base = g.reserve(uint64_t(n) * words_per_elem);
    uint64_t seed = g.seed();
    float* p = t.data<float>();
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) p[i] = f(seed, base + uint64_t(i) * words_per_elem);
    return t.to(opt.dtype).to(opt.device);
}

Tensor rand(const Shape& shape, Generator* g, TensorOptions opt) {
    return draw(shape, g, opt, 1, [](uint64_t s, uint64_t c) { return word_to_uniform(random_word(s, c)); });
}

Tensor uniform(const Shape& shape, float low, float high, Generator* g, TensorOptions opt) {
    return draw(shape, g, opt, 1, [=](uint64_t s, uint64_t c) {
        return low + (high - low) * word_to_uniform(random_word(s, c));
    });
}

Tensor normal(const Shape& shape, float mean, float std, Generator* g, TensorOptions opt) {
    // Box-Muller from two counters per element (only the cosine branch is used,
    // so element i depends on counters 2i and 2i+1 alone).
    return draw(shape, g, opt, 2, [=](uint64_t s, uint64_t c) {
        double u1 = word_to_open_uniform(random_word(s, c));
        double u2 = word_to_open_uniform(random_word(s, c + 1));
        return mean + std * float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    });
}

Tensor randn(const Shape& shape, Generator* g, TensorOptions opt) { return normal(shape, 0.0f, 1.0f, g, opt); }

Tensor bernoulli(const Shape& shape, float p, Generator* g, TensorOptions opt) {
    ENG_CHECK(p >= 0.0f && p <= 1.0f, "bernoulli: probability ", p, " is outside [0, 1]");
    return draw(shape, g, opt, 1, [=](uint64_t s, uint64_t c) {
        return word_to_uniform(random_word(s, c)) < p ? 1.0f : 0.0f;
    });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen, Device device) {
    ENG_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
    Tensor t = empty(shape, TensorOptions{DType::i32, Device::CPU});
    Generator& g = pick(gen);
    int64_t n = t.numel();
    uint64_t base = g.reserve(uint64_t(n)), seed = g.seed(), range = uint64_t(high - low);
    int32_t* p = t.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
        unsigned __int128 prod = (unsigned __int128)random_word(seed, base + uint64_t(i)) * range;
        p[i] = int32_t(low + int64_t(uint64_t(prod >> 64)));
    }
    return t.to(device);
}

Tensor randperm(int64_t n, Generator* g, Device device) {
    std::vector<int64_t> perm = pick(g).permutation(n);
    std::vector<int32_t> v(perm.begin(), perm.end());
    return from_ivector(v, {n}, device);
}

}  // namespace eng
