// tensor.h: the Tensor handle: shared storage plus view metadata.
//
// A Tensor is a cheap handle (a shared_ptr to a TensorImpl).  The impl holds a
// shared Storage (bytes on one device) and the view: shape, strides (in
// elements) and offset (in elements).  Views (reshape, permute, slice, expand)
// make new impls over the same Storage without copying.  Row-major, PyTorch
// dimension order.
//
// This layer knows nothing about autograd except that a tensor may carry an
// opaque pointer to its autograd node and a gradient; the differentiable
// versions of every operation live in autograd/ops.h.  The functions declared
// here are the raw, non-differentiable building blocks.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/check.h"
#include "tensor/dtype.h"
#include "tensor/random.h"

namespace eng {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// Bytes on one device.  Freed by the device's allocator when the last view dies.
struct Storage {
    void* data = nullptr;
    size_t nbytes = 0;
    Device device = Device::CPU;
    // Bumped by every in-place write into these bytes (copy_, fill_, add_,
    // round_to_bf16_, an optimiser step, a broadcast): a backward that saved a
    // view of them checks it did not change (autograd/saved.h), as PyTorch's
    // version counter.  Shared by all views, since they share the bytes.
    uint64_t version = 0;
    Storage(size_t nbytes, Device device);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
};

namespace autograd { struct Node; }
struct TensorImpl;

class Tensor {
public:
    Tensor() = default;  // an undefined tensor; defined() is false
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    const Shape& strides() const;
    int64_t offset() const;
    int64_t dim() const { return int64_t(shape().size()); }
    int64_t size(int64_t d) const;  // negative d counts from the end
    int64_t numel() const;
    DType dtype() const;
    Device device() const;
    bool is_contiguous() const;
    bool is_cuda() const { return device() == Device::CUDA; }
    const std::shared_ptr<Storage>& storage() const;
    uint64_t version() const { return storage()->version; }
    void bump_version() const { ++storage()->version; }  // after writing into this view in place

    // Pointer to the first element of this view (storage + offset).
    template <typename T> T* data() const { return static_cast<T*>(raw_data()); }
    void* raw_data() const;

    // ---- raw (non-differentiable) operations ----
    Tensor contiguous() const;              // this if already contiguous, else a packed copy
    Tensor clone() const;                   // always a fresh packed copy
    Tensor to(Device d) const;              // copy to another device (this if already there)
    Tensor to(DType t) const;               // dtype conversion (this if already that dtype)
    Tensor detach() const;                  // same view and storage, no autograd history
    Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;
    Tensor view(const Shape& shape) const;  // needs a contiguous tensor; one dim may be -1
    void copy_(const Tensor& src);          // elementwise copy into this view (shapes equal)
    void fill_(float value);
    void zero_() { fill_(0.0f); }
    float item() const;                     // the single element as float
    std::vector<float> to_vector() const;   // all elements (any dtype) as floats, row-major
    std::vector<int32_t> to_ivector() const;  // i32 tensors only

    // ---- autograd hooks (used by autograd/) ----
    bool requires_grad() const;
    Tensor& set_requires_grad(bool flag);
    Tensor grad() const;                    // undefined until a backward reaches this leaf
    void set_grad(const Tensor& g);
    const std::shared_ptr<autograd::Node>& grad_fn() const;
    void set_grad_fn(std::shared_ptr<autograd::Node> node);
    bool is_leaf() const { return grad_fn() == nullptr; }

    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

    std::string str(int64_t max_per_dim = 6) const;  // dtype, device, shape and values
private:
    const TensorImpl& checked() const;
    std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    Shape shape, strides;
    int64_t offset = 0;
    DType dtype = DType::f32;
    // autograd metadata (owned here, interpreted by autograd/)
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;
    std::shared_ptr<autograd::Node> grad_fn;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation ---------------------------------------------------------------
struct TensorOptions {
    DType dtype = DType::f32;
    Device device = Device::CPU;
};
Tensor empty(const Shape& shape, TensorOptions opt = {});
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, float value, TensorOptions opt = {});
Tensor arange(int64_t start, int64_t end, int64_t step = 1, TensorOptions opt = {});
Tensor scalar_tensor(float value, TensorOptions opt = {});
Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions opt = {});
Tensor from_ivector(const std::vector<int32_t>& values, const Shape& shape, Device device = Device::CPU);

// Random draws from a counter-based generator (the default one when g is null).
// Results are identical for any number of threads and on both devices.
Tensor rand(const Shape& shape, Generator* g = nullptr, TensorOptions opt = {});                 // U[0,1)
Tensor uniform(const Shape& shape, float low, float high, Generator* g = nullptr, TensorOptions opt = {});
Tensor randn(const Shape& shape, Generator* g = nullptr, TensorOptions opt = {});                // N(0,1)
Tensor normal(const Shape& shape, float mean, float std, Generator* g = nullptr, TensorOptions opt = {});
Tensor bernoulli(const Shape& shape, float p, Generator* g = nullptr, TensorOptions opt = {});   // 1 with prob p
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* g = nullptr, Device device = Device::CPU);  // i32
Tensor randperm(int64_t n, Generator* g = nullptr, Device device = Device::CPU);                 // i32

// ---- shape helpers shared by the ops ----------------------------------------
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);  // wraps negatives, checks range
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- raw view helpers (no autograd; autograd/ wraps them) -------------------
Tensor raw_reshape(const Tensor& t, const Shape& shape);  // view when possible, else copy
Tensor raw_permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor raw_transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor raw_narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor raw_unsqueeze(const Tensor& t, int64_t dim);
Tensor raw_squeeze(const Tensor& t, int64_t dim);
Tensor raw_expand(const Tensor& t, const Shape& shape);
Shape infer_reshape(const Shape& from, const Shape& to, const char* op);  // resolves one -1

// Same device and dtype checks, with messages naming the op.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_dtype(const Tensor& t, DType want, const char* op, const char* arg);

}  // namespace eng
