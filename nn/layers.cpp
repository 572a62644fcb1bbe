// layers.cpp: the standard layers (see layers.h).  Each forward is a few calls
// into the fused ops of autograd/, which carry the hand-written backward passes.
#include "nn/layers.h"

#include <cmath>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::nn {

LayerNorm::LayerNorm(int64_t dim, float eps_, bool affine) : eps(eps_) {
    if (affine) {
        weight = ones({dim});
        bias = zeros({dim});
        register_parameter("weight", &weight);
        register_parameter("bias", &bias);
    }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

BatchNorm1d::BatchNorm1d(int64_t c, bool affine, float momentum_, float eps_) : momentum(momentum_), eps(eps_) {
    if (affine) {
        weight = ones({c});
        bias = zeros({c});
        register_parameter("weight", &weight);
        register_parameter("bias", &bias);
    }
    running_mean = zeros({c});
    running_var = ones({c});
    num_batches_tracked = zeros({}, {DType::i32});
    register_buffer("running_mean", &running_mean);
    register_buffer("running_var", &running_var);
    register_buffer("num_batches_tracked", &num_batches_tracked);
}

Tensor BatchNorm1d::forward(const Tensor& x) {
    if (is_training()) {
        std::vector<int32_t> n = num_batches_tracked.to(Device::CPU).to_ivector();
        num_batches_tracked.detach().copy_(from_ivector({n[0] + 1}, {}, num_batches_tracked.device()));
    }
    Tensor y = batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
    if (is_training() && bf16_true()) {  // the running statistics are bf16 buffers too (tensor/precision.h)
        kernels::round_to_bf16_(running_mean);
        kernels::round_to_bf16_(running_var);
    }
    return y;
}

Embedding::Embedding(int64_t num, int64_t dim, Generator* g, float init_std) {
    weight = normal({num, dim}, 0.0f, init_std, g);
    register_parameter("weight", &weight);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids); }

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

MLP::MLP(int64_t dim, int64_t hidden, bool tanh_gelu_, float dropout_, Generator* g)
    : fc1(new Linear(dim, hidden, true, g)), fc2(new Linear(hidden, dim, true, g)), tanh_gelu(tanh_gelu_),
      dropout(dropout_) {
    register_module("fc1", fc1.get());
    register_module("fc2", fc2.get());
}

Tensor MLP::forward(const Tensor& x) {
    Tensor h = gelu(fc1->forward(x), tanh_gelu);
    if (dropout > 0.0f) h = eng::dropout(h, dropout, is_training());
    return fc2->forward(h);
}

Attention::Attention(int64_t dim, int64_t heads_, bool qkv_bias, Generator* g)
    : qkv(new Linear(dim, 3 * dim, qkv_bias, g)), proj(new Linear(dim, dim, true, g)), heads(heads_) {
    ENG_CHECK(heads > 0 && dim % heads == 0, "Attention: width ", dim, " is not divisible by ", heads, " heads");
    register_module("qkv", qkv.get());
    register_module("proj", proj.get());
}

Tensor Attention::forward(const Tensor& x, bool causal, const Tensor& key_padding_mask) {
    ENG_CHECK(x.dim() == 3, "Attention: input must be [B, T, D], got ", shape_str(x.shape()));
    int64_t B = x.size(0), T = x.size(1), D = x.size(2), hd = D / heads;
    // [B, T, 3D] -> [B, T, 3, H, hd] -> [3, B, H, T, hd]
    Tensor qkv_out = permute(reshape(qkv->forward(x), {B, T, 3, heads, hd}), {2, 0, 3, 1, 4});
    Tensor o = scaled_dot_product_attention_packed(qkv_out, causal, key_padding_mask);  // [B, H, T, hd]
    return proj->forward(reshape(permute(o, {0, 2, 1, 3}), {B, T, D}));
}

LayerScale::LayerScale(int64_t dim, float init) {
    gamma = full({dim}, init);
    register_parameter("gamma", &gamma);
}

Tensor LayerScale::forward(const Tensor& x) { return x * gamma; }

PatchEmbed::PatchEmbed(int64_t c, int64_t d, int64_t p, Generator* g) : in_channels(c), dim(d), patch(p) {
    ENG_CHECK(c > 0 && d > 0 && p > 0, "PatchEmbed: channels, width and patch must be positive, got ", c, ", ", d,
              " and ", p);
    // Conv2d's default init: U(±1/√fan_in) with fan_in = C·p·p.
    float bound = 1.0f / std::sqrt(float(c * p * p));
    Tensor w = uniform({d, c, p, p}, -bound, bound, g);
    proj.init(w, uniform({d}, -bound, bound, g));
    register_module("proj", &proj);
}

void PatchEmbed::Conv::init(Tensor w, Tensor b) {
    weight = w;
    bias = b;
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
}

Tensor PatchEmbed::forward(const Tensor& x) {
    ENG_CHECK(x.dim() == 4 && x.size(1) == in_channels, "PatchEmbed: input must be [B, ", in_channels,
              ", H, W], got ", shape_str(x.shape()));
    Tensor cols = patchify(x, patch);  // [B, N, C·p·p]
    return matmul(cols, transpose(reshape(proj.weight, {dim, in_channels * patch * patch}), 0, 1)) + proj.bias;
}

Tensor PatchEmbed::forward_grayscale(const Tensor& x) {
    ENG_CHECK(x.dim() == 4 && x.size(1) == in_channels, "PatchEmbed: input must be [B, ", in_channels,
              ", H, W], got ", shape_str(x.shape()));
    // conv(x, W) with x_c = x_0 for every c equals conv(x_0, Σ_c W_c).
    Tensor one = narrow(x, 1, 0, 1);
    Tensor w = sum(proj.weight, {1});  // [D, p, p]
    Tensor cols = patchify(one, patch);
    return matmul(cols, transpose(reshape(w, {dim, patch * patch}), 0, 1)) + proj.bias;
}

}  // namespace eng::nn
