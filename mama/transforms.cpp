// transforms.cpp: the reference letterbox, OtsuCut, RandomResizedCrop, flips,
// colour jitter, Gaussian blur and normalisation (mama-reference.md §3).
#include "mama/transforms.h"

#include <algorithm>
#include <cmath>

#include "tensor/check.h"

namespace mama {

namespace {

inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
inline int code8(float v) { return int(std::lround(clamp01(v) * 255.0f)); }
inline float round8(float v) { return float(code8(v)) / 255.0f; }

void check_image(const char* op, const Image& img) {
    ENG_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * size_t(img.height), op,
              ": empty or inconsistent image (", img.width, "x", img.height, ", ", img.pixels.size(), " pixels)");
}

}  // namespace

Image letterbox(const Image& img, int size, bool quantize8) {
    check_image("letterbox", img);
    ENG_CHECK(size > 0, "letterbox: size ", size, " must be positive");
    // The reference: if H is the max dimension (ties included) the image is
    // "taller": height = S, width = int(W * (S / H)) in double precision.
    const bool taller = img.height >= img.width;
    int w, h;
    if (taller) {
        h = size;
        w = int(double(img.width) * (double(size) / double(img.height)));
    } else {
        w = size;
        h = int(double(img.height) * (double(size) / double(img.width)));
    }
    // cv2.resize would refuse a zero side; keep at least one pixel.
    w = std::max(w, 1);
    h = std::max(h, 1);
    Image r = resize_area(img, w, h);
    if (quantize8)
        for (float& v : r.pixels) v = round8(v);
    Image out(size, size, 0.0f);
    const int left = (size - w) / 2, top = (size - h) / 2;  // floor before, ceil after
    for (int y = 0; y < h; ++y)
        std::copy(r.pixels.begin() + size_t(y) * size_t(w), r.pixels.begin() + size_t(y + 1) * size_t(w),
                  out.pixels.begin() + size_t(y + top) * size_t(size) + size_t(left));
    return out;
}

Image load_source(const std::string& path, int size, bool quantize8) {
    return letterbox(load_image(path), size, quantize8);
}

// OpenCV getThreshVal_Otsu_8u: maximise the between-class variance
// q1 q2 (mu1 - mu2)^2 over thresholds i (class 1 = codes <= i); the first
// maximum wins; thresholds where one class is (nearly) empty are skipped.
int otsu_threshold(const Image& img) {
    check_image("otsu_threshold", img);
    double hist[256] = {0};
    for (float v : img.pixels) hist[code8(v)] += 1.0;
    const double scale = 1.0 / double(img.pixels.size());
    double mu = 0.0;
    for (int i = 0; i < 256; ++i) mu += i * hist[i];
    mu *= scale;
    double mu1 = 0.0, q1 = 0.0, max_sigma = 0.0;
    int max_val = 0;
    const double eps = 1.1920928955078125e-07;  // FLT_EPSILON, as OpenCV
    for (int i = 0; i < 256; ++i) {
        double p_i = hist[i] * scale;
        mu1 *= q1;
        q1 += p_i;
        double q2 = 1.0 - q1;
        if (std::min(q1, q2) < eps || std::max(q1, q2) > 1.0 - eps) continue;
        mu1 = (mu1 + i * p_i) / q1;
        double mu2 = (mu - q1 * mu1) / q2;
        double sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
        if (sigma > max_sigma) {
            max_sigma = sigma;
            max_val = i;
        }
    }
    return max_val;
}

Image otsu_crop(const Image& img) {
    const int t = otsu_threshold(img);
    int x0 = img.width, y0 = img.height, x1 = -1, y1 = -1;
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            if (code8(img.at(x, y)) > t) {
                x0 = std::min(x0, x);
                x1 = std::max(x1, x);
                y0 = std::min(y0, y);
                y1 = std::max(y1, y);
            }
    if (x1 < 0) return img;  // empty mask: unchanged
    return crop(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
}

Image crop(const Image& img, int left, int top, int width, int height) {
    check_image("crop", img);
    ENG_CHECK(width > 0 && height > 0 && left >= 0 && top >= 0 && left + width <= img.width &&
                  top + height <= img.height,
              "crop: box (left ", left, ", top ", top, ", ", width, "x", height, ") is outside the ", img.width, "x",
              img.height, " image");
    Image out(width, height);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) out.at(x, y) = img.at(left + x, top + y);
    return out;
}

Image hflip(const Image& img) {
    Image out(img.width, img.height);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) out.at(x, y) = img.at(img.width - 1 - x, y);
    return out;
}

