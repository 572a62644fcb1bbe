// test_cuda_basics.cpp: the CUDA skeleton: device query, host<->device copies,
// a kernel launch, and the messages of a build or machine without CUDA.
// Cases that need a GPU skip themselves (with a printed reason) when none is present.
#include "autograd/ops.h"
#include "tensor/cuda_backend.h"
#include "tests/testing.h"

using namespace eng;

TEST_CASE("cuda: a CUDA tensor without a usable GPU raises a clear error") {
    if (cuda::is_available()) {
        MESSAGE("skipped: a GPU is present (" << cuda::device_summary() << ")");
        return;
    }
    if (!cuda::built_with_cuda()) {
        CHECK_THROWS_CONTAINING(zeros({2}, {DType::f32, Device::CUDA}),
                                "this build has no CUDA support: install the CUDA toolkit and rebuild");
    } else {
        CHECK_THROWS_CONTAINING(zeros({2}, {DType::f32, Device::CUDA}), "no CUDA device is available");
    }
    MESSAGE("CUDA: " << cuda::device_summary());
}

TEST_CASE("cuda: copies round-trip and the add kernel matches the CPU") {
    if (!cuda::is_available()) {
        MESSAGE("skipped: no GPU (" << cuda::device_summary() << ")");
        return;
    }
    Generator g(1);
    Tensor a = randn({1000, 3}, &g), b = randn({1000, 3}, &g);
    Tensor da = a.to(Device::CUDA), db = b.to(Device::CUDA);
    CHECK(da.is_cuda());
    CHECK(da.to(Device::CPU).to_vector() == a.to_vector());
    Tensor sum_gpu = add(da, db);
    CHECK(sum_gpu.is_cuda());
    CHECK(sum_gpu.to(Device::CPU).to_vector() == add(a, b).to_vector());
    // A strided view packed on the device equals the CPU packing.
    Tensor t = raw_transpose(da, 0, 1).contiguous();
    CHECK(t.to(Device::CPU).to_vector() == raw_transpose(a, 0, 1).contiguous().to_vector());
    Tensor z = zeros({5}, {DType::f32, Device::CUDA});
    z.fill_(2.5f);
    CHECK(z.to_vector() == std::vector<float>(5, 2.5f));
}
