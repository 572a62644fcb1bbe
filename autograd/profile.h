// profile.h: an op-level time table of the CPU work, for finding where a
// training step goes (`bench step --profile`, or ENG_PROFILE=1 for any program
// that prints profile::report()).
//
// Every differentiable op opens a profile::Scope on entry; the engine opens one
// around each node's backward and around its gradient accumulation.  Only the
// OUTERMOST scope on a thread is timed (an op built from other ops, or a
// backward that calls ops, counts once, under its own name), so the rows add
// up to the time spent inside ops; the rest of a phase is glue (views, Python-
// free model code, allocation outside ops), reported by the caller as the
// remainder.  Rows are keyed by (phase, name): forward ops by the op's name,
// backward rows by the name of the node the op recorded.
//
// Each row also sums the process's CPU time over its scopes, so CPU ms / wall
// ms is the average number of threads an op kept busy (meaningful with
// OMP_WAIT_POLICY=PASSIVE: spinning idle threads burn CPU time too).
//
// Off by default, a relaxed atomic load per op.  On a GPU the ops return before
// their kernels finish, so this table measures launches there: use
// ENG_CUDA_PROFILE=1 (tensor/cuda_backend.h) instead.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace eng::profile {

enum class Phase { Forward, Backward };

bool enabled();  // initially: ENG_PROFILE=1 in the environment
void set_enabled(bool on);
void reset();  // clears the table

// CPU seconds used so far by all threads of the process (the rows' CPU time;
// the benchmarks read it too).
double process_cpu_seconds();

struct Row {
    Phase phase;
    std::string name;
    int64_t calls = 0;
    double seconds = 0;      // wall time
    double cpu_seconds = 0;  // CPU time of the whole process meanwhile: seconds × busy threads
};
std::vector<Row> rows();  // the table, the most expensive first
// The `top` most expensive rows as a text table (total ms, calls, share of
// all timed op time); empty when nothing was recorded.
std::string report(int top = 25);

// Marks the backward pass on this thread (the engine holds one while it runs):
// scopes opened inside it count as Phase::Backward.
class BackwardMark {
public:
    BackwardMark();
    ~BackwardMark();
    BackwardMark(const BackwardMark&) = delete;
    BackwardMark& operator=(const BackwardMark&) = delete;
};

// Times its lifetime under `name` if it is the outermost scope on this thread.
// `name` must outlive the scope (a string literal or a node's name).
class Scope {
public:
    explicit Scope(const char* name);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const char* name_ = nullptr;  // null: not timed
    std::chrono::steady_clock::time_point start_;
    double cpu_start_ = 0;
};

}  // namespace eng::profile
