// test_lora_module.cpp: LoRA adapters (both layouts, merge/unmerge, gradients,
// injection into GPT-2), GPT-2's attention-dropout path, and the Module tree
// features (names and order, modes, freezing, counts, devices, zero_grad).
// Reference values come from plain loops written here.
#include <cmath>
#include <set>

#include "autograd/ops.h"
#include "nn/gpt2.h"
#include "nn/layers.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

using Vec = std::vector<float>;

using testing::ref_affine;

Tensor rnd(const Shape& s, Generator& g, float lo = -1.0f, float hi = 1.0f) { return uniform(s, lo, hi, &g); }
Tensor leaf(const Shape& s, Generator& g, float lo = -1.0f, float hi = 1.0f) {
    Tensor t = rnd(s, g, lo, hi);
    t.set_requires_grad(true);
    return t;
}

GPT2Config tiny_gpt2() {
    GPT2Config c = GPT2Config::preset("tiny");
    c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = 0.0f;
    return c;
}

}  // namespace

// ---- LoRA -----------------------------------------------------------------------

TEST_CASE("layers: LoRA starts equal to the base layer, has the PEFT names, shapes and init") {
    Generator g(13);
    for (bool conv1d : {false, true}) {
        std::unique_ptr<Linear> lin = conv1d ? Linear::conv1d(6, 5, &g) : std::make_unique<Linear>(6, 5, true, &g);
        lin->bias.detach().copy_(rnd({5}, g));
        Tensor x = rnd({3, 6}, g);
        Tensor before = lin->forward(x);
        lin->enable_lora(4, 8.0f, 0.0f, &g);
        CHECK(lin->has_lora());
        std::vector<std::pair<std::string, Shape>> got;
        for (auto& [n, t] : lin->named_parameters()) got.emplace_back(n, t->shape());
        Shape w_shape = conv1d ? Shape{6, 5} : Shape{5, 6};
        CHECK(got == std::vector<std::pair<std::string, Shape>>{
                         {"weight", w_shape}, {"bias", {5}}, {"lora_A.weight", {4, 6}}, {"lora_B.weight", {5, 4}}});
        Tensor A = *lin->find_parameter("lora_A.weight"), Bw = *lin->find_parameter("lora_B.weight");
        CHECK(Bw.to_vector() == Vec(20, 0.0f));
        // Kaiming-uniform with a = √5: bound 1/√in.
        for (float a : A.to_vector()) CHECK(std::fabs(a) <= 1.0f / std::sqrt(6.0f));
        CHECK_CLOSE(lin->forward(x), before, 0, 0);
        CHECK(!lin->weight.requires_grad());
        CHECK(!lin->bias.requires_grad());
        CHECK(A.requires_grad());
        CHECK(Bw.requires_grad());
        CHECK_THROWS_CONTAINING(lin->enable_lora(2, 1.0f, 0.0f), "already has LoRA");
    }
}

TEST_CASE("layers: LoRA output is base + (alpha/r)·x·Aᵀ·Bᵀ; merged equals unmerged in both layouts") {
    Generator g(14);
    for (bool conv1d : {false, true}) {
        std::unique_ptr<Linear> lin = conv1d ? Linear::conv1d(6, 5, &g) : std::make_unique<Linear>(6, 5, true, &g);
        lin->enable_lora(3, 6.0f, 0.0f, &g);
        Tensor A = *lin->find_parameter("lora_A.weight"), Bw = *lin->find_parameter("lora_B.weight");
        Bw.detach().copy_(rnd({5, 3}, g));
        Tensor x = rnd({4, 6}, g);
        Vec base_w = lin->weight.to_vector(), b = lin->bias.to_vector(), Av = A.to_vector(), Bv = Bw.to_vector();
        // y = x·W_eff(o, i) + b with W_eff = W + 2·(B·A)[o, i]  (alpha/r = 6/3).
        Vec expected = ref_affine(x.to_vector(), 4, 6, 5,
                                  [&](int64_t o, int64_t i) {
                                      double w = conv1d ? base_w[size_t(i * 5 + o)] : base_w[size_t(o * 6 + i)];
                                      double ba = 0;
                                      for (int64_t k = 0; k < 3; ++k)
                                          ba += double(Bv[size_t(o * 3 + k)]) * Av[size_t(k * 6 + i)];
                                      return w + 2.0 * ba;
                                  },
                                  b);
        Tensor unmerged = lin->forward(x);
        CHECK_CLOSE(unmerged, expected, 1e-5, 1e-5);
        lin->merge();
        CHECK(lin->merged());
        CHECK_CLOSE(lin->forward(x), unmerged, 1e-5, 1e-5);
        CHECK_CLOSE(lin->weight, [&] {  // the merged weight is W + 2·B·A, in the layer's own layout
            Vec w(base_w.size());
            for (int64_t o = 0; o < 5; ++o)
                for (int64_t i = 0; i < 6; ++i) {
                    double ba = 0;
                    for (int64_t k = 0; k < 3; ++k) ba += double(Bv[size_t(o * 3 + k)]) * Av[size_t(k * 6 + i)];
                    size_t at = conv1d ? size_t(i * 5 + o) : size_t(o * 6 + i);
                    w[at] = float(base_w[at] + 2.0 * ba);
                }
            return w;
        }(), 1e-6, 1e-5);
        lin->unmerge();
        CHECK(!lin->merged());
        CHECK_CLOSE(lin->weight, base_w, 1e-6, 1e-5);
        CHECK_CLOSE(lin->forward(x), unmerged, 1e-5, 1e-5);
    }
}

