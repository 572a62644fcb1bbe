// prepare.cpp: the DICOM -> 8-bit long-side-1080 conversion declared in prepare.h.
#include "mama/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <new>
#include <stdexcept>

#include "tensor/check.h"

namespace mama {

std::vector<uint8_t> dicom_to_uint8(const DicomImage& dicom) {
    const size_t count = size_t(dicom.rows) * size_t(dicom.columns);
    ENG_CHECK(count > 0 && dicom.pixels.size() == count, "dicom_to_uint8: '", dicom.path, "' has ", dicom.rows, "x",
              dicom.columns, " pixels but ", dicom.pixels.size(), " values were read (read_pixels off?)");
    float maximum = *std::max_element(dicom.pixels.begin(), dicom.pixels.end());
    std::vector<uint8_t> out(count);
    if (maximum == 0.0f) {
        // alpha = 255/0 = +inf: 0 * inf is NaN and |x * inf| is inf.  OpenCV
        // rounds both with cvRound/_mm_cvtps_epi32, which on x86 (the
        // reference's servers) gives INT_MIN for NaN and inf alike, and the
        // saturating pack makes that 0: the whole image is 0.
        std::fill(out.begin(), out.end(), uint8_t(0));
    } else {
        // cv2.convertScaleAbs: alpha (a Python double) is narrowed to float and the
        // product computed in float, then rounded to nearest-even and saturated.
        const float alpha = float(255.0 / double(maximum));
        for (size_t i = 0; i < count; ++i) {
            float v = std::fabs(dicom.pixels[i] * alpha);
            out[i] = v >= 255.0f ? uint8_t(255) : uint8_t(std::nearbyint(v));
        }
    }
    if (dicom.photometric == "MONOCHROME1")
        for (uint8_t& v : out) v = uint8_t(255 - v);  // cv2.bitwise_not on uint8
    return out;
}

void reference_resize_size(int width, int height, int long_side, int& out_width, int& out_height) {
    ENG_CHECK(width > 0 && height > 0 && long_side > 0, "reference_resize_size: bad sizes ", width, "x", height,
              " -> long side ", long_side);
    if (height >= width) {  // "taller" (a square counts as taller)
        out_height = long_side;
        out_width = int(double(width) * (double(long_side) / double(height)));
    } else {
        out_width = long_side;
        out_height = int(double(height) * (double(long_side) / double(width)));
    }
}

bool opencv_whole_factor(int src, int dst) {
    // cv::resize: inv_scale = dst / src, scale = 1 / inv_scale, and the block
    // path runs when |scale - cvRound(scale)| < DBL_EPSILON on both axes.
    const double scale = 1.0 / (double(dst) / double(src));
    return std::fabs(scale - std::nearbyint(scale)) < std::numeric_limits<double>::epsilon();
}

namespace {

// OpenCV's whole-factor INTER_AREA on 8-bit codes, width x height -> w x h
// (width = kx·w, height = ky·h): the 2 × 2 case as (sum + 2) >> 2 (ties up),
// every other one as float(sum) · (1/area) rounded to nearest, ties to even.
Image block_average(const std::vector<uint8_t>& codes, int width, int height, int w, int h) {
    const int kx = width / w, ky = height / h;
    const float inv_area = 1.0f / float(kx * ky);  // OpenCV: float scale = 1.f / area
    Image out(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            int64_t sum = 0;  // OpenCV's int could wrap for blocks of millions of codes; this cannot
            for (int i = 0; i < ky; ++i)
                for (int j = 0; j < kx; ++j) sum += codes[size_t(y * ky + i) * size_t(width) + size_t(x * kx + j)];
            const float code =
                kx == 2 && ky == 2 ? float((sum + 2) >> 2) : std::min(255.0f, std::nearbyint(float(sum) * inv_area));
            out.pixels[size_t(y) * size_t(w) + size_t(x)] = code / 255.0f;
        }
    return out;
}

}  // namespace

Image dicom_to_image(const DicomImage& dicom, const PrepareOptions& options) {
    if (dicom.number_of_frames > 1)
        throw DicomUnsupported("DICOM file '" + dicom.path + "' has " + std::to_string(dicom.number_of_frames) +
                                   " frames (tomosynthesis or cine?); only single-frame 2D images are converted",
                               "multi-frame");
    std::vector<uint8_t> codes = dicom_to_uint8(dicom);
    int w = 0, h = 0;
    reference_resize_size(dicom.columns, dicom.rows, options.long_side, w, h);
    ENG_CHECK(w >= 1 && h >= 1, "DICOM file '", dicom.path, "': its ", dicom.columns, "x", dicom.rows,
              " image would become ", w, "x", h, " with long side ", options.long_side,
              "; HINT: a larger --long-side is needed for such a thin image");
    // cv2.resize on uint8 returns uint8 codes.  When both factors are whole
    // (as OpenCV decides it, in doubles: a factor of 49, whose 1 / (1/49) is
    // not 49, is not) it averages each block of codes itself, exactly as
    // block_average does; otherwise its float-weight path rounds to nearest,
    // ties to even, which the float area resize feeds.
    const bool whole = opencv_whole_factor(dicom.columns, w) && opencv_whole_factor(dicom.rows, h);
    Image out;
    try {
        if (whole) {
            out = block_average(codes, dicom.columns, dicom.rows, w, h);
        } else {
            Image img(dicom.columns, dicom.rows);
            for (size_t i = 0; i < codes.size(); ++i) img.pixels[i] = float(codes[i]) / 255.0f;
            out = resize_area(img, w, h);
            for (float& v : out.pixels) v = std::nearbyint(std::clamp(v, 0.0f, 1.0f) * 255.0f) / 255.0f;
        }
    } catch (const std::exception& e) {
        // Said apart from "unreadable": the file is fine, the requested size is not.
        if (!dynamic_cast<const std::bad_alloc*>(&e) && !dynamic_cast<const std::length_error*>(&e)) throw;
        throw DicomUnsupported("DICOM file '" + dicom.path + "': output " + std::to_string(w) + "x" +
                                   std::to_string(h) + " too large (out of memory converting the " +
                                   std::to_string(dicom.columns) + "x" + std::to_string(dicom.rows) +
                                   " image). HINT: a smaller --long-side (the reference uses 1080) or fewer --threads",
                               "output too large (out of memory)");
    }
    return out;
}

std::string prepared_name(const std::string& filename, const std::string& format) {
    std::string stem = filename;
    if (stem.size() >= 4) {
        std::string tail = stem.substr(stem.size() - 4);
        std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (tail == ".dcm") stem.resize(stem.size() - 4);
    }
    return stem + "_resized." + format;
}

void save_prepared(const std::string& path, const Image& image, const PrepareOptions& options) {
    namespace fs = std::filesystem;
    ENG_CHECK(options.format == "jpg" || options.format == "png", "prepare: unknown output format '",
              options.format, "' (HINT: jpg or png)");
    fs::path target(path);
    std::error_code ec;
    if (target.has_parent_path()) {
        fs::create_directories(target.parent_path(), ec);
        ENG_CHECK(!ec, "prepare: cannot create folder '", target.parent_path().string(), "': ", ec.message());
    }
    // A temporary of this process and call only: two writers of one output (a
    // second prepare on the same --out, or duplicate names that slipped past
    // the collection) must not write into the same ".part" file.
    static std::atomic<unsigned long> counter{0};
    const std::string part = path + ".part" + std::to_string(long(::getpid())) + "_" + std::to_string(++counter);
    try {
        if (options.format == "jpg")
            save_jpeg(part, image, options.jpeg_quality);
        else
            save_png8(part, image);
    } catch (...) {
        fs::remove(part, ec);  // (a full disk, say): no orphan temporary
        throw;
    }
    fs::rename(part, target, ec);
    if (ec) {
        std::string why = ec.message();
        fs::remove(part, ec);
        ENG_FAIL("prepare: cannot rename '", part, "' to '", path, "': ", why);
    }
}

}  // namespace mama
