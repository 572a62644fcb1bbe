// engine.cpp: grad mode, recording nodes, and the backward pass.
//
// backward() works in three iterative steps (no recursion, so a chain of any
// depth is fine):
//   1. walk the graph from the root's node and count, for every node, how many
//      consumers inside this graph will send it a gradient;
//   2. process nodes in topological order (Kahn's algorithm): a node runs once
//      all its consumers have added their contributions, so a shared
//      sub-expression sees the sum of every path's gradient;
//   3. each returned gradient goes to its producer's pending sum, or into the
//      leaf's .grad (accumulated, never overwritten).
// Unless retain_graph is set, each node's closure (and with it the tensors it
// saved) is released as soon as it has run.
//
// Gradient-ready reports (LeafGradHook): step 1 also counts the edges into
// every leaf and the nested nodes (checkpoint segments); a leaf is reported
// when its count reaches zero and no nested node is pending, else when the
// last nested node has run, together with the leaves the nested passes
// touched (those passes record them, since the outer graph does not see them).
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "autograd/profile.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::autograd {

// ---- grad mode ----------------------------------------------------------------------
static thread_local bool g_grad_enabled = true;
bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

// ---- node lifetime ------------------------------------------------------------------
// Destroying the last handle of a long chain would destroy node n, which drops
// node n-1, and so on recursively.  Instead each dying node moves its parents
// into a local stack and releases them one at a time.
Node::~Node() {
    std::vector<std::shared_ptr<Node>> stack;
    for (Edge& e : next)
        if (e.fn) stack.push_back(std::move(e.fn));
    while (!stack.empty()) {
        std::shared_ptr<Node> n = std::move(stack.back());
        stack.pop_back();
        if (n.use_count() == 1)
            for (Edge& e : n->next)
                if (e.fn) stack.push_back(std::move(e.fn));
        // n is released here; its edges are already empty, so no recursion.
    }
}

// ---- bf16-true ----------------------------------------------------------------------
// Under bf16-true (tensor/precision.h) every value PyTorch would store as a
// bf16 tensor is rounded to one: each op's output here, and in backward each
// gradient a node returns and each sum of gradients.  A tensor sharing its
// storage with one of `rounded` (a view of an input, or a gradient passed
// through unchanged) holds bf16 numbers already and is left alone, so an
// input is never modified through a view of it.
static void round_fresh(const Tensor& t, const std::vector<Tensor>& rounded) {
    if (!bf16_true() || !t.defined() || t.dtype() != DType::f32) return;
    for (const Tensor& r : rounded)
        if (r.defined() && r.storage() == t.storage()) return;
    // Rounding the op's own fresh output is part of producing it, not a change
    // to a value its backward saved (SavedTensor(out, true) keeps the rounded
    // value): its version stays.
    const uint64_t version = t.version();
    if (t.is_contiguous()) {
        kernels::round_to_bf16_(t);
    } else {
        Tensor packed = t.contiguous(), view = t;  // a view into an op's own buffer: round through a copy
        kernels::round_to_bf16_(packed);
        view.copy_(packed);
    }
    t.storage()->version = version;
}

