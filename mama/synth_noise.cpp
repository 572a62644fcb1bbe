// synth_noise.cpp: FFT power-law noise, chamfer distance and blur for the
// synthetic mammogram renderer.
#include "mama/synth_noise.h"

#include <algorithm>
#include <cmath>

#include "tensor/check.h"
#include "tensor/random.h"

namespace mama {
namespace synth {

float Field::sample(float x, float y) const {
    const float fx = std::floor(x), fy = std::floor(y);
    const float tx = x - fx, ty = y - fy;
    const int m = n - 1;
    const int x0 = int(fx) & m, y0 = int(fy) & m, x1 = (x0 + 1) & m, y1 = (y0 + 1) & m;
    return (1 - ty) * ((1 - tx) * at(x0, y0) + tx * at(x1, y0)) + ty * ((1 - tx) * at(x0, y1) + tx * at(x1, y1));
}

namespace {

// Iterative radix-2 FFT of `n` complex values at stride 1 (interleaved floats).
void fft1d(float* d, int n, bool inverse, const std::vector<float>& tw) {
    for (int i = 1, j = 0; i < n; ++i) {  // bit reversal
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            std::swap(d[2 * i], d[2 * j]);
            std::swap(d[2 * i + 1], d[2 * j + 1]);
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        const int half = len >> 1, step = n / len;
        for (int i = 0; i < n; i += len)
            for (int k = 0; k < half; ++k) {
                // twiddle exp(-+2 pi i k / len) = tw[k * step]
                const float wr = tw[size_t(2 * k * step)], wi = inverse ? -tw[size_t(2 * k * step + 1)] : tw[size_t(2 * k * step + 1)];
                float* a = d + 2 * (i + k);
                float* b = d + 2 * (i + k + half);
                const float br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br;
                b[1] = a[1] - bi;
                a[0] += br;
                a[1] += bi;
            }
    }
}

}  // namespace

void fft2d(std::vector<float>& data, int n, bool inverse) {
    ENG_CHECK(n > 0 && (n & (n - 1)) == 0, "fft2d: size ", n, " is not a power of two");
    ENG_CHECK(data.size() == size_t(2) * size_t(n) * size_t(n), "fft2d: buffer has ", data.size(), " floats, expected ",
              2 * n * n);
    std::vector<float> tw(static_cast<size_t>(n));  // exp(-2 pi i k / n) for k < n/2
    for (int k = 0; k < n / 2; ++k) {
        double a = -2.0 * M_PI * k / n;
        tw[size_t(2 * k)] = float(std::cos(a));
        tw[size_t(2 * k + 1)] = float(std::sin(a));
    }
    for (int y = 0; y < n; ++y) fft1d(data.data() + size_t(2) * size_t(y) * size_t(n), n, inverse, tw);
    std::vector<float> col(size_t(2) * size_t(n));
    for (int x = 0; x < n; ++x) {
        for (int y = 0; y < n; ++y) {
            col[size_t(2 * y)] = data[(size_t(y) * size_t(n) + size_t(x)) * 2];
            col[size_t(2 * y + 1)] = data[(size_t(y) * size_t(n) + size_t(x)) * 2 + 1];
        }
        fft1d(col.data(), n, inverse, tw);
        for (int y = 0; y < n; ++y) {
            data[(size_t(y) * size_t(n) + size_t(x)) * 2] = col[size_t(2 * y)];
            data[(size_t(y) * size_t(n) + size_t(x)) * 2 + 1] = col[size_t(2 * y + 1)];
        }
    }
}

void powerlaw_noise_pair(int n, double beta, double f_min, double f_cut, uint64_t seed, Field& a, Field& b) {
    eng::Generator g(seed);
    std::vector<float> d(size_t(2) * size_t(n) * size_t(n));
    for (int y = 0; y < n; ++y) {
        const double fy = (y <= n / 2 ? y : y - n) / double(n);
        for (int x = 0; x < n; ++x) {
            const double fx = (x <= n / 2 ? x : x - n) / double(n);
            const double f = std::sqrt(fx * fx + fy * fy);
            double amp = 0.0;
            if (f > 0) amp = std::pow(std::max(f, f_min), -beta / 2) * std::exp(-(f / f_cut) * (f / f_cut));
            const size_t i = (size_t(y) * size_t(n) + size_t(x)) * 2;
            d[i] = float(amp * g.normal());
            d[i + 1] = float(amp * g.normal());
        }
    }
    fft2d(d, n, true);
    a.n = b.n = n;
    a.v.resize(size_t(n) * size_t(n));
    b.v.resize(size_t(n) * size_t(n));
    double sa = 0, sb = 0;
    for (size_t i = 0; i < a.v.size(); ++i) {
        a.v[i] = d[2 * i];
        b.v[i] = d[2 * i + 1];
        sa += double(a.v[i]) * a.v[i];
        sb += double(b.v[i]) * b.v[i];
    }
    const float ka = sa > 0 ? float(1.0 / std::sqrt(sa / a.v.size())) : 0.f;
    const float kb = sb > 0 ? float(1.0 / std::sqrt(sb / b.v.size())) : 0.f;
    for (float& v : a.v) v *= ka;
    for (float& v : b.v) v *= kb;
}

std::vector<float> distance_inside(const std::vector<uint8_t>& inside, int w, int h) {
    const float big = 1e9f;
    std::vector<float> d(size_t(w) * size_t(h));
    for (size_t i = 0; i < d.size(); ++i) d[i] = inside[i] ? big : 0.f;
    auto D = [&](int x, int y) -> float {
        if (x < 0 || y < 0 || x >= w || y >= h) return big;  // off-canvas: inside
        return d[size_t(y) * size_t(w) + size_t(x)];
    };
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float& c = d[size_t(y) * size_t(w) + size_t(x)];
            if (c == 0.f) continue;
            c = std::min({c, D(x - 1, y) + 3, D(x, y - 1) + 3, D(x - 1, y - 1) + 4, D(x + 1, y - 1) + 4});
        }
    for (int y = h - 1; y >= 0; --y)
        for (int x = w - 1; x >= 0; --x) {
            float& c = d[size_t(y) * size_t(w) + size_t(x)];
            if (c == 0.f) continue;
            c = std::min({c, D(x + 1, y) + 3, D(x, y + 1) + 3, D(x + 1, y + 1) + 4, D(x - 1, y + 1) + 4});
        }
    for (float& v : d) v = v >= big ? 1e6f : v / 3.0f;
    return d;
}

void blur(std::vector<float>& img, int w, int h, float sigma) {
    if (sigma <= 0) return;
    const int r = std::max(1, int(std::ceil(3 * sigma)));
    std::vector<float> k(static_cast<size_t>(2 * r + 1));
    float s = 0;
    for (int i = -r; i <= r; ++i) s += (k[size_t(i + r)] = std::exp(-0.5f * i * i / (sigma * sigma)));
    for (float& v : k) v /= s;
    std::vector<float> tmp(img.size());
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float a = 0;
            for (int i = -r; i <= r; ++i) a += k[size_t(i + r)] * img[size_t(y) * size_t(w) + size_t(std::clamp(x + i, 0, w - 1))];
            tmp[size_t(y) * size_t(w) + size_t(x)] = a;
        }
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float a = 0;
            for (int i = -r; i <= r; ++i) a += k[size_t(i + r)] * tmp[size_t(std::clamp(y + i, 0, h - 1)) * size_t(w) + size_t(x)];
            img[size_t(y) * size_t(w) + size_t(x)] = a;
        }
}

}  // namespace synth
}  // namespace mama
