// check.h: the one error type of the engine and the ENG_CHECK macro.
//
// User mistakes (wrong shapes, dtypes, devices, missing files, bad values) are
// reported by throwing eng::Error whose message names the operation, the shapes
// or file involved, and where possible what to do ("HINT: ...").  The macro adds
// the source file and line so a message can be traced back to the check.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace eng {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
}
[[noreturn]] void fail(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace eng

// ENG_CHECK(condition, parts...): throws eng::Error with the parts streamed together.
#define ENG_CHECK(cond, ...)                                                              \
    do {                                                                                  \
        if (!(cond)) ::eng::detail::fail(__FILE__, __LINE__, ::eng::detail::concat(__VA_ARGS__)); \
    } while (0)

// ENG_FAIL(parts...): unconditional version.
#define ENG_FAIL(...) ::eng::detail::fail(__FILE__, __LINE__, ::eng::detail::concat(__VA_ARGS__))
