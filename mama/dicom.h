// dicom.h: a small reader for uncompressed little-endian DICOM images (explicit
// and implicit VR), enough to convert mammograms the way the reference does.
//
// What it reads: the file meta group (transfer syntax), then the top-level data
// set up to Pixel Data.  Sequences (defined or undefined length, any nesting) are
// skipped, so attributes inside them (e.g. the Rows/Pixel Data of an Icon Image
// Sequence) never override the top-level ones.  Deflated, big-endian and
// encapsulated (compressed) transfer syntaxes are rejected with a
// DicomUnsupported error that names the syntax and the tool that decompresses it.
// Corrupt or truncated input throws eng::Error naming the file and byte offset;
// every read is bounds-checked.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/check.h"

namespace mama {

// A file that is valid DICOM but that this reader cannot decode (compressed or
// big-endian transfer syntax, colour, 32-bit, no pixel data ...). `kind` is a
// short label for summaries, e.g. "compressed: JPEG 2000 Image Compression".
struct DicomUnsupported : eng::Error {
    std::string kind;
    DicomUnsupported(const std::string& message, std::string kind_)
        : eng::Error(message), kind(std::move(kind_)) {}
};

struct DicomReadOptions {
    // false (default, like pydicom 2.x whose pixel_array the reference uses):
    // each sample is the whole BitsAllocated-wide word, read as unsigned or
    // two's-complement signed by PixelRepresentation, unused high bits included.
    // true: keep only bits [HighBit-BitsStored+1, HighBit], sign-extended when
    // signed (what the standard says the stored value is).
    bool apply_bits_stored = false;
    // false: parse attributes only and leave `pixels` empty (fast listing).
    bool read_pixels = true;
};

struct DicomImage {
    std::string path;                 // file name used in messages
    std::string transfer_syntax;      // UID, or "" when the file has no meta group
    bool has_preamble = false;        // 128-byte preamble + "DICM" present
    bool explicit_vr = true;          // VR encoding of the data set

    int rows = 0, columns = 0;
    int bits_allocated = 0, bits_stored = 0, high_bit = -1;
    int pixel_representation = 0;     // 0 unsigned, 1 two's complement
    int samples_per_pixel = 1;
    int number_of_frames = 1;
    std::string photometric;          // e.g. "MONOCHROME1", trailing spaces removed

    bool has_rescale = false;         // RescaleSlope or RescaleIntercept present
    double rescale_slope = 1.0, rescale_intercept = 0.0;
    std::vector<double> window_center, window_width;  // informational only

    std::string image_laterality;     // (0020,0062), "" when absent
    std::string view_position;        // (0018,5101), "" when absent
    std::string modality;             // (0008,0060), "" when absent

    // First frame, row-major, rows*columns values: the raw stored values (no
    // rescale, no windowing) as float. Empty when read_pixels was false.
    std::vector<float> pixels;

    float at(int x, int y) const { return pixels[size_t(y) * size_t(columns) + size_t(x)]; }
};

// Reads a file. Throws DicomUnsupported (valid but not decodable here) or
// eng::Error (missing, corrupt, truncated), both naming the file.
DicomImage read_dicom(const std::string& path, const DicomReadOptions& options = {});

// Same from bytes in memory; `name` is used in messages.
DicomImage parse_dicom(const std::uint8_t* data, size_t size, const std::string& name,
                       const DicomReadOptions& options = {});

// Human name of a transfer syntax UID ("JPEG Baseline (Process 1)"), or "" when unknown.
std::string transfer_syntax_name(const std::string& uid);

// True when the bytes at offset 128 are "DICM" (cheap test used when walking trees).
bool looks_like_dicom(const std::string& path);

}  // namespace mama
