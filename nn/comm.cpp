// comm.cpp: the single-process communicator, the choice of communicator at
// start-up, the differentiable all-gather, bucketed gradient averaging and the
// start-of-run broadcast (see comm.h).  The MPI and NCCL communicators are in
// comm_mpi.cpp and comm_nccl.cpp.
//
// Gradient of the gathered loss (all_gather_rows).  Ranks r = 0..W-1 hold
// rows x_r = f(θ; batch_r) (B rows each).  Each rank gathers X = [x_0; …; x_{W-1}]
// and computes a loss L_r(X) (with the contrastive losses here, the same
// full-batch loss L on every rank).  Data parallelism applies the average of
// the ranks' parameter gradients, so it descends on J = (1/W) Σ_r L_r(X):
//   ∂J/∂θ = (1/W) Σ_r Σ_q ∂L_r/∂x_q · ∂x_q/∂θ.
// Rank q can only form ∂x_q/∂θ (its own forward graph), so its backward must
// receive g_q = Σ_r ∂L_r/∂x_q: the sum over ranks of the gradients arriving at
// the gather output, restricted to q's rows.  That is all_reduce_sum + slice.
// Then rank q's parameter gradient is Σ_r ∂L_r/∂x_q · ∂x_q/∂θ and the average
// over q gives ∂J/∂θ.  With L_r = L on every rank, g_q = W·∂L/∂x_q and
//   ∂J/∂θ = (1/W) Σ_q W·∂L/∂x_q·∂x_q/∂θ = ∂L/∂θ,
// the gradient of ONE process computing L over the full W·B batch.  (Parameters
// that enter L directly, like the logit scale, get ∂L/∂θ on every rank, whose
// average is again ∂L/∂θ.)
#include "nn/comm.h"

#include <cstdlib>
#include <map>
#include <tuple>

#include "autograd/node.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::nn {

namespace detail {
// Defined in comm_mpi.cpp / comm_nccl.cpp (stubs when built without them).
std::shared_ptr<Communicator> make_mpi_communicator();
std::shared_ptr<Communicator> make_nccl_communicator();
void mpi_abort(int code);
}  // namespace detail

std::shared_ptr<Communicator> make_nccl_communicator() { return detail::make_nccl_communicator(); }

static void scale_in_place(Tensor& t, double factor, const char* op) {
    ENG_CHECK(t.dtype() == DType::f32 && t.device() == Device::CPU, op,
              ": the mean is implemented for f32 CPU tensors here, got ", dtype_name(t.dtype()),
              t.is_cuda() ? " on CUDA" : "", ". HINT: use all_reduce_sum (integers) or the NCCL communicator (CUDA)");
    float* p = t.data<float>();
    const float f = float(factor);
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] *= f;
}

void Communicator::all_reduce_mean(Tensor& t) {
    ENG_CHECK(t.dtype() == DType::f32, "all_reduce_mean: needs an f32 tensor, got ", dtype_name(t.dtype()));
    all_reduce_sum(t);
    if (world_size() > 1) scale_in_place(t, 1.0 / double(world_size()), "all_reduce_mean");
}

namespace {
struct Done : PendingCollective {
    void wait() override {}
};
}  // namespace

std::unique_ptr<PendingCollective> Communicator::all_reduce_mean_async(Tensor& t) {
    all_reduce_mean(t);
    return std::make_unique<Done>();
}

static void check_tensor(const Tensor& t, const char* op) {
    ENG_CHECK(t.defined(), op, ": the tensor is undefined");
    ENG_CHECK(t.is_contiguous(), op, ": the tensor ", shape_str(t.shape()),
              " must be contiguous (collectives work in place). HINT: call .contiguous() first");
}

void SingleProcess::all_reduce_sum(Tensor& t) { check_tensor(t, "all_reduce_sum"); }
void SingleProcess::all_reduce_mean(Tensor& t) {
    check_tensor(t, "all_reduce_mean");
    ENG_CHECK(t.dtype() != DType::i32, "all_reduce_mean: integer tensors have no mean. HINT: use all_reduce_sum");
}
Tensor SingleProcess::all_gather(const Tensor& t) {
    check_tensor(t, "all_gather");
    ENG_CHECK(t.dim() >= 1, "all_gather: needs at least one dimension (rows are concatenated), got a scalar");
    return t.clone();
}
void SingleProcess::broadcast(Tensor& t, int root) {
    check_tensor(t, "broadcast");
    ENG_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a world of 1");
}

// ---- launching -------------------------------------------------------------------

static int env_int(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return -1;
    char* end = nullptr;
    long x = std::strtol(v, &end, 10);
    return end && *end == 0 && x >= 0 && x < (1 << 30) ? int(x) : -1;
}

