// test_optim.cpp: AdamW and SGD against PyTorch's optimisers (values printed by
// tools/reference/optim_fixtures.py), state save/restore, clipping, schedules,
// and their bf16-true forms (tools/reference/bf16_true_fixtures.py).
#include <cmath>

#include "nn/optim.h"
#include "nn/schedule.h"
#include "tensor/precision.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

const std::vector<std::vector<float>> kGrads = {{0.1f, -0.2f, 0.3f}, {-0.5f, 0.4f, 0.0f}, {1.0f, 1.0f, -1.0f}};

// Runs the three fixture steps and compares every intermediate parameter value.
template <typename MakeOpt>
void check_trajectory(MakeOpt make, const std::vector<std::vector<float>>& expected) {
    Tensor p = from_vector({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad(true);
    auto opt = make(&p);
    for (size_t s = 0; s < kGrads.size(); ++s) {
        p.set_grad(from_vector(kGrads[s], {3}));
        opt->step();
        CHECK_CLOSE(p, expected[s], 2e-6, 1e-6);
    }
}

}  // namespace

TEST_CASE("optim: AdamW follows PyTorch over several steps (decoupled decay, bias correction)") {
    check_trajectory([](Tensor* p) { return std::make_unique<AdamW>(std::vector<ParamGroup>{{{p}, 0.1f, 0.1f}}); },
                     {{0.39500001f, -0.890000005f, 1.880000003f},
                      {0.450885426f, -0.917710356f, 1.794194181f},
                      {0.41046249f, -0.978402131f, 1.822574806f}});
}

TEST_CASE("optim: SGD with momentum, nesterov and dampening follows PyTorch") {
    check_trajectory([](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.01f}}, 0.9f); },
                     {{0.4895f, -0.979f, 1.968f}, {0.5295605f, -0.999121f, 1.937232f},
                      {0.46508539f, -1.116230779f, 2.007603568f}});
    check_trajectory(
        [](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.0f}}, 0.9f, 0.0f, true); },
        {{0.481f, -0.962f, 1.943f}, {0.5679f, -1.0218f, 1.9187f}, {0.41111f, -1.22962f, 2.08683f}});
    check_trajectory(
        [](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.0f}}, 0.5f, 0.3f); },
        {{0.49f, -0.98f, 1.97f}, {0.52f, -0.998f, 1.955f}, {0.465f, -1.077f, 2.0175f}});
}

TEST_CASE("optim: parameter groups use their own lr and weight decay; missing grads are skipped") {
    Tensor a = from_vector({1.0f}, {1}).set_requires_grad(true), b = from_vector({1.0f}, {1}).set_requires_grad(true);
    Tensor c = from_vector({1.0f}, {1}).set_requires_grad(true);
    SGD opt({{{&a}, 0.1f, 0.0f}, {{&b, &c}, 0.01f, 0.5f}});
    a.set_grad(from_vector({1.0f}, {1}));
    b.set_grad(from_vector({1.0f}, {1}));
    opt.step();
    CHECK(a.item() == doctest::Approx(0.9f));
    CHECK(b.item() == doctest::Approx(1.0f - 0.01f * (1.0f + 0.5f)));
    CHECK(c.item() == 1.0f);
}

