// checkpoint.cpp: recompute-in-backward (see checkpoint.h).
#include "autograd/checkpoint.h"

#include "autograd/node.h"
#include "autograd/saved.h"

namespace eng {

Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs) {
    GeneratorState rng_before = default_generator().state();
    Tensor out;
    {
        NoGradGuard no_grad;
        out = fn(inputs);
    }
    // Record even when no input requires grad: parameters inside fn might.
    if (!autograd::grad_enabled()) return out;
    std::vector<Tensor> saved;
    std::vector<autograd::VersionCheck> versions;  // the recompute must see the inputs of the forward
    for (const Tensor& t : inputs) saved.push_back(t.detach()), versions.emplace_back(t);
    std::vector<bool> needs;
    for (const Tensor& t : inputs) needs.push_back(t.requires_grad());
    auto node = [=](const Tensor& g) -> std::vector<Tensor> {
        for (const autograd::VersionCheck& v : versions) v.check();
        // Fresh leaves stand in for the inputs; the recomputed graph ends at them.
        std::vector<Tensor> leaves;
        for (size_t i = 0; i < saved.size(); ++i) {
            Tensor leaf = saved[i].detach();
            if (needs[i]) leaf.set_requires_grad(true);
            leaves.push_back(leaf);
        }
        GeneratorState rng_now = default_generator().state();
        default_generator().set_state(rng_before);
        Tensor recomputed;
        {
            autograd::set_grad_enabled(true);  // backward runs under no-grad; re-enable for the replay
            recomputed = fn(leaves);
            autograd::set_grad_enabled(false);
        }
        default_generator().set_state(rng_now);
        std::vector<Tensor> grads(saved.size());
        if (recomputed.requires_grad()) {
            autograd::backward(recomputed, g, false);
            for (size_t i = 0; i < leaves.size(); ++i)
                if (needs[i]) grads[i] = leaves[i].grad();
        }
        return grads;
    };
    // Mark the output as requiring grad through a node even if only parameters
    // inside fn need gradients: a dummy always-true input is not needed because
    // record() checks the inputs; so we attach the node directly.
    auto n = std::make_shared<autograd::Node>();
    n->name = "checkpoint";
    n->nested = true;  // its backward runs one of its own (see LeafGradHook)
    n->backward = node;
    for (const Tensor& t : inputs) {
        autograd::Edge e;
        if (t.requires_grad()) {
            if (t.grad_fn()) e.fn = t.grad_fn();
            else e.leaf = t.impl_ptr();
        }
        n->next.push_back(e);
        n->input_shapes.push_back(t.shape());
    }
    out.set_grad_fn(n);
    out.impl()->requires_grad = true;
    return out;
}

}  // namespace eng
