// nccl.cpp: NCCL calls for the NCCL communicator (see nccl.h).  Built with
// g++ (no kernels here) and only when the build has NCCL (ENG_NCCL); -lnccl.
#if defined(ENG_NCCL) && ENG_NCCL
#include "cuda/nccl.h"

#include <nccl.h>

#include <cstring>

#include <cuda_runtime.h>

#include "tensor/check.h"

#define NCCL_CUDA_CHECK(call)                                                                        \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) ENG_FAIL("CUDA error in ", #call, ": ", cudaGetErrorString(e_));       \
    } while (0)

#define NCCL_CHECK(call)                                                                                    \
    do {                                                                                                    \
        ncclResult_t r_ = (call);                                                                           \
        if (r_ != ncclSuccess)                                                                              \
            ENG_FAIL("NCCL error in ", #call, ": ", ncclGetErrorString(r_),                                 \
                     ". HINT: run with NCCL_DEBUG=INFO for details (network interface: NCCL_SOCKET_IFNAME)"); \
    } while (0)

namespace eng::cuda::nccl {

struct Comm {
    ncclComm_t comm = nullptr;
    int device = 0;
};

static ncclDataType_t nccl_type(DType t) {
    switch (t) {
        case DType::f32: return ncclFloat32;
        case DType::bf16: return ncclBfloat16;
        case DType::i32: return ncclInt32;
    }
    ENG_FAIL("nccl: unknown dtype");
}

std::string version() {
    int v = 0;
    NCCL_CHECK(ncclGetVersion(&v));
    // Since 2.9 the code is major*10000 + minor*100 + patch.
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

void get_unique_id(void* out) {
    ncclUniqueId id;
    NCCL_CHECK(ncclGetUniqueId(&id));
    static_assert(sizeof(id) == kUniqueIdBytes, "NCCL_UNIQUE_ID_BYTES changed");
    std::memcpy(out, &id, sizeof(id));
}

Comm* init_rank(int world, int rank, const void* unique_id, int local_rank) {
    int n = 0;
    NCCL_CUDA_CHECK(cudaGetDeviceCount(&n));
    ENG_CHECK(n > 0, "nccl: no CUDA device on this machine (rank ", rank, ")");
    auto* c = new Comm;
    c->device = local_rank % n;
    NCCL_CUDA_CHECK(cudaSetDevice(c->device));
    ncclUniqueId id;
    std::memcpy(&id, unique_id, sizeof(id));
    ncclResult_t r = ncclCommInitRank(&c->comm, world, id, rank);
    if (r != ncclSuccess) {
        delete c;
        NCCL_CHECK(r);
    }
    return c;
}

void destroy(Comm* c) {
    if (!c) return;
    if (c->comm) ncclCommDestroy(c->comm);
    delete c;
}

int device_of(const Comm* c) { return c->device; }

void all_reduce(Comm* c, void* data, int64_t count, DType dtype, Op op) {
    NCCL_CHECK(ncclAllReduce(data, data, size_t(count), nccl_type(dtype), op == Op::Avg ? ncclAvg : ncclSum, c->comm,
                             cudaStream_t(0)));
    NCCL_CUDA_CHECK(cudaStreamSynchronize(0));
}

void all_gather(Comm* c, const void* send, void* recv, int64_t count_per_rank, DType dtype) {
    NCCL_CHECK(ncclAllGather(send, recv, size_t(count_per_rank), nccl_type(dtype), c->comm, cudaStream_t(0)));
    NCCL_CUDA_CHECK(cudaStreamSynchronize(0));
}

void broadcast(Comm* c, void* data, int64_t count, DType dtype, int root) {
    NCCL_CHECK(ncclBroadcast(data, data, size_t(count), nccl_type(dtype), root, c->comm, cudaStream_t(0)));
    NCCL_CUDA_CHECK(cudaStreamSynchronize(0));
}

}  // namespace eng::cuda::nccl
#endif  // ENG_NCCL
