// pretrain_guards.h: what stops a pretraining run before it damages its own
// checkpoints: non-finite gradients or weights (a finite loss does not rule
// them out), and Ctrl-C / SIGTERM / SIGUSR1 / SIGUSR2, which finish the
// current step, save it and end the run so that --resume continues exactly.
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace mama {

// Whether every defined gradient of `params` is finite: whether their joint
// L2 norm is (nn::grad_norm; inf also when the norm overflows float, and
// gradients that large are no better).
bool gradients_finite(const std::vector<eng::Tensor*>& params);

// The name of the first parameter or buffer (f32 or bf16) of `model` holding a
// NaN or an infinity, or "" when all are finite.
std::string first_non_finite(eng::nn::Module& model);

// While one lives, SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 only raise a flag that
// the training loop reads at the end of each step (under mpirun send SIGUSR1:
// mpirun forwards it to the ranks, while after a SIGINT or SIGTERM it kills
// them within seconds); a second signal does what it did
// before (usually: end the process at once).  A signal the process ignores
// (a job started in the background) stays ignored.  The previous handlers
// come back with the object.
class StopOnSignal {
public:
    StopOnSignal();
    ~StopOnSignal();
    StopOnSignal(const StopOnSignal&) = delete;
    StopOnSignal& operator=(const StopOnSignal&) = delete;
    static bool requested();
    static void request();  // as a signal would (also before the run starts: tests)
};

}  // namespace mama
