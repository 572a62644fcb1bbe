// ops.h: the public, differentiable op API of the engine: include this one header.
#pragma once
#include "autograd/attention.h"    // defines: scaled_dot_product_attention (fused, tiled; _reference variant)
#include "autograd/checkpoint.h"  // defines: checkpoint
#include "autograd/elementwise.h" // defines: add sub mul div pow exp log ... gelu clamp where masked_fill, operators
#include "autograd/image_ops.h"    // defines: patchify interpolate_bicubic interpolate_bicubic_scale
#include "autograd/index_ops.h"    // defines: concat stack index_select gather scatter_add
#include "autograd/linear.h"      // defines: linear (fused x·Wᵀ + b)
#include "autograd/matmul.h"      // defines: matmul
#include "autograd/nn_ops.h"      // defines: softmax log_softmax cross_entropy layer_norm batch_norm embedding dropout l2_normalize
#include "autograd/node.h"        // defines: NoGradGuard, backward, autograd::record
#include "autograd/reduce.h"      // defines: sum mean max min logsumexp var
#include "autograd/views.h"       // defines: reshape permute transpose narrow slice unsqueeze squeeze expand
#include "tensor/tensor.h"        // defines: Tensor, creation functions, Generator
