// test_profile.cpp: the op time table (autograd/profile.h): what is counted
// (outermost ops only, forward and backward apart, the engine's gradient
// accumulation), that it is off unless enabled, reset, and the CPU time per row.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// calls per (phase, name)
std::map<std::string, int64_t> calls_by_row() {
    std::map<std::string, int64_t> out;
    for (const profile::Row& r : profile::rows()) {
        out[std::string(r.phase == profile::Phase::Forward ? "F " : "B ") + r.name] = r.calls;
        CHECK(r.seconds >= 0);
    }
    return out;
}

// Enables the table for one test and restores the previous state.
struct Enabled {
    bool before = profile::enabled();
    Enabled() {
        profile::reset();
        profile::set_enabled(true);
    }
    ~Enabled() {
        profile::set_enabled(before);
        profile::reset();
    }
};

}  // namespace

TEST_CASE("profile: outermost ops only, forward and backward apart, accumulation in the engine") {
    Enabled on;
    Generator g(1);
    Tensor x = randn({4, 3}, &g), w = randn({5, 3}, &g), b = randn({5}, &g);
    for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
    Tensor mask = from_vector(std::vector<float>(20, 0.0f), {4, 5});
    mask.fill_(1.0f);
    Tensor y = linear(x, w, b);                       // F linear
    Tensor h = masked_fill(y, mask, 0.0f);            // F where (masked_fill is a where)
    Tensor loss = sum(mul(h, h)) + sum(y);            // F mul, F sum ×2, F add
    backward(loss);
    std::map<std::string, int64_t> c = calls_by_row();
    std::string table;
    for (auto& [row, n] : c) table += row + " ×" + std::to_string(n) + "; ";
    INFO("rows: " << table);
    CHECK(c["F linear"] == 1);
    CHECK(c["F where"] == 1);
    CHECK(c["F mul"] == 1);
    CHECK(c["F sum"] == 2);
    CHECK(c["F add"] == 1);
    CHECK(c["B linear"] == 1);
    CHECK(c["B where"] == 1);
    CHECK(c["B mul"] == 1);
    CHECK(c["B sum"] == 2);
    CHECK(c["B add"] == 1);
    // The engine adds y's two gradients (where, sum) and h's two (both factors
    // of mul), and stores one into each of x, w, b.
    CHECK(c["B (gradient accumulation)"] == 5);
    // The kernels a backward runs (mul's backward multiplies) are not ops of their own.
    CHECK(c.size() == 11);

    const std::string report = profile::report(3);  // the three most expensive rows and a total
    CHECK(report.find("op profile") != std::string::npos);
    CHECK(report.find("total") != std::string::npos);
    CHECK(std::count(report.begin(), report.end(), '\n') == 2 + 3 + 1);

    profile::reset();
    CHECK(profile::rows().empty());
    CHECK(profile::report().empty());
}

TEST_CASE("profile: nothing is recorded while off; ops inside another op's scope count under it") {
    Enabled on;
    profile::set_enabled(false);
    Tensor x = ones({3, 3});
    x.set_requires_grad(true);
    backward(sum(mul(x, x)));
    CHECK(profile::rows().empty());

    profile::set_enabled(true);
    // A checkpointed block: its ops run (untimed by grad mode, but timed here)
    // in the forward; in the backward the recomputation and its nested
    // backward happen inside the checkpoint node's scope, so only it appears.
    Tensor y = checkpoint([](const std::vector<Tensor>& in) { return softmax(mul(in[0], in[0]), -1); }, {x});
    backward(sum(y));
    std::map<std::string, int64_t> c = calls_by_row();
    CHECK(c["F mul"] == 1);
    CHECK(c["F softmax"] == 1);
    CHECK(c["F sum"] == 1);
    CHECK(c["B sum"] == 1);
    CHECK(c["B checkpoint"] == 1);
    CHECK(c.count("B mul") == 0);
    CHECK(c.count("B softmax") == 0);
}

TEST_CASE("profile: each row sums the process's CPU time, about its wall time on one thread") {
    Enabled on;
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    Generator g(2);
    Tensor a = randn({400, 400}, &g), b = randn({400, 400}, &g);
    // Idle OpenMP workers of earlier parallel regions spin a few ms before
    // they sleep, and that CPU time is the process's too: let them sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < 4; ++i) matmul(a, b);  // about 1 ms each of pure arithmetic
    omp_set_num_threads(threads);
    const std::vector<profile::Row> rows = profile::rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].name == std::string("matmul"));
    CHECK(rows[0].calls == 4);
    // One busy thread: CPU time close to wall time (below it when the machine
    // preempts us, never much above it, unless the workers are told to spin).
    CHECK(rows[0].cpu_seconds > 0.3 * rows[0].seconds);
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    if (!wait || (std::string(wait) != "ACTIVE" && std::string(wait) != "active"))
        CHECK(rows[0].cpu_seconds < 1.2 * rows[0].seconds + 1e-3);
}
