// test_cuda_nn.cpp: CUDA against CPU for the fused neural-network ops, forward
// and backward: softmax, log_softmax, cross_entropy (with ignored rows),
// layer_norm, batch_norm (training with running statistics, evaluation),
// l2_normalize, embedding (deterministic scatter-add backward: bit-identical),
// dropout (bit-identical masks from the counter-based generator), the fused
// AdamW and SGD updates, and their bf16-true forms (bit-identical).  f32
// tolerance 1e-5 relative (sums in double on both devices).  Skipped without a GPU.
#include "tensor/cpu/optim.h"
#include "tensor/kernels.h"
#include "tensor/nn_kernels.h"
#include "tests/cuda/cuda_testing.h"

using namespace eng;
using cudatest::check_devices;
using cudatest::randn;
using V = std::vector<Tensor>;

TEST_CASE("cuda softmax, log_softmax: rows short and long, any dim") {
    SKIP_WITHOUT_CUDA();
    for (Shape s : {Shape{7, 5}, Shape{3, 1000}, Shape{2, 3, 4097}}) {
        INFO("shape " << shape_str(s));
        Tensor x = randn(s, 40, 3.0f);
        check_devices([](const V& v) { return softmax(v[0]); }, {x}, {1e-6, 1e-5, 1e-6, 1e-5});
        check_devices([](const V& v) { return log_softmax(v[0]); }, {x}, {1e-5, 1e-5, 1e-6, 1e-5});
    }
    Tensor x = randn({4, 6, 5}, 41);
    check_devices([](const V& v) { return softmax(v[0], 1); }, {x}, {1e-6, 1e-5, 1e-6, 1e-5});
}

TEST_CASE("cuda cross_entropy: mean over non-ignored rows, gradients") {
    SKIP_WITHOUT_CUDA();
    Tensor logits = randn({33, 517}, 42, 2.0f);
    std::vector<int32_t> t(33);
    for (int i = 0; i < 33; ++i) t[size_t(i)] = (i * 37) % 517;
    t[4] = -100;
    t[20] = -100;
    Tensor targets = from_ivector(t, {33});
    check_devices([](const V& v) { return cross_entropy(v[0], v[1]); }, {logits, targets}, {1e-5, 1e-5, 1e-7, 1e-5},
                  {true, false});
    // every row ignored: NaN on both devices
    Tensor all_ignored = from_ivector(std::vector<int32_t>(33, -100), {33});
    CHECK(std::isnan(cross_entropy(logits.to(Device::CUDA), all_ignored.to(Device::CUDA)).item()));
    // an out-of-range target is reported, not read
    Tensor bad = from_ivector(std::vector<int32_t>(33, 517), {33}, Device::CUDA);
    CHECK_THROWS_CONTAINING(cross_entropy(logits.to(Device::CUDA), bad), "out of range");
}

TEST_CASE("cuda layer_norm: with and without affine parameters") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({300, 96}, 43, 3.0f), w = randn({96}, 44), b = randn({96}, 45);
    check_devices([](const V& v) { return layer_norm(v[0], v[1], v[2]); }, {x, w, b}, {1e-5, 1e-5, 1e-5, 1e-5});
    check_devices([](const V& v) { return layer_norm(v[0], Tensor(), Tensor()); }, {x}, {1e-5, 1e-5, 1e-5, 1e-5});
    Tensor x3 = randn({2, 3, 1000}, 46);
    Tensor w3 = randn({1000}, 47), b3 = randn({1000}, 48);
    check_devices([](const V& v) { return layer_norm(v[0], v[1], v[2]); }, {x3, w3, b3}, {1e-5, 1e-5, 1e-5, 1e-5});
}

