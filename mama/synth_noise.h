// synth_noise.h: the numerical pieces of the synthetic mammogram renderer:
// power-law (1/f^beta) Gaussian noise by FFT filtering, a chamfer distance
// transform, a separable Gaussian blur and bilinear sampling of float fields.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mama {
namespace synth {

// A float field of n x n values (row-major).
struct Field {
    int n = 0;
    std::vector<float> v;
    float at(int x, int y) const { return v[std::size_t(y) * std::size_t(n) + std::size_t(x)]; }
    // Bilinear sample with wrap-around (the FFT noise is periodic).
    float sample(float x, float y) const;
};

// Two independent zero-mean, unit-variance Gaussian fields of size n x n (n a
// power of two) with power spectrum proportional to f^-beta: circular complex
// white noise shaped by f^(-beta/2) (DC removed, a soft cut above f_cut
// cycles/pixel), one inverse FFT; the real and imaginary parts are independent.
// `f_min` (cycles/pixel) flattens the spectrum below it (sets the largest blob size).
void powerlaw_noise_pair(int n, double beta, double f_min, double f_cut, uint64_t seed, Field& a, Field& b);

// In-place 2-D complex FFT (inverse when `inverse`) of an n x n array of
// interleaved (re, im) floats; n must be a power of two. Unnormalised.
void fft2d(std::vector<float>& data, int n, bool inverse);

// Distance in pixels from every inside pixel to the nearest outside pixel
// (chamfer 3-4, divided by 3). Pixels off the canvas count as inside, so the
// image edges (chest wall, axilla) are not skin. Outside pixels get 0.
std::vector<float> distance_inside(const std::vector<uint8_t>& inside, int w, int h);

// Separable Gaussian blur of a w x h float buffer (edge clamped).
void blur(std::vector<float>& img, int w, int h, float sigma);

}  // namespace synth
}  // namespace mama