Image vflip(const Image& img) {
    Image out(img.width, img.height);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) out.at(x, y) = img.at(x, img.height - 1 - y);
    return out;
}

CropParams random_resized_crop_params(int width, int height, eng::Generator& gen, double scale_min, double scale_max,
                                      double ratio_min, double ratio_max) {
    ENG_CHECK(width > 0 && height > 0, "random_resized_crop: image size ", width, "x", height, " must be positive");
    ENG_CHECK(scale_min <= scale_max && ratio_min <= ratio_max && ratio_min > 0, "random_resized_crop: bad ranges scale (",
              scale_min, ", ", scale_max, ") ratio (", ratio_min, ", ", ratio_max, ")");
    const double area = double(width) * double(height);
    const double log_r0 = std::log(ratio_min), log_r1 = std::log(ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
        double target_area = area * (scale_min + (scale_max - scale_min) * gen.uniform_double());
        double aspect = std::exp(log_r0 + (log_r1 - log_r0) * gen.uniform_double());
        // Python's round(): half to even, which rint gives in the default mode.
        int w = int(std::rint(std::sqrt(target_area * aspect)));
        int h = int(std::rint(std::sqrt(target_area / aspect)));
        if (0 < w && w <= width && 0 < h && h <= height) {
            CropParams p;
            p.height = h;
            p.width = w;
            p.top = int(gen.randint(0, height - h + 1));
            p.left = int(gen.randint(0, width - w + 1));
            return p;
        }
    }
    // Fallback: centre crop, clamped to the ratio range.
    const double in_ratio = double(width) / double(height);
    CropParams p;
    if (in_ratio < ratio_min) {
        p.width = width;
        p.height = int(std::rint(p.width / ratio_min));
    } else if (in_ratio > ratio_max) {
        p.height = height;
        p.width = int(std::rint(p.height * ratio_max));
    } else {
        p.width = width;
        p.height = height;
    }
    p.top = (height - p.height) / 2;
    p.left = (width - p.width) / 2;
    return p;
}

// PIL Image.blend(a, b, alpha) on 8-bit: t = a + alpha (b - a) in float,
// clipped to [0, 255] and truncated to an integer code.
static inline float blend8(float a_code, float b_code, float alpha) {
    float t = a_code + alpha * (b_code - a_code);
    if (t <= 0.0f) return 0.0f;
    if (t >= 255.0f) return 1.0f;
    return std::floor(t) / 255.0f;
}

Image adjust_brightness(const Image& img, double factor, bool quantize8) {
    Image out = img;
    for (float& v : out.pixels)
        v = quantize8 ? blend8(0.0f, float(code8(v)), float(factor)) : clamp01(float(v * factor));
    return out;
}

Image adjust_contrast(const Image& img, double factor, bool quantize8) {
    check_image("adjust_contrast", img);
    Image out = img;
    if (quantize8) {
        double sum = 0.0;
        for (float v : img.pixels) sum += code8(v);
        const float m = float(int(sum / double(img.pixels.size()) + 0.5));  // int(mean + 0.5)
        for (float& v : out.pixels) v = blend8(m, float(code8(v)), float(factor));
    } else {
        double sum = 0.0;
        for (float v : img.pixels) sum += v;
        const float m = float(sum / double(img.pixels.size()));
        for (float& v : out.pixels) v = clamp01(m + float(factor) * (v - m));
    }
    return out;
}

// Reflect index (no edge repeat), folded repeatedly so tiny images stay in range.
static inline int reflect(int i, int n) {
    if (n == 1) return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

Image gaussian_blur(const Image& img, int ksize, double sigma, bool quantize8) {
    check_image("gaussian_blur", img);
    ENG_CHECK(ksize > 0 && ksize % 2 == 1, "gaussian_blur: kernel size ", ksize, " must be odd and positive");
    ENG_CHECK(sigma > 0, "gaussian_blur: sigma ", sigma, " must be positive");
    // torchvision _get_gaussian_kernel1d, in float32 like the image tensor.
    std::vector<float> k(static_cast<size_t>(ksize));
    const float half = float(ksize - 1) * 0.5f;
    float ksum = 0.0f;
    for (int i = 0; i < ksize; ++i) {
        float x = -half + float(i);
        k[size_t(i)] = std::exp(-0.5f * (x / float(sigma)) * (x / float(sigma)));
        ksum += k[size_t(i)];
    }
    for (float& v : k) v /= ksum;
    const int r = ksize / 2, W = img.width, H = img.height;
    // With quantize8 the reference convolves the uint8 codes as float32 and rounds.
    Image tmp(W, H), out(W, H);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            float s = 0.0f;
            for (int i = -r; i <= r; ++i) {
                float v = img.at(reflect(x + i, W), y);
                s += k[size_t(i + r)] * (quantize8 ? float(code8(v)) : v);
            }
            tmp.at(x, y) = s;
        }
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            float s = 0.0f;
            for (int i = -r; i <= r; ++i) s += k[size_t(i + r)] * tmp.at(x, reflect(y + i, H));
            out.at(x, y) = quantize8 ? std::nearbyint(s) / 255.0f : s;  // torch.round: half to even
        }
    return out;
}

