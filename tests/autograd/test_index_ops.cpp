// test_index_ops.cpp: concat, stack, index_select, gather and scatter_add:
// forward against plain loops (also on non-contiguous views), backward with
// gradcheck, and the out-of-range / shape error messages.
#include "tests/testing.h"

#include "autograd/ops.h"
#include "tensor/index_ops.h"

using namespace eng;

namespace {

Tensor param(const Shape& s, uint64_t seed) {
    Generator g(seed);
    return randn(s, &g).set_requires_grad(true);
}

// Element at multi-index `p` of a (possibly strided) f32 tensor.
float at(const Tensor& t, const std::vector<int64_t>& p) {
    int64_t off = 0;
    for (size_t d = 0; d < p.size(); ++d) off += p[d] * t.strides()[d];
    return t.data<float>()[off];
}

// Visits every multi-index of `shape` in row-major order.
template <typename F>
void for_each_index(const Shape& shape, F f) {
    int64_t n = shape_numel(shape);
    std::vector<int64_t> p(shape.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
        f(p);
        for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
            if (++p[size_t(d)] < shape[size_t(d)]) break;
            p[size_t(d)] = 0;
        }
    }
}

Tensor random_index(const Shape& shape, int64_t high, uint64_t seed) {
    Generator g(seed);
    return randint(0, high, shape, &g);
}

}  // namespace

TEST_CASE("index_ops: concat and stack forward match plain loops, views included") {
    Tensor a = param({2, 3, 4}, 1).detach(), b = param({2, 5, 4}, 2).detach();
    Tensor c = raw_transpose(param({4, 2, 2}, 3).detach(), 0, 2);  // [2, 2, 4], non-contiguous
    Tensor out = concat({a, b, c}, 1);
    REQUIRE(out.shape() == Shape{2, 10, 4});
    std::vector<float> want;
    for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 10; ++j)
            for (int64_t k = 0; k < 4; ++k)
                want.push_back(j < 3 ? at(a, {i, j, k}) : j < 8 ? at(b, {i, j - 3, k}) : at(c, {i, j - 8, k}));
    CHECK_CLOSE(out, want, 0, 0);
    CHECK_CLOSE(concat({a, b, c}, -2), want, 0, 0);

    // i32 tensors concatenate too (token ids).
    Tensor i1 = from_ivector({1, 2}, {2}), i2 = from_ivector({3}, {1});
    CHECK(concat({i1, i2}).to_ivector() == std::vector<int32_t>{1, 2, 3});

    Tensor x = param({3, 2}, 4).detach(), y = raw_transpose(param({2, 3}, 5).detach(), 0, 1);
    for (int64_t dim : {0, 1, 2, -1}) {
        Tensor s = stack({x, y}, dim);
        int64_t dd = dim < 0 ? dim + 3 : dim;
        Shape ws = {3, 2};
        ws.insert(ws.begin() + dd, 2);
        REQUIRE(s.shape() == ws);
        std::vector<float> w;
        for_each_index(ws, [&](const std::vector<int64_t>& p) {
            std::vector<int64_t> q = p;
            int64_t which = q[size_t(dd)];
            q.erase(q.begin() + dd);
            w.push_back(at(which == 0 ? x : y, q));
        });
        CHECK_CLOSE(s, w, 0, 0);
    }
}

TEST_CASE("index_ops: concat and stack backward (gradcheck)") {
    Tensor a = param({2, 3}, 11), b = param({2, 1}, 12), c = param({2, 2}, 13);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat(in, 1); }, {a, b, c});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 0); },
                    {param({1, 3}, 14), param({4, 3}, 15)});
    // A constant input gets no gradient while the others still do.
    Tensor k = param({2, 3}, 16).detach();
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return concat({k, in[0]}, 0); }, {param({2, 3}, 17)});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, 1); }, {param({3, 2}, 18), param({3, 2}, 19)});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mul(stack(in, 0), stack(in, 2)); },
                    {param({2, 2}, 20), param({2, 2}, 21)});
}

TEST_CASE("index_ops: index_select forward, repeated indices, and backward") {
    Tensor x = raw_permute(param({5, 3, 4}, 31).detach(), {1, 0, 2});  // [3, 5, 4] non-contiguous
    Tensor idx = from_ivector({4, 0, 4, 2, 1, 4}, {6});
    Tensor out = index_select(x, 1, idx);
    REQUIRE(out.shape() == Shape{3, 6, 4});
    std::vector<float> want;
    for_each_index(out.shape(), [&](const std::vector<int64_t>& p) {
        want.push_back(at(x, {p[0], idx.to_ivector()[size_t(p[1])], p[2]}));
    });
    CHECK_CLOSE(out, want, 0, 0);
    // Row gather along dim 0 (embedding-like) and along the last dim.
    CHECK_CLOSE(index_select(x, 0, from_ivector({2, 2}, {2})), concat({raw_narrow(x, 0, 2, 1), raw_narrow(x, 0, 2, 1)}, 0), 0, 0);
    CHECK_CLOSE(index_select(x, -1, from_ivector({3}, {1})), raw_narrow(x, 2, 3, 1).contiguous(), 0, 0);

    // Backward: the row picked three times collects three gradients.
    Tensor p = param({3, 5, 4}, 32);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return index_select(in[0], 1, idx); }, {p});
    Tensor w = param({3, 6, 4}, 33).detach();
    Tensor loss = sum(mul(index_select(p, 1, idx), w));
    backward(loss);
    std::vector<float> gw(3 * 5 * 4, 0.0f);
    std::vector<int32_t> iv = idx.to_ivector();
    for_each_index(w.shape(), [&](const std::vector<int64_t>& q) {
        gw[size_t((q[0] * 5 + iv[size_t(q[1])]) * 4 + q[2])] += at(w, q);
    });
    CHECK_CLOSE(p.grad(), gw, 1e-6, 1e-6);
}

