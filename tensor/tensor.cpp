// tensor.cpp: Storage, the Tensor handle's accessors, copies, conversions and printing.
#include "tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tensor/cpu/allocator.h"
#include "tensor/cpu/copy.h"
#include "tensor/cuda_backend.h"

namespace eng {

// ---- shapes -------------------------------------------------------------------

std::string shape_str(const Shape& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

Shape contiguous_strides(const Shape& s) {
    Shape st(s.size());
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= std::max<int64_t>(s[i], 1);
    }
    return st;
}

// ---- storage ------------------------------------------------------------------

Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
    if (n == 0) return;
    if (d == Device::CPU) {
        // 64-byte aligned blocks from the caching allocator (tensor/cpu/allocator.h).
        data = cpu::cpu_alloc(n);
    } else {
        data = cuda::alloc(n);
    }
}

Storage::~Storage() {
    if (!data) return;
    if (device == Device::CPU) cpu::cpu_free(data, nbytes);
    else cuda::free(data);
}

// ---- accessors ----------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
    ENG_CHECK(impl_ != nullptr, "use of an undefined tensor (default-constructed or missing gradient)");
    return *impl_;
}
const Shape& Tensor::shape() const { return checked().shape; }
const Shape& Tensor::strides() const { return checked().strides; }
int64_t Tensor::offset() const { return checked().offset; }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked().storage; }
int64_t Tensor::numel() const { return shape_numel(shape()); }

int64_t Tensor::size(int64_t d) const { return shape()[size_t(normalize_dim(d, dim(), "size"))]; }

void* Tensor::raw_data() const {
    const TensorImpl& t = checked();
    return static_cast<char*>(t.storage->data) + t.offset * int64_t(dtype_size(t.dtype));
}

bool Tensor::is_contiguous() const {
    const TensorImpl& t = checked();
    if (shape_numel(t.shape) == 0) return true;  // no element, no layout (its strides are contiguous_strides')
    int64_t expected = 1;
    for (size_t i = t.shape.size(); i-- > 0;) {
        if (t.shape[i] == 1) continue;  // the stride of a size-1 dim never matters
        if (t.strides[i] != expected) return false;
        expected *= t.shape[i];
    }
    return true;
}

// ---- autograd hooks -------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad; }
Tensor& Tensor::set_requires_grad(bool flag) {
    ENG_CHECK(!flag || dtype() != DType::i32, "set_requires_grad: integer tensors cannot require gradients");
    impl_->requires_grad = flag;
    return *this;
}
Tensor Tensor::grad() const { return Tensor(checked().grad); }
void Tensor::set_grad(const Tensor& g) { impl_->grad = g.impl_ptr(); }
const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return checked().grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<autograd::Node> node) { impl_->grad_fn = std::move(node); }

// ---- raw copies -----------------------------------------------------------------

static Tensor make_like_shape(const Shape& shape, DType dtype, Device device) {
    return empty(shape, TensorOptions{dtype, device});
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    Tensor out = make_like_shape(shape(), dtype(), device());
    out.copy_(*this);
    return out;
}

Tensor Tensor::clone() const {
    Tensor out = make_like_shape(shape(), dtype(), device());
    out.copy_(*this);
    return out;
}

Tensor Tensor::detach() const {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = storage();
    impl->shape = shape();
    impl->strides = strides();
    impl->offset = offset();
    impl->dtype = dtype();
    return Tensor(impl);
}

Tensor Tensor::as_strided(const Shape& new_shape, const Shape& new_strides, int64_t new_offset) const {
    ENG_CHECK(new_shape.size() == new_strides.size(), "as_strided: shape ", shape_str(new_shape), " and strides ",
              shape_str(new_strides), " differ in length");
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = storage();
    impl->shape = new_shape;
    impl->strides = new_strides;
    impl->offset = new_offset;
    impl->dtype = dtype();
    // Bounds: the largest reachable element must lie inside the storage.
    int64_t hi = new_offset, lo = new_offset;
    for (size_t i = 0; i < new_shape.size(); ++i) {
        ENG_CHECK(new_shape[i] >= 0, "as_strided: negative size in ", shape_str(new_shape));
        if (new_shape[i] == 0) { hi = lo = new_offset; break; }
        int64_t span = (new_shape[i] - 1) * new_strides[i];
        (span > 0 ? hi : lo) += span;
    }
    ENG_CHECK(lo >= 0 && (shape_numel(new_shape) == 0 || size_t(hi + 1) * dtype_size(dtype()) <= storage()->nbytes),
              "as_strided: view ", shape_str(new_shape), " strides ", shape_str(new_strides), " offset ", new_offset,
              " reaches outside its storage");
    return Tensor(impl);
}

Tensor Tensor::view(const Shape& new_shape) const {
    Shape s = infer_reshape(shape(), new_shape, "view");
    ENG_CHECK(is_contiguous(), "view: tensor of shape ", shape_str(shape()),
              " is not contiguous. HINT: use reshape(), or call contiguous() first");
    return as_strided(s, contiguous_strides(s), offset());
}

