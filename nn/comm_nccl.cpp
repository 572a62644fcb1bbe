// comm_nccl.cpp: the NCCL communicator (CUDA tensors: f32, bf16, i32),
// compiled when the build has NCCL (make MPI=1 with CUDA on: ENG_NCCL).
//
// MPI starts the ranks and carries the setup: rank 0 creates the NCCL unique
// id and broadcasts it over MPI (a process started without a launcher makes a
// one-rank clique and needs no MPI); every rank then joins with ncclCommInitRank
// on GPU local_rank % device_count (so call make_communicator(Device::CUDA)
// before allocating CUDA tensors).  The cheap shape checks of all_gather and
// broadcast also go over MPI (host values); the data go over NCCL.
#include <memory>
#include <string>

#include "nn/comm.h"
#include "tensor/cuda_backend.h"

#if defined(ENG_NCCL) && ENG_NCCL
#include "cuda/nccl.h"
#endif

namespace eng::nn::detail {

std::shared_ptr<Communicator> make_mpi_communicator();

#if defined(ENG_NCCL) && ENG_NCCL

void mpi_broadcast_bytes(void* data, int nbytes, int root);  // comm_mpi.cpp

namespace {

class NcclCommunicator : public Communicator {
public:
    // Without a launcher: one rank, and the host-side checks need no MPI.
    NcclCommunicator()
        : mpi_(launcher_world_size() > 0 ? make_mpi_communicator() : std::make_shared<SingleProcess>()) {
        cuda::require_available("the NCCL communicator");
        char id[cuda::nccl::kUniqueIdBytes] = {};
        if (mpi_->rank() == 0) cuda::nccl::get_unique_id(id);
        if (mpi_->world_size() > 1) mpi_broadcast_bytes(id, int(sizeof(id)), 0);
        comm_ = cuda::nccl::init_rank(mpi_->world_size(), mpi_->rank(), id, launcher_local_rank());
        name_ = "NCCL " + cuda::nccl::version() + " over " + mpi_->name() + ", GPU " +
                std::to_string(cuda::nccl::device_of(comm_));
    }
    ~NcclCommunicator() override { cuda::nccl::destroy(comm_); }
    int rank() const override { return mpi_->rank(); }
    int world_size() const override { return mpi_->world_size(); }
    std::string name() const override { return name_; }
    Device device() const override { return Device::CUDA; }

    void all_reduce_sum(Tensor& t) override {
        check(t, "all_reduce_sum");
        cuda::nccl::all_reduce(comm_, t.raw_data(), t.numel(), t.dtype(), cuda::nccl::Op::Sum);
    }
    void all_reduce_mean(Tensor& t) override {
        check(t, "all_reduce_mean");
        ENG_CHECK(t.dtype() != DType::i32, "all_reduce_mean: integer tensors have no mean. HINT: use all_reduce_sum");
        cuda::nccl::all_reduce(comm_, t.raw_data(), t.numel(), t.dtype(), cuda::nccl::Op::Avg);
    }
    Tensor all_gather(const Tensor& t) override {
        check(t, "all_gather");
        ENG_CHECK(t.dim() >= 1, "all_gather: needs at least one dimension (rows are concatenated), got a scalar");
        // Same dtype and shape on every rank (the MPI gather checks it and fails everywhere alike).
        std::vector<int32_t> desc(10, 0);
        desc[0] = int32_t(t.dtype()), desc[1] = int32_t(t.dim());
        for (int64_t d = 0; d < t.dim() && d + 2 < 10; ++d) desc[size_t(d + 2)] = int32_t(t.size(d));
        Tensor all = mpi_->all_gather(from_ivector(desc, {1, 10}));
        std::vector<int32_t> v = all.to_ivector();
        for (int r = 0; r < world_size(); ++r)
            for (int k = 0; k < 10; ++k)
                ENG_CHECK(v[size_t(r * 10 + k)] == v[size_t(k)], "all_gather: rank ", r, " and rank 0 pass different "
                          "shapes or dtypes (this rank: ", shape_str(t.shape()), " ", dtype_name(t.dtype()), ")");
        Shape s = t.shape();
        s[0] *= world_size();
        Tensor out = empty(s, TensorOptions{t.dtype(), Device::CUDA});
        cuda::nccl::all_gather(comm_, t.raw_data(), out.raw_data(), t.numel(), t.dtype());
        return out;
    }
    void broadcast(Tensor& t, int root) override {
        check(t, "broadcast");
        ENG_CHECK(root >= 0 && root < world_size(), "broadcast: root ", root, " is not a rank of a world of ",
                  world_size());
        Tensor n = from_ivector({int32_t(t.numel() & 0x7fffffff), int32_t(t.numel() >> 31)}, {2});
        mpi_->broadcast(n, root);
        std::vector<int32_t> rn = n.to_ivector();
        Tensor bad = from_ivector({(int64_t(rn[1]) << 31 | rn[0]) == t.numel() ? 0 : 1}, {1});
        mpi_->all_reduce_sum(bad);  // all ranks fail alike
        ENG_CHECK(bad.to_ivector()[0] == 0, "broadcast: the ranks pass different element counts (rank ", rank(), ": ",
                  t.numel(), "). HINT: every rank must build the same model");
        cuda::nccl::broadcast(comm_, t.raw_data(), t.numel(), t.dtype(), root);
    }
    void barrier() override {
        cuda::synchronize();
        mpi_->barrier();
    }

private:
    void check(const Tensor& t, const char* op) const {
        ENG_CHECK(t.defined() && t.device() == Device::CUDA, op,
                  ": the NCCL communicator works on CUDA tensors. HINT: CPU tensors go through the MPI communicator");
        ENG_CHECK(t.is_contiguous(), op, ": the tensor ", shape_str(t.shape()), " must be contiguous");
    }

    std::shared_ptr<Communicator> mpi_;
    cuda::nccl::Comm* comm_ = nullptr;
    std::string name_;
};

}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator() { return std::make_shared<NcclCommunicator>(); }

#else

std::shared_ptr<Communicator> make_nccl_communicator() {
    ENG_FAIL("this build has no NCCL support: rebuild with make MPI=1 on a machine with the CUDA toolkit");
}

#endif

}  // namespace eng::nn::detail
