// cli_args.h: the numbers of the programs' command-line options, parsed one way
// everywhere (header-only, included by tools/*.cpp and tested in
// tests/tools/test_cli_args.cpp), and the text of an exception caught in main().
//
// Why not std::stoll / std::atoi: stoll's errors say only "stoll", atoi turns
// "abc" into 0, both accept trailing junk ("2abc" is 2, "5x" is 5) and leading
// blanks, strtoull wraps "-1" to 2^64-1 and strtoll saturates on overflow.  Here
// the whole text must be the number, it must lie in the range the option allows,
// and a refusal names the option, the text and the allowed range.  A refusal
// throws eng::Error (without a source location: the option name says where).
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <limits>
#include <new>
#include <sstream>
#include <string>

#include "tensor/check.h"

namespace cli {

// The most threads (--threads) or loader workers (--workers) a program accepts.
// libgomp reserves per-thread team data on the caller's stack, so a huge count
// overflows it (--threads 65536 segfaulted with the usual 8 MiB stack), and
// std::thread fails with "Resource temporarily unavailable" once the kernel's
// per-user thread limit is reached.  The work here is CPU-bound, so threads past
// the core count only add switching; 1024 is twice the hardware threads of the
// largest two-socket servers, so no useful value is refused.
constexpr int64_t kMaxThreads = 1024;

namespace detail {

inline std::string show(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

[[noreturn]] inline void refuse(const std::string& flag, const std::string& problem, const std::string& allowed,
                                const std::string& why = "") {
    throw eng::Error(flag + ": " + problem + ". HINT: give " + flag + " " + allowed + why);
}

// "" when `text` is an optional sign followed by digits only, else the problem.
inline std::string integer_syntax(const std::string& text) {
    if (text.empty()) return "the value is empty";
    size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
    size_t digits = i;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == i) return "'" + text + "' is not a whole number";
    if (digits < text.size())
        return "'" + text + "' is not a whole number ('" + text.substr(digits) + "' follows '" +
               text.substr(0, digits) + "')";
    return "";
}

}  // namespace detail

// A whole number in [lo, hi]: "12", "+12", "-3" when lo allows it; not "12abc",
// " 12", "1e3", "0x10" or a value outside the range (overflow included).  `why`
// is appended to the hint (say why the range is what it is).
inline int64_t parse_int(const std::string& flag, const std::string& text, int64_t lo, int64_t hi,
                         const std::string& why = "") {
    const std::string allowed = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
    const std::string syntax = detail::integer_syntax(text);
    if (!syntax.empty()) detail::refuse(flag, syntax, allowed, why);
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, 10);
    const bool overflow = errno == ERANGE;
    if (overflow || v < lo || v > hi) {
        std::string problem = v > hi || (overflow && text[0] != '-') ? "is too large" : "is too small";
        if (lo >= 0 && text[0] == '-') problem = "is negative";
        detail::refuse(flag, text + " " + problem, allowed, why);
    }
    return int64_t(v);
}

// A seed: any whole number from 0 to 2^64 - 1 ("-1" is refused, not wrapped).
inline uint64_t parse_u64(const std::string& flag, const std::string& text) {
    const std::string allowed = "a whole number from 0 to " + std::to_string(std::numeric_limits<uint64_t>::max());
    const std::string syntax = detail::integer_syntax(text);
    if (!syntax.empty()) detail::refuse(flag, syntax, allowed);
    if (text[0] == '-') detail::refuse(flag, text + " is negative", allowed);
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE) detail::refuse(flag, text + " is too large", allowed);
    return uint64_t(v);
}

// A finite decimal number in [lo, hi] (hi may be infinity), or in (lo, hi] when
// lo_exclusive; "nan", "inf", "1e999" and trailing junk are refused.
inline double parse_double(const std::string& flag, const std::string& text, double lo, double hi,
                           bool lo_exclusive = false) {
    std::string allowed = lo_exclusive ? "a number > " + detail::show(lo) : "a number >= " + detail::show(lo);
    if (std::isfinite(hi)) allowed += " and <= " + detail::show(hi);
    if (text.empty()) detail::refuse(flag, "the value is empty", allowed);
    const char first = text[0];
    if (!(first == '-' || first == '+' || first == '.' || (first >= '0' && first <= '9')))
        detail::refuse(flag, "'" + text + "' is not a number", allowed);
    if (text.find_first_of("xX") != std::string::npos)  // strtod reads hex floats; parse_int refuses them too
        detail::refuse(flag, "'" + text + "' is not a decimal number", allowed);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) detail::refuse(flag, "'" + text + "' is not a number", allowed);
    if (*end != '\0')
        detail::refuse(flag, "'" + text + "' is not a number ('" + std::string(end) + "' follows '" +
                                 text.substr(0, size_t(end - text.c_str())) + "')", allowed);
    if (!std::isfinite(v)) detail::refuse(flag, "'" + text + "' is not a finite number", allowed);
    if (v < lo || (lo_exclusive && v == lo) || v > hi) detail::refuse(flag, text + " is out of range", allowed);
    return v;
}

// A thread or worker count in [lo, kMaxThreads] (see kMaxThreads for why).
inline int parse_threads(const std::string& flag, const std::string& text, int64_t lo = 1) {
    return int(parse_int(flag, text, lo, kMaxThreads,
                         " (about one per core is fastest; far more makes the thread start-up fail)"));
}

// The message for an exception that reached main(): std::bad_alloc (also thrown
// for an impossible allocation size) becomes an out-of-memory text with a hint.
inline std::string exception_text(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e))
        return std::string("out of memory (") + e.what() +
               "). HINT: use smaller sizes (batch, image size, tokens, threads) or free memory on this machine";
    return e.what();
}

// "program: message" for main()'s catch, without doubling a prefix the message
// already has (many checks start with "program: ").
inline std::string error_line(const std::string& program, const std::exception& e) {
    const std::string text = exception_text(e);
    return text.rfind(program + ":", 0) == 0 ? text : program + ": " + text;
}

}  // namespace cli