TEST_CASE("layers: LoRA gradients reach lora_A and lora_B only, and match finite differences") {
    Generator g(15);
    auto lin = Linear::conv1d(4, 3, &g);
    lin->enable_lora(2, 4.0f, 0.0f, &g);
    Tensor* A = lin->find_parameter("lora_A.weight");
    Tensor* Bw = lin->find_parameter("lora_B.weight");
    Bw->detach().copy_(rnd({3, 2}, g));  // with B = 0, A's gradient would be zero
    Tensor x = rnd({5, 4}, g);
    backward(sum(mul(lin->forward(x), rnd({5, 3}, g))));
    CHECK(!lin->weight.grad().defined());
    CHECK(!lin->bias.grad().defined());
    REQUIRE(A->grad().defined());
    REQUIRE(Bw->grad().defined());
    CHECK(A->grad().shape() == Shape{2, 4});
    CHECK(Bw->grad().shape() == Shape{3, 2});
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            *A = in[1];
            *Bw = in[2];
            return lin->forward(in[0]);
        },
        {leaf({5, 4}, g), *A, *Bw});
}

TEST_CASE("layers: inject_lora on a tiny GPT-2 adapts exactly the c_attn layers and freezes the rest") {
    Generator g(16);
    GPT2Config c = tiny_gpt2();
    GPT2Model gpt(c, &g);
    int64_t total_before = gpt.num_parameters();
    Tensor ids = randint(0, int(c.vocab), {2, 6}, &g);
    gpt.eval();
    Tensor before;
    {
        NoGradGuard ng;
        before = gpt.forward(ids);
    }
    int n = inject_lora(gpt, "c_attn", 4, 8.0f, 0.0f, &g);
    CHECK(n == c.layers);
    std::set<std::string> trainable, expected;
    for (auto& [name, t] : gpt.named_parameters())
        if (t->requires_grad()) trainable.insert(name);
    for (int64_t i = 0; i < c.layers; ++i)
        for (const char* ab : {"lora_A.weight", "lora_B.weight"})
            expected.insert("transformer.h." + std::to_string(i) + ".attn.c_attn." + ab);
    CHECK(trainable == expected);
    CHECK(gpt.find_parameter("transformer.h.1.attn.c_attn.lora_A.weight")->shape() == Shape{4, c.width});
    CHECK(gpt.find_parameter("transformer.h.1.attn.c_attn.lora_B.weight")->shape() == Shape{3 * c.width, 4});
    int64_t lora_count = c.layers * (4 * c.width + 3 * c.width * 4);
    CHECK(gpt.num_parameters(true) == lora_count);
    CHECK(gpt.num_parameters() == total_before + lora_count);
    {
        NoGradGuard ng;
        CHECK_CLOSE(gpt.forward(ids), before, 0, 0);  // B = 0
    }
    // A backward through the whole model fills only the adapters' gradients.
    for (auto& [name, t] : gpt.named_parameters())
        if (name.find("lora_B") != std::string::npos) t->detach().copy_(rnd(t->shape(), g, -0.1f, 0.1f));
    backward(sum(gpt.forward(ids)));
    for (auto& [name, t] : gpt.named_parameters())
        CHECK_MESSAGE(t->grad().defined() == (expected.count(name) == 1), name);
    CHECK_THROWS_CONTAINING(inject_lora(gpt, "no_such_layer", 2, 1.0f, 0.0f), "no Linear layer's name ends with");
}

