// common.cuh: error checking for CUDA calls and kernel launches.
//
// CUDA_CHECK wraps every runtime call; after each kernel launch, check_launch()
// reads the launch error and, when the environment variable ENG_CUDA_SYNC=1 is
// set, synchronises so that an asynchronous fault is reported at the kernel that
// caused it rather than at some later call.
#pragma once
#include <cuda_runtime.h>

#include "tensor/check.h"

#define CUDA_CHECK(call)                                                                               \
    do {                                                                                               \
        cudaError_t err_ = (call);                                                                     \
        if (err_ != cudaSuccess) ENG_FAIL("CUDA error in ", #call, ": ", cudaGetErrorString(err_));    \
    } while (0)

namespace eng::cuda {

void check_launch(const char* kernel);  // defined in device.cu
inline int blocks_for(int64_t n, int threads) { return int((n + threads - 1) / threads); }

}  // namespace eng::cuda
