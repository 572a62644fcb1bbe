// test_mpi.cpp: data parallelism on real ranks (make test-mpi: mpirun -np 2).
//
//  - the collectives' values (all_reduce, all_gather, broadcast), and that a
//    shape mismatch fails on every rank alike instead of hanging;
//  - the averaged gradients, after backward and during it, and under bf16-true
//    rounded to bf16 numbers;
//  - the gathered-negatives gradient: CLIP + partner CLIP + NT-Xent over
//    all_gather_rows, averaged over the ranks, equals one process computing
//    the same losses on the full batch; and per-rank negatives equal one
//    process averaging the per-shard losses;
//  - end to end: W ranks of build/pretrain's loop end with the parameters of
//    one process that sees the same global batch.  Which single-process run is
//    "the same" depends on the negatives:
//      per-rank negatives: each rank's micro-batch is its own contrastive batch
//        (and its own BatchNorm batch, and SLA batch), so W ranks × accumulate A
//        equal ONE process with the same micro-batch and accumulate W·A (the
//        loader's global order puts rank r's shard of global batch k at
//        single-process batch W·k + r, and both average W·A micro-batch
//        gradients).  A single process with micro-batch W·B would NOT match:
//        its negatives and BatchNorm statistics span W·B rows.
//      gathered negatives: with only the CLIP loss active (model.late_start
//        beyond the run), the loss covers the W·B gathered rows, so W ranks ×
//        micro-batch B equal one process with micro-batch W·B.  (Once the late
//        losses start, SLA and the BatchNorm statistics of the heads stay per
//        rank, so no single-process run is identical; the gradient test above
//        covers the gathered NT-Xent and partner CLIP.)
//    Tolerance: the runs differ only in floating-point summation order (the
//    gradient mean over ranks vs over micro-batches, the MPI reduction), so
//    after 3 AdamW steps parameters agree to |Δ| ≤ 1e-6 + 1e-5·|p|.  The
//    exceptions are the elements whose exact gradient is 0: a bias right
//    before a BatchNorm (the local heads' fc1/fc2) and the key part of an
//    attention bias (adding a constant to all of a row's logits leaves the
//    softmax unchanged).  Their computed gradient is rounding noise, which
//    Adam normalises into steps of up to lr, so they are bounded by steps × lr.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "autograd/ops.h"
#include "mama/objectives.h"
#include "mama/pretrain.h"
#include "mama/pretrain_guards.h"
#include "nn/grad_overlap.h"
#include "nn/json.h"
#include "nn/linear.h"
#include "nn/safetensors.h"
#include "tensor/cuda_backend.h"
#include "tensor/precision.h"
#include "tests/mama/pretrain_testing.h"
#include "tests/mpi/mpi_testing.h"
#include "tests/testing.h"

using namespace eng;
namespace fs = std::filesystem;
using mpitest::world;

namespace {

// A directory every rank names alike (rank 0's pid), created by rank 0.
struct SharedDir {
    fs::path path;
    explicit SharedDir(const std::string& name) {
        Tensor pid = from_ivector({int32_t(::getpid())}, {1});
        world().broadcast(pid, 0);
        path = fs::temp_directory_path() / ("mama_test_mpi_" + std::to_string(pid.to_ivector()[0]) + "_" + name);
        if (world().is_main()) {
            fs::remove_all(path);
            fs::create_directories(path);
        }
        world().barrier();
    }
    ~SharedDir() {
        world().barrier();
        if (world().is_main()) fs::remove_all(path);
    }
};

const std::string& dataset_dir() {
    static SharedDir dir("data");
    static bool made = false;
    if (!made) {
        if (world().is_main()) testing::write_tiny_dataset(dir.path.string());
        world().barrier();
        made = true;
    }
    static std::string s = dir.path.string();
    return s;
}

mama::RunConfig tiny(const std::string& out, std::vector<std::pair<std::string, std::string>> more) {
    std::vector<std::pair<std::string, std::string>> o = {{"train.data_dir", "\"" + dataset_dir() + "\""},
                                                          {"train.out_dir", "\"" + out + "\""},
                                                          {"train.steps", "3"},
                                                          {"train.workers", "1"}};
    o.insert(o.end(), more.begin(), more.end());
    return mama::load_run_config("mama/configs/tiny.json", o);
}

std::vector<double> logged_losses(const fs::path& log) {
    std::vector<double> out;
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        json::Value v = json::parse(line, log.string());
        if (v.find("loss")) out.push_back(v.find("loss")->as_number());
    }
    return out;
}

