// checkpoint.h: activation checkpointing.
//
// checkpoint(fn, inputs) runs fn without recording a graph (so none of its
// intermediate activations is kept) and records a single node.  When backward
// reaches that node it runs fn again, this time recording, on fresh leaf
// handles of the inputs (detached views sharing their storage, not copies), and
// back-propagates through the recomputed graph.  Parameters
// used inside fn receive their gradients during that inner backward.  The
// default generator's state is saved before the first run and replayed for the
// recomputation, so dropout masks are identical.
#pragma once
#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace eng {

using CheckpointFn = std::function<Tensor(const std::vector<Tensor>&)>;
Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs);

}  // namespace eng
