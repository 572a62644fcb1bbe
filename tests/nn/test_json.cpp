// test_json.cpp: the JSON reader/writer: values, escapes, numbers, errors with
// line/column, round trips and large objects.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "nn/json.h"
#include "tensor/check.h"
#include "tests/testing.h"

using eng::json::Kind;
using eng::json::Value;
using eng::json::dump;
using eng::json::parse;

namespace {
using ::testing::error_of;
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("json: scalars and kinds") {
    CHECK(parse("null").is_null());
    CHECK(parse(" true ").as_bool() == true);
    CHECK(parse("false").as_bool() == false);
    CHECK(parse("\"hi\"").as_string() == "hi");
    CHECK(parse("42").kind() == Kind::Number);
    CHECK(parse("42").as_int() == 42);
    CHECK(parse("-7").as_int() == -7);
    CHECK(parse("0").as_int() == 0);
    CHECK(parse("2.5").as_number() == 2.5);
    CHECK(parse("-0.125e2").as_number() == -12.5);
    CHECK(parse("1E3").as_number() == 1000.0);
    CHECK(parse("1E3").as_int() == 1000);  // integral double: as_int works
    CHECK(parse("1e-400").as_number() == 0.0);  // underflow reads as zero
    // int64 exactness beyond 2^53 (safetensors offsets, total_size).
    CHECK(parse("9007199254740993").as_int() == 9007199254740993LL);
    CHECK(parse("-9223372036854775808").as_int() == INT64_MIN);
    // Above int64: becomes a double.
    CHECK(parse("18446744073709551616").as_number() == 18446744073709551616.0);
    CHECK_THROWS_AS(parse("18446744073709551616").as_int(), eng::Error);
    CHECK(contains(error_of([] { parse("2.5").as_int(); }), "expected an integer"));
    CHECK(contains(error_of([] { parse("\"x\"").as_number(); }), "expected a number, got a string"));
}

TEST_CASE("json: arrays, objects, order and lookup") {
    Value v = parse(R"({"b": [1, 2, {"c": null}], "a": "x", "z": {}, "e": []})");
    REQUIRE(v.is_object());
    REQUIRE(v.size() == 4);
    // File order is kept.
    CHECK(v.as_object()[0].first == "b");
    CHECK(v.as_object()[1].first == "a");
    CHECK(v.as_object()[3].first == "e");
    CHECK(v.at("b").size() == 3);
    CHECK(v.at("b")[1].as_int() == 2);
    CHECK(v.at("b")[2].at("c").is_null());
    CHECK(v.find("nope") == nullptr);
    CHECK(v.at("z").is_object());
    CHECK(v.at("z").size() == 0);
    CHECK(v.at("e").size() == 0);
    CHECK(contains(error_of([&] { v.at("nope"); }), "key 'nope' not found"));
    CHECK(contains(error_of([&] { v.at("b")[3]; }), "index 3 out of range"));
    CHECK(parse("[1]").find("x") == nullptr);  // find on a non-object is null
}

TEST_CASE("json: string escapes and UTF-8") {
    CHECK(parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
    CHECK(parse(R"("\u0041\u00e9\u20ac")").as_string() == "A\xC3\xA9\xE2\x82\xAC");  // A é €
    // U+1F600 as a surrogate pair -> F0 9F 98 80.
    CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
    CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
    // Raw UTF-8 passes through.
    CHECK(parse("\"\xC4\xA0x\"").as_string() == "\xC4\xA0x");  // GPT-2's 'Ġx'
    CHECK(contains(error_of([] { parse(R"("\ud83d")"); }), "high surrogate not followed"));
    CHECK(contains(error_of([] { parse(R"("\ude00")"); }), "lone low surrogate"));
    CHECK(contains(error_of([] { parse(R"("\x")"); }), "invalid escape '\\x'"));
    CHECK(contains(error_of([] { parse(R"("\u12G4")"); }), "invalid hex digit"));
    CHECK(contains(error_of([] { parse("\"a\nb\""); }), "raw control character"));
    CHECK(contains(error_of([] { parse("\"\xFF\""); }), "invalid UTF-8"));
    CHECK(contains(error_of([] { parse("\"\xC0\xAF\""); }), "invalid UTF-8"));      // overlong '/'
    CHECK(contains(error_of([] { parse("\"\xED\xA0\x80\""); }), "invalid UTF-8"));  // encoded surrogate
    CHECK(contains(error_of([] { parse("\"\xE2\x82\""); }), "UTF-8"));              // truncated
}

TEST_CASE("json: errors carry source, line and column") {
    // The bad token '}' is on line 3, column 8.
    std::string text = "{\n  \"a\": 1,\n  \"b\": }";
    std::string msg = error_of([&] { parse(text, "cfg.json"); });
    CHECK(contains(msg, "cfg.json:3:8: unexpected '}', expected a value"));
    CHECK(contains(error_of([] { parse("[1, 2,]"); }), "<string>:1:7: unexpected ']'"));
    CHECK(contains(error_of([] { parse("{\"a\" 1}"); }), "1:6: unexpected '1', expected ':'"));
    CHECK(contains(error_of([] { parse("[1 2]"); }), "1:4: unexpected '2', expected ',' or ']'"));
    CHECK(contains(error_of([] { parse("{\"a\":1,}"); }), "expected a string key"));
    CHECK(contains(error_of([] { parse(""); }), "1:1: unexpected end of text"));
    CHECK(contains(error_of([] { parse("[1"); }), "1:3: unexpected end of text, expected ',' or ']'"));
    CHECK(contains(error_of([] { parse("\"abc"); }), "1:1: unterminated string"));
    CHECK(contains(error_of([] { parse("1 2"); }), "1:3: unexpected text after the JSON value"));
    CHECK(contains(error_of([] { parse("tru"); }), "invalid literal, expected 'true'"));
    CHECK(contains(error_of([] { parse("01"); }), "leading zeros"));
    CHECK(contains(error_of([] { parse("1."); }), "expected a digit after '.'"));
    CHECK(contains(error_of([] { parse("1e"); }), "expected a digit in the exponent"));
    CHECK(contains(error_of([] { parse("-"); }), "expected a digit"));
    CHECK(contains(error_of([] { parse("+1"); }), "unexpected '+'"));
    CHECK(contains(error_of([] { parse("NaN"); }), "unexpected 'N'"));
    CHECK(contains(error_of([] { parse("1e999"); }), "number out of range"));
    CHECK(contains(error_of([] { parse("// c\n1"); }), "unexpected '/'"));
    // Duplicate keys: an error pointing at the second occurrence.
    CHECK(contains(error_of([] { parse("{\"a\":1,\n \"a\":2}"); }), "2:2: duplicate key 'a'"));
}

TEST_CASE("json: nesting depth limit") {
    std::string ok(eng::json::kMaxDepth, '['), deep(eng::json::kMaxDepth + 1, '[');
    ok += std::string(eng::json::kMaxDepth, ']');
    deep += std::string(eng::json::kMaxDepth + 1, ']');
    CHECK_NOTHROW(parse(ok));
    CHECK(contains(error_of([&] { parse(deep); }), "nesting deeper than 512"));
    // Far deeper input must fail cleanly too (no stack overflow).
    std::string very(100000, '[');
    CHECK(contains(error_of([&] { parse(very); }), "nesting deeper"));
}

TEST_CASE("json: dump compact and indented") {
    Value v = Value::object();
    v.set("name", "attn.0").set("shape", Value::array().push_back(1).push_back(int64_t(2)).push_back(3));
    v.set("x", 2.5).set("y", 3.0).set("t", true).set("n", nullptr).set("s", "a\"\\\n\x01");
    CHECK(dump(v) == R"({"name":"attn.0","shape":[1,2,3],"x":2.5,"y":3,"t":true,"n":null,"s":"a\"\\\n\u0001"})");
    // set() replaces an existing key in place.
    v.set("x", -1);
    CHECK(dump(v).find("\"x\":-1,") != std::string::npos);
    CHECK(dump(v.at("shape"), 2) == "[\n  1,\n  2,\n  3\n]");
    Value o = Value::object();
    o.set("a", Value::array()).set("b", Value::object().set("c", 1));
    CHECK(dump(o, 2) == "{\n  \"a\": [],\n  \"b\": {\n    \"c\": 1\n  }\n}");
    CHECK(dump(Value(1e20)) == "1e+20");
    CHECK(dump(Value(0.1)) == "0.1");
    CHECK(dump(Value(int64_t(9007199254740993LL))) == "9007199254740993");
    CHECK(dump(Value(size_t(7))) == "7");
    CHECK(dump(Value(std::string_view("v"))) == "\"v\"");
    CHECK_THROWS_AS(dump(Value(std::nan(""))), eng::Error);
    CHECK_THROWS_AS(Value(3).set("a", 1), eng::Error);
    CHECK_THROWS_AS(Value("s").push_back(1), eng::Error);
}

TEST_CASE("json: round trip") {
    std::string text = R"({"k":[0.1,-2.5e-300,1.7976931348623157e308,123456789012345678,true,false,null,)"
                       R"("\u00e9\ud83d\ude00\t"],"o":{"":"","x y":[[[]]]}})";
    Value v = parse(text);
    for (int indent : {-1, 0, 1, 4}) {
        Value back = parse(dump(v, indent));
        CHECK(back == v);
    }
    CHECK(parse(dump(v)).at("k")[1].as_number() == -2.5e-300);
    CHECK(parse(dump(v)).at("k")[3].as_int() == 123456789012345678LL);
    // Every double we print reads back bit-exact.
    for (double d : {1.0 / 3.0, 2.0 / 3.0, 1e-310, 6.02214076e23, -0.0001}) CHECK(parse(dump(Value(d))).as_number() == d);
}

TEST_CASE("json: large object lookup stays fast") {
    // A vocabulary-sized object: 50,000 keys, each looked up once.
    std::string text = "{";
    for (int i = 0; i < 50000; ++i) text += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":" + std::to_string(i);
    text += "}";
    Value v = parse(text);
    REQUIRE(v.size() == 50000);
    int64_t bad = 0;
    for (int i = 0; i < 50000; ++i) {
        const Value* x = v.find("t" + std::to_string(i));
        if (!x || x->as_int() != i) ++bad;
    }
    CHECK(bad == 0);
    // A copy keeps a working index.
    Value copy = v;
    CHECK(copy.at("t49999").as_int() == 49999);
}

TEST_CASE("json: parse_file names the file") {
    std::string path = "/tmp/eng_test_json_" + std::to_string(::getpid()) + ".json";
    {
        std::ofstream f(path);
        f << "{\n\"a\": [1,\n 2,, 3]}";
    }
    std::string msg = error_of([&] { eng::json::parse_file(path); });
    CHECK(contains(msg, path + ":3:4: unexpected ','"));
    std::remove(path.c_str());
    CHECK(contains(error_of([&] { eng::json::parse_file(path); }), "'" + path + "' does not exist"));
    // A folder where a file was expected is named as one (it read as empty text).
    const std::string dir = std::filesystem::temp_directory_path().string();
    CHECK(contains(error_of([&] { eng::json::parse_file(dir); }), "is a folder, not a file"));
    // A pipe streams (--config <(...) or /dev/stdin).
    const std::string fifo = path + ".fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::thread writer([&] { std::ofstream(fifo) << "{\"x\": 2}"; });
    CHECK(eng::json::parse_file(fifo).at("x").as_int() == 2);
    writer.join();
    std::remove(fifo.c_str());
}

