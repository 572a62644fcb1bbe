// test_dicom.cpp: the DICOM reader on tiny files written byte by byte here
// (explicit/implicit VR, 8/16 bit, signed, sequences, no preamble, compressed and
// truncated files), the §3.1 conversion on hand-made values, and the real CR
// radiograph shipped in Debian's python3-pydicom (when PYDICOM_TEST_FILES is set).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mama/dicom.h"
#include "mama/image.h"
#include "mama/prepare.h"
#include "tensor/check.h"
#include "tensor/random.h"
#include "tests/testing.h"

using mama::DicomImage;

namespace {

const char* kExplicitLE = "1.2.840.10008.1.2.1";
const char* kImplicitLE = "1.2.840.10008.1.2";

// Writes data elements in explicit or implicit VR little endian (PS3.5 §7.1).
struct Writer {
    bool explicit_vr = true;
    std::vector<uint8_t> b;

    void u16(unsigned v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); }
    void u32(uint32_t v) { u16(v & 0xFFFF), u16(v >> 16); }
    void tag(unsigned g, unsigned e) { u16(g), u16(e); }
    static bool long_vr(const std::string& vr) {
        for (const char* v : {"OB", "OW", "SQ", "UN", "UT", "OF", "OD", "OL", "UC", "UR"})
            if (vr == v) return true;
        return false;
    }
    void header(unsigned g, unsigned e, const std::string& vr, uint32_t length) {
        tag(g, e);
        if (!explicit_vr) return u32(length);
        b.push_back(uint8_t(vr[0])), b.push_back(uint8_t(vr[1]));
        if (long_vr(vr)) u16(0), u32(length);
        else u16(length);
    }
    void bytes(unsigned g, unsigned e, const std::string& vr, std::vector<uint8_t> v) {
        if (v.size() % 2) v.push_back(vr == "UI" || vr == "OB" ? 0 : ' ');  // values have even length
        header(g, e, vr, uint32_t(v.size()));
        b.insert(b.end(), v.begin(), v.end());
    }
    void str(unsigned g, unsigned e, const std::string& vr, const std::string& s) {
        bytes(g, e, vr, std::vector<uint8_t>(s.begin(), s.end()));
    }
    void us(unsigned g, unsigned e, unsigned v) { bytes(g, e, "US", {uint8_t(v), uint8_t(v >> 8)}); }
    // Undefined-length sequence / item markers (items and delimiters never carry a VR).
    void seq_begin(unsigned g, unsigned e, const std::string& vr = "SQ") { header(g, e, vr, 0xFFFFFFFFu); }
    void item_begin(uint32_t length = 0xFFFFFFFFu) { tag(0xFFFE, 0xE000), u32(length); }
    void item_end() { tag(0xFFFE, 0xE00D), u32(0); }
    void seq_end() { tag(0xFFFE, 0xE0DD), u32(0); }
};

// Preamble + DICM + meta group (always explicit VR) naming the transfer syntax.
std::vector<uint8_t> file_start(const std::string& ts) {
    Writer meta;
    meta.bytes(0x0002, 0x0001, "OB", {0, 1});
    meta.str(0x0002, 0x0010, "UI", ts);
    Writer w;
    w.b.assign(128, 0);
    for (char c : std::string("DICM")) w.b.push_back(uint8_t(c));
    w.header(0x0002, 0x0000, "UL", 4);
    w.u32(uint32_t(meta.b.size()));
    w.b.insert(w.b.end(), meta.b.begin(), meta.b.end());
    return w.b;
}

struct Spec {
    int rows = 2, cols = 3, bits = 16, stored = 16, signed_ = 0;
    std::string photometric = "MONOCHROME2";
    std::vector<int> values;  // rows*cols raw stored words
};

