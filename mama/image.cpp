// image.cpp: loading and saving grayscale images through stb, a small 16-bit PNG
// writer (stb_image_write only writes 8 bits), and the INTER_AREA and PIL
// bilinear resize rules.
#include "mama/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tensor/check.h"

// stb_image_write's deflate compressor; exported by Debian's libstb (the header
// declares it only inside the implementation section).
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len, int quality);

namespace mama {

namespace {

std::vector<unsigned char> read_file(const std::string& path) {
    // A folder opens fine on Linux and only fails on the first read, with
    // libstdc++'s "basic_filebuf::underflow error": say what it is instead.
    std::error_code ec;
    ENG_CHECK(!std::filesystem::is_directory(path, ec), "load_image: '", path,
              "' is a folder, not an image file. HINT: give image files (PNG, JPEG, PGM), or a list file with one "
              "image path per line");
    const auto type = std::filesystem::status(path, ec).type();
    using std::filesystem::file_type;
    ENG_CHECK(ec || type == file_type::regular || type == file_type::not_found, "load_image: '", path,
              "' is not a regular file (a device, pipe or socket). HINT: give image files");
    std::ifstream f(path, std::ios::binary);
    ENG_CHECK(f.good(), "load_image: cannot open '", path, "' (missing file or no permission)");
    std::vector<unsigned char> bytes;
    try {
        bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure& e) {
        ENG_FAIL("load_image: reading '", path, "' failed: ", e.what(), ". HINT: check the file and the disk");
    }
    ENG_CHECK(!bytes.empty(), "load_image: '", path, "' is empty");
    ENG_CHECK(bytes.size() < size_t(INT_MAX), "load_image: '", path, "' is larger than 2 GiB, which stb_image cannot read");
    return bytes;
}

// stb's JPEG decoder pads a truncated entropy-coded segment with zeros and
// reports success, so truncation is detected here: the last end-of-image marker
// (FF D9) must come after the last start-of-scan marker (FF DA). Inside the
// entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker,
// so neither pair can occur there by accident; an EXIF thumbnail has its own
// SOS/EOI pair, both before the main scan.
bool jpeg_is_complete(const std::vector<unsigned char>& b) {
    long last_sos = -1, last_eoi = -1;
    for (size_t i = 0; i + 1 < b.size(); ++i) {
        if (b[i] != 0xFF) continue;
        if (b[i + 1] == 0xDA) last_sos = long(i);
        if (b[i + 1] == 0xD9) last_eoi = long(i);
    }
    return last_sos >= 0 && last_eoi > last_sos;
}

// A binary PNM: "P5" (gray) or "P6" (RGB), width, height, maxval (with '#'
// comments), one whitespace byte, then w·h·channels samples of one byte, or of
// two big-endian bytes when maxval > 255.  Decoded here, not by stb: Debian's
// stb copies 16-bit samples without swapping their bytes and ignores maxval,
// and reads pixel data cut short without complaint.
struct Pnm {
    int channels = 0;  // 0: not a binary PNM
    long long width = 0, height = 0, maxval = 0;
    size_t data = 0;      // offset of the samples
    std::string problem;  // "" when it can be decoded
};

Pnm read_pnm_header(const std::vector<unsigned char>& b) {
    Pnm p;
    if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return p;
    p.channels = b[1] == '6' ? 3 : 1;
    size_t i = 2;
    long long v[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
        for (;;) {  // skip whitespace and comments
            while (i < b.size() && std::isspace(b[i])) ++i;
            if (i < b.size() && b[i] == '#') {
                while (i < b.size() && b[i] != '\n') ++i;
            } else {
                break;
            }
        }
        if (i >= b.size() || !std::isdigit(b[i])) {
            p.problem = "malformed PNM header";
            return p;
        }
        while (i < b.size() && std::isdigit(b[i]) && v[k] < (1ll << 40)) v[k] = v[k] * 10 + (b[i++] - '0');
    }
    p.width = v[0], p.height = v[1], p.maxval = v[2], p.data = i + 1;  // + the whitespace byte
    // The sizes are checked before they are multiplied (no overflow).
    if (p.width < 1 || p.height < 1 || p.width > (1 << 20) || p.height > (1 << 20)) {
        p.problem = "PNM dimensions " + std::to_string(p.width) + "x" + std::to_string(p.height) + " are implausible";
        return p;
    }
    if (p.maxval < 1 || p.maxval > 65535) {
        p.problem = "PNM maxval " + std::to_string(p.maxval) + " is outside 1..65535";
        return p;
    }
    const long long need = p.width * p.height * p.channels * (p.maxval > 255 ? 2 : 1);
    if (p.data > b.size() || (long long)(b.size() - p.data) < need)
        p.problem = "truncated PNM: " + std::to_string(need) + " data bytes expected, " +
                    std::to_string(p.data > b.size() ? 0 : b.size() - p.data) + " present";
    return p;
}

inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

// The gray levels of a decodable binary PNM, scaled by maxval: 8-bit RGB as
// OpenCV converts it (below), other depths with the same 0.299/0.587/0.114.
Image decode_pnm(const std::vector<unsigned char>& b, const Pnm& p) {
    Image img(int(p.width), int(p.height));
    const bool wide = p.maxval > 255;
    const unsigned char* d = b.data() + p.data;
    auto sample = [&](size_t k) { return wide ? float((unsigned(d[2 * k]) << 8) | d[2 * k + 1]) : float(d[k]); };
    const size_t np = size_t(p.width) * size_t(p.height);
    for (size_t i = 0; i < np; ++i) {
        if (p.channels == 1) {
            img.pixels[i] = clamp01(sample(i) / float(p.maxval));
        } else if (p.maxval == 255) {
            const unsigned char* c = d + 3 * i;
            img.pixels[i] = float((4899 * c[0] + 9617 * c[1] + 1868 * c[2] + (1 << 13)) >> 14) / 255.0f;
        } else {
            const float v = 0.299f * sample(3 * i) + 0.587f * sample(3 * i + 1) + 0.114f * sample(3 * i + 2);
            img.pixels[i] = clamp01(v / float(p.maxval));
        }
    }
    return img;
}

uint32_t le32(const std::vector<unsigned char>& b, size_t at) {
    return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24;
}

// stb also pads an uncompressed BMP or TGA cut short with zeros: the bytes its
// header promises are checked here ("" when fine, compressed or neither).
std::string bmp_tga_problem(const std::vector<unsigned char>& b, const std::string& path) {
    if (b.size() >= 30 && b[0] == 'B' && b[1] == 'M') {
        // The info header: 12 bytes (OS/2 BITMAPCOREHEADER: uint16 sizes, bpp
        // at 24), or 40 and more (int32 sizes, bpp at 28, compression at 30).
        const uint32_t data = le32(b, 10), header = le32(b, 14);
        if (header != 12 && (header < 40 || b.size() < 34)) return "";  // another layout: stb decides
        const bool core = header == 12;
        const int64_t w = core ? int64_t(b[18] | (b[19] << 8)) : int64_t(int32_t(le32(b, 18)));
        const int64_t h = core ? int64_t(b[20] | (b[21] << 8)) : int64_t(int32_t(le32(b, 22)));
        const int64_t bpp = core ? (b[24] | (b[25] << 8)) : (b[28] | (b[29] << 8));
        const uint32_t compression = core ? 0 : le32(b, 30);
        if (compression != 0 || w <= 0 || h == 0 || bpp == 0) return "";  // compressed or odd: stb decides
        const int64_t need = int64_t(data) + (w * bpp + 31) / 32 * 4 * (h < 0 ? -h : h);
        if (int64_t(b.size()) < need)
            return "truncated BMP: " + std::to_string(need) + " bytes expected, " + std::to_string(b.size()) + " present";
        return "";
    }
    std::string ext = std::filesystem::path(path).extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".tga" || b.size() < 18) return "";
    const int type = b[2];  // 1 colour-mapped, 2 true colour, 3 gray; 9-11 the run-length forms
    if (type < 1 || type > 3) return "";
    const int64_t id = b[0], map_entries = b[5] | (b[6] << 8), map_bits = b[7];
    const int64_t w = b[12] | (b[13] << 8), h = b[14] | (b[15] << 8), bpp = b[16];
    const int64_t need = 18 + id + (b[1] ? map_entries * ((map_bits + 7) / 8) : 0) + w * h * ((bpp + 7) / 8);
    if (int64_t(b.size()) < need)
        return "truncated TGA: " + std::to_string(need) + " bytes expected, " + std::to_string(b.size()) + " present";
    return "";
}

// Far beyond any mammogram (2^28 = 268M pixels; a 4096 x 5000 image has 20M),
// yet a corrupt header of a few bytes can declare it: refused before decoding
// instead of allocating gigabytes.
constexpr long long kMaxPixels = 1ll << 28;

// stb leaves its failure reason empty for some cut-off files (a PNG cut inside
// its first chunk), which printed "cannot decode 'x': " with nothing after it.
std::string decode_failure() {
    const char* why = stbi_failure_reason();
    return why && *why ? why : "truncated or corrupt file (the decoder gave no reason)";
}

bool is_jpeg(const std::vector<unsigned char>& b) { return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }

}  // namespace