// Rank 0 compares the parameters of two checkpoints (see the tolerance above).
void compare_checkpoints(const fs::path& dist, const fs::path& ref, double lr, int steps) {
    auto a = nn::load_safetensors(dist.string()), b = nn::load_safetensors(ref.string());
    int compared = 0;
    double worst = 0;
    std::string worst_name;
    for (auto& [k, v] : b) {
        if (k.rfind("model.", 0) != 0) continue;
        // BatchNorm running statistics: rank 0 keeps those of its own shards only
        // (like DDP without buffer syncing); they are not used in training mode.
        if (k.find("running_") != std::string::npos || k.find("num_batches_tracked") != std::string::npos) continue;
        REQUIRE_MESSAGE(a.count(k), k);
        std::vector<float> x = a.at(k).to_vector(), y = v.to_vector();
        REQUIRE(x.size() == y.size());
        // Elements whose exact gradient is 0 (see the top of this file).
        const bool bias_before_bn = k.find("_local.fc") != std::string::npos && k.find(".bias") != std::string::npos;
        const bool qkv_bias = k.find("attn.qkv.bias") != std::string::npos || k.find("attn.c_attn.bias") != std::string::npos;
        const size_t width = x.size() / 3;
        for (size_t i = 0; i < x.size(); ++i) {
            const bool zero_grad = bias_before_bn || (qkv_bias && i >= width && i < 2 * width);
            double d = std::fabs(double(x[i]) - double(y[i]));
            double tol = zero_grad ? steps * lr * 1.01 : 1e-6 + 1e-5 * std::fabs(double(y[i]));
            if (!zero_grad && d / tol > worst) worst = d / tol, worst_name = k;
            if (!(d <= tol)) {
                FAIL_CHECK(k, "[", i, "]: ", x[i], " (ranks) vs ", y[i], " (one process), |diff| ", d, " > ", tol);
                break;
            }
        }
        ++compared;
    }
    CHECK(compared > 50);
    MESSAGE("largest difference relative to the tolerance: ", worst, " (", worst_name, ")");
}

}  // namespace

TEST_CASE("mpi: all_reduce, all_gather and broadcast values") {
    auto& c = world();
    const int W = c.world_size(), r = c.rank();
    // Rank r holds r + 1 + i: the sum is W(W+1)/2 + W·i.
    std::vector<float> v;
    for (int i = 0; i < 5; ++i) v.push_back(float(r + 1 + i));
    Tensor t = from_vector(v, {5});
    c.all_reduce_sum(t);
    for (int i = 0; i < 5; ++i) CHECK(t.to_vector()[size_t(i)] == float(W * (W + 1) / 2 + W * i));
    Tensor m = from_vector(v, {5});
    c.all_reduce_mean(m);
    for (int i = 0; i < 5; ++i) CHECK(m.to_vector()[size_t(i)] == doctest::Approx((W + 1) / 2.0 + i));
    Tensor n = from_ivector({r, 10 * r}, {2});
    c.all_reduce_sum(n);
    CHECK(n.to_ivector() == std::vector<int32_t>{W * (W - 1) / 2, 10 * W * (W - 1) / 2});
    // all_gather: rows in rank order.
    Tensor rows = from_vector({float(r), float(r) + 0.5f, float(-r), 7.0f}, {2, 2});
    Tensor g = c.all_gather(rows);
    REQUIRE(g.shape() == Shape{2 * W, 2});
    std::vector<float> gv = g.to_vector();
    for (int q = 0; q < W; ++q) {
        CHECK(gv[size_t(4 * q + 0)] == float(q));
        CHECK(gv[size_t(4 * q + 1)] == float(q) + 0.5f);
        CHECK(gv[size_t(4 * q + 2)] == float(-q));
        CHECK(gv[size_t(4 * q + 3)] == 7.0f);
    }
    // broadcast from the last rank.
    Tensor b = from_ivector({r, r * r, 3}, {3});
    c.broadcast(b, W - 1);
    CHECK(b.to_ivector() == std::vector<int32_t>{W - 1, (W - 1) * (W - 1), 3});
    c.barrier();
    // A module broadcast: every rank ends with rank 0's initialisation.
    Generator gen(100 + uint64_t(r));
    nn::Linear lin(3, 2, true, &gen);
    nn::broadcast_module(c, lin);
    Generator gen0(100);
    nn::Linear lin0(3, 2, true, &gen0);
    CHECK(lin.weight.to_vector() == lin0.weight.to_vector());
    CHECK(lin.bias.to_vector() == lin0.bias.to_vector());
}

