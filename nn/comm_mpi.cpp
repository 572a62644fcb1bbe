// comm_mpi.cpp: the MPI communicator (CPU tensors, f32 and i32), compiled
// with `make MPI=1` (ENG_MPI); without it, stubs that say how to get it.
//
// MPI is initialised once per process (MPI_Init_thread, FUNNELED: only the
// main thread calls MPI; the loader's threads and OpenMP never do) and
// finalised at exit.  Collectives use MPI_COMM_WORLD.  Counts above INT_MAX
// elements are sent in chunks (MPI counts are int).
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "nn/comm.h"

#if defined(ENG_MPI) && ENG_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (no MPI C++ bindings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace eng::nn::detail {

#if defined(ENG_MPI) && ENG_MPI

namespace {

void mpi_check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    ENG_FAIL("MPI error in ", what, ": ", std::string(msg, size_t(len)));
}

void finalize_at_exit() {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Finalize();
}

void init_once() {
    int init = 0;
    MPI_Initialized(&init);
    if (init) return;
    int provided = 0;
    mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    std::atexit(finalize_at_exit);
}

MPI_Datatype mpi_type(const Tensor& t, const char* op) {
    ENG_CHECK(t.device() == Device::CPU, op, ": the MPI communicator works on CPU tensors, got a CUDA tensor. "
              "HINT: CUDA tensors go through the NCCL communicator (make_communicator(Device::CUDA))");
    ENG_CHECK(t.is_contiguous(), op, ": the tensor ", shape_str(t.shape()), " must be contiguous");
    switch (t.dtype()) {
        case DType::f32: return MPI_FLOAT;
        case DType::i32: return MPI_INT;
        default: ENG_FAIL(op, ": MPI collectives support f32 and i32 tensors, got ", dtype_name(t.dtype()));
    }
}

// A started MPI_Iallreduce (in chunks of kChunk elements) of a mean.
struct MpiPendingMean : PendingCollective {
    Tensor t;  // kept alive (and untouched) until wait()
    int world = 1;
    std::vector<MPI_Request> requests;
    void poke() override {
        int done = 0;
        if (!requests.empty()) mpi_check(MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    }
    void wait() override {
        if (!requests.empty())
            mpi_check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
        requests.clear();
        // The same scaling as Communicator::all_reduce_mean: one f32 factor.
        const float f = float(1.0 / double(world));
        float* p = t.data<float>();
        for (int64_t i = 0, n = t.numel(); world > 1 && i < n; ++i) p[i] *= f;
    }
};

class MpiCommunicator : public Communicator {
public:
    MpiCommunicator() {
        init_once();
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &world_);
        char v[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(v, &len);
        std::string s(v, size_t(len));
        name_ = "MPI (" + s.substr(0, s.find_first_of(",\n")) + ")";
    }
    int rank() const override { return rank_; }
    int world_size() const override { return world_; }
    std::string name() const override { return name_; }
    Device device() const override { return Device::CPU; }