// ---- recording ----------------------------------------------------------------------
bool any_requires_grad(const std::vector<Tensor>& inputs) {
    if (!g_grad_enabled) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

Tensor untracked(Tensor out, const std::vector<Tensor>& inputs) {
    round_fresh(out, inputs);
    return out;
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn) {
    round_fresh(out, inputs);
    if (!any_requires_grad(inputs)) return out;
    auto node = std::make_shared<Node>();
    node->name = name;
    node->backward = std::move(fn);
    for (const Tensor& t : inputs) {
        Edge e;
        if (t.defined() && t.requires_grad()) {
            if (t.grad_fn()) e.fn = t.grad_fn();
            else e.leaf = t.impl_ptr();
        }
        node->next.push_back(std::move(e));
        node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
    }
    // `out` may share its impl with a caller's tensor only if the op returned an
    // input unchanged; ops always return a fresh impl, so attaching is safe.
    out.set_grad_fn(std::move(node));
    out.impl()->requires_grad = true;
    return out;
}

// ---- gradient-ready hook -------------------------------------------------------------------
static thread_local LeafReadyFn* g_leaf_hook = nullptr;
static thread_local int g_backward_depth = 0;  // 1 inside the outermost backward
static thread_local std::vector<TensorImpl*>* g_nested_leaves = nullptr;  // leaves touched by nested passes

LeafGradHook::LeafGradHook(LeafReadyFn fn) : previous_(g_leaf_hook), fn_(std::move(fn)) { g_leaf_hook = &fn_; }
LeafGradHook::~LeafGradHook() { g_leaf_hook = previous_; }

namespace {
// The outermost pass's bookkeeping for the hook.
struct ReadyTracker {
    std::unordered_map<TensorImpl*, int> leaf_uses;  // edges not yet delivered
    std::unordered_set<TensorImpl*> reported;
    std::vector<TensorImpl*> deferred, nested_leaves;
    int nested_pending = 0;
    void report(TensorImpl* leaf) {
        if (reported.insert(leaf).second) (*g_leaf_hook)(leaf);
    }
    void edge_delivered(TensorImpl* leaf) {
        if (--leaf_uses[leaf] > 0) return;
        if (nested_pending == 0) report(leaf);
        else deferred.push_back(leaf);
    }
    void nested_done() {
        if (--nested_pending > 0) return;
        for (TensorImpl* l : deferred) report(l);
        for (TensorImpl* l : nested_leaves)
            if (leaf_uses[l] == 0) report(l);  // else its last outer edge reports it
        deferred.clear();
    }
};
}  // namespace

// ---- backward -------------------------------------------------------------------------
// A gradient that nothing else refers to: this handle is its only one, it owns
// its whole storage alone, packed from the start.  (The tensors a backward
// returns usually are; one returned for two inputs, or kept by its node, is not.)
static bool owned_alone(const Tensor& g) {
    const std::shared_ptr<TensorImpl>& impl = g.impl_ptr();
    return impl.use_count() == 1 && impl->storage.use_count() == 1 && impl->offset == 0 && g.is_contiguous() &&
           impl->storage->nbytes == size_t(g.numel()) * dtype_size(impl->dtype) && !impl->grad_fn;
}

static void accumulate_leaf(TensorImpl* leaf, const Tensor& g) {
    profile::Scope profile_scope("(gradient accumulation)");
    if (g_nested_leaves && g_backward_depth > 1) g_nested_leaves->push_back(leaf);
    if (!leaf->grad) {
        // First contribution: the .grad must be private and packed, so that
        // later in-place accumulation never writes into a tensor someone else
        // holds.  A gradient owned alone already is (no copy); else a copy.
        leaf->grad = owned_alone(g) ? g.impl_ptr() : g.clone().impl_ptr();
    } else {
        kernels::add_(Tensor(leaf->grad), g);
        if (bf16_true()) kernels::round_to_bf16_(Tensor(leaf->grad));
    }
}

void backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
    ENG_CHECK(root.defined(), "backward: the root tensor is undefined");
    ENG_CHECK(root.requires_grad(), "backward: the tensor ", shape_str(root.shape()),
              " does not require grad (no input of its computation requires a gradient). "
              "HINT: set requires_grad on the parameters, and do not run under NoGradGuard");
    Tensor grad = grad_in;
    if (!grad.defined()) {
        ENG_CHECK(root.numel() == 1, "backward: the root has shape ", shape_str(root.shape()),
                  "; an implicit gradient of 1 needs a single element. HINT: pass the upstream gradient");
        grad = ones(root.shape(), TensorOptions{DType::f32, root.device()});
    }
    ENG_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", shape_str(grad.shape()),
              " differs from the root's ", shape_str(root.shape()));
    NoGradGuard no_grad;  // gradients are computed without recording a graph
    struct Depth {
        Depth() { ++g_backward_depth; }
        ~Depth() { --g_backward_depth; }
    } depth;
    const bool track = g_leaf_hook && g_backward_depth == 1;
    ReadyTracker ready_leaves;
    std::vector<TensorImpl*>* outer_nested = g_nested_leaves;
    if (track) g_nested_leaves = &ready_leaves.nested_leaves;
    struct RestoreNested {
        std::vector<TensorImpl*>* saved;
        bool on;
        ~RestoreNested() {
            if (on) g_nested_leaves = saved;
        }
    } restore_nested{outer_nested, track};
    profile::BackwardMark in_backward;  // ops timed from here on count as backward
    if (!root.grad_fn()) {
        accumulate_leaf(root.impl(), grad);
        if (track) ready_leaves.report(root.impl());
        return;
    }
    // 1. dependency counts.
    std::unordered_map<Node*, int> pending_uses;
    std::vector<Node*> stack{root.grad_fn().get()};
    pending_uses[root.grad_fn().get()] = 0;
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        if (track && n->nested) ++ready_leaves.nested_pending;
        for (const Edge& e : n->next) {
            if (track && e.leaf) ++ready_leaves.leaf_uses[e.leaf.get()];
            if (!e.fn) continue;
            auto it = pending_uses.find(e.fn.get());
            if (it == pending_uses.end()) {
                pending_uses[e.fn.get()] = 1;
                stack.push_back(e.fn.get());
            } else {
                ++it->second;
            }
        }
    }
    // 2-3. run the nodes in topological order.
    std::unordered_map<Node*, Tensor> grads;
    grads[root.grad_fn().get()] = grad;
    std::vector<Node*> ready{root.grad_fn().get()};
    while (!ready.empty()) {
        Node* n = ready.back();
        ready.pop_back();
        auto found = grads.find(n);
        // A node that no gradient reached (every consumer returned none) still
        // has to release its producers' counts, so it runs with empty gradients.
        std::vector<Tensor> input_grads(n->next.size());
        if (found != grads.end() && found->second.defined()) {
            Tensor g = std::move(found->second);
            grads.erase(found);
            ENG_CHECK(n->backward, "backward: the graph through '", n->name,
                      "' was already freed by an earlier backward. HINT: pass retain_graph=true to the first backward");
            profile::Scope profile_scope(n->name.c_str());
            try {
                input_grads = n->backward(g);
            } catch (const Error& e) {  // which op's backward failed (e.g. a saved tensor modified in place)
                throw Error("backward of " + n->name + ": " + e.what());
            }
            ENG_CHECK(input_grads.size() == n->next.size(), "backward of ", n->name, " returned ",
                      input_grads.size(), " gradients for ", n->next.size(), " inputs");
            if (bf16_true()) {
                // The incoming gradient is rounded already, and so is a tensor
                // returned for two inputs once its first copy has been.
                std::vector<Tensor> rounded{g};
                for (const Tensor& gi : input_grads) {
                    round_fresh(gi, rounded);
                    rounded.push_back(gi);
                }
            }
        }
        if (!retain_graph) n->backward = nullptr;
        if (track && n->nested) ready_leaves.nested_done();
        for (size_t i = 0; i < n->next.size(); ++i) {
            const Edge& e = n->next[i];
            const Tensor& gi = input_grads[i];
            if (!e.fn && !e.leaf) continue;
            if (gi.defined())
                ENG_CHECK(gi.shape() == n->input_shapes[i], "backward of ", n->name, ": gradient for input ", i,
                          " has shape ", shape_str(gi.shape()), " but the input has shape ",
                          shape_str(n->input_shapes[i]));
            if (e.leaf) {
                if (gi.defined()) accumulate_leaf(e.leaf.get(), gi);
                if (track) ready_leaves.edge_delivered(e.leaf.get());
                continue;
            }
            Node* p = e.fn.get();
            if (gi.defined()) {
                auto it = grads.find(p);
                if (it == grads.end() || !it->second.defined()) {
                    grads[p] = gi;
                } else {
                    // Adds in place into a sum that nothing else holds (saves a
                    // buffer); else into a new tensor.  Either way it is
                    // (earlier gradients) + gi, element by element.
                    profile::Scope profile_scope("(gradient accumulation)");
                    if (owned_alone(it->second) && it->second.shape() == gi.shape())
                        kernels::add_(it->second, gi);
                    else
                        it->second = kernels::binary(kernels::Binary::Add, it->second, gi);
                    if (bf16_true()) kernels::round_to_bf16_(it->second);
                }
            }
            if (--pending_uses[p] == 0) ready.push_back(p);
        }
    }
}

std::vector<Tensor> grad(const Tensor& output, const Tensor& grad_output, const std::vector<Tensor>& inputs) {
    // Temporarily clear the inputs' .grad, run backward, collect, restore.
    std::vector<std::shared_ptr<TensorImpl>> saved;
    for (const Tensor& t : inputs) {
        ENG_CHECK(t.is_leaf() && t.requires_grad(), "grad: every input must be a leaf that requires grad");
        saved.push_back(t.impl()->grad);
        t.impl()->grad = nullptr;
    }
    autograd::backward(output, grad_output, false);
    std::vector<Tensor> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
        Tensor g(inputs[i].impl()->grad);
        out.push_back(g.defined() ? g : zeros(inputs[i].shape(), TensorOptions{DType::f32, inputs[i].device()}));
        inputs[i].impl()->grad = saved[i];
    }
    return out;
}

}  // namespace eng::autograd