TEST_CASE("layers: GPT-2's attention-dropout path equals the fused path when nothing is dropped") {
    // With attn_pdrop > 0 in training, GPT2Block materialises scores, masks
    // (causal + padding), divides by the layer index and applies dropout; with
    // p = 1e-7 no element is dropped (scale 1 + 1e-7), so it must equal the
    // fused attention used in eval mode.
    Generator g(17);
    GPT2Config c = tiny_gpt2();
    c.attn_pdrop = 1e-7f;
    GPT2Model gpt(c, &g);
    Tensor ids = randint(0, int(c.vocab), {2, 6}, &g);
    Tensor mask = from_vector({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 6});
    NoGradGuard ng;
    gpt.train();
    Tensor materialised = gpt.forward(ids, mask);
    gpt.eval();
    Tensor fused = gpt.forward(ids, mask);
    CHECK_CLOSE(materialised, fused, 1e-5, 1e-4);
}

// ---- Module features ----------------------------------------------------------------

namespace {

struct Inner : Module {
    Tensor scale = ones({4});
    LayerNorm ln{4};
    Inner() {
        register_parameter("scale", &scale);
        register_module("ln", &ln);
    }
};

struct Net : Module {
    Linear a{3, 4};
    Inner inner;
    Dropout drop{0.5f};
    Tensor temperature = full({}, 0.07f);
    Tensor counter = zeros({2});
    Net() {
        register_module("a", &a);
        register_module("inner", &inner);
        register_module("drop", &drop);
        register_parameter("temperature", &temperature);  // own parameters come first, as in PyTorch
        register_buffer("counter", &counter);
    }
};

}  // namespace

TEST_CASE("layers: Module names parameters in PyTorch order and counts them") {
    Net net;
    std::vector<std::string> names;
    for (auto& [n, t] : net.named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"temperature", "a.weight", "a.bias", "inner.scale", "inner.ln.weight",
                                            "inner.ln.bias"});
    std::vector<std::string> modules;
    for (auto& [n, m] : net.named_modules()) modules.push_back(n);
    CHECK(modules == std::vector<std::string>{"", "a", "inner", "inner.ln", "drop"});
    CHECK(net.named_buffers().size() == 1u);
    CHECK(net.named_buffers()[0].first == "counter");
    CHECK(net.find_parameter("inner.ln.bias") == &net.inner.ln.bias);
    CHECK(net.find_parameter("inner.ln") == nullptr);
    CHECK(net.state_dict().size() == 7u);
    CHECK(net.num_parameters() == 1 + 12 + 4 + 4 + 4 + 4);
    CHECK(net.num_parameters(true) == 29);
    // Freezing by name pattern.
    CHECK(net.set_requires_grad("inner.", false) == 3);
    CHECK(net.num_parameters(true) == 1 + 12 + 4);
    CHECK(!net.inner.ln.weight.requires_grad());
    CHECK(net.trainable_parameters().size() == 3u);
    CHECK(net.set_requires_grad("ln.bias", true) == 1);
    CHECK(net.num_parameters(true) == 1 + 12 + 4 + 4);
    net.requires_grad(false);
    CHECK(net.num_parameters(true) == 0);
}

TEST_CASE("layers: Module train/eval reach every sub-module; zero_grad and to(CPU) behave") {
    Net net;
    CHECK(net.is_training());
    net.eval();
    for (auto& [n, m] : net.named_modules()) CHECK_MESSAGE(!m->is_training(), n);
    Tensor x = full({2, 3}, 1.0f);
    CHECK_CLOSE(net.drop.forward(x), x, 0, 0);  // eval: dropout is the identity
    net.inner.train();                           // a sub-tree alone
    CHECK(net.inner.ln.is_training());
    CHECK(!net.a.is_training());
    net.train();
    for (auto& [n, m] : net.named_modules()) CHECK_MESSAGE(m->is_training(), n);

    backward(sum(net.inner.ln.forward(net.a.forward(x) * net.temperature)));
    CHECK(net.a.weight.grad().defined());
    CHECK(net.temperature.grad().defined());
    // to(CPU) on a CPU model changes nothing: same tensors, same data, gradients kept.
    TensorImpl* impl = net.a.weight.impl();
    const float* data = net.a.weight.data<float>();
    Vec grad = net.a.weight.grad().to_vector();
    net.to(Device::CPU);
    CHECK(net.a.weight.impl() == impl);
    CHECK(net.a.weight.data<float>() == data);
    CHECK(net.a.weight.requires_grad());
    REQUIRE(net.a.weight.grad().defined());
    CHECK(net.a.weight.grad().to_vector() == grad);
    net.zero_grad();
    for (auto& [n, t] : net.named_parameters()) CHECK_MESSAGE(!t->grad().defined(), n);
}