TEST_CASE("cuda batch_norm: training updates the running statistics as the CPU does; evaluation") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({8, 6, 11}, 49, 2.0f), w = randn({6}, 50), b = randn({6}, 51);
    Tensor rm = randn({6}, 52), rv = cudatest::uniform({6}, 53, 0.5f, 2.0f);
    Tensor rm_c = rm.clone(), rv_c = rv.clone();
    Tensor rm_g = rm.to(Device::CUDA), rv_g = rv.to(Device::CUDA);
    check_devices(
        [&](const V& v) {
            bool gpu = v[0].is_cuda();
            return batch_norm(v[0], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, v[1], v[2], true, 0.1f, 1e-5f);
        },
        {x, w, b}, {1e-5, 1e-5, 1e-5, 1e-5});
    CHECK_CLOSE(rm_g, rm_c, 1e-6, 1e-6);
    CHECK_CLOSE(rv_g, rv_c, 1e-6, 1e-6);
    check_devices(
        [&](const V& v) {
            bool gpu = v[0].is_cuda();
            return batch_norm(v[0], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, v[1], v[2], false, 0.1f, 1e-5f);
        },
        {x, w, b}, {1e-5, 1e-5, 1e-5, 1e-5});
    Tensor x2 = randn({16, 5}, 54);  // [N, C]
    check_devices([](const V& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, {x2},
                  {1e-5, 1e-5, 1e-5, 1e-5});
}

TEST_CASE("cuda l2_normalize: last and middle dims, tiny norms") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({9, 64}, 55);
    check_devices([](const V& v) { return l2_normalize(v[0]); }, {x});
    Tensor y = randn({3, 7, 5}, 56);
    check_devices([](const V& v) { return l2_normalize(v[0], 1); }, {y});
    Tensor z = mul(randn({4, 3}, 57), 1e-9f);
    check_devices([](const V& v) { return l2_normalize(v[0], -1, 1e-6f); }, {z});
}

TEST_CASE("cuda embedding: lookup and a bit-identical scatter-add backward (repeated ids)") {
    SKIP_WITHOUT_CUDA();
    Tensor w = randn({50, 40}, 58);
    std::vector<int32_t> ids(6 * 13);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7) % 11);  // many repeats
    Tensor id = from_ivector(ids, {6, 13});
    check_devices([](const V& v) { return embedding(v[0], v[1]); }, {w, id}, {0, 0, 0, 0}, {true, false});
    Tensor bad = from_ivector({3, 50}, {2}, Device::CUDA);
    CHECK_THROWS_CONTAINING(embedding(w.to(Device::CUDA), bad), "out of range");
}

TEST_CASE("cuda dropout: the same mask as the CPU for the same generator state") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({257, 129}, 59);
    for (float p : {0.1f, 0.5f, 0.9f}) {
        Generator g_cpu(1234), g_gpu(1234);
        g_cpu.reserve(77);  // a non-zero offset
        g_gpu.reserve(77);
        Tensor m_cpu, m_gpu;
        Tensor y_cpu = kernels::dropout(x, p, &g_cpu, &m_cpu);
        Tensor y_gpu = kernels::dropout(x.to(Device::CUDA), p, &g_gpu, &m_gpu);
        CHECK(y_gpu.is_cuda());
        CHECK(m_gpu.to_vector() == m_cpu.to_vector());
        CHECK(y_gpu.to_vector() == y_cpu.to_vector());
        CHECK(g_gpu.state().offset == g_cpu.state().offset);
    }
    Generator g1(5), g2(5);
    check_devices(
        [&](const V& v) { return dropout(v[0], 0.3f, true, v[0].is_cuda() ? &g2 : &g1); }, {x}, {0, 0, 0, 0});
}

