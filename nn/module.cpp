// module.cpp: walking the module tree, modes, freezing, devices and state dicts.
#include "nn/module.h"

#include <sstream>

#include "tensor/kernels.h"

namespace eng::nn {

std::string LoadReport::str() const {
    std::ostringstream os;
    auto list = [&](const char* what, const std::vector<std::string>& names) {
        if (names.empty()) return;
        os << what << " (" << names.size() << "):";
        for (size_t i = 0; i < names.size() && i < 20; ++i) os << " " << names[i];
        if (names.size() > 20) os << " ...";
        os << "\n";
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("wrongly shaped keys", mismatched);
    return os.str();
}

Tensor& Module::register_parameter(const std::string& name, Tensor* slot, bool requires_grad) {
    ENG_CHECK(slot && slot->defined(), "register_parameter: '", name, "' is undefined");
    if (requires_grad) slot->set_requires_grad(true);
    params_.emplace_back(name, slot);
    return *slot;
}

Tensor& Module::register_buffer(const std::string& name, Tensor* slot) {
    ENG_CHECK(slot && slot->defined(), "register_buffer: '", name, "' is undefined");
    buffers_.emplace_back(name, slot);
    return *slot;
}

void Module::register_module(const std::string& name, Module* child) {
    ENG_CHECK(child != nullptr, "register_module: '", name, "' is null");
    children_.emplace_back(name, child);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
    // Iterative pre-order walk with dotted prefixes.
    std::vector<std::pair<std::string, Module*>> out, stack{{"", this}};
    while (!stack.empty()) {
        auto [prefix, m] = stack.back();
        stack.pop_back();
        out.emplace_back(prefix, m);
        for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
            stack.emplace_back(prefix.empty() ? it->first : prefix + "." + it->first, it->second);
    }
    return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters() {
    std::vector<std::pair<std::string, Tensor*>> out;
    for (auto& [prefix, m] : named_modules())
        for (auto& [name, t] : m->params_) out.emplace_back(prefix.empty() ? name : prefix + "." + name, t);
    return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
    std::vector<std::pair<std::string, Tensor*>> out;
    for (auto& [prefix, m] : named_modules())
        for (auto& [name, t] : m->buffers_) out.emplace_back(prefix.empty() ? name : prefix + "." + name, t);
    return out;
}

std::vector<Tensor*> Module::parameters() {
    std::vector<Tensor*> out;
    for (auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
}

std::vector<Tensor*> Module::trainable_parameters() {
    std::vector<Tensor*> out;
    for (auto& [name, t] : named_parameters())
        if (t->requires_grad()) out.push_back(t);
    return out;
}

Tensor* Module::find_parameter(const std::string& dotted) {
    for (auto& [name, t] : named_parameters())
        if (name == dotted) return t;
    return nullptr;
}

void Module::train(bool on) {
    for (auto& [prefix, m] : named_modules()) {
        m->training_ = on;
        m->on_train(on);
    }
}

void Module::zero_grad() {
    for (Tensor* t : parameters()) t->set_grad(Tensor());
}

void Module::requires_grad(bool on) {
    for (Tensor* t : parameters()) t->set_requires_grad(on);
}

int Module::set_requires_grad(const std::string& pattern, bool on) {
    int n = 0;
    for (auto& [name, t] : named_parameters())
        if (name.find(pattern) != std::string::npos) {
            t->set_requires_grad(on);
            ++n;
        }
    return n;
}

int64_t Module::num_parameters(bool trainable_only) {
    int64_t n = 0;
    for (Tensor* t : parameters())
        if (!trainable_only || t->requires_grad()) n += t->numel();
    return n;
}

void Module::round_to_bf16() {
    for (Tensor* t : parameters()) kernels::round_to_bf16_(*t);
    for (auto& [name, t] : named_buffers()) kernels::round_to_bf16_(*t);
}

void Module::to(Device device) {
    auto move = [&](Tensor* t) {
        // Already there: keep the tensor itself (detach() always makes a new
        // handle, which would drop the gradient and break aliases).
        if (t->device() == device) return;
        bool rg = t->requires_grad();
        Tensor moved = t->detach().to(device);
        *t = moved;
        if (rg) t->set_requires_grad(true);
    };
    for (Tensor* t : parameters()) move(t);
    for (auto& [name, t] : named_buffers()) move(t);
}

std::map<std::string, Tensor> Module::state_dict() {
    std::map<std::string, Tensor> out;
    for (auto& [name, t] : named_parameters()) out[name] = t->detach();
    for (auto& [name, t] : named_buffers()) out[name] = t->detach();
    return out;
}

LoadReport Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
    LoadReport report;
    std::map<std::string, Tensor*> mine;
    for (auto& [name, t] : named_parameters()) mine[name] = t;
    for (auto& [name, t] : named_buffers()) mine[name] = t;
    // Integers where weights belong: a mislabelled or foreign tensor, which a
    // conversion would turn into plausible-looking numbers.  (The other way is
    // fine: a counter saved as a float.)
    auto integers_into_floats = [](const Tensor& src, const Tensor& slot) {
        return src.dtype() == DType::i32 && slot.dtype() != DType::i32;
    };
    for (auto& [name, slot] : mine) {
        auto it = state.find(name);
        if (it == state.end()) {
            report.missing.push_back(name);
        } else if (it->second.shape() != slot->shape()) {
            report.mismatched.push_back(name + ": file " + shape_str(it->second.shape()) + " vs module " +
                                        shape_str(slot->shape()));
        } else if (integers_into_floats(it->second, *slot)) {
            report.mismatched.push_back(name + ": file holds integers (i32), module " + dtype_name(slot->dtype()));
        }
    }
    for (auto& [name, t] : state)
        if (!mine.count(name)) report.unexpected.push_back(name);
    if (strict)
        ENG_CHECK(report.ok(), "load_state_dict: the file does not match the model:\n", report.str(),
                  "HINT: check the model config (sizes, number of layers, registers, LoRA) against the file");
    // Copy what matches, keeping each slot's dtype and device.
    for (auto& [name, slot] : mine) {
        auto it = state.find(name);
        if (it == state.end() || it->second.shape() != slot->shape()) continue;
        if (integers_into_floats(it->second, *slot)) continue;
        Tensor src = it->second.to(Device::CPU).to(slot->dtype()).to(slot->device());
        slot->detach().copy_(src);
    }
    return report;
}

}  // namespace eng::nn
