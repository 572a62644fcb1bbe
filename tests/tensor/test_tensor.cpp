// test_tensor.cpp: Tensor storage, creation, views, copies, dtypes and printing.
#include "tests/testing.h"

#include "tensor/tensor.h"

using namespace eng;

TEST_CASE("tensor: creation functions fill shape and values") {
    Tensor z = zeros({2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.strides() == Shape{3, 1});
    CHECK(z.numel() == 6);
    CHECK_CLOSE(z, std::vector<float>(6, 0.0f), 0, 0);
    CHECK_CLOSE(ones({4}), std::vector<float>(4, 1.0f), 0, 0);
    CHECK_CLOSE(full({2, 2}, 3.5f), std::vector<float>(4, 3.5f), 0, 0);
    CHECK_CLOSE(arange(2, 11, 3), std::vector<float>{2, 5, 8}, 0, 0);
    CHECK_CLOSE(arange(5, 0, -2), std::vector<float>{5, 3, 1}, 0, 0);
    CHECK(arange(0, 4, 1, {DType::i32}).to_ivector() == std::vector<int32_t>{0, 1, 2, 3});
    // Integers beyond 2^24 (a float's exact range) stay exact in i32.
    CHECK(arange(16777215, 16777221, 1, {DType::i32}).to_ivector() ==
          std::vector<int32_t>{16777215, 16777216, 16777217, 16777218, 16777219, 16777220});
    CHECK_THROWS_CONTAINING(arange(0, int64_t(1) << 32, int64_t(1) << 31, {DType::i32}), "do not fit in i32");
    CHECK(scalar_tensor(2.0f).dim() == 0);
    CHECK(scalar_tensor(2.0f).item() == 2.0f);
    Tensor f = from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
    CHECK(f.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
    CHECK_THROWS_CONTAINING(from_vector({1, 2, 3}, {2, 2}), "do not fill shape [2, 2]");
    CHECK_THROWS_CONTAINING(empty({2, -1}), "negative dimension");
}

TEST_CASE("tensor: views share storage and follow strides") {
    Tensor t = arange(0, 24).view({2, 3, 4});
    Tensor p = raw_permute(t, {2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.strides() == Shape{1, 12, 4});
    CHECK(!p.is_contiguous());
    CHECK(p.storage() == t.storage());
    // Element [i, j, k] of the permuted view is t[j, k, i] = 12j + 4k + i.
    std::vector<float> v = p.to_vector();
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 3; ++k) CHECK(v[size_t(i * 6 + j * 3 + k)] == float(12 * j + 4 * k + i));
    Tensor n = raw_narrow(t, 2, 1, 2);  // t[:, :, 1:3]
    CHECK(n.shape() == Shape{2, 3, 2});
    CHECK(n.offset() == 1);
    CHECK(n.to_vector()[3] == 6.0f);  // t[0,1,2]
    Tensor u = raw_unsqueeze(t, 1);
    CHECK(u.shape() == Shape{2, 1, 3, 4});
    CHECK(raw_squeeze(u, 1).shape() == Shape{2, 3, 4});
    Tensor e = raw_expand(from_vector({1, 2, 3}, {3, 1}), {2, 3, 4});
    CHECK(e.strides() == Shape{0, 1, 0});
    CHECK(e.to_vector()[4 + 4 + 1] == 3.0f);  // [0, 2, 1]
    Tensor r = raw_reshape(p, {4, 6});  // non-contiguous: reshape copies
    CHECK(r.is_contiguous());
    CHECK(r.to_vector() == p.to_vector());
    CHECK(t.view({-1, 4}).shape() == Shape{6, 4});
    Tensor tr = raw_transpose(t, 0, 2);
    CHECK(tr.shape() == Shape{4, 3, 2});
    CHECK(tr.contiguous().to_vector()[1] == 12.0f);  // tr[0,0,1] = t[1,0,0]
}

TEST_CASE("tensor: view errors name the operation and shapes") {
    Tensor t = zeros({2, 3});
    CHECK_THROWS_CONTAINING(t.view({4, 2}), "cannot reshape [2, 3]");
    CHECK_THROWS_CONTAINING(raw_permute(t, {0, 0}), "repeated");
    CHECK_THROWS_CONTAINING(raw_narrow(t, 1, 2, 2), "narrow: range [2, 4)");
    CHECK_THROWS_CONTAINING(raw_expand(t, {2, 4}), "cannot grow to 4");
    CHECK_THROWS_CONTAINING(raw_squeeze(t, 0), "has size 2, not 1");
    CHECK_THROWS_CONTAINING(raw_transpose(t, 0, 5), "dimension 5 is out of range");
    CHECK_THROWS_CONTAINING(raw_permute(t, {2, 0}).view({6}), "");
    CHECK_THROWS_CONTAINING(raw_transpose(t, 0, 1).view({6}), "not contiguous");
    CHECK_THROWS_CONTAINING(t.as_strided({3, 3}, {3, 1}, 0), "outside its storage");
}

TEST_CASE("tensor: copy_ into a strided view writes the right elements") {
    Tensor t = zeros({3, 4});
    Tensor col = raw_narrow(t, 1, 2, 1);  // column 2
    col.copy_(from_vector({7, 8, 9}, {3, 1}));
    std::vector<float> v = t.to_vector();
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) CHECK(v[size_t(i * 4 + j)] == (j == 2 ? float(7 + i) : 0.0f));
    Tensor src = raw_transpose(arange(0, 12).view({4, 3}), 0, 1);  // non-contiguous source
    t.copy_(src);
    CHECK(t.to_vector()[1] == 3.0f);
    CHECK_THROWS_CONTAINING(t.copy_(zeros({4, 3})), "copy_: destination [3, 4] and source [4, 3]");
}

TEST_CASE("tensor: bf16 conversion rounds to nearest even and keeps specials") {
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
    CHECK(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)) == 1.0f);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
    CHECK(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)) == 1.0f + 1.0f / 64);
    CHECK(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 128)) == 1.0f + 1.0f / 128);
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
    CHECK(std::isinf(bf16_to_f32(f32_to_bf16(INFINITY))));
    Tensor x = from_vector({1.5f, -2.25f, 3.0e38f, 0.1f}, {4});
    Tensor h = x.to(DType::bf16);
    CHECK(h.dtype() == DType::bf16);
    CHECK(h.storage()->nbytes == 8);
    std::vector<float> back = h.to_vector();
    CHECK(back[0] == 1.5f);
    CHECK(back[1] == -2.25f);
    CHECK(std::fabs(back[3] - 0.1f) < 0.001f);
    CHECK(raw_narrow(h, 0, 0, 2).to(DType::i32).to_ivector() == std::vector<int32_t>{1, -2});  // truncation
    CHECK_THROWS_CONTAINING(h.to(DType::i32), "does not fit in i32");
}