Image load_image(const std::string& path) {
    std::vector<unsigned char> bytes = read_file(path);
    if (is_jpeg(bytes))
        ENG_CHECK(jpeg_is_complete(bytes), "load_image: '", path,
                  "' is a truncated JPEG (no end-of-image marker after the last scan)");
    const Pnm pnm = read_pnm_header(bytes);
    ENG_CHECK(pnm.problem.empty(), "load_image: '", path, "': ", pnm.problem);
    if (pnm.channels > 0) return decode_pnm(bytes, pnm);
    const std::string cut = bmp_tga_problem(bytes, path);
    ENG_CHECK(cut.empty(), "load_image: '", path, "': ", cut, ". HINT: re-export or re-copy the image");
    const int len = int(bytes.size());
    int w = 0, h = 0, n = 0;
    if (stbi_info_from_memory(bytes.data(), len, &w, &h, &n))
        ENG_CHECK((long long)w * h <= kMaxPixels, "load_image: '", path, "' declares ", w, "x", h,
                  " pixels, more than ", kMaxPixels, ": refused before decoding (a corrupt header?)");
    const bool sixteen = stbi_is_16_bit_from_memory(bytes.data(), len) != 0;
    Image img;
    if (sixteen) {
        stbi_us* data = stbi_load_16_from_memory(bytes.data(), len, &w, &h, &n, 0);
        ENG_CHECK(data != nullptr, "load_image: cannot decode '", path, "': ", decode_failure(),
                  ". HINT: re-export or re-copy the image");
        img = Image(w, h);
        const size_t np = size_t(w) * size_t(h);
        for (size_t i = 0; i < np; ++i) {
            const stbi_us* p = data + i * size_t(n);
            // ITU-R 601 luma for colour; alpha (channel 2 or 4) is ignored.
            float v = (n >= 3) ? (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) : float(p[0]);
            img.pixels[i] = clamp01(v / 65535.0f);
        }
        stbi_image_free(data);
    } else {
        stbi_uc* data = stbi_load_from_memory(bytes.data(), len, &w, &h, &n, 0);
        ENG_CHECK(data != nullptr, "load_image: cannot decode '", path, "': ", decode_failure(),
                  ". HINT: re-export or re-copy the image");
        img = Image(w, h);
        const size_t np = size_t(w) * size_t(h);
        for (size_t i = 0; i < np; ++i) {
            const stbi_uc* p = data + i * size_t(n);
            // OpenCV's fixed-point RGB->gray (cv2.imread(path, 0) on colour files):
            // (4899 R + 9617 G + 1868 B + 2^13) >> 14, i.e. 0.299/0.587/0.114.
            int v = (n >= 3) ? ((4899 * p[0] + 9617 * p[1] + 1868 * p[2] + (1 << 13)) >> 14) : int(p[0]);
            img.pixels[i] = float(v) / 255.0f;
        }
        stbi_image_free(data);
    }
    return img;
}