TEST_CASE("optim: AdamW state round-trips, so a resumed run continues identically") {
    auto make = [](Tensor* p) { return std::make_unique<AdamW>(std::vector<ParamGroup>{{{p}, 0.05f, 0.01f}}); };
    Tensor p1 = from_vector({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad(true);
    auto o1 = make(&p1);
    for (int s = 0; s < 3; ++s) {
        p1.set_grad(from_vector(kGrads[size_t(s)], {3}));
        o1->step();
    }
    // Resume: a fresh optimiser loads the state after step 1, then runs steps 2-3.
    Tensor p2 = from_vector({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad(true);
    auto o2 = make(&p2);
    p2.set_grad(from_vector(kGrads[0], {3}));
    o2->step();
    std::map<std::string, Tensor> state;
    for (auto& [k, v] : o2->state_dict()) state[k] = v.clone();
    Tensor saved = p2.clone();
    Tensor p3 = saved.clone().set_requires_grad(true);
    auto o3 = make(&p3);
    o3->load_state_dict(state);
    CHECK(o3->steps() == 1);
    for (int s = 1; s < 3; ++s) {
        p3.set_grad(from_vector(kGrads[size_t(s)], {3}));
        o3->step();
    }
    CHECK(p3.to_vector() == p1.to_vector());
    CHECK_THROWS_CONTAINING(o3->load_state_dict({}), "no 'step' entry");
}

TEST_CASE("optim: a checkpoint state that does not fit the parameters is rejected by key, shapes and a hint") {
    // A crafted or foreign checkpoint: before the checks, an exp_avg_sq of shape
    // [1] loaded silently and the first step wrote past its buffer (a segfault).
    Tensor p = from_vector({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad(true);
    AdamW adam({ParamGroup{{&p}, 0.05f, 0.01f}});
    p.set_grad(from_vector(kGrads[0], {3}));
    adam.step();
    std::map<std::string, Tensor> good;
    for (auto& [k, t] : adam.state_dict()) good[k] = t.clone();  // state_dict() shares the live tensors
    auto with = [&](const std::string& key, Tensor t) {
        std::map<std::string, Tensor> s = good;
        s[key] = t;
        return s;
    };
    const std::string hint = "does not belong to this model/optimizer";
    for (const char* slot : {"0.0.exp_avg", "0.0.exp_avg_sq"}) {
        const std::string msg = testing::error_of([&] { adam.load_state_dict(with(slot, zeros({1}))); });
        CHECK_MESSAGE(msg.find(std::string("state '") + slot + "' has shape [1] but its parameter has shape [3]") !=
                          std::string::npos, msg);
        CHECK_MESSAGE(msg.find(hint) != std::string::npos, msg);
    }
    CHECK_THROWS_CONTAINING(adam.load_state_dict(with("0.0.exp_avg_sq", from_ivector({0, 0, 0}, {3}))),
                            "state '0.0.exp_avg_sq' is i32, not f32 or bf16");
    // Step counts: one finite whole number >= 0.
    CHECK_THROWS_CONTAINING(adam.load_state_dict(with("step", from_vector({-1.0f}, {1}))),
                            "step count 'step' is -1, not a whole number >= 0");
    CHECK_THROWS_CONTAINING(adam.load_state_dict(with("0.0.step", from_vector({1.5f}, {1}))),
                            "step count '0.0.step' is 1.5");
    CHECK_THROWS_CONTAINING(adam.load_state_dict(with("0.0.step", from_vector({NAN}, {1}))), "step count '0.0.step'");
    CHECK_THROWS_CONTAINING(adam.load_state_dict(with("0.0.step", from_vector({1.0f, 1.0f}, {2}))),
                            "step count '0.0.step' has shape [2], not a single number");
    // A rejected state changes nothing: the optimiser still holds its own.
    CHECK(adam.steps() == 1);
    for (auto& [k, t] : adam.state_dict()) CHECK_MESSAGE(testing::compare(t, good.at(k)) == "", k);
    p.set_grad(from_vector(kGrads[1], {3}));
    adam.step();  // runs on the intact state
    CHECK(adam.steps() == 2);

    Tensor q = from_vector({0.5f, -1.0f, 2.0f}, {3}).set_requires_grad(true);
    SGD sgd({ParamGroup{{&q}, 0.1f, 0.0f}}, 0.9f);
    q.set_grad(from_vector(kGrads[0], {3}));
    sgd.step();
    std::map<std::string, Tensor> bad = sgd.state_dict();
    bad["0.0.momentum_buffer"] = zeros({2});
    const std::string msg = testing::error_of([&] { sgd.load_state_dict(bad); });
    CHECK_MESSAGE(msg.find("SGD.load_state_dict: state '0.0.momentum_buffer' has shape [2] but its parameter has shape "
                           "[3]") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(hint) != std::string::npos, msg);
    bad = sgd.state_dict();
    bad["step"] = from_vector({INFINITY}, {1});
    CHECK_THROWS_CONTAINING(sgd.load_state_dict(bad), "step count 'step' is inf");
}

TEST_CASE("optim: clip_grad_norm scales to the maximum norm and reports the original") {
    Tensor a = zeros({2}).set_requires_grad(true), b = zeros({1}).set_requires_grad(true);
    a.set_grad(from_vector({3.0f, 0.0f}, {2}));
    b.set_grad(from_vector({4.0f}, {1}));
    float norm = clip_grad_norm({&a, &b}, 1.0f);
    CHECK(norm == doctest::Approx(5.0f));
    CHECK(a.grad().to_vector()[0] == doctest::Approx(0.6f).epsilon(1e-5));
    CHECK(b.grad().to_vector()[0] == doctest::Approx(0.8f).epsilon(1e-5));
    CHECK(clip_grad_norm({&a, &b}, 10.0f) == doctest::Approx(1.0f).epsilon(1e-5));
    CHECK(a.grad().to_vector()[0] == doctest::Approx(0.6f).epsilon(1e-5));  // unchanged below the limit
}

TEST_CASE("optim: grad_norm is the norm of all gradients together, skipping parameters without one") {
    Generator g(3);
    std::vector<Tensor> ps = {zeros({300, 70}), zeros({5}), zeros({4097}), zeros({2, 3})};
    std::vector<Tensor*> pp;
    double sq = 0;
    for (size_t i = 0; i < ps.size(); ++i) {
        ps[i].set_requires_grad(true);
        pp.push_back(&ps[i]);
        if (i == 1) continue;  // no gradient: skipped
        Tensor gr = randn(ps[i].shape(), &g);
        for (float v : gr.to_vector()) sq += double(v) * v;
        ps[i].set_grad(gr);
    }
    CHECK(grad_norm(pp) == doctest::Approx(std::sqrt(sq)).epsilon(1e-6));
    CHECK(grad_norm({&ps[1]}) == 0.0f);
    CHECK(clip_grad_norm(pp, 1e9f) == grad_norm(pp));
    std::vector<float> v = ps[2].grad().to_vector();
    v[4096] = NAN;
    ps[2].set_grad(from_vector(v, {4097}));
    CHECK(std::isnan(grad_norm(pp)));
    const std::vector<float> before = ps[0].grad().to_vector();
    CHECK(std::isnan(clip_grad_norm(pp, 1.0f)));
    CHECK(ps[0].grad().to_vector() == before);  // a non-finite norm scales nothing
    v[4096] = INFINITY;
    ps[2].set_grad(from_vector(v, {4097}));
    CHECK(std::isinf(grad_norm(pp)));
}

TEST_CASE("schedule: cosine with warmup equals the reference formula at its landmarks") {
    Schedule s;
    s.max_lr = 4e-5;
    s.min_lr = 0.0;
    s.warmup_steps = 4000;
    s.total_steps = 40000;
    CHECK(s.lr_at(0) == 0.0);                                   // warmup start
    CHECK(s.lr_at(2000) == doctest::Approx(2e-5));              // half-way through warmup
    CHECK(s.lr_at(4000) == doctest::Approx(4e-5));              // warmup end: cos(0) = 1
    CHECK(s.lr_at(22000) == doctest::Approx(2e-5));             // mid-decay: cos(π/2) = 0
    CHECK(s.lr_at(13000) == doctest::Approx(4e-5 * 0.5 * (1 + std::cos(M_PI * 0.25))));
    CHECK(s.lr_at(40000) == doctest::Approx(0.0));              // last step
    s.min_lr = 1e-6;
    CHECK(s.lr_at(0) == doctest::Approx(1e-6));
    CHECK(s.lr_at(40000) == doctest::Approx(1e-6));
    Schedule c{Schedule::Kind::Constant, 0.3, 0.0, 10, 100};
    CHECK(c.lr_at(0) == 0.3);
    CHECK(c.lr_at(99) == 0.3);
    Schedule l{Schedule::Kind::Linear, 1.0, 0.0, 0, 10};
    CHECK(l.lr_at(5) == doctest::Approx(0.5));
    CHECK(l.lr_at(20) == doctest::Approx(0.0));
    CHECK_THROWS_CONTAINING(Schedule::parse_kind("step"), "unknown learning-rate schedule 'step'");
}

// ---- bf16-true: PyTorch's updates of bf16 tensors (tools/reference/bf16_true_fixtures.py) ----

namespace {

const std::vector<float> kBf16Start = {0.5f, -1.0f, 2.0f, 0.0030059814453125f, -7.5f, 0.0f, 1.0f, 100.0f};
const std::vector<std::vector<float>> kBf16Grads = {{0.1f, -0.2f, 0.3f, 1e-4f, -2.0f, 0.5f, 1e-3f, 3.0f},
                                                    {-0.5f, 0.4f, 0.0f, -1e-4f, 1.5f, -0.25f, 1e-3f, -3.0f},
                                                    {1.0f, 1.0f, -1.0f, 2e-4f, 0.75f, 0.125f, 1e-3f, 0.5f}};

// Three steps under bf16-true from kBf16Start (a bf16 tensor in PyTorch), with
// the gradients rounded to bf16 as a bf16 parameter's would be; every
// parameter value must equal PyTorch's exactly.
template <typename MakeOpt>
void check_bf16_trajectory(MakeOpt make, const std::vector<std::vector<float>>& expected) {
    Bf16TrueGuard pure;
    Tensor p = from_vector(kBf16Start, {8}).set_requires_grad(true);
    auto opt = make(&p);
    for (size_t s = 0; s < kBf16Grads.size(); ++s) {
        std::vector<float> g = kBf16Grads[s];
        for (float& x : g) x = round_to_bf16(x);
        p.set_grad(from_vector(g, {8}));
        opt->step();
        CHECK_CLOSE(p, expected[s], 0.0, 0.0);
    }
}

}  // namespace

TEST_CASE("optim: under bf16-true, AdamW gives PyTorch's bf16 parameters exactly, small updates rounding away") {
    check_bf16_trajectory(
        [](Tensor* p) { return std::make_unique<AdamW>(std::vector<ParamGroup>{{{p}, 1e-2f, 0.1f}}); },
        {{0.490234375f, -0.98828125f, 1.9921875f, -0.006988525390625f, -7.5f, -0.01007080078125f, 0.98828125f, 100.0f},
         {0.49609375f, -0.9921875f, 1.984375f, -0.0064697265625f, -7.5f, -0.01275634765625f, 0.9765625f, 100.0f},
         {0.4921875f, -1.0f, 1.9921875f, -0.011474609375f, -7.5f, -0.01611328125f, 0.96484375f, 100.0f}});
    // lr 4e-5 (the reference's): 0.5, 1, 2, -7.5 and 100 never move, their
    // updates and the decay 1 - lr·wd being under half a bf16 ulp.
    check_bf16_trajectory(
        [](Tensor* p) { return std::make_unique<AdamW>(std::vector<ParamGroup>{{{p}, 4e-5f, 0.1f}}); },
        {{0.5f, -1.0f, 2.0f, 0.002960205078125f, -7.5f, -4.029273986816406e-05f, 1.0f, 100.0f},
         {0.5f, -1.0f, 2.0f, 0.002960205078125f, -7.5f, -5.1021575927734375e-05f, 1.0f, 100.0f},
         {0.5f, -1.0f, 2.0f, 0.0029449462890625f, -7.5f, -6.4849853515625e-05f, 1.0f, 100.0f}});
}

TEST_CASE("optim: under bf16-true, SGD gives PyTorch's bf16 parameters exactly") {
    check_bf16_trajectory(
        [](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.01f}}, 0.9f); },
        {{0.490234375f, -0.98046875f, 1.96875f, 0.00299072265625f, -7.28125f, -0.050048828125f, 1.0f, 99.5f},
         {0.53125f, -1.0f, 1.9375f, 0.00299072265625f, -7.25f, -0.06982421875f, 0.99609375f, 99.5f},
         {0.466796875f, -1.1171875f, 2.0f, 0.002960205078125f, -7.28125f, -0.10009765625f, 0.9921875f, 99.0f}});
    check_bf16_trajectory(
        [](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.0f}}, 0.9f, 0.0f, true); },
        {{0.48046875f, -0.9609375f, 1.9453125f, 0.00299072265625f, -7.125f, -0.0947265625f, 1.0f, 99.5f},
         {0.56640625f, -1.0234375f, 1.921875f, 0.0030059814453125f, -7.25f, -0.087890625f, 1.0f, 100.0f},
         {0.41015625f, -1.234375f, 2.09375f, 0.0029754638671875f, -7.375f, -0.1279296875f, 1.0f, 100.0f}});
    check_bf16_trajectory(
        [](Tensor* p) { return std::make_unique<SGD>(std::vector<ParamGroup>{{{p}, 0.1f, 0.0f}}, 0.5f, 0.3f); },
        {{0.490234375f, -0.98046875f, 1.96875f, 0.00299072265625f, -7.3125f, -0.050048828125f, 1.0f, 99.5f},
         {0.51953125f, -1.0f, 1.953125f, 0.00299072265625f, -7.3125f, -0.0576171875f, 1.0f, 99.5f},
         {0.46484375f, -1.078125f, 2.015625f, 0.0029754638671875f, -7.375f, -0.0703125f, 1.0f, 99.5f}});
}

TEST_CASE("optim: without bf16-true the same small AdamW steps do move the weights") {
    Tensor p = from_vector(kBf16Start, {8}).set_requires_grad(true);
    AdamW opt({{{&p}, 4e-5f, 0.1f}});
    p.set_grad(from_vector(kBf16Grads[0], {8}));
    opt.step();
    std::vector<float> v = p.to_vector();
    CHECK(v[0] != 0.5f);  // f32 master weights keep updates of 4e-5
    CHECK(v[6] != 1.0f);
    CHECK(std::fabs(v[0] - (0.5f * (1.0f - 4e-6f) - 4e-5f)) < 1e-7f);
}
