// nccl.h: the thin layer over NCCL used by the NCCL communicator
// (nn/comm_nccl.cpp).  Compiled only when the build has NCCL (make MPI=1 with
// CUDA on: ENG_NCCL); pointers are device pointers; every call is issued on
// the default stream and waited for, so it is ordered with the rest of the
// CUDA backend (which also runs on the default stream).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace eng::cuda::nccl {

constexpr int kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES

struct Comm;  // an ncclComm_t and its device

std::string version();                  // "2.28.9" (the library actually loaded)
void get_unique_id(void* out);          // kUniqueIdBytes bytes; rank 0 calls it
// Joins the clique: selects GPU local_rank % device_count, then ncclCommInitRank.
Comm* init_rank(int world, int rank, const void* unique_id, int local_rank);
void destroy(Comm* comm);
int device_of(const Comm* comm);

enum class Op { Sum, Avg };
void all_reduce(Comm* comm, void* data, int64_t count, DType dtype, Op op);
void all_gather(Comm* comm, const void* send, void* recv, int64_t count_per_rank, DType dtype);
void broadcast(Comm* comm, void* data, int64_t count, DType dtype, int root);

}  // namespace eng::cuda::nccl
