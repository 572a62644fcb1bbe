// comm.h: collective communication between the processes (ranks) of a
// data-parallel run, and the pieces of data parallelism built on it.
//
// A Communicator connects the W ranks of one run.  Three implementations:
//   SingleProcess    W = 1; every collective is the identity (no library needed)
//   MPI              CPU tensors (f32, i32) over MPI; built with `make MPI=1`
//                    (nn/comm_mpi.cpp, ENG_MPI)
//   NCCL             CUDA tensors (f32, bf16, i32); the NCCL unique id goes from
//                    rank 0 to the others over MPI; built with `make MPI=1` when
//                    CUDA is on (nn/comm_nccl.cpp + cuda/nccl.cpp, ENG_NCCL)
// make_communicator() picks one: MPI/NCCL when the process was started by
// mpirun (or another MPI launcher) and the build has MPI, SingleProcess when
// it was started alone.  Started by mpirun with W > 1 in a build without MPI,
// it throws (rebuild with make MPI=1) instead of silently running W copies.
//
// Every collective must be called by all ranks in the same order with tensors
// of the same shape and dtype (checked where it is cheap: all_gather and
// broadcast compare shapes first).  Tensors are updated in place and must be
// contiguous.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace eng::nn {

// A collective that has been started and may still be running (all_reduce_mean_async).
class PendingCollective {
public:
    virtual ~PendingCollective() = default;
    virtual void wait() = 0;  // completes it: the tensor holds the result afterwards
    virtual void poke() {}    // lets the library make progress (MPI progresses only inside its calls)
};

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int world_size() const = 0;
    // "single process", "MPI (Open MPI v4.1.4)", "NCCL 2.21.5 over MPI"
    virtual std::string name() const = 0;
    // Where its tensors must live (SingleProcess accepts both).
    virtual Device device() const = 0;

    // t <- Σ_ranks t (in place, contiguous, same shape everywhere).
    virtual void all_reduce_sum(Tensor& t) = 0;
    // t <- (1/W) Σ_ranks t.  Integer tensors are rejected (the mean is not one).
    virtual void all_reduce_mean(Tensor& t);
    // The same, started now and completed by wait() on the result; t must stay
    // untouched until then.  Default: done at once (MPI overrides it with a
    // non-blocking MPI_Iallreduce; NCCL enqueues on the stream, which is
    // already asynchronous for the host).
    virtual std::unique_ptr<PendingCollective> all_reduce_mean_async(Tensor& t);
    // Concatenation along dim 0 of every rank's t (rank order); all ranks pass
    // the same shape.  Returns a new contiguous tensor [W·t.size(0), ...].
    virtual Tensor all_gather(const Tensor& t) = 0;
    // t <- root's t on every rank.
    virtual void broadcast(Tensor& t, int root = 0) = 0;
    virtual void barrier() = 0;

    bool is_main() const { return rank() == 0; }
};

// W = 1: collectives are the identity.
class SingleProcess : public Communicator {
public:
    int rank() const override { return 0; }
    int world_size() const override { return 1; }
    std::string name() const override { return "single process"; }
    Device device() const override { return Device::CPU; }
    void all_reduce_sum(Tensor& t) override;
    void all_reduce_mean(Tensor& t) override;
    Tensor all_gather(const Tensor& t) override;
    void broadcast(Tensor& t, int root = 0) override;
    void barrier() override {}
};

// ---- launching -------------------------------------------------------------------

// The world size the launcher announced in the environment (OMPI_COMM_WORLD_SIZE,
// PMI_SIZE, MV2_COMM_WORLD_SIZE), 0 when the process was not started by one.
int launcher_world_size();
// The rank on this machine (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, ...), 0 if unknown.
int launcher_local_rank();
bool built_with_mpi();   // make MPI=1
bool built_with_nccl();  // make MPI=1 with CUDA on

// The communicator of this process: for `device` CPU, MPI when started by an
// MPI launcher (with any -np, 1 included), else SingleProcess; for CUDA, NCCL
// when started by a launcher, else SingleProcess.  Throws when started by a
// launcher with W > 1 but built without MPI (or NCCL for CUDA).  MPI is
// initialised once per process and finalised at exit.
std::shared_ptr<Communicator> make_communicator(Device device = Device::CPU);
// The NCCL communicator itself: over the MPI world when started by a launcher,
// else a one-rank NCCL clique (no MPI needed: the GPU checks use it).  Throws
// in a build without NCCL or on a machine without a GPU.
std::shared_ptr<Communicator> make_nccl_communicator();

// Ends every rank of the run after an error on this one (MPI_Abort); without
// MPI (or when MPI was never initialised) it returns and the caller exits.
void abort_world(int exit_code);

// ---- data parallelism ---------------------------------------------------------------

// Differentiable all-gather of rows: forward = comm.all_gather(x) ([W·B, ...],
// rank r's rows at [r·B, (r+1)·B)); backward = the adjoint of the gather when
// the objective is the SUM of every rank's loss: the incoming gradients are
// summed over ranks (all_reduce_sum) and each rank keeps the slice of its own
// rows.  With the gradient averaging of data parallelism (÷W) this gives, for
// a loss L computed identically on every rank over the gathered rows,
//   (1/W) Σ_r [W · ∂L/∂x_r · ∂x_r/∂θ] = Σ_r ∂L/∂x_r · ∂x_r/∂θ = ∂L/∂θ,
// i.e. exactly the gradient of one process computing L on the full batch (see
// comm.cpp for the derivation).  The communicator must outlive the graph.
Tensor all_gather_rows(Communicator& comm, const Tensor& x);

// Averages the gradients of `params` over the ranks (all_reduce_mean), packed
// into flat buckets of at most bucket_bytes (per dtype and device) so that one
// collective moves many small tensors.  A parameter whose gradient is defined
// on some ranks but not on others gets zeros where it is missing (a rank that
// did not use it contributed nothing); one with no gradient anywhere stays
// without (the optimiser skips it).  Runs after the backward pass.
void average_gradients(Communicator& comm, const std::vector<Tensor*>& params, size_t bucket_bytes = 25u << 20);

// Copies every parameter and buffer of `module` from rank `root` to the others
// (the start of a run: all ranks begin from the same weights).
void broadcast_module(Communicator& comm, Module& module, int root = 0);

}  // namespace eng::nn
