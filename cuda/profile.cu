// profile.cu: a per-kernel time table for finding where a GPU step goes,
// switched on with ENG_CUDA_PROFILE=1 (tensor/cuda_backend.h).
//
// Every launch of the backend ends in check_launch(name); with profiling on,
// that call synchronises the device and charges the wait to `name` (the
// kernel's own time, since the device was idle when the previous check
// returned) and the host time since the previous check to "host" (launch
// overhead, the CPU-side losses, synchronous copies).  Synchronising after
// every kernel slows the run a little, but each figure belongs to one kernel.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

namespace {

struct Entry {
    double seconds = 0;
    int64_t calls = 0;
};

struct Profile {
    std::mutex mu;
    std::map<std::string, Entry> kernels;
    double host = 0;
    double last = -1;  // when the previous check returned (-1: not yet)
};

Profile& state() {
    static Profile p;
    return p;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

bool profiling() {
    static const bool on = [] {
        const char* v = std::getenv("ENG_CUDA_PROFILE");
        return v && std::string(v) == "1";
    }();
    return on;
}

void profile_kernel(const char* name) {
    Profile& p = state();
    const double t0 = now();
    const cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) ENG_FAIL("CUDA kernel ", name, " failed: ", cudaGetErrorString(err));
    const double t1 = now();
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.last >= 0) p.host += t0 - p.last;
    Entry& e = p.kernels[name];
    e.seconds += t1 - t0;
    ++e.calls;
    p.last = t1;
}

void profile_reset() {
    Profile& p = state();
    std::lock_guard<std::mutex> lock(p.mu);
    p.kernels.clear();
    p.host = 0;
    p.last = -1;
}

std::string profile_report(int top) {
    Profile& p = state();
    std::lock_guard<std::mutex> lock(p.mu);
    std::vector<std::pair<std::string, Entry>> rows(p.kernels.begin(), p.kernels.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = p.host;
    for (auto& r : rows) total += r.second.seconds;
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "  %-64s %10s %8s %6s\n", "kernel (ENG_CUDA_PROFILE=1)", "ms", "calls", "%");
    out += line;
    auto add = [&](const std::string& name, double s, int64_t calls) {
        std::snprintf(line, sizeof line, "  %-64.64s %10.1f %8lld %5.1f%%\n", name.c_str(), 1e3 * s, (long long)calls,
                      total > 0 ? 100 * s / total : 0.0);
        out += line;
    };
    for (int i = 0; i < int(rows.size()) && i < top; ++i) add(rows[size_t(i)].first, rows[size_t(i)].second.seconds, rows[size_t(i)].second.calls);
    add("host between kernels (launches, CPU-side losses, copies)", p.host, 0);
    return out;
}

}  // namespace eng::cuda