// The image module and the pixel data; `extra` runs before the image attributes.
template <typename Extra>
std::vector<uint8_t> image_file(const std::string& ts, bool explicit_vr, const Spec& s, Extra extra,
                                bool preamble = true) {
    Writer w;
    w.explicit_vr = explicit_vr;
    if (preamble) w.b = file_start(ts);
    w.str(0x0008, 0x0060, "CS", "MG");
    extra(w);
    w.us(0x0028, 0x0002, 1);
    w.str(0x0028, 0x0004, "CS", s.photometric);
    w.us(0x0028, 0x0010, unsigned(s.rows));
    w.us(0x0028, 0x0011, unsigned(s.cols));
    w.us(0x0028, 0x0100, unsigned(s.bits));
    w.us(0x0028, 0x0101, unsigned(s.stored));
    w.us(0x0028, 0x0102, unsigned(s.stored - 1));
    w.us(0x0028, 0x0103, unsigned(s.signed_));
    std::vector<uint8_t> px;
    for (int v : s.values) {
        px.push_back(uint8_t(v));
        if (s.bits == 16) px.push_back(uint8_t(unsigned(v) >> 8));
    }
    w.bytes(0x7FE0, 0x0010, s.bits == 16 ? "OW" : "OB", px);
    return w.b;
}
std::vector<uint8_t> image_file(const std::string& ts, bool explicit_vr, const Spec& s) {
    return image_file(ts, explicit_vr, s, [](Writer&) {});
}

DicomImage parse(const std::vector<uint8_t>& f, const mama::DicomReadOptions& o = {}) {
    return mama::parse_dicom(f.data(), f.size(), "mem.dcm", o);
}

using ::testing::error_of;