TEST_CASE("mpi: mismatched shapes fail on every rank, without hanging") {
    auto& c = world();
    if (c.world_size() < 2) return;
    Tensor rows = zeros({1 + c.rank(), 2});  // rank 1 passes 2 rows, rank 0 one
    CHECK_THROWS_WITH_AS(c.all_gather(rows), doctest::Contains("different shapes"), eng::Error);
    Tensor t = zeros({1 + c.rank()});
    CHECK_THROWS_WITH_AS(c.broadcast(t, 0), doctest::Contains("element counts"), eng::Error);
    c.barrier();  // still in step
}

TEST_CASE("mpi: bucketed gradient averaging over the ranks") {
    auto& c = world();
    const int W = c.world_size(), r = c.rank();
    // Gradients r·k + j: the mean is k·(W−1)/2 + j.  p2 has a gradient only on rank 0.
    Tensor p0 = zeros({4, 3}).set_requires_grad(true), p1 = zeros({7}).set_requires_grad(true);
    Tensor p2 = zeros({2}).set_requires_grad(true), p3 = zeros({2}).set_requires_grad(true);
    auto fill = [&](Tensor& p, float k) {
        std::vector<float> g;
        for (int64_t j = 0; j < p.numel(); ++j) g.push_back(float(r) * k + float(j));
        p.set_grad(from_vector(g, p.shape()));
    };
    fill(p0, 1.0f);
    fill(p1, 3.0f);
    if (r == 0) fill(p2, 0.0f);
    nn::average_gradients(c, {&p0, &p1, &p2, &p3}, 10 * sizeof(float));
    auto expect = [&](const Tensor& p, float k) {
        std::vector<float> g = p.grad().to_vector();
        for (int64_t j = 0; j < p.numel(); ++j)
            CHECK(g[size_t(j)] == doctest::Approx(k * (W - 1) / 2.0 + double(j)));
    };
    expect(p0, 1.0f);
    expect(p1, 3.0f);
    std::vector<float> g2 = p2.grad().to_vector();  // rank 0's (0, 1), zeros elsewhere, averaged
    CHECK(g2[0] == doctest::Approx(0.0));
    CHECK(g2[1] == doctest::Approx(1.0 / W));
    CHECK_FALSE(p3.grad().defined());
}

TEST_CASE("mpi: buckets averaged during backward equal averaging after it, with and without checkpointing") {
    auto& c = world();
    const int r = c.rank();
    // A small network on rank-dependent data (the same graph on every rank, as
    // in data-parallel training: the buckets start in the same order); w_none
    // is used nowhere.
    auto run = [&](bool overlapped, bool checkpointed) {
        Generator g(5);
        std::vector<Tensor> w;
        for (int i = 0; i < 6; ++i) w.push_back(mul(randn({8, 8}, &g), 0.3f).set_requires_grad(true));
        Tensor w_none = randn({3}, &g).set_requires_grad(true);
        Generator gx(100 + uint64_t(r));
        Tensor h = randn({5, 8}, &gx);
        std::vector<Tensor*> params;
        for (Tensor& t : w) params.push_back(&t);
        params.push_back(&w_none);
        nn::OverlappedGradientAverager avg(c, params, 3 * 64 * sizeof(float));  // buckets of 3 matrices
        std::unique_ptr<autograd::LeafGradHook> hook;
        if (overlapped) hook = avg.hook();
        auto layer = [&](int i) {
            return [&, i](const std::vector<Tensor>& in) { return tanh(matmul(in[0], w[size_t(i)])); };
        };
        for (int i = 0; i < 6; ++i) h = checkpointed && i < 4 ? checkpoint(layer(i), {h}) : layer(i)({h});
        backward(sum(mul(h, h)));
        hook.reset();
        if (overlapped) {
            avg.finish();
            if (!checkpointed) CHECK(avg.started_during_backward() >= 1);  // the last layers' bucket
        } else {
            nn::average_gradients(c, params);
        }
        std::vector<std::vector<float>> grads;
        for (Tensor* p : params) grads.push_back(p->grad().defined() ? p->grad().to_vector() : std::vector<float>{});
        return grads;
    };
    for (bool ck : {false, true}) {
        INFO("checkpointed " << ck);
        auto a = run(true, ck), b = run(false, ck);
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) CHECK_MESSAGE(a[i] == b[i], "parameter " << i);
        CHECK(a[5].size() == 64);
        CHECK(a[6].empty());  // w_none: no gradient anywhere, none after
    }
}

