// test_image.cpp: image loading/saving round trips, error messages on broken
// files, and the INTER_AREA / PIL bilinear resize rules against hand cases.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "mama/image.h"
#include "tensor/check.h"
#include "tests/testing.h"

using mama::Image;

namespace {

std::string tmp_path(const std::string& name) {
    return "/tmp/mama_test_image_" + std::to_string(::getpid()) + "_" + name;
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

using ::testing::error_of;

Image ramp(int w, int h, int levels) {
    Image img(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = float((x * 7 + y * 13) % levels) / float(levels - 1);
    return img;
}

}  // namespace

TEST_CASE("image: PNG 8-bit round trip is exact") {
    Image img = ramp(13, 7, 256);
    const std::string p = tmp_path("a.png");
    mama::save_png8(p, img);
    Image back = mama::load_image(p);
    REQUIRE(back.width == 13);
    REQUIRE(back.height == 7);
    for (size_t i = 0; i < img.pixels.size(); ++i) CHECK(std::lround(back.pixels[i] * 255) == std::lround(img.pixels[i] * 255));
    std::remove(p.c_str());
}

TEST_CASE("image: PNG 16-bit round trip is exact") {
    Image img(9, 5);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = float((i * 7919) % 65536) / 65535.0f;
    const std::string p = tmp_path("b.png");
    mama::save_png16(p, img);
    // The file really is 16 bit (IHDR bit depth byte at offset 24).
    std::string bytes = read_bytes(p);
    REQUIRE(bytes.size() > 25);
    CHECK(int((unsigned char)bytes[24]) == 16);
    Image back = mama::load_image(p);
    REQUIRE(back.width == 9);
    REQUIRE(back.height == 5);
    for (size_t i = 0; i < img.pixels.size(); ++i)
        CHECK(std::lround(back.pixels[i] * 65535.0f) == std::lround(img.pixels[i] * 65535.0f));
    std::remove(p.c_str());
}

TEST_CASE("image: JPEG round trip is close on a smooth image") {
    Image img(32, 24);
    for (int y = 0; y < 24; ++y)
        for (int x = 0; x < 32; ++x) img.at(x, y) = 0.2f + 0.6f * float(x + y) / 54.0f;
    const std::string p = tmp_path("c.jpg");
    mama::save_jpeg(p, img, 95);
    Image back = mama::load_image(p);
    REQUIRE(back.width == 32);
    REQUIRE(back.height == 24);
    float worst = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) worst = std::max(worst, std::fabs(back.pixels[i] - img.pixels[i]));
    CHECK(worst < 4.0f / 255.0f);
    std::remove(p.c_str());
}

TEST_CASE("image: colour PNG converts to ITU-601 gray like OpenCV") {
    // Pure red, green, blue, white: 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1.
    unsigned char rgb[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    const std::string p = tmp_path("rgb.png");
    REQUIRE(stbi_write_png(p.c_str(), 4, 1, 3, rgb, 12) != 0);
    Image g = mama::load_image(p);
    REQUIRE(g.width == 4);
    CHECK(std::lround(g.pixels[0] * 255) == 76);
    CHECK(std::lround(g.pixels[1] * 255) == 150);
    CHECK(std::lround(g.pixels[2] * 255) == 29);
    CHECK(std::lround(g.pixels[3] * 255) == 255);
    std::remove(p.c_str());
}

TEST_CASE("image: binary PGM loads") {
    const std::string p = tmp_path("d.pgm");
    write_bytes(p, std::string("P5\n3 2\n255\n") + std::string("\x00\x10\x80\xff\x01\x02", 6));
    Image g = mama::load_image(p);
    REQUIRE(g.width == 3);
    REQUIRE(g.height == 2);
    const int want[6] = {0, 16, 128, 255, 1, 2};
    for (int i = 0; i < 6; ++i) CHECK(std::lround(g.pixels[size_t(i)] * 255) == want[i]);
    std::remove(p.c_str());
}

TEST_CASE("image: 16-bit and other-maxval PNM samples are big-endian and scaled by maxval") {
    // 16-bit: the file's bytes 01 00 | 00 01 are the values 256 and 1 (stb read them swapped).
    const std::string p16 = tmp_path("d16.pgm");
    write_bytes(p16, std::string("P5\n2 1\n65535\n") + std::string("\x01\x00\x00\x01", 4));
    Image g = mama::load_image(p16);
    REQUIRE(g.width == 2);
    CHECK(g.pixels[0] == doctest::Approx(256.0 / 65535.0));
    CHECK(g.pixels[1] == doctest::Approx(1.0 / 65535.0));
    // maxval 15: 0, 5, 10, 15 are 0, 1/3, 2/3, 1 (stb divided by 255).
    const std::string p15 = tmp_path("d15.pgm");
    write_bytes(p15, std::string("P5\n4 1\n15\n") + std::string("\x00\x05\x0a\x0f", 4));
    Image q = mama::load_image(p15);
    for (int i = 0; i < 4; ++i) CHECK(q.pixels[size_t(i)] == doctest::Approx(i / 3.0));
    // 8-bit RGB (P6) converts as OpenCV does: (4899 R + 9617 G + 1868 B + 2^13) >> 14.
    const std::string p6 = tmp_path("d.ppm");
    write_bytes(p6, std::string("P6\n2 1\n255\n") + std::string("\xff\x00\x00\x10\x80\xf0", 6));
    Image c = mama::load_image(p6);
    CHECK(std::lround(c.pixels[0] * 255) == (4899 * 255 + (1 << 13)) >> 14);
    CHECK(std::lround(c.pixels[1] * 255) == (4899 * 16 + 9617 * 128 + 1868 * 240 + (1 << 13)) >> 14);
    // Header values checked before they are used.
    write_bytes(p15, "P5\n9999999999999 9999999999999 255\n");
    CHECK(error_of([&] { mama::load_image(p15); }).find("implausible") != std::string::npos);
    write_bytes(p15, std::string("P5\n1 1\n0\n") + std::string(1, '\0'));
    CHECK(error_of([&] { mama::load_image(p15); }).find("maxval 0") != std::string::npos);
    for (const std::string& f : {p16, p15, p6}) std::remove(f.c_str());
}

TEST_CASE("image: BMP and TGA cut short, and headers declaring huge images, are refused") {
    // A 2 x 2 24-bit BMP: 54 header bytes, rows of 8 bytes (6 + padding).
    std::string bmp = "BM" + std::string(52, '\0') + std::string(16, '\x7f');
    auto put32 = [](std::string& s, size_t at, uint32_t v) {
        for (int k = 0; k < 4; ++k) s[at + size_t(k)] = char((v >> (8 * k)) & 0xff);
    };
    put32(bmp, 2, uint32_t(bmp.size()));
    put32(bmp, 10, 54);
    put32(bmp, 14, 40);
    put32(bmp, 18, 2);
    put32(bmp, 22, 2);
    bmp[26] = 1, bmp[28] = 24;
    const std::string pb = tmp_path("d.bmp");
    write_bytes(pb, bmp);
    CHECK(mama::load_image(pb).width == 2);
    write_bytes(pb, bmp.substr(0, 64));
    CHECK(error_of([&] { mama::load_image(pb); }).find("truncated BMP") != std::string::npos);
    // The OS/2 form: a 12-byte info header with 16-bit sizes (3 x 2, 24 bpp, rows of 12 bytes).
    std::string os2 = "BM" + std::string(24, '\0') + std::string(24, '\x20');
    put32(os2, 2, uint32_t(os2.size()));
    put32(os2, 10, 26);
    put32(os2, 14, 12);
    os2[18] = 3, os2[20] = 2, os2[22] = 1, os2[24] = 24;
    write_bytes(pb, os2);
    CHECK(mama::load_image(pb).width == 3);
    write_bytes(pb, os2.substr(0, 40));
    CHECK(error_of([&] { mama::load_image(pb); }).find("truncated BMP") != std::string::npos);
    // A 2 x 2 8-bit gray TGA (type 3): 18 header bytes, then 4.
    std::string tga(18, '\0');
    tga[2] = 3, tga[12] = 2, tga[14] = 2, tga[16] = 8;
    const std::string pt = tmp_path("d.tga");
    write_bytes(pt, tga + std::string(4, '\x40'));
    CHECK(mama::load_image(pt).height == 2);
    write_bytes(pt, tga + std::string(2, '\x40'));
    CHECK(error_of([&] { mama::load_image(pt); }).find("truncated TGA") != std::string::npos);
    // A run-length TGA (type 11) whose 20 bytes declare 65535 x 6168 pixels: refused, not decoded (2.8 GB).
    std::string bomb(18, '\0');
    bomb[2] = 11, bomb[12] = char(0xff), bomb[13] = char(0xff), bomb[14] = char(0x18), bomb[15] = char(0x18), bomb[16] = 8;
    write_bytes(pt, bomb + std::string("\xff\x00", 2));
    CHECK(error_of([&] { mama::load_image(pt); }).find("refused before decoding") != std::string::npos);
    std::remove(pb.c_str());
    std::remove(pt.c_str());
}

TEST_CASE("image: missing, truncated and garbage files are errors naming the file") {
    const std::string missing = tmp_path("does_not_exist.png");
    CHECK(error_of([&] { mama::load_image(missing); }).find(missing) != std::string::npos);

    Image img = ramp(40, 30, 256);
    const std::string png = tmp_path("full.png"), jpg = tmp_path("full.jpg");
    mama::save_png8(png, img);
    mama::save_jpeg(jpg, img, 90);
    const std::string pgm = tmp_path("full.pgm");
    write_bytes(pgm, std::string("P5\n40 30\n255\n") + std::string(1200, '\x40'));
    for (const std::string& full : {png, jpg, pgm}) {
        std::string bytes = read_bytes(full);
        const std::string cut = full + ".cut";
        write_bytes(cut, bytes.substr(0, bytes.size() * 2 / 3));
        std::string msg = error_of([&] { mama::load_image(cut); });
        INFO(full, " -> '", msg, "'");
        CHECK(msg.find(cut) != std::string::npos);
        std::remove(cut.c_str());
        std::remove(full.c_str());
    }
    const std::string junk = tmp_path("junk.png");
    write_bytes(junk, "this is not an image at all");
    std::string msg = error_of([&] { mama::load_image(junk); });
    CHECK(msg.find(junk) != std::string::npos);
    std::remove(junk.c_str());
}

TEST_CASE("image: a folder is refused by name") {
    // A folder used to fail with libstdc++'s "basic_filebuf::underflow error".
    const std::string dir = tmp_path("a_folder");
    std::filesystem::create_directories(dir);
    std::string msg = error_of([&] { mama::load_image(dir); });
    INFO(msg);
    CHECK(msg.find(dir) != std::string::npos);
    CHECK(msg.find("is a folder") != std::string::npos);
    CHECK(msg.find("HINT") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("image: a PNG cut inside its header gives a reason") {
    // Cut at 30 bytes (inside IHDR), stb fails without a reason: "cannot decode 'x': " was all.
    const std::string png = tmp_path("cut30.png");
    mama::save_png8(png, ramp(40, 30, 256));
    const std::string bytes = read_bytes(png);
    write_bytes(png, bytes.substr(0, 30));
    const std::string msg = error_of([&] { mama::load_image(png); });
    INFO(msg);
    const std::string head = "cannot decode '" + png + "': ";
    REQUIRE(msg.find(head) != std::string::npos);
    const std::string reason = msg.substr(msg.find(head) + head.size());
    CHECK(reason.size() > 3);
    CHECK(reason[0] != ' ');
    CHECK(reason.find("HINT") != std::string::npos);
    std::remove(png.c_str());
}

TEST_CASE("image: resize_area matches the box-filter hand computation") {
    // 1-D rows make the weights easy to write down.
    Image src(5, 1);
    const float s[5] = {0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
    for (int i = 0; i < 5; ++i) src.pixels[size_t(i)] = s[i];
    // 5 -> 2: each output covers 2.5 source pixels.
    Image d = mama::resize_area(src, 2, 1);
    CHECK(d.pixels[0] == doctest::Approx((s[0] + s[1] + 0.5f * s[2]) / 2.5f));
    CHECK(d.pixels[1] == doctest::Approx((0.5f * s[2] + s[3] + s[4]) / 2.5f));
    // 3 -> 2 in both directions: weights (1, 0.5)/1.5 and (0.5, 1)/1.5 per axis.
    Image sq(3, 3);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x) sq.at(x, y) = float(x + 3 * y) / 8.0f;
    Image r = mama::resize_area(sq, 2, 2);
    const double w[2][3] = {{1 / 1.5, 0.5 / 1.5, 0}, {0, 0.5 / 1.5, 1 / 1.5}};
    for (int oy = 0; oy < 2; ++oy)
        for (int ox = 0; ox < 2; ++ox) {
            double ref = 0;
            for (int y = 0; y < 3; ++y)
                for (int x = 0; x < 3; ++x) ref += w[oy][y] * w[ox][x] * sq.at(x, y);
            CHECK(r.at(ox, oy) == doctest::Approx(ref).epsilon(1e-6));
        }
    // 4x4 -> 2x2: plain 2x2 block means.
    Image b = ramp(4, 4, 17);
    Image m = mama::resize_area(b, 2, 2);
    for (int oy = 0; oy < 2; ++oy)
        for (int ox = 0; ox < 2; ++ox) {
            float ref = (b.at(2 * ox, 2 * oy) + b.at(2 * ox + 1, 2 * oy) + b.at(2 * ox, 2 * oy + 1) +
                         b.at(2 * ox + 1, 2 * oy + 1)) / 4;
            CHECK(m.at(ox, oy) == doctest::Approx(ref).epsilon(1e-6));
        }
    // Upscaling 2 -> 3 (OpenCV's area-mode linear): [s0, (s0+s1)/2, s1].
    Image two(2, 1);
    two.pixels = {0.2f, 0.6f};
    Image up = mama::resize_area(two, 3, 1);
    CHECK(up.pixels[0] == doctest::Approx(0.2f));
    CHECK(up.pixels[1] == doctest::Approx(0.4f));
    CHECK(up.pixels[2] == doctest::Approx(0.6f));
}

TEST_CASE("image: resize_bilinear hand cases (PIL triangle filter)") {
    Image src(4, 1);
    src.pixels = {0.0f, 0.7f, 0.35f, 1.0f};
    const auto& s = src.pixels;
    // No antialias, 4 -> 2: samples at source positions 0.5 and 2.5.
    Image a = mama::resize_bilinear(src, 2, 1, false);
    CHECK(a.pixels[0] == doctest::Approx((s[0] + s[1]) / 2));
    CHECK(a.pixels[1] == doctest::Approx((s[2] + s[3]) / 2));
    // Antialias, 4 -> 2: triangle of half-width 2 -> weights (3,3,1)/7 and (1,3,3)/7.
    Image b = mama::resize_bilinear(src, 2, 1, true);
    CHECK(b.pixels[0] == doctest::Approx((3 * s[0] + 3 * s[1] + s[2]) / 7));
    CHECK(b.pixels[1] == doctest::Approx((s[1] + 3 * s[2] + 3 * s[3]) / 7));
    // Upscale 2 -> 4 (antialias irrelevant): edge samples clamp, inner 3:1 mixes.
    Image two(2, 1);
    two.pixels = {0.2f, 0.6f};
    for (bool aa : {false, true}) {
        Image u = mama::resize_bilinear(two, 4, 1, aa);
        CHECK(u.pixels[0] == doctest::Approx(0.2f));
        CHECK(u.pixels[1] == doctest::Approx(0.75f * 0.2f + 0.25f * 0.6f));
        CHECK(u.pixels[2] == doctest::Approx(0.25f * 0.2f + 0.75f * 0.6f));
        CHECK(u.pixels[3] == doctest::Approx(0.6f));
    }
    // Vertical axis uses the same rule: a column 4 -> 2 equals the row result.
    Image col(1, 4);
    col.pixels = s;
    Image c = mama::resize_bilinear(col, 1, 2, true);
    CHECK(c.pixels[0] == doctest::Approx(b.pixels[0]));
    CHECK(c.pixels[1] == doctest::Approx(b.pixels[1]));
    // quantize8 rounds to codes: (3*0 + 3*0.7 + 0.35)/7 * 255 = 89.25 -> 89.
    Image q = mama::resize_bilinear(src, 2, 1, true, true);
    CHECK(std::lround(q.pixels[0] * 255.0f) == 89);
    CHECK(q.pixels[0] * 255.0f == doctest::Approx(89.0f));
}

TEST_CASE("image: save errors name the path") {
    Image img = ramp(4, 4, 5);
    const std::string bad = "/nonexistent_dir_for_mama_tests/x.png";
    CHECK(error_of([&] { mama::save_png8(bad, img); }).find(bad) != std::string::npos);
    CHECK(error_of([&] { mama::save_png16(bad, img); }).find(bad) != std::string::npos);
    CHECK(error_of([&] { mama::save_jpeg(bad, img); }).find(bad) != std::string::npos);
}

TEST_CASE("image: resize_bilinear with quantize8 is bit-exact against PIL fixtures") {
    // Fixtures from tests/mama/data/pil/make_pil_fixtures.py (PIL 9.4, Image.BILINEAR).
    const std::string dir = "tests/mama/data/pil/";
    Image in = mama::load_image(dir + "in.pgm");
    struct Case { const char* file; int w, h; };
    for (Case c : {Case{"bilinear_11x7.pgm", 11, 7}, Case{"bilinear_40x50.pgm", 40, 50}, Case{"bilinear_29x8.pgm", 29, 8}}) {
        Image ref = mama::load_image(dir + c.file);
        Image got = mama::resize_bilinear(in, c.w, c.h, true, true);
        REQUIRE(got.width == ref.width);
        REQUIRE(got.height == ref.height);
        int diffs = 0;
        for (size_t i = 0; i < ref.pixels.size(); ++i)
            diffs += std::lround(got.pixels[i] * 255) != std::lround(ref.pixels[i] * 255);
        INFO(c.file);
        CHECK(diffs == 0);
    }
}