void Tensor::copy_(const Tensor& src) {
    ENG_CHECK(shape() == src.shape(), "copy_: destination ", shape_str(shape()), " and source ",
              shape_str(src.shape()), " differ");
    if (numel() == 0) return;
    bump_version();
    Tensor s = src;
    if (src.dtype() != dtype()) s = src.to(dtype());
    if (s.device() != device()) s = s.contiguous().to(device());
    size_t elem = dtype_size(dtype());
    if (device() == Device::CPU) {
        cpu::strided_copy(*this, s);
        return;
    }
    // CUDA: one memcpy when both are packed, else a strided kernel (either side may be a view).
    if (is_contiguous() && s.is_contiguous()) {
        cuda::copy_device_to_device(raw_data(), s.raw_data(), size_t(numel()) * elem);
    } else {
        cuda::strided_copy2(raw_data(), strides().data(), s.raw_data(), s.strides().data(), int(dim()),
                            shape().data(), elem);
    }
}

Tensor Tensor::to(Device d) const {
    if (d == device()) return *this;
    Tensor src = contiguous();
    Tensor out = make_like_shape(shape(), dtype(), d);
    size_t n = size_t(numel()) * dtype_size(dtype());
    if (n == 0) return out;
    if (d == Device::CUDA) cuda::copy_host_to_device(out.raw_data(), src.raw_data(), n);
    else cuda::copy_device_to_host(out.raw_data(), src.raw_data(), n);
    return out;
}

Tensor Tensor::to(DType t) const {
    if (t == dtype()) return *this;
    if (device() == Device::CUDA) {
        // i32 targets need the host's range check (values must fit); the rest convert on the device.
        if (t == DType::i32) return to(Device::CPU).to(t).to(Device::CUDA);
        Tensor src = contiguous();
        Tensor out = make_like_shape(shape(), t, device());
        cuda::convert(out.raw_data(), t, src.raw_data(), dtype(), numel());
        return out;
    }
    Tensor src = contiguous();
    Tensor out = make_like_shape(shape(), t, device());
    cpu::convert(out.raw_data(), t, src.raw_data(), dtype(), numel());
    return out;
}

void Tensor::fill_(float value) {
    if (device() == Device::CUDA && dtype() == DType::f32 && is_contiguous()) {
        bump_version();
        cuda::fill_f32(data<float>(), value, numel());
        return;
    }
    Tensor tmp = full(shape(), value, TensorOptions{dtype(), Device::CPU});
    copy_(tmp);
}

std::vector<float> Tensor::to_vector() const {
    Tensor t = to(Device::CPU).contiguous().to(DType::f32);
    const float* p = t.data<float>();
    return std::vector<float>(p, p + t.numel());
}

std::vector<int32_t> Tensor::to_ivector() const {
    check_dtype(*this, DType::i32, "to_ivector", "self");
    Tensor t = to(Device::CPU).contiguous();
    const int32_t* p = t.data<int32_t>();
    return std::vector<int32_t>(p, p + t.numel());
}

float Tensor::item() const {
    ENG_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(), " elements, not 1");
    return to_vector()[0];
}

// ---- printing -----------------------------------------------------------------

std::string Tensor::str(int64_t max_per_dim) const {
    if (!defined()) return "Tensor(undefined)";
    std::ostringstream os;
    os << "Tensor(" << dtype_name(dtype()) << ", " << device_name(device()) << ", shape " << shape_str(shape());
    if (requires_grad()) os << ", requires_grad";
    os << ")";
    if (numel() == 0) return os.str();
    std::vector<float> v = to_vector();
    // Summary statistics over all values, then the leading values of each row.
    double sum = 0, mn = v[0], mx = v[0];
    int64_t nonfinite = 0;
    for (float x : v) {
        if (!std::isfinite(x)) { ++nonfinite; continue; }
        sum += x;
        mn = std::min<double>(mn, x);
        mx = std::max<double>(mx, x);
    }
    os << " min " << mn << " max " << mx << " mean " << sum / double(v.size());
    if (nonfinite) os << " (" << nonfinite << " non-finite)";
    os << "\n";
    int64_t cols = dim() == 0 ? 1 : shape().back();
    int64_t rows = int64_t(v.size()) / std::max<int64_t>(cols, 1);
    os << std::setprecision(5);
    for (int64_t r = 0; r < std::min(rows, max_per_dim); ++r) {
        os << "  [";
        for (int64_t c = 0; c < std::min(cols, max_per_dim); ++c) os << (c ? ", " : "") << v[size_t(r * cols + c)];
        if (cols > max_per_dim) os << ", ...";
        os << "]\n";
    }
    if (rows > max_per_dim) os << "  ... (" << rows << " rows)\n";
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- checks -----------------------------------------------------------------------

int64_t normalize_dim(int64_t d, int64_t ndim, const char* op) {
    int64_t wrapped = d < 0 ? d + ndim : d;
    ENG_CHECK(wrapped >= 0 && wrapped < ndim, op, ": dimension ", d, " is out of range for a tensor with ", ndim,
              " dims", ndim == 0 ? " (a scalar has none: reshape it to [1] first)" : "");
    return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        ENG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                  " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
    ENG_CHECK(a.device() == b.device(), op, ": tensors are on different devices (", device_name(a.device()), " ",
              shape_str(a.shape()), " and ", device_name(b.device()), " ", shape_str(b.shape()),
              "). HINT: move one with .to(Device::...)");
}

void check_dtype(const Tensor& t, DType want, const char* op, const char* arg) {
    ENG_CHECK(t.dtype() == want, op, ": ", arg, " must be ", dtype_name(want), " but is ", dtype_name(t.dtype()),
              " (shape ", shape_str(t.shape()), ")");
}

}  // namespace eng
