// transforms.h: the reference image pipeline (mama-reference.md §3): letterbox
// on load, then the SimCLR-style train transform or the eval transform, ending in
// a [3, S, S] float buffer (CHW, three identical channels, mean 0.5 / std 0.5).
//
// The reference runs on uint8 images (OpenCV then PIL), so every step there
// rounds or truncates to 8-bit codes. With `faithful_uint8` (the default) the
// same roundings are applied here, in the same places; switching it off keeps
// everything in float (slightly smoother, not bit-comparable to the reference).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mama/image.h"
#include "tensor/random.h"

namespace mama {

struct TransformOptions {
    int size = 518;               // output S (the reference's --img_size)
    bool faithful_uint8 = true;   // round/truncate to 8-bit codes where the reference does
    // RandomResizedCrop(S, scale=(0.1, 1.0), ratio=(3/4, 4/3))
    double crop_scale_min = 0.1, crop_scale_max = 1.0;
    double crop_ratio_min = 3.0 / 4.0, crop_ratio_max = 4.0 / 3.0;
    double hflip_p = 0.5, vflip_p = 0.5;
    // RandomApply([ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8); saturation and hue
    // are no-ops on gray images but their factors are still drawn.
    double jitter_p = 0.8, brightness = 0.8, contrast = 0.8, saturation = 0.8, hue = 0.2;
    double grayscale_p = 0.2;     // RandomGrayscale: a no-op on gray images (one draw)
    // RandomApply([GaussianBlur(7, sigma=(0.1, 2.0))], p=0.4)
    double blur_p = 0.4, blur_sigma_min = 0.1, blur_sigma_max = 2.0;
    int blur_kernel = 7;
    float mean = 0.5f, std = 0.5f;
};

// §3.2 letterbox: long side -> size with INTER_AREA (short side int-truncated,
// at least 1), zero pad the short side (floor before, ceil after); a square
// image counts as "taller". With quantize8 the result is rounded to 8-bit codes
// (the reference's cv2 output is uint8).
Image letterbox(const Image& img, int size, bool quantize8 = true);

// load_image + letterbox: the "source image" of §3.2 that both the anchor and
// the self-augmented partner are drawn from.
Image load_source(const std::string& path, int size, bool quantize8 = true);

// OpenCV's Otsu threshold on the 8-bit codes (round(v*255)) of the image;
// returns the code T (0..255), mask = code > T.
int otsu_threshold(const Image& img);

// §3.3 step 1 OtsuCut: crop to the inclusive bounding box of code > T; the
// image is returned unchanged if the mask is empty.
Image otsu_crop(const Image& img);

Image crop(const Image& img, int left, int top, int width, int height);
Image hflip(const Image& img);
Image vflip(const Image& img);

// torchvision RandomResizedCrop.get_params: 10 attempts of (area fraction
// U(scale), log-uniform aspect ratio), w = round(sqrt(A r)), h = round(sqrt(A/r))
// (Python round: half to even), accepted when 0 < w <= W and 0 < h <= H, then
// top ~ randint(0, H-h+1), left ~ randint(0, W-w+1); otherwise the centre crop
// clamped to the ratio range.
struct CropParams {
    int top = 0, left = 0, height = 0, width = 0;
};
CropParams random_resized_crop_params(int width, int height, eng::Generator& gen, double scale_min,
                                      double scale_max, double ratio_min, double ratio_max);

// PIL ImageEnhance semantics: brightness blends with black (v*f), contrast with
// the mean gray level m (m + f*(v - m)); both clip to [0, 1]. With quantize8, m
// is the rounded mean code and results are truncated to codes as PIL does.
Image adjust_brightness(const Image& img, double factor, bool quantize8);
Image adjust_contrast(const Image& img, double factor, bool quantize8);

// torchvision gaussian_blur: ksize x ksize kernel from the normalised 1-D
// Gaussian on linspace(-(k-1)/2, (k-1)/2, k), reflect padding (mirror without
// repeating the edge). With quantize8 the result is rounded half-to-even.
Image gaussian_blur(const Image& img, int ksize, double sigma, bool quantize8);

// ToTensor + Normalize, three identical channels: out[c][y][x] = (v - mean)/std.
std::vector<float> to_chw3(const Image& img, float mean, float std);

// §3.3: OtsuCut -> Resize((S,S)) -> RandomResizedCrop -> HFlip -> VFlip ->
// ColorJitter (random order) -> RandomGrayscale -> GaussianBlur -> normalise.
// `source` is the letterboxed image; all randomness comes from `gen`.
Image train_augment(const Image& source, eng::Generator& gen, const TransformOptions& opt);
std::vector<float> train_transform(const Image& source, eng::Generator& gen, const TransformOptions& opt);

// §3.4: OtsuCut -> Resize((S,S)) -> (CenterCrop no-op) -> normalise.
Image eval_augment(const Image& source, const TransformOptions& opt);
std::vector<float> eval_transform(const Image& source, const TransformOptions& opt);

}  // namespace mama
