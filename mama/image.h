// image.h: a float grayscale image, loading/saving through stb, and the two
// resize rules the reference uses (OpenCV INTER_AREA and PIL antialiased bilinear).
#pragma once
#include <string>
#include <vector>

namespace mama {

// Grayscale, row-major, values in [0, 1] (8-bit 255 -> 1, 16-bit 65535 -> 1).
struct Image {
    int width = 0, height = 0;
    std::vector<float> pixels;

    Image() = default;
    Image(int w, int h, float fill = 0.0f) : width(w), height(h), pixels(size_t(w) * size_t(h), fill) {}
    float& at(int x, int y) { return pixels[size_t(y) * size_t(width) + size_t(x)]; }
    float at(int x, int y) const { return pixels[size_t(y) * size_t(width) + size_t(x)]; }
    bool empty() const { return width <= 0 || height <= 0; }
};

// PNG (8 and 16 bit), JPEG, PGM/PPM, BMP... whatever stb_image reads. Colour is
// converted to gray with ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), like
// cv2.imread(path, 0). Unreadable or truncated files throw eng::Error naming the
// file and stb's reason.
Image load_image(const std::string& path);

// Values are clamped to [0, 1] and rounded to the nearest code.
void save_png8(const std::string& path, const Image& img);
void save_png16(const std::string& path, const Image& img);
void save_jpeg(const std::string& path, const Image& img, int quality = 95);

// OpenCV cv::resize(..., INTER_AREA) semantics. For downscaling each output
// pixel is the area-weighted mean of the source pixels its footprint covers
// (exact box filter with fractional edge weights). For upscaling OpenCV falls
// back to bilinear with half-pixel centres, which is what this does too.
Image resize_area(const Image& src, int w, int h);

// PIL Image.resize(BILINEAR) / torchvision resize(antialias=True) semantics:
// separable triangle filter with half-pixel centres; when downscaling and
// `antialias` is true the triangle is widened by the scale factor (support =
// scale), otherwise it is the plain 2-tap bilinear (torch antialias=False,
// edge-clamped). `quantize8` rounds to 8-bit codes after the horizontal and
// after the vertical pass, as PIL does for mode "L" images (the reference
// resizes uint8 PIL images).
Image resize_bilinear(const Image& src, int w, int h, bool antialias, bool quantize8 = false);

}  // namespace mama
