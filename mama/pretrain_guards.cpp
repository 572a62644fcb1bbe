// pretrain_guards.cpp: the finiteness checks and the stop-on-signal flag of
// pretrain_guards.h.
#include "mama/pretrain_guards.h"

#include <csignal>
#include <cmath>

#include "tensor/kernels.h"

namespace mama {

using namespace eng;

namespace {

volatile std::sig_atomic_t g_stop = 0;
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
    if (g_stop) {  // the second one: stop now
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    g_stop = 1;
}

bool finite_sum(const Tensor& t) {
    if (t.numel() == 0) return true;
    const Tensor x = t.dtype() == DType::f32 ? t : t.to(DType::f32);
    return std::isfinite(kernels::reduce(kernels::Reduce::Sum, x, {}, false).item());
}

}  // namespace

bool gradients_finite(const std::vector<Tensor*>& params) {
    for (Tensor* p : params) {
        const Tensor g = p->grad();
        if (g.defined() && !finite_sum(g)) return false;
    }
    return true;
}

std::string first_non_finite(nn::Module& model) {
    for (auto& [name, t] : model.named_parameters())
        if (!finite_sum(*t)) return name;
    for (auto& [name, t] : model.named_buffers())
        if (t->dtype() != DType::i32 && !finite_sum(*t)) return name;
    return "";
}

StopOnSignal::StopOnSignal() {
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

StopOnSignal::~StopOnSignal() {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
    g_stop = 0;  // the request was for this run
}

bool StopOnSignal::requested() { return g_stop != 0; }
void StopOnSignal::request() { g_stop = 1; }

}  // namespace mama