namespace {

void check_saveable(const char* op, const std::string& path, const Image& img) {
    ENG_CHECK(img.width > 0 && img.height > 0, op, ": cannot write the empty image (", img.width, "x", img.height,
              ") to '", path, "'");
    ENG_CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height), op, ": image of ", img.width, "x",
              img.height, " has ", img.pixels.size(), " pixels; cannot write '", path, "'");
}

std::vector<unsigned char> to_u8(const Image& img) {
    std::vector<unsigned char> out(img.pixels.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = (unsigned char)std::lround(clamp01(img.pixels[i]) * 255.0f);
    return out;
}

uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0) {
    static uint32_t table[256];
    static bool ready = [] {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return true;
    }();
    (void)ready;
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

void put_be32(std::vector<unsigned char>& v, uint32_t x) {
    v.push_back((unsigned char)(x >> 24));
    v.push_back((unsigned char)(x >> 16));
    v.push_back((unsigned char)(x >> 8));
    v.push_back((unsigned char)x);
}

void put_chunk(std::vector<unsigned char>& out, const char type[4], const unsigned char* data, size_t n) {
    put_be32(out, uint32_t(n));
    size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data, data + n);
    put_be32(out, crc32(out.data() + start, n + 4));
}

}  // namespace

void save_png8(const std::string& path, const Image& img) {
    check_saveable("save_png8", path, img);
    std::vector<unsigned char> u8 = to_u8(img);
    int ok = stbi_write_png(path.c_str(), img.width, img.height, 1, u8.data(), img.width);
    ENG_CHECK(ok != 0, "save_png8: cannot write '", path, "' (HINT: does the folder exist and is it writable?)");
}