TEST_CASE("mpi: under bf16-true the averaged gradients are bf16 numbers, after and during backward") {
    auto& c = world();
    const int W = c.world_size(), r = c.rank();
    // Rank r's gradient: 1 + 3·r·2⁻⁷ and 2 + 5·r·2⁻⁶ (bf16 numbers); their mean
    // over the ranks is not one, so it must be rounded (to nearest, ties to even).
    auto mean_of = [&](float base, float step) {
        double s = 0;
        for (int q = 0; q < W; ++q) s += double(base) + double(q) * step;
        return float(s / W);
    };
    const float m0 = mean_of(1.0f, 3.0f / 128), m1 = mean_of(2.0f, 5.0f / 64);
    Bf16TrueGuard pure;
    for (bool overlapped : {false, true}) {
        INFO("overlapped " << overlapped);
        Tensor p = zeros({2}).set_requires_grad(true);
        std::vector<Tensor*> params{&p};
        nn::OverlappedGradientAverager avg(c, params);
        std::unique_ptr<autograd::LeafGradHook> hook;
        if (overlapped) hook = avg.hook();
        Tensor k = from_vector({1.0f + 3.0f * float(r) / 128, 2.0f + 5.0f * float(r) / 64}, {2});
        backward(sum(mul(p, k)));  // dL/dp = k
        hook.reset();
        if (overlapped) avg.finish();
        else nn::average_gradients(c, params);
        std::vector<float> g = p.grad().to_vector();
        CHECK(g[0] == round_to_bf16(m0));
        CHECK(g[1] == round_to_bf16(m1));
        if (W == 2) CHECK(g[0] != m0);  // 1 + 1.5·2⁻⁷: the rounding did something
    }
}

