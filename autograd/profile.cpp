// profile.cpp: the op time table of profile.h: a per-thread nesting depth
// decides which scope is timed; finished scopes add to one table under a mutex
// (a few hundred per training step, so contention does not matter).
#include "autograd/profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <utility>

namespace eng::profile {
namespace {

std::atomic<bool> g_enabled{[] {
    const char* v = std::getenv("ENG_PROFILE");
    return v && std::strcmp(v, "0") != 0 && *v != '\0';
}()};
thread_local int t_depth = 0;     // open scopes on this thread
thread_local int t_backward = 0;  // open BackwardMarks on this thread

struct Table {
    std::mutex mutex;
    std::map<std::pair<Phase, std::string>, Row> rows;
};
Table& table() {
    static Table t;
    return t;
}

}  // namespace

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

void reset() {
    Table& t = table();
    std::lock_guard<std::mutex> lock(t.mutex);
    t.rows.clear();
}

std::vector<Row> rows() {
    Table& t = table();
    std::vector<Row> out;
    {
        std::lock_guard<std::mutex> lock(t.mutex);
        for (const auto& [key, row] : t.rows) out.push_back(row);
    }
    std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
    return out;
}

std::string report(int top) {
    const std::vector<Row> all = rows();
    if (all.empty()) return "";
    double total = 0;
    for (const Row& r : all) total += r.seconds;
    std::string out = "op profile (ENG_PROFILE=1): time inside ops, outermost ops only\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-9s %-38s %9s %11s %7s %11s\n", "phase", "op", "calls", "ms", "share",
                  "cpu ms");
    out += line;
    for (size_t i = 0; i < all.size() && int(i) < top; ++i) {
        const Row& r = all[i];
        std::snprintf(line, sizeof line, "  %-9s %-38s %9ld %11.1f %6.1f%% %11.1f\n",
                      r.phase == Phase::Forward ? "forward" : "backward", r.name.c_str(), long(r.calls),
                      1e3 * r.seconds, 100 * r.seconds / total, 1e3 * r.cpu_seconds);
        out += line;
    }
    std::snprintf(line, sizeof line, "  total %.1f ms in %zu rows\n", 1e3 * total, all.size());
    return out + line;
}

BackwardMark::BackwardMark() { ++t_backward; }
BackwardMark::~BackwardMark() { --t_backward; }

Scope::Scope(const char* name) {
    if (t_depth++ > 0 || !enabled()) return;
    name_ = name;
    cpu_start_ = process_cpu_seconds();
    start_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
    --t_depth;
    if (!name_) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double cpu = process_cpu_seconds() - cpu_start_;
    const Phase phase = t_backward > 0 ? Phase::Backward : Phase::Forward;
    Table& t = table();
    std::lock_guard<std::mutex> lock(t.mutex);
    Row& r = t.rows[{phase, std::string(name_)}];
    r.phase = phase;
    r.name = name_;
    ++r.calls;
    r.seconds += s;
    r.cpu_seconds += cpu;
}

}  // namespace eng::profile