void save_jpeg(const std::string& path, const Image& img, int quality) {
    check_saveable("save_jpeg", path, img);
    ENG_CHECK(quality >= 1 && quality <= 100, "save_jpeg: quality ", quality, " is outside 1..100 for '", path, "'");
    std::vector<unsigned char> u8 = to_u8(img);
    int ok = stbi_write_jpg(path.c_str(), img.width, img.height, 1, u8.data(), quality);
    ENG_CHECK(ok != 0, "save_jpeg: cannot write '", path, "' (HINT: does the folder exist and is it writable?)");
}

// A 16-bit grayscale PNG: IHDR (bit depth 16, colour type 0), one IDAT holding
// the zlib stream of the filtered rows, IEND. Rows use the "Sub" filter
// (each byte minus the byte two to the left, i.e. the same byte of the previous
// sample), which compresses smooth 16-bit data far better than no filter.
void save_png16(const std::string& path, const Image& img) {
    check_saveable("save_png16", path, img);
    const size_t W = size_t(img.width), H = size_t(img.height);
    const size_t stride = 1 + 2 * W;
    std::vector<unsigned char> raw(stride * H);
    std::vector<unsigned char> row(2 * W);
    for (size_t y = 0; y < H; ++y) {
        for (size_t x = 0; x < W; ++x) {
            unsigned v = (unsigned)std::lround(clamp01(img.pixels[y * W + x]) * 65535.0f);
            row[2 * x] = (unsigned char)(v >> 8);
            row[2 * x + 1] = (unsigned char)(v & 0xFF);
        }
        unsigned char* dst = raw.data() + y * stride;
        dst[0] = 1;  // filter type Sub
        for (size_t i = 0; i < 2 * W; ++i) dst[1 + i] = (unsigned char)(row[i] - (i >= 2 ? row[i - 2] : 0));
    }
    ENG_CHECK(raw.size() < size_t(INT_MAX), "save_png16: image ", img.width, "x", img.height, " is too large for '",
              path, "'");
    int zlen = 0;
    unsigned char* z = stbi_zlib_compress(raw.data(), int(raw.size()), &zlen, 6);
    ENG_CHECK(z != nullptr, "save_png16: compression failed for '", path, "'");
    std::vector<unsigned char> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    std::vector<unsigned char> ihdr;
    put_be32(ihdr, uint32_t(img.width));
    put_be32(ihdr, uint32_t(img.height));
    ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});  // depth 16, gray, deflate, adaptive filters, no interlace
    put_chunk(out, "IHDR", ihdr.data(), ihdr.size());
    put_chunk(out, "IDAT", z, size_t(zlen));
    free(z);
    put_chunk(out, "IEND", nullptr, 0);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ENG_CHECK(f != nullptr, "save_png16: cannot write '", path, "' (HINT: does the folder exist and is it writable?)");
    size_t written = std::fwrite(out.data(), 1, out.size(), f);
    int closed = std::fclose(f);
    ENG_CHECK(written == out.size() && closed == 0, "save_png16: short write to '", path, "' (disk full?)");
}

// ---------------------------------------------------------------------------
// Resizing. Both rules are separable: out = sum_y wy * sum_x wx * src, with a
// list of (source index, weight) taps per output column and per output row.

