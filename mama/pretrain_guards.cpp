// pretrain_guards.cpp: the finiteness checks and the stop-on-signal flag of
// pretrain_guards.h.
#include "mama/pretrain_guards.h"

#include <signal.h>

#include <atomic>
#include <cmath>

#include "nn/optim.h"
#include "tensor/kernels.h"

namespace mama {

using namespace eng;

namespace {

// Read by the training loop on another thread than the one the signal lands
// on: an atomic (lock-free, so safe in a handler), not a volatile.
std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free);
// Ctrl-C, kill's default, and the two user signals: mpirun forwards SIGUSR1
// and SIGUSR2 to every rank as they are, while on SIGINT or SIGTERM Open MPI
// kills the ranks about a second later (its odls_base_sigkill_timeout),
// usually before a step can finish.
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
constexpr int kNumSignals = int(sizeof kSignals / sizeof kSignals[0]);
struct sigaction g_old[kNumSignals];
bool g_installed[kNumSignals] = {};

void on_signal(int sig) {
    if (g_stop.exchange(1)) {  // the second one: what it would have done without us (usually: end now)
        for (int i = 0; i < kNumSignals; ++i)
            if (kSignals[i] == sig) sigaction(sig, &g_old[i], nullptr);
        raise(sig);
    }
}

// Installs the handler for sig unless the process ignores it (a program
// started in the background by a shell ignores SIGINT: it should keep doing so).
bool install(int sig, struct sigaction* old) {
    struct sigaction current = {};
    sigaction(sig, nullptr, &current);
    if (current.sa_handler == SIG_IGN) return false;
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;  // reads and writes interrupted by the first signal carry on
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, old);
    return true;
}

// Finite exactly when every element is (the L2 norm the gradient guard uses).
bool all_finite(const Tensor& t) { return t.numel() == 0 || std::isfinite(kernels::l2_norm(t).item()); }

}  // namespace

bool gradients_finite(const std::vector<Tensor*>& params) { return std::isfinite(nn::grad_norm(params)); }

std::string first_non_finite(nn::Module& model) {
    for (auto& [name, t] : model.named_parameters())
        if (!all_finite(*t)) return name;
    for (auto& [name, t] : model.named_buffers())
        if (t->dtype() != DType::i32 && !all_finite(*t)) return name;
    return "";
}

StopOnSignal::StopOnSignal() {
    for (int i = 0; i < kNumSignals; ++i) g_installed[i] = install(kSignals[i], &g_old[i]);
}

StopOnSignal::~StopOnSignal() {
    for (int i = 0; i < kNumSignals; ++i)
        if (g_installed[i]) sigaction(kSignals[i], &g_old[i], nullptr);
    g_stop = 0;  // the request was for this run
}

bool StopOnSignal::requested() { return g_stop.load() != 0; }
void StopOnSignal::request() { g_stop = 1; }

}  // namespace mama
