// test_safetensors.cpp: the safetensors reader and writer against the
// byte-exact vectors of the reference implementation (data-and-weights.md
// §5.3), dtype round trips and conversions, rejection of corrupt files with
// the expected messages, sharded checkpoints and the atomic write.
#include <doctest/doctest.h>

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "tensor/check.h"
#include "tensor/tensor.h"
#include "tests/testing.h"

using namespace eng;
using eng::nn::SafeTensorsFile;
using eng::nn::SafeTensorsSet;

namespace {

using ::testing::error_of;
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A fresh folder under /tmp, removed (with its files) at the end of the test.
struct TmpDir {
    std::string path;
    TmpDir() {
        char buf[] = "/tmp/eng_st_XXXXXX";
        REQUIRE(::mkdtemp(buf) != nullptr);
        path = buf;
    }
    ~TmpDir() {
        for (const auto& f : files()) ::unlink((path + "/" + f).c_str());
        ::rmdir(path.c_str());
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d))
                if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
            ::closedir(d);
        }
        return out;
    }
};

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
}
std::string le64(uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
    return s;
}
std::string hex_bytes(std::initializer_list<int> bytes) {
    std::string s;
    for (int b : bytes) s += char(b);
    return s;
}
// A file made by hand: length, header JSON (unpadded unless given), data.
std::string make_file(const std::string& json, const std::string& data) { return le64(json.size()) + json + data; }
template <typename T>
std::string raw_of(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

TEST_CASE("safetensors: byte-exact vector, one tensor (write and read)") {
    TmpDir dir;
    const std::string json = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
    REQUIRE(json.size() == 64);
    const std::string data = hex_bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40,
                                        0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xA0, 0x40});
    const std::string expected = hex_bytes({0x40, 0, 0, 0, 0, 0, 0, 0}) + json + data;

    nn::save_safetensors(dir / "a.safetensors", {{"attn.0", from_vector({0, 1, 2, 3, 4, 5}, {1, 2, 3})}});
    CHECK(read_bytes(dir / "a.safetensors") == expected);

    write_bytes(dir / "b.safetensors", expected);
    SafeTensorsFile f = SafeTensorsFile::open(dir / "b.safetensors");
    REQUIRE(f.names() == std::vector<std::string>{"attn.0"});
    CHECK(f.info("attn.0").dtype == "F32");
    CHECK(f.info("attn.0").shape == Shape{1, 2, 3});
    CHECK(f.info("attn.0").offset == 72);
    CHECK(f.info("attn.0").nbytes == 24);
    Tensor t = f.load("attn.0");
    CHECK(t.dtype() == DType::f32);
    CHECK(t.shape() == Shape{1, 2, 3});
    CHECK(t.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("safetensors: byte-exact vectors, padding, empty and metadata-only") {
    // Padding: a 65-byte JSON gets 7 spaces, N = 72.
    std::string h = nn::safetensors_header({{"attn0", zeros({1, 1, 2, 3})}});
    const std::string json = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
    REQUIRE(json.size() == 65);
    CHECK(h == hex_bytes({0x48, 0, 0, 0, 0, 0, 0, 0}) + json + std::string(7, ' '));

    TmpDir dir;
    nn::save_safetensors(dir / "empty.safetensors", {});
    CHECK(read_bytes(dir / "empty.safetensors") ==
          hex_bytes({0x08, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20}));
    CHECK(SafeTensorsFile::open(dir / "empty.safetensors").names().empty());

    nn::save_safetensors(dir / "meta.safetensors", {}, {{"framework", "pt"}});
    CHECK(read_bytes(dir / "meta.safetensors") ==
          hex_bytes({40, 0, 0, 0, 0, 0, 0, 0}) + R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '));
    SafeTensorsFile m = SafeTensorsFile::open(dir / "meta.safetensors");
    CHECK(m.metadata().at("framework") == "pt");
}

TEST_CASE("safetensors: round trips of f32, bf16, i32 and the reference tensor order") {
    TmpDir dir;
    std::vector<float> fv = {1.5f, -2.0f, 0.15625f, 3e-3f, -1e30f, 0.0f};
    Tensor bf = from_vector({1.5f, -2.0f, 0.5f, 96.0f}, {2, 2}).to(DType::bf16);
    Tensor ints = from_ivector({-2147483647 - 1, 7, 2147483647}, {3});
    Tensor scalar = from_vector({42.0f}, {});
    Tensor empty0 = zeros({0, 3});
    // Non-contiguous input: the transpose of a [2,3] tensor is written row-major.
    Tensor tr = raw_transpose(from_vector({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);
    nn::save_safetensors(dir / "r.safetensors", {{"z.f", from_vector(fv, {2, 3})},
                                                  {"b.bf", bf},
                                                  {"a.i", ints},
                                                  {"s", scalar},
                                                  {"e", empty0},
                                                  {"t", tr}},
                         {{"step", "12"}, {"note", "round \"trip\""}});
    SafeTensorsFile f = SafeTensorsFile::open(dir / "r.safetensors");
    CHECK(f.names() == std::vector<std::string>{"a.i", "b.bf", "e", "s", "t", "z.f"});
    CHECK(f.metadata().at("step") == "12");
    CHECK(f.metadata().at("note") == "round \"trip\"");
    // Layout: F32 tensors first (by name: e, s, t, z.f), then I32, then BF16.
    CHECK(f.info("e").offset == f.info("s").offset);  // the empty tensor takes no bytes
    CHECK(f.info("s").offset < f.info("t").offset);
    CHECK(f.info("t").offset < f.info("z.f").offset);
    CHECK(f.info("z.f").offset < f.info("a.i").offset);
    CHECK(f.info("a.i").offset < f.info("b.bf").offset);
    CHECK(f.info("e").nbytes == 0);

    CHECK(f.load("z.f").to_vector() == fv);
    CHECK(f.load("z.f").shape() == Shape{2, 3});
    Tensor b = f.load("b.bf");
    CHECK(b.dtype() == DType::bf16);
    CHECK(b.to_vector() == std::vector<float>{1.5f, -2.0f, 0.5f, 96.0f});
    CHECK(f.info("b.bf").dtype == "BF16");
    // 1.5f = 0x3FC00000 -> bf16 0x3FC0, stored little-endian.
    CHECK(std::memcmp(f.raw("b.bf"), "\xC0\x3F", 2) == 0);
    CHECK(f.load("b.bf", DType::f32).dtype() == DType::f32);
    CHECK(f.load("b.bf", DType::f32).to_vector() == std::vector<float>{1.5f, -2.0f, 0.5f, 96.0f});
    Tensor i = f.load("a.i");
    CHECK(i.dtype() == DType::i32);
    CHECK(i.to_ivector() == std::vector<int32_t>{-2147483647 - 1, 7, 2147483647});
    CHECK(f.load("s").shape() == Shape{});
    CHECK(f.load("s").item() == 42.0f);
    CHECK(f.load("e").shape() == Shape{0, 3});
    CHECK(f.load("t").shape() == Shape{3, 2});
    CHECK(f.load("t").to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
    // f32 -> bf16 on load rounds to nearest even: 1 + 2^-8 + 2^-9 -> 1 + 2^-7.
    nn::save_safetensors(dir / "x.safetensors", {{"x", from_vector({1.0f + 1.0f / 256 + 1.0f / 512}, {1})}});
    CHECK(SafeTensorsFile::open(dir / "x.safetensors").load("x", DType::bf16).to_vector()[0] == 1.0f + 1.0f / 128);
    CHECK(has(error_of([&] { f.load("z.f", DType::i32); }), "cannot be loaded as i32"));
    CHECK(has(error_of([&] { f.load("nope"); }), "has no tensor 'nope'"));
    // load_safetensors reads everything.
    auto all = nn::load_safetensors(dir / "r.safetensors");
    CHECK(all.size() == 6);
    CHECK(all.at("a.i").to_ivector()[1] == 7);
}

TEST_CASE("safetensors: reading F16, F64, I64 and U8 files") {
    TmpDir dir;
    // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest
    // normal), 3 * 2^-24 (subnormal), inf, -0.
    std::vector<uint16_t> h = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x0003, 0x7C00, 0x8000};
    std::vector<double> d = {0.25, -1e10, 1.0 / 3.0};
    std::vector<int64_t> l = {-5, 2147483647, -2147483648LL};
    std::vector<uint8_t> u = {0, 1, 200, 255};
    std::string json = R"({"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)"
                       R"("d":{"dtype":"F64","shape":[3],"data_offsets":[16,40]},)"
                       R"("l":{"dtype":"I64","shape":[3],"data_offsets":[40,64]},)"
                       R"("u":{"dtype":"U8","shape":[2,2],"data_offsets":[64,68]}})";
    write_bytes(dir / "m.safetensors", make_file(json, raw_of(h) + raw_of(d) + raw_of(l) + raw_of(u)));
    SafeTensorsFile f = SafeTensorsFile::open(dir / "m.safetensors");
    Tensor th = f.load("h");
    CHECK(th.dtype() == DType::f32);
    std::vector<float> hv = th.to_vector();
    CHECK(hv[0] == 1.0f);
    CHECK(hv[1] == -2.0f);
    CHECK(hv[2] == 65504.0f);
    CHECK(hv[3] == std::ldexp(1.0f, -24));
    CHECK(hv[4] == std::ldexp(1.0f, -14));
    CHECK(hv[5] == 3 * std::ldexp(1.0f, -24));
    CHECK(std::isinf(hv[6]));
    CHECK((hv[7] == 0.0f && std::signbit(hv[7])));
    CHECK(f.load("h", DType::bf16).dtype() == DType::bf16);
    CHECK(f.load("h", DType::bf16).to_vector()[2] == 65536.0f);  // 65504 rounds to 2^16 in bf16
    CHECK(f.load("d").to_vector() == std::vector<float>{0.25f, -1e10f, float(1.0 / 3.0)});
    Tensor tl = f.load("l");
    CHECK(tl.dtype() == DType::i32);
    CHECK(tl.to_ivector() == std::vector<int32_t>{-5, 2147483647, -2147483647 - 1});
    Tensor tu = f.load("u");
    CHECK(tu.dtype() == DType::i32);
    CHECK(tu.to_ivector() == std::vector<int32_t>{0, 1, 200, 255});
    CHECK(f.load("u", DType::f32).to_vector() == std::vector<float>{0, 1, 200, 255});

    // I64 values outside i32 are refused, naming the element.
    std::vector<int64_t> big = {1, 2147483648LL};
    write_bytes(dir / "big.safetensors",
                make_file(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", raw_of(big)));
    std::string msg = error_of([&] { SafeTensorsFile::open(dir / "big.safetensors").load("ids"); });
    CHECK(has(msg, "'ids' (I64) holds 2147483648 at element 1, outside the i32 range"));
    // Valid dtypes we cannot convert are listed but not loaded.
    write_bytes(dir / "i8.safetensors", make_file(R"({"q":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", "ab"));
    SafeTensorsFile q = SafeTensorsFile::open(dir / "i8.safetensors");
    CHECK(q.info("q").dtype == "I8");
    CHECK(has(error_of([&] { q.load("q"); }), "has dtype I8, which cannot be read"));
}

TEST_CASE("safetensors: corrupt files are rejected with clear messages") {
    TmpDir dir;
    const std::string good_json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string good = make_file(good_json, std::string(8, '\x01'));
    auto open_error = [&](const std::string& bytes) {
        write_bytes(dir / "bad.safetensors", bytes);
        return error_of([&] { SafeTensorsFile::open(dir / "bad.safetensors"); });
    };
    REQUIRE(open_error(good) == "");
    const std::string file = "'" + (dir / "bad.safetensors") + "'";
    auto check_msg = [&](const std::string& bytes, const std::string& want) {
        std::string msg = open_error(bytes);
        CHECK_MESSAGE(has(msg, want), "got: ", msg);
        CHECK_MESSAGE(has(msg, file), "got: ", msg);  // every message names the file
    };
    // Truncated at every possible length: never a crash, always an error.
    for (size_t len = 0; len < good.size(); ++len) {
        std::string msg = open_error(good.substr(0, len));
        CHECK_MESSAGE(has(msg, file), "length ", len, ": ", msg);
    }
    check_msg(good.substr(0, 5), "only 5 bytes long");
    check_msg(good.substr(0, 30), "runs past the end of the file");
    check_msg(good.substr(0, good.size() - 1), "past the end of the data (7 bytes): the file is truncated");
    // Oversized header length.
    check_msg(le64(100000001) + std::string(16, ' '), "header length 100000001 exceeds the limit");
    check_msg(le64(~uint64_t(0)) + "{}", "exceeds the limit");
    // Overlapping, gapped, wrong-size, trailing bytes.
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0')),
              "tensor 'b' starts at byte 4 inside tensor 'a' (ends at 8): overlapping data_offsets");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                        std::string(20, '\0')),
              "gap in data_offsets");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
              "tensor 'a' has 8 bytes but dtype F32 and shape [3] need 12 bytes (wrong size)");
    check_msg(good + "xyzw", "4 trailing bytes after the last tensor");
    // Header problems.
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                        std::string(16, '\0')),
              "duplicate key 'a'");
    check_msg(make_file(R"({"a":{"dtype":"F32",)", ""), "invalid JSON header");
    check_msg(make_file("{\"a\":\xFF}", ""), "invalid JSON header");
    check_msg(make_file("[1,2]", ""), "the header is a JSON array, not an object");
    check_msg(make_file(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
              "unknown dtype 'F7'");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')),
              "a non-negative integer is required");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}})", std::string(8, '\0')),
              "a non-negative integer is required");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0')),
              "with begin after end");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", ""), "needs \"dtype\", \"shape\" and \"data_offsets\"");
    check_msg(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                        std::string(8, '\0')),
              "overflows");
    // A 0 keeps the byte count at 0 while the element count passes 2^63.
    for (const char* shape : {"[4294967296,2147483648,0]", "[0,4294967296,2147483648]", "[4294967296,0,2147483648]"})
        check_msg(make_file(std::string(R"({"a":{"dtype":"U8","shape":)") + shape + R"(,"data_offsets":[0,0]}})", ""),
                  "overflows");
    check_msg(make_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__ value of 'k' must be a string");
    // Missing file, folder.
    CHECK(has(error_of([&] { SafeTensorsFile::open(dir / "missing.safetensors"); }), "cannot open"));
    CHECK(has(error_of([&] { SafeTensorsFile::open(dir.path); }), "is a folder"));
}

