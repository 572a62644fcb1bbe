// views.cpp: raw (non-differentiable) views: reshape, permute, transpose,
// narrow, unsqueeze, squeeze, expand.  None of them copies, except reshape of a
// non-contiguous tensor (which must, like PyTorch's reshape).
#include <algorithm>

#include "tensor/tensor.h"

namespace eng {

Shape infer_reshape(const Shape& from, const Shape& to, const char* op) {
    Shape out = to;
    int64_t known = 1, infer_at = -1;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == -1) {
            ENG_CHECK(infer_at < 0, op, ": only one dimension can be -1 in ", shape_str(to));
            infer_at = int64_t(i);
        } else {
            ENG_CHECK(out[i] >= 0, op, ": invalid size in ", shape_str(to));
            known *= out[i];
        }
    }
    int64_t n = shape_numel(from);
    if (infer_at >= 0) {
        ENG_CHECK(known != 0 && n % known == 0, op, ": cannot reshape ", shape_str(from), " into ", shape_str(to));
        out[size_t(infer_at)] = n / known;
    }
    ENG_CHECK(shape_numel(out) == n, op, ": cannot reshape ", shape_str(from), " (", n, " elements) into ",
              shape_str(to), " (", shape_numel(out), " elements)");
    return out;
}

Tensor raw_reshape(const Tensor& t, const Shape& shape) {
    Shape s = infer_reshape(t.shape(), shape, "reshape");
    Tensor c = t.contiguous();
    return c.as_strided(s, contiguous_strides(s), c.offset());
}

Tensor raw_permute(const Tensor& t, const std::vector<int64_t>& dims) {
    ENG_CHECK(int64_t(dims.size()) == t.dim(), "permute: ", dims.size(), " dims given for a tensor of shape ",
              shape_str(t.shape()));
    Shape shape(dims.size()), strides(dims.size());
    std::vector<bool> seen(dims.size(), false);
    for (size_t i = 0; i < dims.size(); ++i) {
        int64_t d = normalize_dim(dims[i], t.dim(), "permute");
        ENG_CHECK(!seen[size_t(d)], "permute: dimension ", d, " repeated in ", shape_str(Shape(dims)));
        seen[size_t(d)] = true;
        shape[i] = t.shape()[size_t(d)];
        strides[i] = t.strides()[size_t(d)];
    }
    return t.as_strided(shape, strides, t.offset());
}

Tensor raw_transpose(const Tensor& t, int64_t d0, int64_t d1) {
    std::vector<int64_t> dims(size_t(t.dim()));
    for (size_t i = 0; i < dims.size(); ++i) dims[i] = int64_t(i);
    std::swap(dims[size_t(normalize_dim(d0, t.dim(), "transpose"))], dims[size_t(normalize_dim(d1, t.dim(), "transpose"))]);
    return raw_permute(t, dims);
}

Tensor raw_narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
    int64_t d = normalize_dim(dim, t.dim(), "narrow");
    int64_t size = t.shape()[size_t(d)];
    if (start < 0) start += size;
    ENG_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow: range [", start, ", ", start + length,
              ") is outside dimension ", d, " of size ", size, " (shape ", shape_str(t.shape()), ")");
    Shape shape = t.shape();
    shape[size_t(d)] = length;
    return t.as_strided(shape, t.strides(), t.offset() + start * t.strides()[size_t(d)]);
}

Tensor raw_unsqueeze(const Tensor& t, int64_t dim) {
    int64_t d = normalize_dim(dim, t.dim() + 1, "unsqueeze");
    Shape shape = t.shape(), strides = t.strides();
    int64_t stride = d < t.dim() ? strides[size_t(d)] * shape[size_t(d)] : 1;
    shape.insert(shape.begin() + d, 1);
    strides.insert(strides.begin() + d, stride);
    return t.as_strided(shape, strides, t.offset());
}

Tensor raw_squeeze(const Tensor& t, int64_t dim) {
    int64_t d = normalize_dim(dim, t.dim(), "squeeze");
    ENG_CHECK(t.shape()[size_t(d)] == 1, "squeeze: dimension ", d, " of shape ", shape_str(t.shape()),
              " has size ", t.shape()[size_t(d)], ", not 1");
    Shape shape = t.shape(), strides = t.strides();
    shape.erase(shape.begin() + d);
    strides.erase(strides.begin() + d);
    return t.as_strided(shape, strides, t.offset());
}

Tensor raw_expand(const Tensor& t, const Shape& shape) {
    ENG_CHECK(shape.size() >= size_t(t.dim()), "expand: cannot expand ", shape_str(t.shape()), " to fewer dims ",
              shape_str(shape));
    size_t lead = shape.size() - size_t(t.dim());
    Shape strides(shape.size(), 0), out = shape;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i < lead) {
            ENG_CHECK(shape[i] >= 0, "expand: invalid size ", shape[i], " in ", shape_str(shape));
            continue;
        }
        int64_t have = t.shape()[i - lead];
        if (shape[i] == -1) out[i] = have;
        if (have == out[i]) {
            strides[i] = t.strides()[i - lead];
        } else {
            ENG_CHECK(have == 1, "expand: dimension ", i, " of size ", have, " cannot grow to ", shape[i],
                      " (from ", shape_str(t.shape()), " to ", shape_str(shape), ")");
            strides[i] = 0;  // broadcast: every index reads the same element
        }
    }
    return t.as_strided(out, strides, t.offset());
}

}  // namespace eng