int launcher_world_size() {
    for (const char* k : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"})
        if (int v = env_int(k); v > 0) return v;
    return 0;
}

int launcher_local_rank() {
    for (const char* k : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"})
        if (int v = env_int(k); v >= 0) return v;
    return 0;
}

bool built_with_mpi() {
#if defined(ENG_MPI) && ENG_MPI
    return true;
#else
    return false;
#endif
}

bool built_with_nccl() {
#if defined(ENG_NCCL) && ENG_NCCL
    return true;
#else
    return false;
#endif
}

std::shared_ptr<Communicator> make_communicator(Device device) {
    const int w = launcher_world_size();
    if (w == 0) return std::make_shared<SingleProcess>();
    if (!built_with_mpi()) {
        ENG_CHECK(w == 1, "this program was started by mpirun with ", w,
                  " processes, but this build has no MPI support: rebuild with make MPI=1 "
                  "(it needs Debian's libopenmpi-dev), or start it without mpirun");
        return std::make_shared<SingleProcess>();
    }
    if (device == Device::CUDA) {
        ENG_CHECK(built_with_nccl() || w == 1, "started by mpirun with ", w, " processes on CUDA, but this build has no "
                  "NCCL support. HINT: rebuild with make MPI=1 on a machine with the CUDA toolkit (NCCL ships with it)");
        if (built_with_nccl()) return detail::make_nccl_communicator();
        return std::make_shared<SingleProcess>();
    }
    return detail::make_mpi_communicator();
}

void abort_world(int exit_code) { detail::mpi_abort(exit_code); }

// ---- the differentiable gather -------------------------------------------------------

Tensor all_gather_rows(Communicator& comm, const Tensor& x) {
    ENG_CHECK(x.defined() && x.dim() >= 1, "all_gather_rows: needs a tensor with rows (at least one dimension)");
    if (comm.world_size() == 1) return x;  // the identity: the graph stays as it is
    Tensor out = comm.all_gather(x.detach().contiguous());
    const int64_t rows = x.size(0), first = int64_t(comm.rank()) * rows;
    Communicator* c = &comm;
    // Backward: sum the gradients of the gathered rows over the ranks, keep ours
    // (the derivation is at the top of this file).
    return autograd::record("all_gather_rows", out, {x}, [c, rows, first](const Tensor& g) -> std::vector<Tensor> {
        Tensor sum = g.contiguous().clone();  // a private buffer: the reduction writes into it
        c->all_reduce_sum(sum);
        return {raw_narrow(sum, 0, first, rows).contiguous()};
    });
}

// ---- gradient averaging -----------------------------------------------------------------

void average_gradients(Communicator& comm, const std::vector<Tensor*>& params, size_t bucket_bytes) {
    if (comm.world_size() == 1 || params.empty()) return;
    const Device dev = comm.device();
    // 1. Which parameters have a gradient on some rank (one small collective).
    std::vector<int32_t> has(params.size());
    for (size_t i = 0; i < params.size(); ++i) has[i] = params[i]->grad().defined() ? 1 : 0;
    Tensor flags = from_ivector(has, {int64_t(has.size())}).to(dev);
    comm.all_reduce_sum(flags);
    std::vector<int32_t> anywhere = flags.to_ivector();
    // 2. Buckets of consecutive gradients of one dtype, at most bucket_bytes each
    //    (a larger gradient is a bucket of its own).
    struct Bucket {
        std::vector<Tensor*> members;
        int64_t numel = 0;
    };
    std::map<DType, Bucket> open;
    auto flush = [&](Bucket& b, DType dt) {
        if (b.members.empty()) return;
        Tensor flat = empty({b.numel}, TensorOptions{dt, dev});
        int64_t off = 0;
        for (Tensor* p : b.members) {
            Tensor g = p->grad();
            raw_narrow(flat, 0, off, g.numel()).copy_(raw_reshape(g.to(dev), {g.numel()}));
            off += g.numel();
        }
        comm.all_reduce_mean(flat);
        if (bf16_true()) kernels::round_to_bf16_(flat);  // the mean is a bf16 tensor too (tensor/precision.h)
        off = 0;
        for (Tensor* p : b.members) {
            Tensor g = p->grad();
            // Each parameter's gradient becomes its own region of the flat buffer.
            Tensor avg = raw_reshape(raw_narrow(flat, 0, off, g.numel()), g.shape());
            p->set_grad(g.device() == dev ? avg : avg.to(g.device()));
            off += g.numel();
        }
        b = Bucket{};
    };
    for (size_t i = 0; i < params.size(); ++i) {
        Tensor* p = params[i];
        if (anywhere[i] == 0) continue;
        if (!p->grad().defined()) p->set_grad(zeros(p->shape(), TensorOptions{p->dtype(), p->device()}));
        const DType dt = p->grad().dtype();
        Bucket& b = open[dt];
        const size_t bytes = size_t(p->grad().numel()) * dtype_size(dt);
        if (!b.members.empty() && size_t(b.numel) * dtype_size(dt) + bytes > bucket_bytes) flush(b, dt);
        b.members.push_back(p);
        b.numel += p->grad().numel();
    }
    for (auto& [dt, b] : open) flush(b, dt);
}

void broadcast_module(Communicator& comm, Module& module, int root) {
    if (comm.world_size() == 1) return;
    auto bcast = [&](Tensor* t) {
        // detach(): the same storage without autograd, so a parameter is overwritten in place.
        Tensor view = t->detach();
        Tensor buf = view.device() == comm.device() && view.is_contiguous() ? view : view.contiguous().to(comm.device());
        comm.broadcast(buf, root);
        if (buf.impl() != view.impl()) view.copy_(buf.to(view.device()));
        else view.bump_version();  // written in place by the broadcast
    };
    for (auto& [name, t] : module.named_parameters()) bcast(t);
    for (auto& [name, t] : module.named_buffers()) bcast(t);
}

}  // namespace eng::nn
