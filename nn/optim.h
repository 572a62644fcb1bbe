// optim.h: optimisers (AdamW, SGD) with parameter groups, and gradient clipping.
//
// Both follow PyTorch exactly (formulas in tensor/cpu/optim.h), so runs can be
// compared with the reference.  Gradient accumulation is the engine's default:
// gradients add up over several backward passes until zero_grad().
// state_dict()/load_state_dict() hold everything needed to resume exactly.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace eng::nn {

struct ParamGroup {
    std::vector<Tensor*> params;
    float lr = 1e-3f;
    float weight_decay = 0.0f;
};

class Optimizer {
public:
    explicit Optimizer(std::vector<ParamGroup> groups);
    virtual ~Optimizer() = default;
    virtual void step() = 0;  // parameters without a gradient are skipped
    void zero_grad();
    std::vector<ParamGroup>& groups() { return groups_; }
    void set_lr(float lr);  // every group (schedules call this)
    int64_t steps() const { return steps_; }

    // Named state tensors ("step", "<group>.<index>.<slot>") for checkpoints.
    virtual std::map<std::string, Tensor> state_dict() const = 0;
    virtual void load_state_dict(const std::map<std::string, Tensor>& state) = 0;

protected:
    std::vector<ParamGroup> groups_;
    int64_t steps_ = 0;
};

class AdamW : public Optimizer {
public:
    // β1 and β2 stay doubles, as PyTorch's Python floats: the kernels take 1 - β
    // and the bias corrections computed from them (1 - 0.999f is 1.3e-5 off
    // float(1 - 0.999), relatively; 1.3e-8 absolutely).  Pass doubles (0.95,
    // not 0.95f: a float literal is already rounded).
    AdamW(std::vector<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999, float eps = 1e-8f);
    void step() override;
    std::map<std::string, Tensor> state_dict() const override;
    void load_state_dict(const std::map<std::string, Tensor>& state) override;

private:
    double beta1_, beta2_;
    float eps_;
    std::vector<std::vector<Tensor>> m_, v_;  // per group, per parameter (undefined until first step)
    std::vector<std::vector<int64_t>> t_;     // per-parameter step counts (PyTorch keeps one per parameter)
};

class SGD : public Optimizer {
public:
    SGD(std::vector<ParamGroup> groups, float momentum = 0.0f, float dampening = 0.0f, bool nesterov = false);
    void step() override;
    std::map<std::string, Tensor> state_dict() const override;
    void load_state_dict(const std::map<std::string, Tensor>& state) override;

private:
    float momentum_, dampening_;
    bool nesterov_;
    std::vector<std::vector<Tensor>> buf_;
};

// The L2 norm of all the parameters' gradients together (those without one
// skipped): each gradient's norm on its own device, then the norm of those in
// double on the host, with one transfer in all (a GPU is synchronised once,
// not once per parameter).  Non-finite when any gradient element is.
float grad_norm(const std::vector<Tensor*>& params);

// Scales all gradients so that their global L2 norm is at most max_norm (as
// torch.nn.utils.clip_grad_norm_, factor max_norm / (norm + 1e-6)); returns the
// norm before clipping.  A non-finite norm is returned without scaling.
float clip_grad_norm(const std::vector<Tensor*>& params, float max_norm);

}  // namespace eng::nn
