// optim.cpp: AdamW, SGD, gradient clipping (see optim.h and tensor/cpu/optim.h).
#include "nn/optim.h"

#include <cmath>

#include "tensor/cpu/optim.h"
#include "tensor/cuda_backend.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::nn {

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
    for (auto& g : groups_)
        for (Tensor* p : g.params) {
            ENG_CHECK(p && p->defined(), "optimizer: a parameter is undefined");
            ENG_CHECK(p->dtype() == DType::f32, "optimizer: parameters must be f32 master weights, got ",
                      dtype_name(p->dtype()), " ", shape_str(p->shape()));
        }
}

void Optimizer::zero_grad() {
    for (auto& g : groups_)
        for (Tensor* p : g.params) p->set_grad(Tensor());
}

void Optimizer::set_lr(float lr) {
    for (auto& g : groups_) g.lr = lr;
}

static void require_packed_f32(const Tensor& p, const char* opt) {
    ENG_CHECK(p.is_contiguous() && p.dtype() == DType::f32, opt, ": parameters must be packed f32 (master weights)");
}

static std::string slot_name(size_t g, size_t i, const char* slot) {
    return std::to_string(g) + "." + std::to_string(i) + "." + slot;
}

// ---- checkpoint state ---------------------------------------------------------------
// State read from a checkpoint is checked before use: a tensor of the wrong
// shape would make the fused update read and write past its buffer (a crash on
// resume, or memory silently overwritten), and a step count that is negative,
// fractional or not finite would silently give wrong bias corrections.

static const char* const kForeignState =
    ". HINT: the checkpoint does not belong to this model/optimizer (other parameters or another optimizer); "
    "resume with the config it was saved with, or start without it";

// `state` on `param`'s device as f32, after checking it matches `param`.
static Tensor load_slot(const char* opt, const std::string& key, const Tensor& state, const Tensor& param) {
    ENG_CHECK(state.shape() == param.shape(), opt, ".load_state_dict: state '", key, "' has shape ",
              shape_str(state.shape()), " but its parameter has shape ", shape_str(param.shape()), kForeignState);
    ENG_CHECK(state.dtype() == DType::f32 || state.dtype() == DType::bf16, opt, ".load_state_dict: state '", key,
              "' is ", dtype_name(state.dtype()), ", not f32 or bf16", kForeignState);
    // On the parameter's device (a checkpoint is read on the host).
    return state.to(DType::f32).to(param.device()).clone();
}

static int64_t load_count(const char* opt, const std::string& key, const Tensor& t) {
    ENG_CHECK(t.numel() == 1, opt, ".load_state_dict: step count '", key, "' has shape ", shape_str(t.shape()),
              ", not a single number", kForeignState);
    const double v = t.item();
    // 2^53: beyond it a double (let alone the stored float) no longer holds every whole number.
    ENG_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v <= 9007199254740992.0, opt,
              ".load_state_dict: step count '", key, "' is ", v, ", not a whole number >= 0", kForeignState);
    return int64_t(v);
}

// ---- AdamW ------------------------------------------------------------------------

AdamW::AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, float eps)
    : Optimizer(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
    for (auto& g : groups_) {
        m_.emplace_back(g.params.size());
        v_.emplace_back(g.params.size());
        t_.emplace_back(g.params.size(), 0);
    }
}

void AdamW::step() {
    ++steps_;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
        ParamGroup& group = groups_[gi];
        for (size_t i = 0; i < group.params.size(); ++i) {
            Tensor& p = *group.params[i];
            Tensor grad = p.grad();
            if (!grad.defined()) continue;
            require_packed_f32(p, "AdamW");
            ENG_CHECK(grad.shape() == p.shape(), "AdamW: gradient ", shape_str(grad.shape()), " vs parameter ",
                      shape_str(p.shape()));
            if (!m_[gi][i].defined()) {
                m_[gi][i] = zeros(p.shape(), {DType::f32, p.device()});
                v_[gi][i] = zeros(p.shape(), {DType::f32, p.device()});
            }
            Tensor g = grad.contiguous();
            int64_t t = ++t_[gi][i];
            // The same fused update on either device (tensor/cpu/optim.h, cuda/optim.cu),
            // or under bf16-true PyTorch's steps on bf16 tensors (tensor/optim_bf16_true.h).
            const bool gpu = p.device() == Device::CUDA;
            auto update = bf16_true() ? (gpu ? cuda::adamw_update_bf16_true : cpu::adamw_update_bf16_true)
                                      : (gpu ? cuda::adamw_update : cpu::adamw_update);
            update(p.data<float>(), m_[gi][i].data<float>(), v_[gi][i].data<float>(), g.data<float>(),
                   p.numel(), group.lr, beta1_, beta2_, eps_, group.weight_decay, t);
            p.bump_version();  // a graph that saved p is stale now
        }
    }
}

std::map<std::string, Tensor> AdamW::state_dict() const {
    std::map<std::string, Tensor> s;
    s["step"] = from_vector({float(steps_)}, {1});
    for (size_t g = 0; g < m_.size(); ++g)
        for (size_t i = 0; i < m_[g].size(); ++i) {
            if (!m_[g][i].defined()) continue;
            s[slot_name(g, i, "exp_avg")] = m_[g][i];
            s[slot_name(g, i, "exp_avg_sq")] = v_[g][i];
            s[slot_name(g, i, "step")] = from_vector({float(t_[g][i])}, {1});
        }
    return s;
}