TEST_CASE("index_ops: gather and scatter_add forward match plain loops") {
    // gather with an index smaller than x in a non-gather dim, on a strided input.
    Tensor x = raw_transpose(param({6, 4}, 41).detach(), 0, 1);  // [4, 6]
    for (int64_t dim : {0, 1}) {
        Shape is = dim == 0 ? Shape{7, 5} : Shape{3, 9};
        Tensor idx = random_index(is, x.shape()[size_t(dim)], 42 + uint64_t(dim));
        std::vector<int32_t> iv = idx.to_ivector();
        Tensor out = gather(x, dim, idx);
        REQUIRE(out.shape() == is);
        std::vector<float> want;
        int64_t n = 0;
        for_each_index(is, [&](const std::vector<int64_t>& p) {
            std::vector<int64_t> q = p;
            q[size_t(dim)] = iv[size_t(n++)];
            want.push_back(at(x, q));
        });
        CHECK_CLOSE(out, want, 0, 0);
    }
    // 3-D scatter_add with collisions, src larger than index.
    Tensor base = param({3, 4, 5}, 44).detach();
    for (int64_t dim : {0, 1, 2}) {
        Shape is = {2, 3, 4};
        is[size_t(dim)] = 6;  // more entries than base has along dim: collisions
        Tensor idx = random_index(is, base.shape()[size_t(dim)], 46 + uint64_t(dim));
        // src one larger than index in every dim, as a non-contiguous view.
        Tensor src = raw_transpose(param({is[0] + 1, is[2] + 1, is[1] + 1}, 47).detach(), 1, 2);
        std::vector<int32_t> iv = idx.to_ivector();
        std::vector<float> want = base.to_vector();
        int64_t n = 0;
        for_each_index(is, [&](const std::vector<int64_t>& p) {
            std::vector<int64_t> q = p;
            q[size_t(dim)] = iv[size_t(n++)];
            want[size_t((q[0] * 4 + q[1]) * 5 + q[2])] += at(src, p);
        });
        CHECK_CLOSE(scatter_add(base, dim, idx, src), want, 1e-6, 1e-6);
    }
}

TEST_CASE("index_ops: gather and scatter_add backward (gradcheck)") {
    Tensor idx = random_index({4, 3}, 5, 51);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return gather(in[0], 1, idx); }, {param({4, 5}, 52)});
    Tensor idx0 = random_index({6, 2}, 3, 53);  // many collisions along dim 0
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return gather(in[0], 0, idx0); }, {param({3, 4}, 54)});
    Tensor sidx = random_index({2, 5}, 4, 55);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, sidx, in[1]); },
                    {param({3, 4}, 56), param({2, 6}, 57)});  // src larger than index
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return mul(scatter_add(in[0], 1, sidx, in[1]), in[0]); },
                    {param({2, 4}, 58), param({2, 5}, 59)});
    // Only src requires grad.
    Tensor base = param({2, 4}, 60).detach();
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return scatter_add(base, 1, sidx, in[0]); }, {param({2, 5}, 61)});
}

TEST_CASE("index_ops: errors name the op, the index and the shapes") {
    Tensor x = zeros({3, 4});
    CHECK_THROWS_CONTAINING(index_select(x, 1, from_ivector({0, 4}, {2})),
                            "index_select: index 4 is out of range for dimension 1 of size 4");
    CHECK_THROWS_CONTAINING(index_select(x, 0, from_ivector({-1}, {1})), "index -1 is out of range for dimension 0 of size 3");
    CHECK_THROWS_CONTAINING(index_select(x, 0, zeros({2})), "index_select");
    CHECK_THROWS_CONTAINING(index_select(x, 2, from_ivector({0}, {1})), "index_select");
    CHECK_THROWS_CONTAINING(gather(x, 0, from_ivector({0, 1, 2, 3}, {2, 2})),
                            "gather: index 3 is out of range for dimension 0 of size 3");
    CHECK_THROWS_CONTAINING(gather(x, 0, from_ivector({0, 0, 0, 0, 0}, {1, 5})), "larger than the input [3, 4]");
    CHECK_THROWS_CONTAINING(gather(x, 0, from_ivector({0}, {1})), "must have as many dimensions");
    CHECK_THROWS_CONTAINING(scatter_add(x, 1, from_ivector({7}, {1, 1}), ones({1, 1})),
                            "scatter_add: index 7 is out of range for dimension 1 of size 4");
    CHECK_THROWS_CONTAINING(scatter_add(x, 1, from_ivector({0, 1}, {1, 2}), ones({1, 1})), "larger than src [1, 1]");
    CHECK_THROWS_CONTAINING(concat({zeros({2, 3}), zeros({3, 3})}, 1),
                            "concat: tensor 1 has shape [3, 3] but tensor 0 has [2, 3]");
    CHECK_THROWS_CONTAINING(concat({zeros({2}), zeros({2}, {DType::i32})}, 0), "concat: tensor 1 has dtype i32");
    CHECK_THROWS_CONTAINING(concat({}, 0), "concat: needs at least one tensor");
    CHECK_THROWS_CONTAINING(stack({zeros({2, 3}), zeros({3, 2})}, 0), "stack: tensor 1 has shape [3, 2]");
    CHECK_THROWS_CONTAINING(stack({param({2}, 1), param({3}, 2)}, 0), "stack: tensor 1 has shape [3]");
    CHECK_THROWS_CONTAINING(concat({zeros({2, 3})}, 2), "concat");
}