TEST_CASE("mpi: gathered negatives give the full-batch gradient; per-rank negatives the mean of the shards'") {
    auto& c = world();
    const int W = c.world_size(), r = c.rank();
    const int64_t B = 3, D = 5, E = 4;
    Generator g(21);  // every rank draws the full batch, then uses its rows
    Tensor A = randn({W * B, D}, &g), P = randn({W * B, D}, &g), C = randn({W * B, D}, &g);
    Tensor M0 = randn({D, E}, &g), N0 = randn({D, E}, &g), H0 = randn({D, E}, &g);
    struct Params {
        Tensor M, N, H, th;
        std::vector<Tensor*> list() { return {&M, &N, &H, &th}; }
    };
    auto fresh = [&]() {
        return Params{M0.clone().set_requires_grad(true), N0.clone().set_requires_grad(true),
                      H0.clone().set_requires_grad(true), full({}, 1.7f).set_requires_grad(true)};
    };
    // The three gathered losses of the model: v = norm(A·M), ṽ = norm(P·M), u = norm(C·N),
    // multi-view heads A·H and P·H.
    auto losses = [&](Params& p, int64_t first, int64_t rows, nn::Communicator* comm,
                      nn::Communicator* mv_comm = nullptr, bool with_clip = true, bool with_mv = true) {
        auto all = [&](const Tensor& x) { return comm ? nn::all_gather_rows(*comm, x) : x; };
        nn::Communicator* mvc = comm ? comm : mv_comm;
        auto all_mv = [&](const Tensor& x) { return mvc ? nn::all_gather_rows(*mvc, x) : x; };
        Tensor a = raw_narrow(A, 0, first, rows).contiguous(), pp = raw_narrow(P, 0, first, rows).contiguous();
        Tensor cc = raw_narrow(C, 0, first, rows).contiguous();
        Tensor u_all = all(l2_normalize(matmul(cc, p.N)));
        Tensor l = mama::clip_loss(all(l2_normalize(matmul(a, p.M))), u_all, p.th);
        l = l + mama::partner_clip_loss(all(l2_normalize(matmul(pp, p.M))), u_all, p.th);
        Tensor mv_p = all_mv(matmul(pp, p.H));
        Tensor mv_a = all_mv(matmul(a, p.H));
        Tensor mv = mama::nt_xent_loss(mv_p, mv_a, 0.5f);
        return with_clip && with_mv ? l + mv : with_clip ? l : mv;
    };
    auto check_same = [](Params& got, Params& want, const char* what) {
        const char* names[] = {"M", "N", "H", "theta"};
        std::vector<Tensor*> x = got.list(), y = want.list();
        for (size_t i = 0; i < x.size(); ++i) {
            std::string err = testing::compare(x[i]->grad().to_vector(), y[i]->grad().to_vector(), 1e-5, 1e-4);
            CHECK_MESSAGE(err.empty(), what, " d/d", names[i], ": ", err);
        }
    };
    // Gathered: every rank's loss is the full-batch loss; averaged gradients = its gradient.
    Params ref = fresh();
    Tensor L_full = losses(ref, 0, W * B, nullptr);
    backward(L_full);
    Params mine = fresh();
    Tensor L = losses(mine, r * B, B, &c);
    CHECK(L.item() == doctest::Approx(L_full.item()).epsilon(1e-5));
    backward(L);
    nn::average_gradients(c, mine.list());
    check_same(mine, ref, "gathered");
    // Per-rank: the applied gradient is that of the mean of the W shard losses.
    Params ref2 = fresh();
    Tensor L_mean;
    for (int q = 0; q < W; ++q) {
        Tensor lq = mul(losses(ref2, q * B, B, nullptr), 1.0f / float(W));
        L_mean = L_mean.defined() ? L_mean + lq : lq;
    }
    backward(L_mean);
    Params mine2 = fresh();
    backward(losses(mine2, r * B, B, nullptr));
    nn::average_gradients(c, mine2.list());
    check_same(mine2, ref2, "per-rank");
    if (W > 1) {  // and the two really differ (the test can tell them apart)
        std::string err = testing::compare(mine.M.grad().to_vector(), mine2.M.grad().to_vector(), 1e-5, 1e-4);
        CHECK_FALSE(err.empty());
    }
    // NT-Xent gathered alone (train.gather_mv_negatives): the mean of the
    // shards' CLIP losses plus the full-batch NT-Xent.
    Params ref3 = fresh();
    Tensor L_mixed = losses(ref3, 0, W * B, nullptr, nullptr, false, true);
    for (int q = 0; q < W; ++q)
        L_mixed = L_mixed + mul(losses(ref3, q * B, B, nullptr, nullptr, true, false), 1.0f / float(W));
    backward(L_mixed);
    Params mine3 = fresh();
    backward(losses(mine3, r * B, B, nullptr, &c));
    nn::average_gradients(c, mine3.list());
    check_same(mine3, ref3, "NT-Xent gathered");
    if (W > 1) {
        for (auto* other : {&mine, &mine2}) {
            std::string err = testing::compare(mine3.H.grad().to_vector(), other->H.grad().to_vector(), 1e-5, 1e-4);
            std::string err_m = testing::compare(mine3.M.grad().to_vector(), other->M.grad().to_vector(), 1e-5, 1e-4);
            CHECK_FALSE((err.empty() && err_m.empty()));  // neither all gathered nor all per rank
        }
    }
}