TEST_CASE("cuda optimisers: fused AdamW and SGD updates give the CPU kernels' bits") {
    SKIP_WITHOUT_CUDA();
    const int64_t n = 10007;
    Tensor p = randn({n}, 60), g = randn({n}, 61), m = randn({n}, 62, 0.1f);
    Tensor v = mul(randn({n}, 63, 0.1f), randn({n}, 63, 0.1f));  // non-negative second moments
    Tensor pc = p.clone(), mc = m.clone(), vc = v.clone();
    Tensor pg = p.to(Device::CUDA), mg = m.to(Device::CUDA), vg = v.to(Device::CUDA), gg = g.to(Device::CUDA);
    // The third learning rate is one whose decay 1 - lr·wd differs in the
    // last bit between one rounding and two (see cuda/optim.cu).
    const float lrs[] = {1e-3f, 1e-3f, 0.0016433f};
    for (int64_t step = 1; step <= 3; ++step) {
        const float lr = lrs[step - 1];
        cpu::adamw_update(pc.data<float>(), mc.data<float>(), vc.data<float>(), g.data<float>(), n, lr, 0.9,
                          0.999, 1e-8f, 0.05f, step);
        cuda::adamw_update(pg.data<float>(), mg.data<float>(), vg.data<float>(), gg.data<float>(), n, lr, 0.9,
                           0.999, 1e-8f, 0.05f, step);
    }
    // Both devices spell out the same fused multiply-adds and use IEEE sqrt and
    // division: the same bits.
    CHECK(pg.to_vector() == pc.to_vector());
    CHECK(mg.to_vector() == mc.to_vector());
    CHECK(vg.to_vector() == vc.to_vector());
    for (bool nesterov : {false, true}) {
        Tensor sp = p.clone(), sb = zeros({n});
        Tensor gp = p.to(Device::CUDA), gb = zeros({n}, {DType::f32, Device::CUDA});
        for (int step = 0; step < 3; ++step) {
            cpu::sgd_update(sp.data<float>(), sb.data<float>(), g.data<float>(), n, 0.1f, 0.9f, 0.1f, 1e-4f, nesterov,
                            step == 0);
            cuda::sgd_update(gp.data<float>(), gb.data<float>(), gg.data<float>(), n, 0.1f, 0.9f, 0.1f, 1e-4f,
                             nesterov, step == 0);
        }
        CHECK(gp.to_vector() == sp.to_vector());
        CHECK(gb.to_vector() == sb.to_vector());
    }
}

TEST_CASE("cuda bf16-true: rounding and the AdamW and SGD steps give the CPU's bits") {
    SKIP_WITHOUT_CUDA();
    const int64_t n = 10007;
    // bf16 numbers, as every stored value is under bf16-true.
    auto bf16_values = [](Tensor t) {
        kernels::round_to_bf16_(t);
        return t;
    };
    Tensor x = randn({n}, 70), xg = x.to(Device::CUDA);
    kernels::round_to_bf16_(x);
    kernels::round_to_bf16_(xg);
    CHECK(xg.to_vector() == x.to_vector());
    Tensor p = bf16_values(randn({n}, 71)), g = bf16_values(randn({n}, 72, 0.1f));
    Tensor pc = p.clone(), mc = zeros({n}), vc = zeros({n});
    Tensor pg = p.to(Device::CUDA), mg = zeros({n}, {DType::f32, Device::CUDA}), vg = zeros({n}, {DType::f32, Device::CUDA});
    Tensor gg = g.to(Device::CUDA);
    for (int64_t step = 1; step <= 3; ++step) {
        cpu::adamw_update_bf16_true(pc.data<float>(), mc.data<float>(), vc.data<float>(), g.data<float>(), n, 1e-2f,
                                    0.9, 0.999, 1e-8f, 0.1f, step);
        cuda::adamw_update_bf16_true(pg.data<float>(), mg.data<float>(), vg.data<float>(), gg.data<float>(), n, 1e-2f,
                                     0.9, 0.999, 1e-8f, 0.1f, step);
    }
    CHECK(pg.to_vector() == pc.to_vector());
    CHECK(mg.to_vector() == mc.to_vector());
    CHECK(vg.to_vector() == vc.to_vector());
    for (bool nesterov : {false, true}) {
        Tensor sp = p.clone(), sb = zeros({n});
        Tensor gp = p.to(Device::CUDA), gb = zeros({n}, {DType::f32, Device::CUDA});
        for (int step = 0; step < 3; ++step) {
            cpu::sgd_update_bf16_true(sp.data<float>(), sb.data<float>(), g.data<float>(), n, 0.1f, 0.9f, 0.0f, 1e-2f,
                                      nesterov, step == 0);
            cuda::sgd_update_bf16_true(gp.data<float>(), gb.data<float>(), gg.data<float>(), n, 0.1f, 0.9f, 0.0f,
                                       1e-2f, nesterov, step == 0);
        }
        CHECK(gp.to_vector() == sp.to_vector());
        CHECK(gb.to_vector() == sb.to_vector());
    }
}