TEST_CASE("json: dump always writes valid JSON, escaping bytes that are not UTF-8") {
    // A Latin-1 file name (0xE9) in a config or in safetensors metadata: copied
    // as is it made the text unreadable (a finished run failed at its save).
    const std::string latin1 = std::string("runs/caf") + char(0xE9) + "/x";
    const std::string text = dump(Value(latin1));
    CHECK(text == "\"runs/caf\\u00e9/x\"");
    CHECK(parse(text).as_string() == "runs/caf\xC3\xA9/x");  // read back as U+00E9
    // Valid multi-byte UTF-8 passes unchanged; broken sequences are escaped byte by byte.
    CHECK(dump(Value(std::string("\xE2\x82\xAC"))) == "\"\xE2\x82\xAC\"");                   // €
    CHECK(dump(Value(std::string("\xE2\x82"))) == "\"\\u00e2\\u0082\"");                    // truncated
    CHECK(dump(Value(std::string("\xED\xA0\x80"))) == "\"\\u00ed\\u00a0\\u0080\"");         // a surrogate
    CHECK(dump(Value(std::string("\xC0\xAF"))) == "\"\\u00c0\\u00af\"");                    // overlong
    for (const std::string& s : {std::string("\xFF"), std::string("a\x80z"), latin1}) CHECK_NOTHROW(parse(dump(Value(s))));
}
