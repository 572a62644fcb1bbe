// prepare.h: the reference's offline DICOM -> 8-bit image conversion (MaMA
// scripts/resize_embed.py, see mama-reference.md §3.1), used by build/prepare.
//
//   1. v = |x * (255 / max(x))| rounded to nearest (ties to even) and saturated to
//      [0, 255]: cv2.convertScaleAbs in float32 on the raw stored values (no
//      rescale, no VOI LUT / windowing);
//   2. MONOCHROME1 only: v = 255 - v, AFTER the scaling (so the brightest output
//      is 255 - round(min * 255 / max), not necessarily 255);
//   3. resize so the long side is `long_side` (1080) with INTER_AREA; the short
//      side is int(short * (long_side / long)), truncated; when height == width the
//      height is taken as the long side; there is no padding;
//   4. save as 8-bit JPEG (quality 75 = PIL's default, as the reference saves) or PNG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mama/dicom.h"
#include "mama/image.h"

namespace mama {

struct PrepareOptions {
    int long_side = 1080;
    std::string format = "jpg";  // "jpg" or "png"
    int jpeg_quality = 75;       // PIL's default, which the reference uses
    DicomReadOptions read;       // apply_bits_stored = false is the reference behaviour
};

// Steps 1-2 on the first frame: rows*columns 8-bit codes, row-major.
// A maximum of 0 gives alpha = +inf in the reference, and OpenCV's rounding
// on x86 turns NaN (0·inf) and inf alike into 0: the image is all 0 (255
// after the MONOCHROME1 inversion).
std::vector<uint8_t> dicom_to_uint8(const DicomImage& dicom);

// Whether cv::resize takes its whole-factor area path from src to dst pixels
// along one axis: 1 / (dst / src) within DBL_EPSILON of a whole number, in
// doubles (so 98 -> 2, a factor of 49, does not).
bool opencv_whole_factor(int src, int dst);

// Step 3's output size for a width x height input (reference resize_img).
void reference_resize_size(int width, int height, int long_side, int& out_width, int& out_height);

// Steps 1-3: the 8-bit image as an Image (codes / 255). Throws DicomUnsupported
// for multi-frame images (the reference handles 2D images only).
Image dicom_to_image(const DicomImage& dicom, const PrepareOptions& options = {});

// Output file name like the reference: "x.dcm" -> "x_resized.jpg". A name
// without a .dcm suffix (any case) gets "_resized.jpg" appended.
std::string prepared_name(const std::string& filename, const std::string& format = "jpg");

// Writes `image` to `path` in options.format through a temporary
// "<path>.part<pid>_<n>" (private to this call, so two writers never share one)
// renamed at the end, so an interrupted run leaves no half-written output.
// Creates the parent directories.
void save_prepared(const std::string& path, const Image& image, const PrepareOptions& options = {});

}  // namespace mama