    void all_reduce_sum(Tensor& t) override {
        MPI_Datatype type = mpi_type(t, "all_reduce_sum");
        char* p = static_cast<char*>(t.raw_data());
        for (int64_t off = 0, n = t.numel(); off < n; off += kChunk) {
            int count = int(std::min<int64_t>(kChunk, n - off));
            mpi_check(MPI_Allreduce(MPI_IN_PLACE, p + off * 4, count, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
        }
    }

    std::unique_ptr<PendingCollective> all_reduce_mean_async(Tensor& t) override {
        ENG_CHECK(t.dtype() == DType::f32, "all_reduce_mean: needs an f32 tensor, got ", dtype_name(t.dtype()));
        MPI_Datatype type = mpi_type(t, "all_reduce_mean");
        auto pending = std::make_unique<MpiPendingMean>();
        pending->t = t;
        pending->world = world_;
        char* p = static_cast<char*>(t.raw_data());
        for (int64_t off = 0, n = t.numel(); off < n; off += kChunk) {
            MPI_Request r;
            const int count = int(std::min<int64_t>(kChunk, n - off));
            mpi_check(MPI_Iallreduce(MPI_IN_PLACE, p + off * 4, count, type, MPI_SUM, MPI_COMM_WORLD, &r),
                      "MPI_Iallreduce");
            pending->requests.push_back(r);
        }
        return pending;
    }

    Tensor all_gather(const Tensor& t) override {
        MPI_Datatype type = mpi_type(t, "all_gather");
        ENG_CHECK(t.dim() >= 1, "all_gather: needs at least one dimension (rows are concatenated), got a scalar");
        check_same_shape(t, "all_gather");
        Shape out_shape = t.shape();
        out_shape[0] *= world_;
        Tensor out = empty(out_shape, TensorOptions{t.dtype(), Device::CPU});
        const int64_t n = t.numel();
        if (n <= INT_MAX) {
            mpi_check(MPI_Allgather(t.raw_data(), int(n), type, out.raw_data(), int(n), type, MPI_COMM_WORLD),
                      "MPI_Allgather");
        } else {  // very large: one broadcast per rank
            for (int r = 0; r < world_; ++r) {
                Tensor part = raw_narrow(out, 0, r * t.size(0), t.size(0));
                if (r == rank_) part.copy_(t);
                broadcast_raw(part, r);
            }
        }
        return out;
    }

    void broadcast(Tensor& t, int root) override {
        mpi_type(t, "broadcast");
        ENG_CHECK(root >= 0 && root < world_, "broadcast: root ", root, " is not a rank of a world of ", world_);
        // Every rank must pass the root's element count (else MPI truncates or
        // hangs); all ranks learn whether all agree, so all fail alike.
        int64_t n = t.numel(), root_n = n;
        mpi_check(MPI_Bcast(&root_n, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
        int ok = root_n == n ? 1 : 0;
        mpi_check(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD), "MPI_Allreduce");
        ENG_CHECK(ok, "broadcast: the ranks pass different element counts (rank ", rank_, ": ", n, ", the root, rank ",
                  root, ": ", root_n, "). HINT: every rank must build the same model");
        broadcast_raw(t, root);
    }

    void barrier() override { mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

private:
    static constexpr int64_t kChunk = int64_t(1) << 30;

    void broadcast_raw(Tensor& t, int root) {
        MPI_Datatype type = mpi_type(t, "broadcast");
        char* p = static_cast<char*>(t.raw_data());
        for (int64_t off = 0, n = t.numel(); off < n; off += kChunk)
            mpi_check(MPI_Bcast(p + off * 4, int(std::min<int64_t>(kChunk, n - off)), type, root, MPI_COMM_WORLD),
                      "MPI_Bcast");
    }

    // Gathers every rank's (dtype, dims) and fails on every rank alike when they differ.
    void check_same_shape(const Tensor& t, const char* op) {
        constexpr int K = 10;
        int64_t mine[K] = {int64_t(t.dtype()), t.dim()};
        for (int64_t d = 0; d < t.dim() && d + 2 < K; ++d) mine[d + 2] = t.size(d);
        std::vector<int64_t> all(size_t(K * world_));
        mpi_check(MPI_Allgather(mine, K, MPI_INT64_T, all.data(), K, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
        for (int r = 0; r < world_; ++r)
            for (int k = 0; k < K; ++k)
                ENG_CHECK(all[size_t(r * K + k)] == all[size_t(k)], op, ": rank ", r, " and rank 0 pass different ",
                          "shapes or dtypes (this rank: ", shape_str(t.shape()), " ", dtype_name(t.dtype()),
                          "). HINT: every rank must gather the same number of rows (train.micro_batch, drop_last)");
    }

    int rank_ = 0, world_ = 1;
    std::string name_;
};

}  // namespace

std::shared_ptr<Communicator> make_mpi_communicator() { return std::make_shared<MpiCommunicator>(); }

// The NCCL communicator sends its unique id over MPI.
void mpi_broadcast_bytes(void* data, int nbytes, int root) {
    init_once();
    mpi_check(MPI_Bcast(data, nbytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void mpi_abort(int code) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    int world = 1;
    if (init && !fin) MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (init && !fin && world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

#else  // built without MPI

std::shared_ptr<Communicator> make_mpi_communicator() {
    ENG_FAIL("this build has no MPI support: rebuild with make MPI=1 (needs Debian's libopenmpi-dev)");
}
void mpi_broadcast_bytes(void*, int, int) {
    ENG_FAIL("this build has no MPI support: rebuild with make MPI=1 (needs Debian's libopenmpi-dev)");
}
void mpi_abort(int) {}

#endif

}  // namespace eng::nn::detail