namespace {

struct Taps {
    std::vector<int> start;   // first tap index into idx/w for each output
    std::vector<int> idx;     // source index
    std::vector<double> w;    // weight
    void begin() { start.push_back(int(idx.size())); }
    void add(int i, double wt) { idx.push_back(i); w.push_back(wt); }
};

// OpenCV computeResizeAreaTab: output pixel d covers [d*scale, (d+1)*scale) of
// the source; full source pixels get 1/cell, partial ones the covered fraction.
Taps area_taps(int ssize, int dsize) {
    const double inv_scale = double(dsize) / double(ssize);
    const double scale = 1.0 / inv_scale;
    Taps t;
    for (int d = 0; d < dsize; ++d) {
        t.begin();
        double f1 = d * scale, f2 = f1 + scale;
        double cell = std::min(scale, double(ssize) - f1);
        int s1 = int(std::ceil(f1)), s2 = int(std::floor(f2));
        s2 = std::min(s2, ssize - 1);
        s1 = std::min(s1, s2);
        if (s1 - f1 > 1e-3) t.add(s1 - 1, float((s1 - f1) / cell));
        for (int s = s1; s < s2; ++s) t.add(s, float(1.0 / cell));
        if (f2 - s2 > 1e-3) t.add(s2, float(std::min(std::min(f2 - s2, 1.0), cell) / cell));
    }
    return t;
}

// OpenCV INTER_AREA when upscaling (along at least one axis): INTER_LINEAR with
// the "area mode" coefficients sx = floor(d*scale), fx = frac((d+1) - (sx+1)/scale).
Taps area_upscale_taps(int ssize, int dsize) {
    const double inv_scale = double(dsize) / double(ssize);
    const double scale = 1.0 / inv_scale;
    Taps t;
    for (int d = 0; d < dsize; ++d) {
        t.begin();
        int sx = int(std::floor(d * scale));
        float fx = float((d + 1) - (sx + 1) * inv_scale);
        fx = fx <= 0 ? 0.0f : fx - std::floor(fx);
        if (sx + 1 >= ssize) {
            sx = ssize - 1;
            fx = 0.0f;
        }
        t.add(sx, 1.0f - fx);
        if (fx != 0.0f) t.add(sx + 1, fx);
    }
    return t;
}

// PIL precompute_coeffs for the triangle filter: centre = (d + 0.5)*scale,
// support = filterscale (1 without antialias), taps renormalised to sum 1.
Taps pil_bilinear_taps(int ssize, int dsize, bool antialias) {
    const double scale = double(ssize) / double(dsize);
    const double filterscale = antialias ? std::max(scale, 1.0) : 1.0;
    const double support = filterscale;
    const double ss = 1.0 / filterscale;
    Taps t;
    std::vector<double> k;
    for (int d = 0; d < dsize; ++d) {
        t.begin();
        double center = (d + 0.5) * scale;
        int xmin = std::max(int(center - support + 0.5), 0);
        int xmax = std::min(int(center + support + 0.5), ssize) - xmin;
        k.assign(size_t(std::max(xmax, 0)), 0.0);
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            double u = std::fabs((x + xmin - center + 0.5) * ss);
            double wv = u < 1.0 ? 1.0 - u : 0.0;
            k[size_t(x)] = wv;
            ww += wv;
        }
        for (int x = 0; x < xmax; ++x)
            if (k[size_t(x)] != 0.0) t.add(xmin + x, ww != 0.0 ? k[size_t(x)] / ww : 0.0);
    }
    return t;
}

// Float path: out = sum_y wy * sum_x wx * src, horizontal pass first.
Image apply_separable(const Image& src, int w, int h, const Taps& tx, const Taps& ty) {
    Image mid(w, src.height);
    for (int y = 0; y < src.height; ++y) {
        const float* row = src.pixels.data() + size_t(y) * size_t(src.width);
        for (int x = 0; x < w; ++x) {
            int b = tx.start[size_t(x)], e = (x + 1 < w) ? tx.start[size_t(x) + 1] : int(tx.idx.size());
            double s = 0.0;
            for (int k = b; k < e; ++k) s += tx.w[size_t(k)] * row[tx.idx[size_t(k)]];
            mid.at(x, y) = float(s);
        }
    }
    Image out(w, h);
    std::vector<double> acc(static_cast<size_t>(w));
    for (int y = 0; y < h; ++y) {
        int b = ty.start[size_t(y)], e = (y + 1 < h) ? ty.start[size_t(y) + 1] : int(ty.idx.size());
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int k = b; k < e; ++k) {
            const double wt = ty.w[size_t(k)];
            const float* r = mid.pixels.data() + size_t(ty.idx[size_t(k)]) * size_t(w);
            for (int x = 0; x < w; ++x) acc[size_t(x)] += wt * r[x];
        }
        float* o = out.pixels.data() + size_t(y) * size_t(w);
        for (int x = 0; x < w; ++x) o[x] = float(acc[size_t(x)]);
    }
    return out;
}