std::vector<float> to_chw3(const Image& img, float mean, float std) {
    check_image("to_chw3", img);
    ENG_CHECK(std > 0.0f, "to_chw3: std ", std, " must be positive");
    const size_t n = img.pixels.size();
    std::vector<float> out(3 * n);
    for (size_t i = 0; i < n; ++i) {
        float v = (img.pixels[i] - mean) / std;
        out[i] = v;
        out[n + i] = v;
        out[2 * n + i] = v;
    }
    return out;
}

Image train_augment(const Image& source, eng::Generator& gen, const TransformOptions& opt) {
    check_image("train_transform", source);
    const bool q = opt.faithful_uint8;
    const int S = opt.size;
    ENG_CHECK(S > 0, "train_transform: size ", S, " must be positive");
    Image img = otsu_crop(source);
    img = resize_bilinear(img, S, S, true, q);
    CropParams c = random_resized_crop_params(img.width, img.height, gen, opt.crop_scale_min, opt.crop_scale_max,
                                              opt.crop_ratio_min, opt.crop_ratio_max);
    img = resize_bilinear(crop(img, c.left, c.top, c.width, c.height), S, S, true, q);
    // torchvision: flip if rand < p; RandomApply skips if p < rand.
    if (gen.uniform_double() < opt.hflip_p) img = hflip(img);
    if (gen.uniform_double() < opt.vflip_p) img = vflip(img);
    if (!(opt.jitter_p < gen.uniform_double())) {
        std::vector<int64_t> order = gen.permutation(4);  // 0 brightness, 1 contrast, 2 saturation, 3 hue
        // torchvision ColorJitter.get_params: the order first, then factors in
        // [max(0, 1-x), 1+x] for brightness, contrast, saturation, and hue in [-h, h].
        const double b0 = std::max(0.0, 1.0 - opt.brightness), b1 = 1.0 + opt.brightness;
        const double c0 = std::max(0.0, 1.0 - opt.contrast), c1 = 1.0 + opt.contrast;
        const double s0 = std::max(0.0, 1.0 - opt.saturation), s1 = 1.0 + opt.saturation;
        double b = b0 + (b1 - b0) * gen.uniform_double();
        double cf = c0 + (c1 - c0) * gen.uniform_double();
        (void)(s0 + (s1 - s0) * gen.uniform_double());            // saturation: no effect on gray
        (void)(-opt.hue + 2.0 * opt.hue * gen.uniform_double());  // hue: no effect on gray
        for (int64_t f : order) {
            if (f == 0) img = adjust_brightness(img, b, q);
            if (f == 1) img = adjust_contrast(img, cf, q);
        }
    }
    (void)(gen.uniform_double() < opt.grayscale_p);  // RandomGrayscale: gray stays gray
    if (!(opt.blur_p < gen.uniform_double())) {
        double sigma = opt.blur_sigma_min + (opt.blur_sigma_max - opt.blur_sigma_min) * gen.uniform_double();
        img = gaussian_blur(img, opt.blur_kernel, sigma, q);
    }
    return img;
}

std::vector<float> train_transform(const Image& source, eng::Generator& gen, const TransformOptions& opt) {
    return to_chw3(train_augment(source, gen, opt), opt.mean, opt.std);
}

Image eval_augment(const Image& source, const TransformOptions& opt) {
    check_image("eval_transform", source);
    ENG_CHECK(opt.size > 0, "eval_transform: size ", opt.size, " must be positive");
    return resize_bilinear(otsu_crop(source), opt.size, opt.size, true, opt.faithful_uint8);
}

std::vector<float> eval_transform(const Image& source, const TransformOptions& opt) {
    return to_chw3(eval_augment(source, opt), opt.mean, opt.std);
}

}  // namespace mama