TEST_CASE("mpi: pretraining on the ranks equals one process on the same global batch") {
    auto& c = world();
    const int W = c.world_size();
    const double lr = 1e-3;  // tiny.json
    mama::PretrainOptions quiet;
    quiet.quiet = true;
    mama::PretrainOptions alone = quiet;
    alone.comm = std::make_shared<nn::SingleProcess>();
    SUBCASE("per-rank negatives: W ranks x accumulate 1 == one process x accumulate W; resume on 1 rank") {
        SharedDir dist("dist"), ref("ref"), half("half");
        // 3 steps of W·4 images stay inside the first epoch for both runs (the
        // epoch's last partial global batch is dropped differently otherwise).
        auto ranks = [&](const fs::path& out, int steps) {
            return tiny(out.string(), {{"train.micro_batch", "4"}, {"train.accumulate", "1"},
                                       {"train.steps", std::to_string(steps)}});
        };
        auto one = [&](const fs::path& out) {
            return tiny(out.string(), {{"train.micro_batch", "4"}, {"train.accumulate", std::to_string(W)}});
        };
        REQUIRE(mama::run_pretrain(ranks(dist.path, 3), quiet) == 0);
        mama::PretrainOptions paused = quiet;
        paused.stop_at = 2;  // the same 3-step run, paused after step 2
        REQUIRE(mama::run_pretrain(ranks(half.path, 3), paused) == 0);
        if (c.is_main()) {
            REQUIRE(mama::run_pretrain(one(ref.path), alone) == 0);
            compare_checkpoints(dist.path / "last.safetensors", ref.path / "last.safetensors", lr, 3);
            std::vector<double> a = logged_losses(dist.path / "log.jsonl"), b = logged_losses(ref.path / "log.jsonl");
            REQUIRE(a.size() == 3);
            REQUIRE(b.size() == 3);
            for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
            // The W-rank checkpoint after 2 steps, resumed by ONE process with
            // accumulate W (the same global batch): its loader position (2 global
            // micro-batches of 4W) becomes 2W batches of 4, and step 3 matches.
            mama::PretrainOptions resume = alone;
            resume.resume = true;
            REQUIRE(mama::run_pretrain(one(half.path), resume) == 0);
            compare_checkpoints(half.path / "last.safetensors", ref.path / "last.safetensors", lr, 3);
        }
        c.barrier();
    }
    SUBCASE("gradients averaged during backward (the default) or after it: the same run") {
        SharedDir on("overlap-on"), off("overlap-off");
        auto cfg = [&](const fs::path& out, bool overlap) {
            return tiny(out.string(), {{"train.micro_batch", "4"}, {"train.accumulate", "2"}, {"train.steps", "2"},
                                       {"train.overlap_gradients", overlap ? "true" : "false"}});
        };
        REQUIRE(mama::run_pretrain(cfg(on.path, true), quiet) == 0);
        REQUIRE(mama::run_pretrain(cfg(off.path, false), quiet) == 0);
        if (c.is_main()) compare_checkpoints(on.path / "last.safetensors", off.path / "last.safetensors", lr, 2);
        c.barrier();
    }
    SUBCASE("validation and checkpoint steps before the last (rank 0 validates, every rank checks its weights)") {
        // The weights check before a checkpoint is a collective: every rank must
        // agree that a step is a validation step although only rank 0 has the
        // validation loader (a rank-0-only decision hung or mismatched the
        // next collective).  A stop request on one rank stops every rank.
        SharedDir dir("valsteps"), stopped("stopped");
        REQUIRE(mama::run_pretrain(tiny(dir.path.string(), {{"train.val_every", "1"}, {"train.checkpoint_every", "0"}}),
                                   quiet) == 0);
        if (c.is_main()) mama::StopOnSignal::request();  // as if rank 0 alone got Ctrl-C
        CHECK(mama::run_pretrain(tiny(stopped.path.string(), {}), quiet) == 130);
        if (c.is_main())
            CHECK(nn::SafeTensorsFile::open((stopped.path / "last.safetensors").string()).metadata().at("step") == "1");
        c.barrier();
    }
    SUBCASE("gather_mv_negatives gathers NT-Xent alone: CLIP as per rank, NT-Xent as all gathered") {
        // The first step's losses, before any update: every run starts alike.
        SharedDir per("mv-per"), mv("mv-only"), all("mv-all");
        auto first_losses = [&](const fs::path& out, std::vector<std::pair<std::string, std::string>> more) {
            more.insert(more.end(), {{"model.late_start", "0"}, {"train.steps", "1"}, {"train.accumulate", "1"}});
            REQUIRE(mama::run_pretrain(tiny(out.string(), more), quiet) == 0);
            std::ifstream in(out / "log.jsonl");
            std::string line;
            std::getline(in, line);
            json::Value v = json::parse(line);
            return std::pair{v.at("loss_clip").as_number(), v.at("loss_mv").as_number()};
        };
        auto [clip_per, mv_per] = first_losses(per.path, {});
        auto [clip_mv, mv_mv] = first_losses(mv.path, {{"train.gather_mv_negatives", "true"}});
        auto [clip_all, mv_all] = first_losses(all.path, {{"train.gather_negatives", "true"}});
        CHECK(clip_mv == doctest::Approx(clip_per).epsilon(1e-6));
        CHECK(mv_mv == doctest::Approx(mv_all).epsilon(1e-6));
        if (W > 1) {
            CHECK(std::fabs(mv_mv - mv_per) > 1e-4);
            CHECK(std::fabs(clip_mv - clip_all) > 1e-4);
        }
    }
    SUBCASE("every rank must resume from the same checkpoint and read the same training split") {
        // Each rank its own out_dir (machines without a shared file system):
        // rank 1 holds a copy of rank 0's checkpoint that rank 0 then moves
        // past; resuming must stop every rank, not train them out of step.
        SharedDir base("stale");
        const fs::path mine = base.path / ("r" + std::to_string(c.rank()));
        mama::PretrainOptions paused = quiet;
        paused.stop_at = 1;
        REQUIRE(mama::run_pretrain(tiny(mine.string(), {}), paused) == 0);
        c.barrier();
        if (c.is_main())
            for (int q = 1; q < W; ++q) {
                fs::create_directories(base.path / ("r" + std::to_string(q)));
                fs::copy_file(mine / "last.safetensors", base.path / ("r" + std::to_string(q)) / "last.safetensors",
                              fs::copy_options::overwrite_existing);
            }
        c.barrier();
        mama::PretrainOptions resume = paused;
        resume.resume = true;
        resume.stop_at = 2;
        REQUIRE(mama::run_pretrain(tiny(mine.string(), {}), resume) == 0);  // every copy at step 1: fine
        c.barrier();
        resume.stop_at = 0;
        if (W > 1)  // rank 0's file is at step 2 now, the others' at step 1
            CHECK_THROWS_CONTAINING(mama::run_pretrain(tiny(mine.string(), {}), resume), "differs between the ranks");
        // A rank whose data folder lacks one training image, or one validation
        // image (only rank 0 validates, but every rank decides from the split's
        // size whether a step validates, and so whether a collective runs).
        for (const auto& [split, what] : {std::pair{mama::Split::Train, "training split"},
                                          std::pair{mama::Split::Valid, "validation split"}}) {
            SharedDir other_data("data-less");
            if (c.is_main()) {
                fs::copy(dataset_dir(), other_data.path, fs::copy_options::recursive);
                mama::EmbedOptions eo;
                eo.data_dir = other_data.path.string();
                eo.warnings = false;
                mama::EmbedData d = mama::load_embed(eo);
                fs::remove(d.records[size_t(d.split_indices(split).at(0))].image_path);
            }
            c.barrier();
            SharedDir out("data-less-run");
            const std::string data = c.rank() == 0 ? dataset_dir() : other_data.path.string();
            if (W > 1)
                CHECK_THROWS_CONTAINING(
                    mama::run_pretrain(tiny(out.path.string(), {{"train.data_dir", "\"" + data + "\""}}), quiet), what);
            c.barrier();
        }
    }
    SUBCASE("gathered negatives (CLIP only): W ranks x micro-batch 4 == one process x micro-batch 4W") {
        SharedDir dist("gdist"), ref("gref");
        std::vector<std::pair<std::string, std::string>> common = {{"model.late_start", "100"}, {"train.accumulate", "2"}};
        auto with = [&](std::vector<std::pair<std::string, std::string>> x) {
            x.insert(x.end(), common.begin(), common.end());
            return x;
        };
        REQUIRE(mama::run_pretrain(tiny(dist.path.string(), with({{"train.micro_batch", "4"},
                                                                   {"train.gather_negatives", "true"}})),
                                   quiet) == 0);
        if (c.is_main()) {
            REQUIRE(mama::run_pretrain(tiny(ref.path.string(), with({{"train.micro_batch", std::to_string(4 * W)}})),
                                       alone) == 0);
            compare_checkpoints(dist.path / "last.safetensors", ref.path / "last.safetensors", lr, 3);
            std::vector<double> a = logged_losses(dist.path / "log.jsonl"), b = logged_losses(ref.path / "log.jsonl");
            REQUIRE(a.size() == b.size());
            for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
        }
        c.barrier();
    }
}

