// module.h: Module, the base of every layer and model.
//
// A module owns its parameters and buffers as Tensor members and registers
// them (and its sub-modules) by pointer under a short name.  Dotted names are
// built by walking the tree, so a parameter's full name equals the PyTorch
// state_dict key of the reference model ("blocks.0.attn.qkv.weight") and real
// checkpoints load without renaming.  Modules are neither copied nor moved
// after construction (the registered pointers point into them).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace eng::nn {

struct LoadReport {
    std::vector<std::string> missing;     // in the module, not in the file
    std::vector<std::string> unexpected;  // in the file, not in the module
    std::vector<std::string> mismatched;  // "name: file [a, b] vs module [c, d]"
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    std::string str() const;
};

class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // ---- the tree ----
    std::vector<std::pair<std::string, Tensor*>> named_parameters();
    std::vector<std::pair<std::string, Tensor*>> named_buffers();
    std::vector<std::pair<std::string, Module*>> named_modules();  // includes this one as ""
    std::vector<Tensor*> parameters();
    std::vector<Tensor*> trainable_parameters();
    Tensor* find_parameter(const std::string& dotted_name);  // nullptr if absent

    // ---- modes ----
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // ---- gradients and freezing ----
    void zero_grad();  // drops every parameter's .grad
    void requires_grad(bool on);  // all parameters
    // Sets requires_grad on the parameters whose dotted name contains `pattern`;
    // returns how many matched.
    int set_requires_grad(const std::string& pattern, bool on);
    int64_t num_parameters(bool trainable_only = false);

    // ---- devices and number format ----
    void to(Device device);
    // Every parameter and buffer replaced by its nearest bf16 number, in place
    // (the start of bf16-true training, tensor/precision.h).
    void round_to_bf16();

    // ---- state ----
    // Parameters and buffers by full name (the tensors themselves, not copies).
    std::map<std::string, Tensor> state_dict();
    // Copies matching tensors in (converting dtype and device); strict throws
    // with the report when anything is missing, unexpected or mis-shaped.
    LoadReport load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

    // ---- registration (by pointer: the slot must live as long as the module) ----
    Tensor& register_parameter(const std::string& name, Tensor* slot, bool requires_grad = true);
    Tensor& register_buffer(const std::string& name, Tensor* slot);
    void register_module(const std::string& name, Module* child);

protected:
    // Hook for subclasses whose file layout differs from memory (none by default).
    virtual void on_train(bool) {}

private:
    std::vector<std::pair<std::string, Tensor*>> params_, buffers_;
    std::vector<std::pair<std::string, Module*>> children_;
    bool training_ = true;
};

}  // namespace eng::nn
