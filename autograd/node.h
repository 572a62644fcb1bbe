// node.h: the autograd graph: nodes, edges, grad mode, and how ops record themselves.
//
// Each differentiable op that sees an input requiring a gradient records one
// Node.  The node knows, for every input, where that input's gradient must go
// (an Edge: the node that produced the input, or the leaf tensor itself), the
// input's shape (to check the gradient it returns), and a backward closure.
// The closure receives dL/d(output) and returns dL/d(input_i) for every input
// (an undefined Tensor where an input needs none).
//
// Saved tensors: a closure captures only what its backward needs, and always as
// detach()ed handles, so a node never owns its own output's history (that would
// be a reference cycle).  Gradients in this engine accumulate: backward adds
// into .grad of each leaf, and zero_grad() (in nn/) resets them.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace eng::autograd {

struct Node;

struct Edge {
    std::shared_ptr<Node> fn;          // the producer of the input, if it has one
    std::shared_ptr<TensorImpl> leaf;  // else the input itself, if it is a leaf requiring grad
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
    std::string name;                 // the op's name, for error messages
    std::vector<Edge> next;           // one per input
    std::vector<Shape> input_shapes;  // to check returned gradients
    BackwardFn backward;              // null once the graph has been freed
    bool nested = false;              // its backward runs a backward of its own (checkpoint)
    ~Node();                          // releases long chains without recursion
};

// ---- grad mode -------------------------------------------------------------------
bool grad_enabled();
void set_grad_enabled(bool on);

// ---- recording ---------------------------------------------------------------------
// True when grad mode is on and some input requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);
// Attaches a node to `out` when any input requires a gradient; returns out.
// Under bf16-true (tensor/precision.h) it first rounds out to bf16 numbers,
// unless out is a view of an input.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn backward);
// The result of an op that records nothing (no input requires a gradient):
// out itself, rounded under bf16-true as record() would round it.
Tensor untracked(Tensor out, const std::vector<Tensor>& inputs);

// ---- running backward ----------------------------------------------------------------
// Back-propagates from `root`.  grad defaults to 1 for a one-element root.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// Gradient-ready hook (data parallelism starts averaging a bucket of
// gradients while backward goes on).  While a LeafGradHook is alive on this
// thread, the outermost backward() calls it once for every leaf whose .grad
// will receive nothing more in this pass: all edges into the leaf have
// delivered, and no nested backward (activation checkpointing, whose
// recomputed graphs are unknown until they run) is still pending.  Leaves
// reached only inside nested passes are reported when the last nested node
// has run.  A leaf that received no gradient in this pass is reported too
// (its .grad is whatever it was).
using LeafReadyFn = std::function<void(TensorImpl* leaf)>;
class LeafGradHook {
public:
    explicit LeafGradHook(LeafReadyFn fn);
    ~LeafGradHook();
    LeafGradHook(const LeafGradHook&) = delete;
    LeafGradHook& operator=(const LeafGradHook&) = delete;

private:
    LeafReadyFn* previous_;
    LeafReadyFn fn_;
};

// dL/d(inputs) of `outputs` (with upstream grads) without touching any .grad:
// used by activation checkpointing and tests.  Leaves not in `inputs` still
// accumulate into their .grad as in backward().
std::vector<Tensor> grad(const Tensor& output, const Tensor& grad_output, const std::vector<Tensor>& inputs);

}  // namespace eng::autograd

namespace eng {

// RAII: no graph is recorded while one of these is alive (evaluation, optimiser steps).
struct NoGradGuard {
    NoGradGuard() : previous(autograd::grad_enabled()) { autograd::set_grad_enabled(false); }
    ~NoGradGuard() { autograd::set_grad_enabled(previous); }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;
    bool previous;
};

// Convenience: t.backward() spelled as a free function.
inline void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false) {
    autograd::backward(root, grad, retain_graph);
}

}  // namespace eng