TEST_CASE("nccl: collectives on CUDA tensors and gradient averaging equal the MPI/CPU results") {
    // Runs where the build has NCCL and every rank can have its own GPU: on a
    // one-GPU machine `build-mpi/test_mpi -tc="nccl*"` (one rank, no mpirun
    // needed).  Elsewhere it says why it skips.
    auto& c = world();
    if (!nn::built_with_nccl() || !cuda::is_available() || cuda::device_count() < c.world_size()) {
        MESSAGE("skipped: needs a build with NCCL (make MPI=1 with CUDA) and one GPU per rank");
        return;
    }
    std::shared_ptr<nn::Communicator> nc = nn::make_nccl_communicator();
    const int W = nc->world_size(), r = nc->rank();
    REQUIRE(W == c.world_size());
    MESSAGE("NCCL communicator: ", nc->name());
    std::vector<float> v;
    for (int i = 0; i < 6; ++i) v.push_back(float(r) * 0.25f + float(i));
    Tensor t = from_vector(v, {2, 3}).to(Device::CUDA);
    nc->all_reduce_sum(t);
    Tensor t_cpu = from_vector(v, {2, 3});
    c.all_reduce_sum(t_cpu);  // the MPI/CPU reference (the identity with one rank)
    CHECK(t.to_vector() == t_cpu.to_vector());
    Tensor m = from_vector(v, {6}).to(Device::CUDA);
    nc->all_reduce_mean(m);
    for (int i = 0; i < 6; ++i) CHECK(m.to_vector()[size_t(i)] == doctest::Approx((W - 1) * 0.125 + i));
    Tensor ids = from_ivector({r, 5}, {2}, Device::CUDA);
    nc->all_reduce_sum(ids);
    CHECK(ids.to_ivector() == std::vector<int32_t>{W * (W - 1) / 2, 5 * W});
    Tensor g = nc->all_gather(from_vector(v, {2, 3}).to(Device::CUDA));
    CHECK(g.shape() == Shape{2 * W, 3});
    CHECK(g.to_vector() == c.all_gather(from_vector(v, {2, 3})).to_vector());
    Tensor b = from_vector({float(r), 1.0f}, {2}).to(Device::CUDA);
    nc->broadcast(b, 0);
    CHECK(b.to_vector() == std::vector<float>{0.0f, 1.0f});
    nc->barrier();
    // Gradient averaging through NCCL (CUDA gradients) == through MPI (CPU).
    Generator gen(7 + uint64_t(r));
    Tensor grads = randn({1000}, &gen);
    Tensor pc = zeros({10, 100}).set_requires_grad(true), pg = zeros({10, 100}, {DType::f32, Device::CUDA});
    pg.set_requires_grad(true);
    pc.set_grad(raw_reshape(grads, {10, 100}));
    pg.set_grad(raw_reshape(grads, {10, 100}).to(Device::CUDA));
    nn::average_gradients(c, {&pc}, 256);
    nn::average_gradients(*nc, {&pg}, 256);
    std::string err = testing::compare(pg.grad().to_vector(), pc.grad().to_vector(), 1e-6, 1e-6);
    CHECK_MESSAGE(err.empty(), err);
    if (W == 1) CHECK(pg.grad().to_vector() == grads.to_vector());  // one rank: the identity, bit for bit
    // A module broadcast through the GPU (CPU module, copied over and back).
    Generator g1(100 + uint64_t(r)), g0(100);
    nn::Linear lin(3, 2, true, &g1), lin0(3, 2, true, &g0);
    nn::broadcast_module(*nc, lin);
    CHECK(lin.weight.to_vector() == lin0.weight.to_vector());
}
