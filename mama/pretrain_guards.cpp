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
struct sigaction g_old_int, g_old_term;
bool g_int_installed = false, g_term_installed = false;

void on_signal(int sig) {
    if (g_stop.exchange(1)) {  // the second one: what it would have done without us (usually: end now)
        sigaction(sig, sig == SIGINT ? &g_old_int : &g_old_term, nullptr);
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
    g_int_installed = install(SIGINT, &g_old_int);
    g_term_installed = install(SIGTERM, &g_old_term);
}

StopOnSignal::~StopOnSignal() {
    if (g_int_installed) sigaction(SIGINT, &g_old_int, nullptr);
    if (g_term_installed) sigaction(SIGTERM, &g_old_term, nullptr);
    g_stop = 0;  // the request was for this run
}

bool StopOnSignal::requested() { return g_stop.load() != 0; }
void StopOnSignal::request() { g_stop = 1; }

}  // namespace mama