TEST_CASE("safetensors: single-byte corruptions of the header never crash") {
    // Every header byte replaced by a few values (NUL, a digit, a non-UTF-8 byte): opening and loading either
    // succeeds or throws eng::Error (AddressSanitizer catches any bad read).
    TmpDir dir;
    nn::save_safetensors(dir / "ok.safetensors", {{"a", from_vector({1, 2}, {2})}, {"b", from_ivector({3}, {1})}});
    const std::string good = read_bytes(dir / "ok.safetensors");
    const size_t header_end = 8 + size_t(uint8_t(good[0]));
    int other = 0, opened = 0;
    for (size_t i = 0; i < header_end; ++i) {
        for (int v : {0x00, 0x39, 0xFF}) {
            std::string bytes = good;
            bytes[i] = char(v);
            write_bytes(dir / "x.safetensors", bytes);
            try {
                auto all = nn::load_safetensors(dir / "x.safetensors");
                ++opened;
                for (auto& kv : all) (void)kv.second.to_vector();
            } catch (const eng::Error&) {
            } catch (...) {
                ++other;
            }
        }
    }
    CHECK(other == 0);
    CHECK(opened > 0);  // e.g. a digit in a tensor name still parses
}

TEST_CASE("safetensors: sharded checkpoints through model.safetensors.index.json") {
    TmpDir dir;
    nn::save_safetensors(dir / "model-00001-of-00002.safetensors",
                         {{"w1", from_vector({1, 2}, {2})}, {"w2", from_vector({3}, {1})}});
    nn::save_safetensors(dir / "model-00002-of-00002.safetensors", {{"w3", from_ivector({9, 8, 7}, {3})}});
    write_bytes(dir / "model.safetensors.index.json",
                R"({"metadata": {"total_size": 24}, "weight_map": {)"
                R"("w1": "model-00001-of-00002.safetensors", "w2": "model-00001-of-00002.safetensors",)"
                R"("w3": "model-00002-of-00002.safetensors"}})");
    for (const std::string& p : {dir / "model.safetensors.index.json", dir.path}) {
        SafeTensorsSet set = SafeTensorsSet::open(p);
        CHECK(set.sharded());
        CHECK(set.files().size() == 2);
        CHECK(set.names() == std::vector<std::string>{"w1", "w2", "w3"});
        CHECK(set.metadata().at("total_size") == "24");
        CHECK(set.file_of("w3") == dir / "model-00002-of-00002.safetensors");
        CHECK(set.info("w1").shape == Shape{2});
        auto all = nn::load_safetensors(p);
        CHECK(all.at("w1").to_vector() == std::vector<float>{1, 2});
        CHECK(all.at("w2").to_vector() == std::vector<float>{3});
        CHECK(all.at("w3").to_ivector() == std::vector<int32_t>{9, 8, 7});
    }
    // A weight_map naming a tensor its shard lacks, or a missing shard.
    write_bytes(dir / "bad.index.json", R"({"weight_map": {"w9": "model-00001-of-00002.safetensors"}})");
    CHECK(has(error_of([&] { SafeTensorsSet::open(dir / "bad.index.json"); }),
              "maps 'w9' to 'model-00001-of-00002.safetensors', but that shard has no such tensor"));
    write_bytes(dir / "bad.index.json", R"({"weight_map": {"w1": "nope.safetensors"}})");
    CHECK(has(error_of([&] { SafeTensorsSet::open(dir / "bad.index.json"); }), "shard 'nope.safetensors'"));
    write_bytes(dir / "bad.index.json", R"({"metadata": {}})");
    CHECK(has(error_of([&] { SafeTensorsSet::open(dir / "bad.index.json"); }), "needs a \"weight_map\""));
    ::unlink((dir / "bad.index.json").c_str());
    // A folder with a single model.safetensors; an empty folder.
    TmpDir one;
    nn::save_safetensors(one / "model.safetensors", {{"x", from_vector({5}, {1})}});
    CHECK(nn::load_safetensors(one.path).at("x").item() == 5.0f);
    CHECK_FALSE(SafeTensorsSet::open(one.path).sharded());
    TmpDir none;
    CHECK(has(error_of([&] { SafeTensorsSet::open(none.path); }), "holds neither"));
}