// PIL's 8-bit resampling (Resample.c): coefficients in 22-bit fixed point,
// kk = (int)(0.5 + k * 2^22); each pass sums code*kk plus 2^21 and shifts,
// clipping to 0..255. `do_h`/`do_v` say which passes run (PIL skips a pass
// whose size is unchanged, so no rounding happens there).
std::vector<int> fixed_coeffs(const Taps& t) {
    std::vector<int> kk(t.w.size());
    for (size_t i = 0; i < kk.size(); ++i) kk[i] = int(0.5 + t.w[i] * double(1 << 22));
    return kk;
}

inline int clip8(long long ss) {
    long long v = ss >> 22;
    return v < 0 ? 0 : (v > 255 ? 255 : int(v));
}

Image apply_pil8(const Image& src, int w, int h, const Taps& tx, const Taps& ty, bool do_h, bool do_v) {
    const int W = src.width, H = src.height;
    std::vector<int> codes(src.pixels.size());
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = int(std::lround(clamp01(src.pixels[i]) * 255.0f));
    int cw = W;
    if (do_h) {
        std::vector<int> kk = fixed_coeffs(tx);
        std::vector<int> mid(size_t(w) * size_t(H));
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < w; ++x) {
                int b = tx.start[size_t(x)], e = (x + 1 < w) ? tx.start[size_t(x) + 1] : int(tx.idx.size());
                long long ss = 1ll << 21;
                for (int k = b; k < e; ++k) ss += (long long)codes[size_t(y) * size_t(W) + size_t(tx.idx[size_t(k)])] * kk[size_t(k)];
                mid[size_t(y) * size_t(w) + size_t(x)] = clip8(ss);
            }
        codes.swap(mid);
        cw = w;
    }
    if (do_v) {
        std::vector<int> kk = fixed_coeffs(ty);
        std::vector<int> out(size_t(cw) * size_t(h));
        for (int y = 0; y < h; ++y) {
            int b = ty.start[size_t(y)], e = (y + 1 < h) ? ty.start[size_t(y) + 1] : int(ty.idx.size());
            for (int x = 0; x < cw; ++x) {
                long long ss = 1ll << 21;
                for (int k = b; k < e; ++k) ss += (long long)codes[size_t(ty.idx[size_t(k)]) * size_t(cw) + size_t(x)] * kk[size_t(k)];
                out[size_t(y) * size_t(cw) + size_t(x)] = clip8(ss);
            }
        }
        codes.swap(out);
    }
    Image img(w, h);
    for (size_t i = 0; i < codes.size(); ++i) img.pixels[i] = float(codes[i]) / 255.0f;
    return img;
}

void check_resize(const char* op, const Image& src, int w, int h) {
    ENG_CHECK(!src.empty() && src.pixels.size() == size_t(src.width) * size_t(src.height), op,
              ": source image is empty or inconsistent (", src.width, "x", src.height, ")");
    ENG_CHECK(w > 0 && h > 0, op, ": target size ", w, "x", h, " must be positive");
}

}  // namespace

Image resize_area(const Image& src, int w, int h) {
    check_resize("resize_area", src, w, h);
    if (w == src.width && h == src.height) return src;
    const bool down = src.width >= w && src.height >= h;  // OpenCV: scale_x >= 1 && scale_y >= 1
    Taps tx = down ? area_taps(src.width, w) : area_upscale_taps(src.width, w);
    Taps ty = down ? area_taps(src.height, h) : area_upscale_taps(src.height, h);
    return apply_separable(src, w, h, tx, ty);
}

Image resize_bilinear(const Image& src, int w, int h, bool antialias, bool quantize8) {
    check_resize("resize_bilinear", src, w, h);
    if (w == src.width && h == src.height) return src;
    Taps tx = pil_bilinear_taps(src.width, w, antialias);
    Taps ty = pil_bilinear_taps(src.height, h, antialias);
    if (!quantize8) return apply_separable(src, w, h, tx, ty);
    return apply_pil8(src, w, h, tx, ty, w != src.width, h != src.height);
}

}  // namespace mama
