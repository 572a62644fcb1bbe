// test_cli_args.cpp: the option-number parser shared by the programs
// (tools/cli_args.h): whole numbers only, ranges enforced (overflow, negatives),
// finite floats only, and messages that name the option, the text and the range.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

#include "tests/testing.h"
#include "tools/cli_args.h"

using ::testing::error_of;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("cli_args: integers in range are read") {
    CHECK(cli::parse_int("--steps", "12", 1, 100) == 12);
    CHECK(cli::parse_int("--steps", "+7", 1, 100) == 7);
    CHECK(cli::parse_int("--shift", "-3", -5, 5) == -3);
    CHECK(cli::parse_int("--big", "9223372036854775807", 0, INT64_MAX) == INT64_MAX);
    CHECK(cli::parse_u64("--seed", "18446744073709551615") == UINT64_MAX);
    CHECK(cli::parse_u64("--seed", "0") == 0);
    CHECK(cli::parse_threads("--threads", "1024") == 1024);
    CHECK(cli::parse_threads("--workers", "0", 0) == 0);
}

TEST_CASE("cli_args: trailing junk, blanks and non-numbers are refused, naming the option") {
    for (const char* bad : {"2abc", "5x", " 5", "5 ", "", "abc", "1e3", "0x10", "-", "3.5"}) {
        const std::string msg = error_of([&] { cli::parse_int("--batch", bad, 1, 1000); });
        INFO("'", std::string(bad), "' -> ", msg);
        CHECK(has(msg, "--batch"));
        CHECK(has(msg, "HINT"));
        CHECK(has(msg, "from 1 to 1000"));
    }
    CHECK(has(error_of([] { cli::parse_int("--steps", "2abc", 1, 10); }), "'abc' follows '2'"));
    CHECK(has(error_of([] { cli::parse_u64("--seed", "7z"); }), "'z' follows '7'"));
}

TEST_CASE("cli_args: out-of-range and negative values are refused, not wrapped or saturated") {
    const std::string over = error_of([] { cli::parse_int("--steps", "99999999999999999999", 1, 1000000); });
    CHECK(has(over, "--steps: 99999999999999999999 is too large"));
    CHECK(has(over, "from 1 to 1000000"));
    CHECK(has(error_of([] { cli::parse_int("--steps", "1000001", 1, 1000000); }), "is too large"));
    CHECK(has(error_of([] { cli::parse_int("--steps", "0", 1, 10); }), "0 is too small"));
    CHECK(has(error_of([] { cli::parse_int("--steps", "-2", 1, 10); }), "-2 is negative"));
    CHECK(has(error_of([] { cli::parse_int("--shift", "-99999999999999999999", -5, 5); }), "is too small"));
    CHECK(has(error_of([] { cli::parse_u64("--seed", "-1"); }), "--seed: -1 is negative"));
    CHECK(has(error_of([] { cli::parse_u64("--seed", "18446744073709551616"); }), "is too large"));
    const std::string threads = error_of([] { cli::parse_threads("--threads", "999999"); });
    CHECK(has(threads, "--threads: 999999 is too large"));
    CHECK(has(threads, "from 1 to 1024"));
    CHECK(has(error_of([] { cli::parse_threads("--workers", "100000", 0); }), "from 0 to 1024"));
}

TEST_CASE("cli_args: floats must be finite, whole and in range") {
    CHECK(cli::parse_double("--lr", "5e-4", 0, INFINITY, true) == doctest::Approx(5e-4));
    CHECK(cli::parse_double("--lr", ".5", 0, INFINITY, true) == doctest::Approx(0.5));
    CHECK(cli::parse_double("--momentum", "0", 0, 1) == 0.0);
    CHECK(cli::parse_double("--momentum", "1", 0, 1) == 1.0);
    CHECK(has(error_of([] { cli::parse_double("--lr", "-1", 0, INFINITY, true); }), "--lr: -1 is out of range"));
    CHECK(has(error_of([] { cli::parse_double("--lr", "0", 0, INFINITY, true); }), "a number > 0"));
    CHECK(has(error_of([] { cli::parse_double("--momentum", "1.5", 0, 1); }), "a number >= 0 and <= 1"));
    for (const char* bad : {"nan", "inf", "-inf", "1e999", "1e-3x", "abc", "", " 1", "1 ", "0x10", "0x1p-3"}) {
        const std::string msg = error_of([&] { cli::parse_double("--lr", bad, 0, INFINITY, true); });
        INFO("'", std::string(bad), "' -> ", msg);
        CHECK(has(msg, "--lr"));
        CHECK(has(msg, "HINT"));
    }
    CHECK(has(error_of([] { cli::parse_double("--lr", "1e999", 0, INFINITY, true); }), "not a finite number"));
}

TEST_CASE("cli_args: out of memory is named as such") {
    CHECK(has(cli::exception_text(std::bad_alloc()), "out of memory"));
    CHECK(has(cli::exception_text(std::bad_alloc()), "HINT"));
    CHECK(cli::exception_text(std::runtime_error("plain")) == "plain");
}

TEST_CASE("cli_args: error_line prefixes the program once") {
    CHECK(cli::error_line("synth", eng::Error("--size: 5 is too small")) == "synth: --size: 5 is too small");
    CHECK(cli::error_line("synth", eng::Error("synth: --prefix must end with '/'")) ==
          "synth: --prefix must end with '/'");
}
