// linear.cpp: Linear, the Conv1D layout and LoRA adapters.
#include "nn/linear.h"

#include <cmath>

#include "autograd/ops.h"

namespace eng::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* g) : Linear(in, out, with_bias, false, g) {}

Linear::Linear(int64_t in, int64_t out, bool with_bias, bool conv1d_layout, Generator* g, float conv1d_std)
    : in_(in), out_(out), conv1d_(conv1d_layout) {
    ENG_CHECK(in > 0 && out > 0, "Linear: sizes must be positive, got in ", in, " out ", out);
    if (conv1d_) {
        weight = normal({in, out}, 0.0f, conv1d_std, g);
        if (with_bias) bias = zeros({out});
    } else {
        // kaiming_uniform_(a=√5) gives bound √(6/((1+a²)·fan_in)) = 1/√fan_in.
        float bound = 1.0f / std::sqrt(float(in));
        weight = uniform({out, in}, -bound, bound, g);
        if (with_bias) bias = uniform({out}, -bound, bound, g);
    }
    register_parameter("weight", &weight);
    if (with_bias) register_parameter("bias", &bias);
}

std::unique_ptr<Linear> Linear::conv1d(int64_t in, int64_t out, Generator* g, float std) {
    return std::unique_ptr<Linear>(new Linear(in, out, true, true, g, std));
}

Tensor Linear::forward(const Tensor& x) {
    ENG_CHECK(x.dim() >= 1 && x.size(-1) == in_, "Linear: input ", shape_str(x.shape()), " does not end in ", in_,
              " features (weight ", shape_str(weight.shape()), ")");
    Tensor y = linear(x, weight, bias, conv1d_);  // one GEMM, bias folded in (autograd/linear.h)
    if (lora_A_ && !merged_) {
        Tensor h = lora_dropout_ > 0.0f ? dropout(x, lora_dropout_, is_training()) : x;
        y = y + lora_B_->forward(lora_A_->forward(h)) * lora_scale_;
    }
    return y;
}

void Linear::enable_lora(int64_t r, float alpha, float p, Generator* g) {
    ENG_CHECK(!lora_A_, "enable_lora: the layer already has LoRA adapters");
    ENG_CHECK(r > 0, "enable_lora: rank must be positive, got ", r);
    ENG_CHECK(p >= 0.0f && p < 1.0f, "enable_lora: dropout must be in [0, 1), got ", p);
    lora_A_.reset(new Linear(in_, r, false, g));  // weight [r, in], Kaiming-uniform a = √5
    lora_B_.reset(new Linear(r, out_, false, g));  // weight [out, r]
    lora_B_->weight.detach().zero_();
    lora_scale_ = alpha / float(r);
    lora_dropout_ = p;
    register_module("lora_A", lora_A_.get());
    register_module("lora_B", lora_B_.get());
    weight.set_requires_grad(false);
    if (bias.defined()) bias.set_requires_grad(false);
}

Tensor Linear::lora_delta() {
    NoGradGuard ng;
    Tensor ba = matmul(lora_B_->weight, lora_A_->weight) * lora_scale_;  // [out, in]
    return conv1d_ ? contiguous(transpose(ba, 0, 1)) : ba;
}

void Linear::merge() {
    ENG_CHECK(lora_A_, "merge: the layer has no LoRA adapters");
    if (merged_) return;
    NoGradGuard ng;
    weight.detach().copy_(add(weight.detach(), lora_delta()));
    merged_ = true;
}

void Linear::unmerge() {
    ENG_CHECK(lora_A_, "unmerge: the layer has no LoRA adapters");
    if (!merged_) return;
    NoGradGuard ng;
    weight.detach().copy_(sub(weight.detach(), lora_delta()));
    merged_ = false;
}

int inject_lora(Module& model, const std::string& suffix, int64_t r, float alpha, float p, Generator* g) {
    model.requires_grad(false);
    int n = 0;
    for (auto& [name, m] : model.named_modules()) {
        auto* lin = dynamic_cast<Linear*>(m);
        bool match = name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
        if (lin && match && !lin->has_lora()) {
            lin->enable_lora(r, alpha, p, g);
            ++n;
        }
    }
    ENG_CHECK(n > 0, "inject_lora: no Linear layer's name ends with '", suffix, "'");
    return n;
}

}  // namespace eng::nn