TEST_CASE("tensor: i32 tensors convert and refuse gradients") {
    Tensor i = from_ivector({3, -1, 7}, {3});
    CHECK(i.to(DType::f32).to_vector() == std::vector<float>{3, -1, 7});
    CHECK_THROWS_CONTAINING(i.set_requires_grad(true), "integer tensors cannot require gradients");
    CHECK_THROWS_CONTAINING(from_vector({1e10f}, {1}).to(DType::i32), "does not fit in i32");
    CHECK_THROWS_CONTAINING(i.item(), "has 3 elements, not 1");
}

TEST_CASE("tensor: printing shows dtype, device, shape and values") {
    Tensor t = from_vector({1, 2, 3, 4}, {2, 2});
    std::string s = t.str();
    CHECK(s.find("f32") != std::string::npos);
    CHECK(s.find("cpu") != std::string::npos);
    CHECK(s.find("[2, 2]") != std::string::npos);
    CHECK(s.find("max 4") != std::string::npos);
    CHECK(s.find("[3, 4]") != std::string::npos);
    CHECK(Tensor().str() == "Tensor(undefined)");
    CHECK_THROWS_CONTAINING(Tensor().shape(), "undefined tensor");
}

TEST_CASE("tensor: broadcast_shapes follows NumPy rules") {
    CHECK(broadcast_shapes({3, 1, 5}, {4, 1}, "t") == Shape{3, 4, 5});
    CHECK(broadcast_shapes({}, {2}, "t") == Shape{2});
    CHECK_THROWS_CONTAINING(broadcast_shapes({3, 2}, {3}, "add"), "add: shapes [3, 2] and [3] cannot be broadcast");
}