std::string temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("mama_test_dicom_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::create_directories(d);
    return d.string();
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<float> as_float(const std::vector<int>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace

TEST_CASE("dicom: explicit VR little endian, 16-bit unsigned, attributes") {
    Spec s;
    s.values = {0, 1, 4095, 256, 65535, 4660};
    auto f = image_file(kExplicitLE, true, s, [](Writer& w) {
        w.str(0x0018, 0x5101, "CS", "MLO");
        w.str(0x0020, 0x0062, "CS", "L");
        w.str(0x0028, 0x1050, "DS", "40\\400");  // WindowCenter with two values
        w.str(0x0028, 0x1051, "DS", "80\\1500");
        w.str(0x0028, 0x1052, "DS", "-1024");
        w.str(0x0028, 0x1053, "DS", "0.5 ");
    });
    DicomImage d = parse(f);
    CHECK(d.transfer_syntax == kExplicitLE);
    CHECK(d.has_preamble);
    CHECK(d.explicit_vr);
    CHECK(d.rows == 2);
    CHECK(d.columns == 3);
    CHECK(d.bits_allocated == 16);
    CHECK(d.bits_stored == 16);
    CHECK(d.high_bit == 15);
    CHECK(d.pixel_representation == 0);
    CHECK(d.samples_per_pixel == 1);
    CHECK(d.photometric == "MONOCHROME2");
    CHECK(d.modality == "MG");
    CHECK(d.view_position == "MLO");
    CHECK(d.image_laterality == "L");
    CHECK(d.has_rescale);
    CHECK(d.rescale_slope == 0.5);
    CHECK(d.rescale_intercept == -1024.0);
    CHECK(d.window_center == std::vector<double>{40.0, 400.0});
    CHECK(d.window_width == std::vector<double>{80.0, 1500.0});
    CHECK(d.pixels == as_float(s.values));
    CHECK(d.at(1, 1) == 65535.0f);  // (x=1, y=1): row 1 column 1
}

TEST_CASE("dicom: implicit VR, 8-bit MONOCHROME1, no rescale") {
    Spec s;
    s.rows = 3, s.cols = 1, s.bits = 8, s.stored = 8, s.photometric = "MONOCHROME1";
    s.values = {0, 200, 255};  // odd length (3) is padded to 4 bytes
    DicomImage d = parse(image_file(kImplicitLE, false, s));
    CHECK(d.transfer_syntax == kImplicitLE);
    CHECK_FALSE(d.explicit_vr);
    CHECK(d.bits_allocated == 8);
    CHECK(d.photometric == "MONOCHROME1");
    CHECK_FALSE(d.has_rescale);
    CHECK(d.view_position.empty());
    CHECK(d.pixels == as_float(s.values));
}

TEST_CASE("dicom: signed samples and the BitsStored option") {
    Spec s;
    s.rows = 1, s.cols = 4, s.signed_ = 1;
    s.values = {0x8000, 0xFFFF, 5, 0x7FFF};  // -32768, -1, 5, 32767 as int16
    CHECK(parse(image_file(kExplicitLE, true, s)).pixels == as_float({-32768, -1, 5, 32767}));

    Spec b8;
    b8.rows = 1, b8.cols = 2, b8.bits = 8, b8.stored = 8, b8.signed_ = 1;
    b8.values = {0x80, 0x7F};
    CHECK(parse(image_file(kImplicitLE, false, b8)).pixels == as_float({-128, 127}));

    // 12 bits stored in 16: the reference (pydicom 2.x) keeps the whole word,
    // apply_bits_stored keeps bits 0..11 and sign-extends them.
    Spec u12;
    u12.rows = 1, u12.cols = 2, u12.stored = 12;
    u12.values = {0xF123, 0x0FFF};
    auto f = image_file(kExplicitLE, true, u12);
    mama::DicomReadOptions masked;
    masked.apply_bits_stored = true;
    CHECK(parse(f).pixels == as_float({0xF123, 0x0FFF}));
    CHECK(parse(f, masked).pixels == as_float({0x123, 0xFFF}));
    u12.signed_ = 1;
    f = image_file(kExplicitLE, true, u12);
    CHECK(parse(f).pixels == as_float({int16_t(0xF123), 0x0FFF}));
    CHECK(parse(f, masked).pixels == as_float({0x123, -1}));
}

TEST_CASE("dicom: sequences of defined and undefined length are skipped") {
    Spec s;
    s.values = {10, 20, 30, 40, 50, 60};
    for (bool explicit_vr : {true, false}) {
        CAPTURE(explicit_vr);
        auto f = image_file(explicit_vr ? kExplicitLE : kImplicitLE, explicit_vr, s, [&](Writer& w) {
            // Undefined-length sequence, undefined-length item holding attributes that
            // must NOT override the top level (like an Icon Image Sequence), and a
            // nested undefined-length sequence with a defined-length item.
            w.seq_begin(0x0088, 0x0200);
            w.item_begin();
            w.us(0x0028, 0x0010, 999);
            w.str(0x0028, 0x0004, "CS", "RGB");
            w.seq_begin(0x0008, 0x1140);
            Writer inner;
            inner.explicit_vr = explicit_vr;
            inner.str(0x0008, 0x1150, "UI", "1.2.3");
            w.item_begin(uint32_t(inner.b.size()));
            w.b.insert(w.b.end(), inner.b.begin(), inner.b.end());
            w.seq_end();
            w.bytes(0x7FE0, 0x0010, "OW", {1, 2, 3, 4});  // pixel data inside an item: ignored
            w.item_end();
            w.item_begin(0);  // an empty item
            w.seq_end();
            // Defined-length sequence with one undefined-length item inside.
            Writer sq;
            sq.explicit_vr = explicit_vr;
            sq.item_begin();
            sq.str(0x0018, 0x5101, "CS", "XX");
            sq.item_end();
            w.bytes(0x0054, 0x0220, "SQ", sq.b);
            if (explicit_vr) {
                // UN of undefined length: an implicit-VR sequence inside (PS3.5 §6.2.2).
                w.seq_begin(0x0009, 0x1010, "UN");
                w.explicit_vr = false;
                w.item_begin();
                w.us(0x0028, 0x0011, 7777);
                w.item_end();
                w.seq_end();
                w.explicit_vr = true;
            }
            w.str(0x0018, 0x5101, "CS", "CC");
        });
        DicomImage d = parse(f);
        CHECK(d.rows == 2);
        CHECK(d.columns == 3);
        CHECK(d.photometric == "MONOCHROME2");
        CHECK(d.view_position == "CC");
        CHECK(d.pixels == as_float(s.values));
    }
}

TEST_CASE("dicom: files without preamble and meta group") {
    Spec s;
    s.rows = 1, s.cols = 2;
    s.values = {7, 9};
    for (bool explicit_vr : {true, false}) {
        CAPTURE(explicit_vr);
        DicomImage d = parse(image_file("", explicit_vr, s, [](Writer&) {}, false));
        CHECK_FALSE(d.has_preamble);
        CHECK(d.transfer_syntax.empty());
        CHECK(d.explicit_vr == explicit_vr);
        CHECK(d.pixels == as_float(s.values));
    }
    std::vector<uint8_t> text(300, 'a');
    CHECK(error_of([&] { parse(text); }).find("'mem.dcm' is not a DICOM file") != std::string::npos);
}

TEST_CASE("dicom: compressed and other unsupported transfer syntaxes are named") {
    Spec s;
    auto reject = [&](const std::string& uid) -> mama::DicomUnsupported {
        try {
            parse(image_file(uid, true, s));
        } catch (const mama::DicomUnsupported& e) {
            return e;
        }
        FAIL("no DicomUnsupported for " << uid);
        return mama::DicomUnsupported("", "");
    };
    auto jpeg = reject("1.2.840.10008.1.2.4.50");
    std::string m = jpeg.what();
    CHECK(m.find("mem.dcm") != std::string::npos);
    CHECK(m.find("1.2.840.10008.1.2.4.50") != std::string::npos);
    CHECK(m.find("JPEG Baseline (Process 1)") != std::string::npos);
    CHECK(m.find("dcmdjpeg mem.dcm") != std::string::npos);
    CHECK(m.find("gdcmconv --raw mem.dcm") != std::string::npos);
    CHECK(jpeg.kind == "compressed: JPEG Baseline (Process 1)");

    m = reject("1.2.840.10008.1.2.4.90").what();
    CHECK(m.find("JPEG 2000 Image Compression (Lossless Only)") != std::string::npos);
    CHECK(m.find("gdcmconv --raw") != std::string::npos);
    m = reject("1.2.840.10008.1.2.5").what();
    CHECK(m.find("RLE Lossless") != std::string::npos);
    CHECK(reject("1.2.840.10008.1.2.4.70").kind.find("JPEG Lossless") != std::string::npos);
    CHECK(reject("1.2.840.10008.1.2.2").kind == "unsupported: Explicit VR Big Endian (retired)");
    CHECK(reject("1.2.840.10008.1.2.1.99").kind == "unsupported: Deflated Explicit VR Little Endian");
    CHECK(reject("1.2.3.4").kind == "unknown transfer syntax 1.2.3.4");
    CHECK(mama::transfer_syntax_name("1.2.840.10008.1.2.4.91") == "JPEG 2000 Image Compression");

    Spec rgb;
    rgb.photometric = "RGB";
    CHECK_THROWS_AS(parse(image_file(kExplicitLE, true, rgb)), mama::DicomUnsupported);
    Spec b32;
    b32.bits = 32, b32.stored = 32;
    CHECK_THROWS_AS(parse(image_file(kExplicitLE, true, b32)), mama::DicomUnsupported);
}

TEST_CASE("dicom: truncated and corrupt files give errors naming the file") {
    Spec s;
    s.values = {1, 2, 3, 4, 5, 6};
    auto good = image_file(kExplicitLE, true, s, [](Writer& w) {
        w.seq_begin(0x0008, 0x1140);
        w.item_begin();
        w.str(0x0008, 0x1150, "UI", "1.2.3");
        w.item_end();
        w.seq_end();
    });
    REQUIRE(parse(good).pixels == as_float(s.values));
    // Every strict prefix (pixel data is last, so none is a complete image); an
    // exact-size copy lets AddressSanitizer catch any read past the end.
    for (size_t n = 0; n < good.size(); ++n) {
        std::vector<uint8_t> cut(good.begin(), good.begin() + long(n));
        std::string e = error_of([&] { parse(cut); });
        CAPTURE(n);
        CHECK(e.find("mem.dcm") != std::string::npos);
    }
    // Random byte corruption: parse or throw eng::Error, never crash or over-read.
    for (uint64_t trial = 0; trial < 400; ++trial) {
        std::vector<uint8_t> bad = good;
        for (int k = 0; k < 3; ++k) {
            uint64_t r = eng::random_word(1234, trial * 3 + uint64_t(k));
            bad[132 + (r % (bad.size() - 132))] = uint8_t(r >> 32);
        }
        try {
            parse(bad);
        } catch (const eng::Error&) {
        }
    }
    // A truncated file on disk: the message names the path.
    std::string dir = temp_dir("trunc");
    std::string path = dir + "/cut.dcm";
    write_file(path, std::vector<uint8_t>(good.begin(), good.end() - 3));
    std::string e = error_of([&] { mama::read_dicom(path); });
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("truncated") != std::string::npos);
    CHECK(error_of([&] { mama::read_dicom(dir + "/missing.dcm"); }).find("missing.dcm") != std::string::npos);
    // Declared frames that the pixel data cannot hold.
    auto frames = image_file(kExplicitLE, true, s, [](Writer& w) { w.str(0x0028, 0x0008, "IS", "2"); });
    CHECK(error_of([&] { parse(frames); }).find("2 frame(s)") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("prepare: scale by 255/max with ties to even, then invert MONOCHROME1") {
    // max 510 makes alpha exactly 0.5: 3 -> 1.5 -> 2, 5 -> 2.5 -> 2, 7 -> 3.5 -> 4.
    DicomImage d;
    d.rows = 1, d.columns = 6, d.photometric = "MONOCHROME2";
    d.pixels = {0, 3, 5, 7, 100, 510};
    CHECK(mama::dicom_to_uint8(d) == std::vector<uint8_t>{0, 2, 2, 4, 50, 255});
    d.photometric = "MONOCHROME1";  // inverted AFTER scaling: 255 - code
    CHECK(mama::dicom_to_uint8(d) == std::vector<uint8_t>{255, 253, 253, 251, 205, 0});
    // Signed values: |x * alpha| (convertScaleAbs), so -7 -> 4 like +7.
    d.photometric = "MONOCHROME2";
    d.columns = 4;
    d.pixels = {-7, -510, 510, -600};
    CHECK(mama::dicom_to_uint8(d) == std::vector<uint8_t>{4, 255, 255, 255});
    // max 0: alpha = inf in the reference; x86's cvRound makes NaN and inf
    // INT_MIN, which saturates to 0 (this wrote 255 for the -3 before).
    d.pixels = {0, 0, -3, 0};
    CHECK(mama::dicom_to_uint8(d) == std::vector<uint8_t>{0, 0, 0, 0});
    d.photometric = "MONOCHROME1";
    CHECK(mama::dicom_to_uint8(d) == std::vector<uint8_t>{255, 255, 255, 255});
}

TEST_CASE("prepare: output size and names follow the reference") {
    int w = 0, h = 0;
    mama::reference_resize_size(3328, 4096, 1080, w, h);  // 3328*1080/4096 = 877.5 -> 877
    CHECK((w == 877 && h == 1080));
    mama::reference_resize_size(4096, 3328, 1080, w, h);
    CHECK((w == 1080 && h == 877));
    mama::reference_resize_size(2294, 1914, 1080, w, h);  // 1914*1080/2294 = 901.1
    CHECK((w == 1080 && h == 901));
    mama::reference_resize_size(500, 500, 1080, w, h);  // square: upscaled to 1080
    CHECK((w == 1080 && h == 1080));
    CHECK(mama::prepared_name("1.2.3.4.dcm") == "1.2.3.4_resized.jpg");
    CHECK(mama::prepared_name("IMG.DCM", "png") == "IMG_resized.png");
    CHECK(mama::prepared_name("6154") == "6154_resized.jpg");
}

TEST_CASE("prepare: integer-factor area downscale averages code blocks, rounding half up") {
    // 4x4 -> long side 2: each output code is (sum of its 2x2 block + 2) / 4, as
    // OpenCV's integer-factor INTER_AREA path computes it on uint8.
    DicomImage d;
    d.rows = 4, d.columns = 4, d.photometric = "MONOCHROME2";
    d.pixels = {255, 0, 1, 2, 0, 0, 3, 4, 10, 11, 100, 100, 12, 13, 101, 102};
    std::vector<uint8_t> c = mama::dicom_to_uint8(d);  // max 255: codes == values
    REQUIRE(c == std::vector<uint8_t>(d.pixels.begin(), d.pixels.end()));
    mama::PrepareOptions o;
    o.long_side = 2;
    mama::Image img = mama::dicom_to_image(d, o);
    REQUIRE((img.width == 2 && img.height == 2));
    std::vector<int> expect;
    for (int by = 0; by < 2; ++by)
        for (int bx = 0; bx < 2; ++bx) {
            int sum = 0;
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 2; ++x) sum += c[size_t((2 * by + y) * 4 + 2 * bx + x)];
            expect.push_back((sum + 2) / 4);
        }
    CHECK(expect == std::vector<int>{64, 3, 12, 101});  // 255/4 = 63.75, 10/4 = 2.5 -> 3, 46/4, 403/4
    for (size_t i = 0; i < 4; ++i) CHECK(img.pixels[i] * 255.0f == doctest::Approx(expect[i]).epsilon(1e-5));

    // PNG output is lossless: it reads back to the same codes; no .part file is left.
    std::string dir = temp_dir("png");
    o.format = "png";
    std::string path = dir + "/sub/x_resized.png";
    mama::save_prepared(path, img, o);
    mama::Image back = mama::load_image(path);
    CHECK(back.pixels == img.pixels);
    CHECK_FALSE(std::filesystem::exists(path + ".part"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("prepare: other integer factors round the block mean to nearest even, as OpenCV's general area path") {
    // OpenCV rounds ties up only in its 2 x 2 path; 4 x 4 blocks are
    // float(sum) * (1/16) rounded to nearest even: a block summing to 1096
    // (mean 68.5) gives 68, one summing to 1112 (69.5) gives 70.  (This gave
    // 69 and 70: every 4 x 4 tie went up.)
    DicomImage d;
    d.rows = 4, d.columns = 12, d.photometric = "MONOCHROME2";
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 12; ++x) d.pixels.push_back(x < 4 ? 68.0f : x < 8 ? 69.0f : 255.0f);
    d.pixels[0] += 8.0f;  // block 0: 16·68 + 8 = 1096
    d.pixels[4] += 8.0f;  // block 1: 16·69 + 8 = 1112; block 2 holds the maximum, so codes equal values
    std::vector<uint8_t> c = mama::dicom_to_uint8(d);
    REQUIRE(c == std::vector<uint8_t>(d.pixels.begin(), d.pixels.end()));
    mama::PrepareOptions o;
    o.long_side = 3;  // 12 x 4 -> 3 x 1: 4 x 4 blocks
    mama::Image img = mama::dicom_to_image(d, o);
    REQUIRE((img.width == 3 && img.height == 1));
    CHECK(img.pixels[0] * 255.0f == doctest::Approx(68.0f));
    CHECK(img.pixels[1] * 255.0f == doctest::Approx(70.0f));
    CHECK(img.pixels[2] * 255.0f == doctest::Approx(255.0f));
    // Whole factors as OpenCV decides them, in doubles (values from Python).
    CHECK(mama::opencv_whole_factor(4320, 1080));
    CHECK(mama::opencv_whole_factor(96, 2));  // 48
    CHECK(mama::opencv_whole_factor(5, 5));   // no resize
    CHECK_FALSE(mama::opencv_whole_factor(98, 2));  // 1 / (2/98) = 49.00000000000001
    CHECK_FALSE(mama::opencv_whole_factor(4, 3));
}

TEST_CASE("prepare: the temporary is private to the call; another writer's '.part' file is left alone") {
    // Two writers of one output (duplicate names, or two prepare runs on one
    // --out) shared "<path>.part" and overwrote or renamed away each other's file.
    std::string dir = temp_dir("part");
    const std::string path = dir + "/x_resized.png";
    write_file(path + ".part", {'o', 't', 'h', 'e', 'r'});
    mama::PrepareOptions o;
    o.format = "png";
    mama::Image img(3, 2, 0.5f);
    mama::save_prepared(path, img, o);
    CHECK(mama::load_image(path).width == 3);
    REQUIRE(std::filesystem::exists(path + ".part"));
    std::ifstream other(path + ".part", std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(other)), std::istreambuf_iterator<char>());
    CHECK(text == "other");
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
    CHECK(files == 2);  // the output and the other writer's file: no temporary of ours is left
    std::filesystem::remove_all(dir);
}

// The real computed radiograph in Debian's python3-pydicom 2.3.1 (an Agfa CR of the
// cervical spine, 16x16, 12 bits stored, MONOCHROME1). Fetch it with:
//   apt-get download python3-pydicom && dpkg-deb -x python3-pydicom_*.deb DIR
//   PYDICOM_TEST_FILES=DIR/usr/lib/python3/dist-packages/pydicom/data/test_files
// Expected values, obtained independently of this code:
//  - attributes and pixels: pydicom 2.3.1 from that package, run with
//    PYTHONPATH=DIR/usr/lib/python3/dist-packages /usr/bin/python3:
//    ds = pydicom.dcmread(.../CR1/6154); ds.pixel_array, ds.Rows, ...
//  - 8-bit codes and resized images: OpenCV 4.6.0 (Debian libopencv-core406 and
//    libopencv-imgproc406, headers from libopencv-*-dev extracted with dpkg-deb)
//    in a small C++ program fed with pydicom's pixel_array:
//    cv::convertScaleAbs(x, y, 255.0 / max); cv::bitwise_not(y, y);
//    cv::resize(y, r, {8, 8} or {12, 12}, 0, 0, cv::INTER_AREA).
TEST_CASE("prepare: real CR radiograph from python3-pydicom (MONOCHROME1)") {
    const char* root = std::getenv("PYDICOM_TEST_FILES");
    std::string path = root ? std::string(root) + "/dicomdirtests/77654033/CR1/6154" : "";
    if (!root || !std::filesystem::exists(path)) {
        MESSAGE("skipped: set PYDICOM_TEST_FILES to pydicom/data/test_files of an extracted python3-pydicom "
                "package (apt-get download python3-pydicom; dpkg-deb -x ...) to run this test");
        return;
    }
    DicomImage d = mama::read_dicom(path);
    CHECK(d.transfer_syntax == "1.2.840.10008.1.2.1");
    CHECK(d.explicit_vr);
    CHECK(d.rows == 16);
    CHECK(d.columns == 16);
    CHECK(d.bits_allocated == 16);
    CHECK(d.bits_stored == 12);
    CHECK(d.high_bit == 11);
    CHECK(d.pixel_representation == 0);
    CHECK(d.samples_per_pixel == 1);
    CHECK(d.photometric == "MONOCHROME1");
    CHECK(d.modality == "CR");
    CHECK(d.view_position == "LL");
    CHECK(d.image_laterality.empty());
    CHECK(d.has_rescale);
    CHECK(d.rescale_slope == 0.684);
    CHECK(d.rescale_intercept == 200.0);
    CHECK(d.window_center == std::vector<double>{1600.0});
    CHECK(d.window_width == std::vector<double>{2800.0});
    REQUIRE(d.pixels.size() == 256);
    CHECK(std::vector<float>(d.pixels.begin(), d.pixels.begin() + 5) == as_float({1994, 2031, 2106, 2083, 2225}));
    CHECK(d.at(3, 7) == 2560.0f);
    CHECK(d.at(15, 15) == 2418.0f);
    CHECK(std::vector<float>(d.pixels.begin() + 128, d.pixels.begin() + 144) ==
          as_float({2431, 2579, 2506, 2602, 2608, 2569, 2608, 2558, 2515, 2590, 2536, 2527, 2666, 2494, 2533, 2573}));
    double sum = 0;
    float lo = 1e9f, hi = -1e9f;
    for (float v : d.pixels) sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(sum == 646091.0);
    CHECK(lo == 1994.0f);
    CHECK(hi == 2802.0f);

    std::vector<uint8_t> codes = mama::dicom_to_uint8(d);
    CHECK(std::vector<int>(codes.begin(), codes.begin() + 16) ==
          std::vector<int>{74, 70, 63, 65, 53, 61, 47, 58, 51, 48, 40, 31, 25, 29, 32, 22});
    CHECK(std::vector<int>(codes.end() - 16, codes.end()) ==
          std::vector<int>{3, 0, 5, 4, 17, 22, 29, 28, 28, 36, 40, 43, 41, 28, 50, 35});

    auto resized = [&](int long_side) {
        mama::PrepareOptions o;
        o.long_side = long_side;
        mama::Image img = mama::dicom_to_image(d, o);
        std::vector<int> out;
        for (float v : img.pixels) out.push_back(int(std::lround(v * 255.0f)));
        return out;
    };
    CHECK(resized(8) == std::vector<int>{65, 59, 51, 50, 41, 30, 27, 23, 48, 35, 34, 36, 28, 20, 22, 15,
                                         33, 28, 21, 21, 19, 19, 18, 12, 23, 23, 21, 17, 15, 17, 22, 19,
                                         21, 19, 18, 19, 21, 22, 23, 27, 18, 9,  8,  16, 18, 25, 29, 33,
                                         21, 11, 13, 15, 27, 35, 33, 29, 8,  9,  19, 26, 29, 43, 35, 38});
    std::vector<int> r12 = resized(12);
    REQUIRE(r12.size() == 144);
    CHECK(std::vector<int>(r12.begin(), r12.begin() + 24) ==
          std::vector<int>{70, 64, 61, 52, 52, 54, 46, 40, 31, 26, 27, 24,
                           55, 52, 44, 44, 40, 42, 28, 25, 22, 27, 18, 20});
    CHECK(std::vector<int>(r12.end() - 12, r12.end()) ==
          std::vector<int>{5, 6, 6, 17, 26, 26, 29, 38, 43, 38, 37, 37});
}

TEST_CASE("dicom: a folder given as a DICOM file is named as one (it tried to allocate 2^63 bytes)") {
    const std::string dir = std::filesystem::temp_directory_path().string();
    CHECK_THROWS_WITH_AS(mama::read_dicom(dir), doctest::Contains("is a folder, not a file"), eng::Error);
}
