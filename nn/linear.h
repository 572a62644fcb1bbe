// linear.h: the fully connected layer, in both storage layouts, with optional LoRA.
//
// Linear stores weight [out, in] as torch.nn.Linear does.  GPT-2 checkpoints
// store their projections as Conv1D, weight [in, out]; Linear::conv1d builds
// that layout so the file loads as is (y = x·W + b then, with no transpose).
//
// LoRA (Hu et al. 2021, as in PEFT): y = base(x) + (alpha / r) · dropout(x)·Aᵀ·Bᵀ
// with lora_A.weight [r, in] (Kaiming-uniform, a = √5) and lora_B.weight
// [out, r] (zeros, so the adapted layer starts equal to the base).  Enabling
// LoRA freezes the base weight and bias.  merge() folds the update into the
// base weight for inference; unmerge() takes it out again.
#pragma once
#include <memory>

#include "nn/module.h"

namespace eng::nn {

class Linear : public Module {
public:
    // torch.nn.Linear layout and init: U(-1/√in, 1/√in) for weight and bias.
    Linear(int64_t in, int64_t out, bool bias = true, Generator* g = nullptr);
    // GPT-2 Conv1D layout [in, out] and init: N(0, std) weight, zero bias.
    static std::unique_ptr<Linear> conv1d(int64_t in, int64_t out, Generator* g = nullptr, float std = 0.02f);

    Tensor forward(const Tensor& x);

    void enable_lora(int64_t r, float alpha, float dropout, Generator* g = nullptr);
    bool has_lora() const { return lora_A_ != nullptr; }
    void merge();
    void unmerge();
    bool merged() const { return merged_; }

    int64_t in_features() const { return in_; }
    int64_t out_features() const { return out_; }
    bool conv1d_layout() const { return conv1d_; }

    Tensor weight, bias;

private:
    Linear(int64_t in, int64_t out, bool bias, bool conv1d_layout, Generator* g, float conv1d_std = 0.02f);
    Tensor lora_delta();  // (alpha/r)·B·A as [out, in] (or its transpose for Conv1D)
    int64_t in_, out_;
    bool conv1d_;
    std::unique_ptr<Linear> lora_A_, lora_B_;
    float lora_scale_ = 0.0f, lora_dropout_ = 0.0f;
    bool merged_ = false;
};

// Enables LoRA on every Linear whose dotted module name ends with `name_suffix`
// (default GPT-2's "c_attn"), freezing every other parameter of the model.
// Returns the number of layers adapted.
int inject_lora(Module& model, const std::string& name_suffix, int64_t r, float alpha, float dropout,
                Generator* g = nullptr);

}  // namespace eng::nn
