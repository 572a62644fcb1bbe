// testing.h: helpers shared by the test files: tensor comparison with a useful
// report, and gradcheck assertions.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/tensor.h"

namespace testing {

// The message of the eng::Error that f() throws, or "" when it throws none.
template <typename F>
std::string error_of(F f) {
    try {
        f();
    } catch (const eng::Error& e) {
        return e.what();
    }
    return "";
}

// Compares values elementwise with |a - e| <= atol + rtol·|e|; on failure the
// message gives the max error, the count of bad elements and the first pairs.
inline std::string compare(const std::vector<float>& actual, const std::vector<float>& expected, double atol,
                           double rtol) {
    if (actual.size() != expected.size())
        return "size mismatch: " + std::to_string(actual.size()) + " vs " + std::to_string(expected.size());
    std::ostringstream os;
    size_t bad = 0;
    double max_err = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        double a = actual[i], e = expected[i];
        bool same_special = (std::isnan(a) && std::isnan(e)) || (std::isinf(a) && a == e);
        double err = same_special ? 0.0 : std::fabs(a - e);
        if (!same_special && !(err <= atol + rtol * std::fabs(e))) {
            if (bad < 5) os << "  [" << i << "] got " << a << " expected " << e << "\n";
            ++bad;
        }
        if (std::isfinite(err)) max_err = std::max(max_err, err);
    }
    if (!bad) return "";
    std::ostringstream head;
    head << bad << " of " << actual.size() << " elements differ (max abs error " << max_err << ", atol " << atol
         << ", rtol " << rtol << ")\n";
    return head.str() + os.str();
}

inline std::string compare(const eng::Tensor& actual, const std::vector<float>& expected, double atol = 1e-5,
                           double rtol = 1e-5) {
    return compare(actual.to_vector(), expected, atol, rtol);
}

inline std::string compare(const eng::Tensor& actual, const eng::Tensor& expected, double atol = 1e-5,
                           double rtol = 1e-5) {
    if (actual.shape() != expected.shape())
        return "shape mismatch: " + eng::shape_str(actual.shape()) + " vs " + eng::shape_str(expected.shape());
    return compare(actual.to_vector(), expected.to_vector(), atol, rtol);
}

// Reference linear layer for tests: y[r, o] = Σ_i x[r, i]·w(o, i) + b[o], in double; `w` reads either layout.
template <typename W>
inline std::vector<float> ref_affine(const std::vector<float>& x, int64_t rows, int64_t in, int64_t out, W w, const std::vector<float>& b) {
    std::vector<float> y(size_t(rows * out));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
            double s = b.empty() ? 0.0 : b[size_t(o)];
            for (int64_t i = 0; i < in; ++i) s += double(x[size_t(r * in + i)]) * w(o, i);
            y[size_t(r * out + o)] = float(s);
        }
    return y;
}

}  // namespace testing

// CHECK_CLOSE(actual, expected[, atol, rtol]): tensors or float vectors.
#define CHECK_CLOSE(...)                                             \
    do {                                                             \
        std::string msg_ = ::testing::compare(__VA_ARGS__);          \
        CHECK_MESSAGE(msg_.empty(), msg_);                           \
    } while (0)

// CHECK_GRADCHECK(fn, inputs[, options]): autograd vs central differences.
#define CHECK_GRADCHECK(...)                                         \
    do {                                                             \
        ::eng::GradcheckResult r_ = ::eng::gradcheck(__VA_ARGS__);   \
        CHECK_MESSAGE(r_.ok, r_.report);                             \
    } while (0)

// Asserts that `expr` throws eng::Error whose message contains `fragment`.
#define CHECK_THROWS_CONTAINING(expr, fragment)                                        \
    do {                                                                               \
        bool thrown_ = false;                                                          \
        try {                                                                          \
            (void)(expr);                                                              \
        } catch (const ::eng::Error& e_) {                                             \
            thrown_ = true;                                                            \
            std::string what_ = e_.what();                                             \
            CHECK_MESSAGE(what_.find(fragment) != std::string::npos,                   \
                          "message '" << what_ << "' lacks '" << fragment << "'");     \
        }                                                                              \
        CHECK_MESSAGE(thrown_, "expected an eng::Error containing '" << fragment << "'"); \
    } while (0)