TEST_CASE("safetensors: atomic write keeps the previous file when the writer throws") {
    TmpDir dir;
    const std::string path = dir / "ckpt.safetensors";
    nn::save_safetensors(path, {{"w", from_vector({1, 2, 3}, {3})}});
    const std::string before = read_bytes(path);
    // An undefined tensor midway: the writer throws and the old file survives.
    std::string msg = error_of([&] {
        nn::save_safetensors(path, {{"a", from_vector({7}, {1})}, {"b", Tensor()}, {"c", from_vector({8}, {1})}});
    });
    CHECK(has(msg, "tensor 'b' is undefined"));
    CHECK(read_bytes(path) == before);
    CHECK(dir.files() == std::vector<std::string>{"ckpt.safetensors"});  // no temporary left behind
    CHECK(has(error_of([&] { nn::save_safetensors(path, {{"a", zeros({1})}, {"a", zeros({1})}}); }), "used twice"));
    CHECK(has(error_of([&] { nn::save_safetensors(path, {{"__metadata__", zeros({1})}}); }), "reserved"));
    CHECK(has(error_of([&] { nn::save_safetensors(path, {{"", zeros({1})}}); }), "empty name"));
    CHECK(read_bytes(path) == before);
    // A folder that does not exist: clear error.
    CHECK(has(error_of([&] { nn::save_safetensors(dir / "no/such/x.safetensors", {}); }), "cannot create"));
    // A successful write replaces the file.
    nn::save_safetensors(path, {{"w", from_vector({4, 5}, {2})}});
    CHECK(nn::load_safetensors(path).at("w").to_vector() == std::vector<float>{4, 5});
    CHECK(dir.files() == std::vector<std::string>{"ckpt.safetensors"});
}
