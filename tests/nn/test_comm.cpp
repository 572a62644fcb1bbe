// test_comm.cpp: the communicator pieces that run in one process: the
// single-process communicator, the launcher detection, the gradient of the
// gathered rows and the bucketed gradient averaging (against a scripted
// stand-in for the other ranks).  The real multi-rank tests are in tests/mpi/
// (make test-mpi).
#include <cstdlib>
#include <functional>

#include "autograd/ops.h"
#include "nn/comm.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

// Rank `r` of a pretend world of W ranks whose collectives are scripted:
// all_gather returns `gathered` (after checking that our rows sit in our slot)
// and the reductions call the given functions.
class ScriptedComm : public Communicator {
public:
    int r = 0, w = 2;
    Tensor gathered;
    std::function<void(Tensor&)> sum, avg;
    int calls = 0;
    int rank() const override { return r; }
    int world_size() const override { return w; }
    std::string name() const override { return "scripted"; }
    Device device() const override { return Device::CPU; }
    void all_reduce_sum(Tensor& t) override { ++calls, sum(t); }
    void all_reduce_mean(Tensor& t) override { ++calls, avg(t); }
    Tensor all_gather(const Tensor& t) override {
        ++calls;
        int64_t b = t.size(0);
        CHECK(raw_narrow(gathered, 0, r * b, b).to_vector() == t.to_vector());
        return gathered.clone();
    }
    void broadcast(Tensor&, int) override {}
    void barrier() override {}
};

void scale(Tensor& t, float f) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= f;
}

// A loss that couples every pair of rows: L = Σ (X·Xᵀ)²  (X [N, D]).
Tensor coupled_loss(const Tensor& X) {
    Tensor S = matmul(X, transpose(X, 0, 1));
    return sum(mul(S, S));
}

}  // namespace