void AdamW::load_state_dict(const std::map<std::string, Tensor>& s) {
    auto it = s.find("step");
    ENG_CHECK(it != s.end(), "AdamW.load_state_dict: no 'step' entry (not an AdamW state?)");
    // Filled aside and committed at the end: a rejected state leaves the optimiser as it was.
    const int64_t steps = load_count("AdamW", "step", it->second);
    auto m_new = m_, v_new = v_;
    auto t_new = t_;
    for (size_t g = 0; g < m_.size(); ++g)
        for (size_t i = 0; i < m_[g].size(); ++i) {
            auto m = s.find(slot_name(g, i, "exp_avg"));
            if (m == s.end()) {
                m_new[g][i] = v_new[g][i] = Tensor();
                t_new[g][i] = 0;
                continue;
            }
            auto v = s.find(slot_name(g, i, "exp_avg_sq"));
            auto t = s.find(slot_name(g, i, "step"));
            ENG_CHECK(v != s.end() && t != s.end(), "AdamW.load_state_dict: incomplete state for parameter ", g, ".", i);
            const Tensor& param = *groups_[g].params[i];
            m_new[g][i] = load_slot("AdamW", m->first, m->second, param);
            v_new[g][i] = load_slot("AdamW", v->first, v->second, param);
            t_new[g][i] = load_count("AdamW", t->first, t->second);
        }
    steps_ = steps;
    m_ = std::move(m_new), v_ = std::move(v_new), t_ = std::move(t_new);
}

// ---- SGD ----------------------------------------------------------------------------

SGD::SGD(std::vector<ParamGroup> groups, float momentum, float dampening, bool nesterov)
    : Optimizer(std::move(groups)), momentum_(momentum), dampening_(dampening), nesterov_(nesterov) {
    ENG_CHECK(!nesterov || (momentum > 0 && dampening == 0), "SGD: nesterov needs momentum > 0 and no dampening");
    for (auto& g : groups_) buf_.emplace_back(g.params.size());
}

void SGD::step() {
    ++steps_;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
        ParamGroup& group = groups_[gi];
        for (size_t i = 0; i < group.params.size(); ++i) {
            Tensor& p = *group.params[i];
            Tensor grad = p.grad();
            if (!grad.defined()) continue;
            require_packed_f32(p, "SGD");
            Tensor g = grad.contiguous();
            bool first = false;
            if (momentum_ != 0.0f && !buf_[gi][i].defined()) {
                buf_[gi][i] = zeros(p.shape(), {DType::f32, p.device()});
                first = true;
            }
            const bool gpu = p.device() == Device::CUDA;
            auto update = bf16_true() ? (gpu ? cuda::sgd_update_bf16_true : cpu::sgd_update_bf16_true)
                                      : (gpu ? cuda::sgd_update : cpu::sgd_update);
            update(p.data<float>(), momentum_ != 0.0f ? buf_[gi][i].data<float>() : nullptr, g.data<float>(),
                   p.numel(), group.lr, momentum_, dampening_, group.weight_decay, nesterov_, first);
            p.bump_version();
        }
    }
}

std::map<std::string, Tensor> SGD::state_dict() const {
    std::map<std::string, Tensor> s;
    s["step"] = from_vector({float(steps_)}, {1});
    for (size_t g = 0; g < buf_.size(); ++g)
        for (size_t i = 0; i < buf_[g].size(); ++i)
            if (buf_[g][i].defined()) s[slot_name(g, i, "momentum_buffer")] = buf_[g][i];
    return s;
}

void SGD::load_state_dict(const std::map<std::string, Tensor>& s) {
    auto it = s.find("step");
    ENG_CHECK(it != s.end(), "SGD.load_state_dict: no 'step' entry");
    const int64_t steps = load_count("SGD", "step", it->second);
    auto buf_new = buf_;  // committed at the end, as AdamW's
    for (size_t g = 0; g < buf_.size(); ++g)
        for (size_t i = 0; i < buf_[g].size(); ++i) {
            auto b = s.find(slot_name(g, i, "momentum_buffer"));
            buf_new[g][i] = b == s.end() ? Tensor() : load_slot("SGD", b->first, b->second, *groups_[g].params[i]);
        }
    steps_ = steps;
    buf_ = std::move(buf_new);
}

// ---- clipping -----------------------------------------------------------------------

float grad_norm(const std::vector<Tensor*>& params) {
    std::vector<Tensor> grads;
    for (Tensor* p : params)
        if (p->grad().defined()) grads.push_back(p->grad());
    if (grads.empty()) return 0.0f;
    // Each gradient's norm goes into one slot of a vector on the gradients'
    // device, which then crosses to the host once.
    Tensor norms = empty({int64_t(grads.size())}, TensorOptions{DType::f32, grads[0].device()});
    for (size_t i = 0; i < grads.size(); ++i) norms.as_strided({}, {}, int64_t(i)).copy_(kernels::l2_norm(grads[i]));
    double sq = 0;
    for (float n : norms.to_vector()) sq += double(n) * n;  // ‖(‖g₁‖, ‖g₂‖, …)‖ = ‖(g₁, g₂, …)‖
    return float(std::sqrt(sq));
}

float clip_grad_norm(const std::vector<Tensor*>& params, float max_norm) {
    const float norm = grad_norm(params);
    if (!std::isfinite(norm)) return norm;
    float factor = max_norm / (norm + 1e-6f);
    if (factor >= 1.0f) return norm;
    for (Tensor* p : params) {
        Tensor g = p->grad();
        if (!g.defined()) continue;
        Tensor scaled = kernels::scale(g, factor);  // on the gradient's own device
        if (bf16_true()) kernels::round_to_bf16_(scaled);
        p->set_grad(scaled);
    }
    return norm;
}

}  // namespace eng::nn
