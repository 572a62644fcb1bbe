// test_embedding.cpp: embedding lookup and its scatter-add backward against
// reference loops, finite differences, determinism, and id range errors.
#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

namespace {

std::vector<float> ref_lookup(const Tensor& w, const std::vector<int32_t>& ids) {
    std::vector<float> wv = w.contiguous().to_vector(), out;
    int64_t D = w.size(1);
    for (int32_t id : ids)
        for (int64_t j = 0; j < D; ++j) out.push_back(wv[size_t(int64_t(id) * D + j)]);
    return out;
}

// dW[v, :] = Σ over positions p with ids[p] = v of g[p, :]
std::vector<float> ref_scatter(const std::vector<float>& g, const std::vector<int32_t>& ids, int64_t V, int64_t D) {
    std::vector<double> acc(size_t(V * D), 0.0);
    for (size_t p = 0; p < ids.size(); ++p)
        for (int64_t j = 0; j < D; ++j) acc[size_t(int64_t(ids[p]) * D + j)] += g[p * size_t(D) + size_t(j)];
    return std::vector<float>(acc.begin(), acc.end());
}

}  // namespace

TEST_CASE("embedding: forward gathers rows (any ids shape, non-contiguous table)") {
    Generator g(51);
    Tensor w = uniform({10, 4}, -1, 1, &g);
    std::vector<int32_t> ids = {3, 0, 9, 3, 5, 1};
    Tensor y = embedding(w, from_ivector(ids, {2, 3}));
    CHECK(y.shape() == Shape{2, 3, 4});
    CHECK_CLOSE(y, ref_lookup(w, ids), 0, 0);
    // 1-D ids and a transposed (strided) table
    Tensor wt = transpose(uniform({5, 7}, -1, 1, &g), 0, 1);  // [7, 5]
    REQUIRE(!wt.is_contiguous());
    std::vector<int32_t> ids2 = {6, 6, 0, 2};
    CHECK_CLOSE(embedding(wt, from_ivector(ids2, {4})), ref_lookup(wt, ids2), 0, 0);
}

TEST_CASE("embedding: backward scatter-adds repeated ids, deterministically") {
    Generator g(52);
    int64_t V = 37, D = 150, n = 400;  // large enough for the threaded path, D spans several column blocks
    Tensor w = uniform({V, D}, -1, 1, &g);
    w.set_requires_grad(true);
    Tensor ids = randint(0, V, {n}, &g);
    Tensor up = uniform({n, D}, -1, 1, &g);
    backward(embedding(w, ids), up);
    Tensor first = w.grad().clone();
    CHECK_CLOSE(first, ref_scatter(up.to_vector(), ids.to_ivector(), V, D), 1e-5, 1e-5);
    w.set_grad(Tensor());
    backward(embedding(w, ids), up);
    CHECK_CLOSE(w.grad(), first, 0, 0);  // bitwise identical on a rerun
}

TEST_CASE("embedding: weight gradient matches finite differences") {
    Generator g(53);
    Tensor w = uniform({6, 3}, -1, 1, &g);
    w.set_requires_grad(true);
    Tensor ids = from_ivector({1, 4, 1, 0, 5, 1}, {3, 2});
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return embedding(in[0], ids); }, {w});
}

TEST_CASE("embedding: errors name the id and V") {
    Tensor w = zeros({10, 4});
    CHECK_THROWS_CONTAINING(embedding(w, from_ivector({1, 10}, {2})),
                            "embedding: id 10 at position 1 of ids [2] is out of range for a table of V = 10 rows");
    CHECK_THROWS_CONTAINING(embedding(w, from_ivector({-3}, {1})), "embedding: id -3");
    CHECK_THROWS_CONTAINING(embedding(w, zeros({2})), "embedding: ids must be i32");
    CHECK_THROWS_CONTAINING(embedding(zeros({10}), from_ivector({1}, {1})), "embedding: weight must be [V, D], got [10]");
}