TEST_CASE("comm: the single-process communicator is the identity") {
    SingleProcess c;
    CHECK(c.rank() == 0);
    CHECK(c.world_size() == 1);
    CHECK(c.is_main());
    Tensor t = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    c.all_reduce_sum(t);
    CHECK(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
    c.all_reduce_mean(t);
    CHECK(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
    Tensor g = c.all_gather(t);
    CHECK(g.shape() == Shape{2, 3});
    CHECK(g.to_vector() == t.to_vector());
    CHECK(g.storage() != t.storage());  // a new tensor, not a view
    c.broadcast(t, 0);
    CHECK(t.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
    CHECK_THROWS_WITH_AS(c.broadcast(t, 1), doctest::Contains("root 1"), eng::Error);
    CHECK_THROWS_WITH_AS(c.all_gather(scalar_tensor(1.0f)), doctest::Contains("scalar"), eng::Error);
    Tensor nc = raw_transpose(t, 0, 1);
    CHECK_THROWS_WITH_AS(c.all_reduce_sum(nc), doctest::Contains("contiguous"), eng::Error);
    Tensor ids = from_ivector({1, 2}, {2});
    CHECK_THROWS_WITH_AS(c.all_reduce_mean(ids), doctest::Contains("integer"), eng::Error);
    // With one rank the differentiable gather is the identity, graph included.
    Tensor x = from_vector({1, 2}, {2}).set_requires_grad(true);
    CHECK(all_gather_rows(c, x).impl() == x.impl());
}

TEST_CASE("comm: launcher detection and the choice of communicator") {
    for (const char* k : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"})
        if (std::getenv(k)) return;  // started by a launcher: leave its environment alone
    CHECK(launcher_world_size() == 0);
    CHECK(make_communicator()->world_size() == 1);
    CHECK(make_communicator()->name() == "single process");
    if (built_with_mpi()) return;  // an MPI build would try to join a world that does not exist
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    CHECK(launcher_world_size() == 3);
    CHECK_THROWS_WITH_AS(make_communicator(), doctest::Contains("rebuild with make MPI=1"), eng::Error);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);  // mpirun -np 1: one process is fine
    CHECK(make_communicator()->world_size() == 1);
    setenv("OMPI_COMM_WORLD_SIZE", "x", 1);  // garbage is "not launched"
    CHECK(launcher_world_size() == 0);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    abort_world(1);  // no MPI: returns
}

TEST_CASE("comm: gathered rows give every rank the full-batch gradient after averaging") {
    // Rank r holds x_r = A_r ∘ θ (rows scaled by a shared parameter θ [D]); the
    // loss couples all rows of X = [x_0; x_1].  One process: ∂L(X)/∂θ.  Two
    // ranks: each gathers X, computes the same L, back-propagates through the
    // gather; the scripted all_reduce_sum stands for the other rank sending the
    // same incoming gradient (the loss is the same function of X on both ranks),
    // i.e. it doubles.  The mean of the two ranks' ∂/∂θ must equal ∂L/∂θ.
    const int64_t B = 3, D = 4, W = 2;
    Generator g(11);
    Tensor A = randn({W * B, D}, &g);
    Tensor theta0 = randn({D}, &g);
    Tensor theta = theta0.clone().set_requires_grad(true);
    backward(coupled_loss(mul(A, theta)));
    std::vector<float> want = theta.grad().to_vector();
    Tensor X = mul(A, theta0);  // the gathered forward value
    std::vector<float> mean(size_t(D), 0.0f);
    for (int r = 0; r < W; ++r) {
        ScriptedComm c;
        c.r = r, c.w = int(W), c.gathered = X;
        c.sum = [](Tensor& t) { scale(t, 2.0f); };
        Tensor th = theta0.clone().set_requires_grad(true);
        Tensor xr = mul(raw_narrow(A, 0, r * B, B).contiguous(), th);
        Tensor all = all_gather_rows(c, xr);
        CHECK(all.shape() == Shape{W * B, D});
        backward(coupled_loss(all));
        CHECK(c.calls == 2);  // the gather, then the reduction in backward
        std::vector<float> gr = th.grad().to_vector();
        for (int64_t d = 0; d < D; ++d) mean[size_t(d)] += gr[size_t(d)] / float(W);
    }
    std::string err = testing::compare(mean, want, 1e-4, 1e-5);
    CHECK_MESSAGE(err.empty(), err);
}

TEST_CASE("comm: bucketed gradient averaging") {
    // Four parameters; the scripted other rank has gradient 10 everywhere, so
    // the mean is (g + 10)/2.  Rank flags: p2 has a gradient only on the other
    // rank (it gets zeros here, then the mean 5), p3 has none anywhere.
    Tensor p0 = zeros({3, 2}).set_requires_grad(true), p1 = zeros({5}).set_requires_grad(true);
    Tensor p2 = zeros({2}).set_requires_grad(true), p3 = zeros({4}).set_requires_grad(true);
    p0.set_grad(from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
    p1.set_grad(from_vector({-1, -2, -3, -4, -5}, {5}));
    ScriptedComm c;
    c.sum = [](Tensor& flags) {  // the other rank's flags: p0, p1, p2 have gradients there
        std::vector<int32_t> mine = flags.to_ivector();
        REQUIRE(mine == std::vector<int32_t>{1, 1, 0, 0});
        int32_t* f = flags.data<int32_t>();
        for (int i = 0; i < 3; ++i) f[i] += 1;
    };
    std::vector<int64_t> bucket_sizes;
    c.avg = [&](Tensor& t) {
        bucket_sizes.push_back(t.numel());
        float* p = t.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = (p[i] + 10.0f) / 2.0f;
    };
    average_gradients(c, {&p0, &p1, &p2, &p3}, 8 * sizeof(float));  // buckets of at most 8 floats
    CHECK(bucket_sizes == std::vector<int64_t>{6, 7});  // p0 | p1 + p2
    CHECK(p0.grad().to_vector() == std::vector<float>{5.5f, 6, 6.5f, 7, 7.5f, 8});
    CHECK(p0.grad().shape() == Shape{3, 2});
    CHECK(p1.grad().to_vector() == std::vector<float>{4.5f, 4, 3.5f, 3, 2.5f});
    CHECK(p2.grad().to_vector() == std::vector<float>{5, 5});
    CHECK_FALSE(p3.grad().defined());
    // One rank: nothing happens (no collective at all).
    SingleProcess one;
    average_gradients(one, {&p0});
    CHECK(p0.grad().to_vector() == std::vector<float>{5.5f, 6, 6.5f, 7, 7.5f, 8});
}
