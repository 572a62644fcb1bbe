// safetensors.cpp: the safetensors reader: mapping a file, validating its
// header, converting tensors to engine dtypes, and sharded checkpoints.
// (The writer is in safetensors_write.cpp.)
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <type_traits>

#include "nn/atomic_file.h"
#include "nn/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace eng::nn {

namespace {

constexpr uint64_t kMaxHeader = 100000000;  // the reference reader's limit

// Every dtype the format defines, with its element size in bytes.
struct FileDType {
    const char* name;
    uint64_t size;
};
constexpr FileDType kFileDTypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4},  {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

const FileDType* find_dtype(const std::string& s) {
    for (const auto& d : kFileDTypes)
        if (s == d.name) return &d;
    return nullptr;
}

// Closes a file descriptor on every exit path.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

// A read-only memory mapping of a whole file.
struct Mapping {
    const uint8_t* data = nullptr;
    size_t size = 0;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (data) ::munmap(const_cast<uint8_t*>(data), size);
    }
};

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A non-negative integer field of the header (written as an integer).
uint64_t header_uint(const json::Value& v, const std::string& path, const std::string& name, const char* what) {
    ENG_CHECK(v.is_int() && v.as_int() >= 0, "safetensors: '", path, "': tensor '", name, "' has ", what,
              " value ", json::dump(v), " (a non-negative integer is required)");
    return uint64_t(v.as_int());
}

// IEEE half -> float, including subnormals, infinities and NaN.
float half_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);  // inf or NaN (payload kept)
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);  // rebias 15 -> 127
    } else if (man == 0) {
        bits = sign;  // signed zero
    } else {
        // Subnormal: value = man * 2^-24; normalise the mantissa.
        int e = -1;
        do {
            ++e;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        bits = sign | uint32_t(112 - e) << 23 | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <typename T>
T read_at(const uint8_t* p, int64_t i) {
    T v;
    std::memcpy(&v, p + size_t(i) * sizeof(T), sizeof(T));  // the mapping may be unaligned
    return v;
}

// Converts n elements of a float-like or integer source to f32 (or to bf16,
// through f32), in parallel for big tensors: elements are independent, so the
// result does not depend on the thread count.  The dtype switch is outside the
// loop.
template <typename Out, typename Get>
void convert_loop(Out* out, const uint8_t* src, int64_t n, Get get) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
        float f = get(src, i);
        if constexpr (std::is_same<Out, float>::value) out[i] = f;
        else out[i] = f32_to_bf16(f).bits;
    }
}
template <typename Out>
void convert_to_float(Out* out, const std::string& dt, const uint8_t* src, int64_t n) {
    if (dt == "F32") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return read_at<float>(p, i); });
    else if (dt == "F16") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return half_to_f32(read_at<uint16_t>(p, i)); });
    else if (dt == "BF16") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return bf16_to_f32(bf16{read_at<uint16_t>(p, i)}); });
    else if (dt == "F64") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return float(read_at<double>(p, i)); });
    else if (dt == "I32") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return float(read_at<int32_t>(p, i)); });
    else if (dt == "I64") convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return float(read_at<int64_t>(p, i)); });
    else convert_loop(out, src, n, [](const uint8_t* p, int64_t i) { return float(p[i]); });  // U8
}

}  // namespace

// ---- SafeTensorsFile ----------------------------------------------------------

struct SafeTensorsFile::Impl {
    std::string path;
    std::shared_ptr<Mapping> map;
    std::map<std::string, TensorInfo> tensors;
    std::map<std::string, std::string> metadata;
};

SafeTensorsFile SafeTensorsFile::open(const std::string& path) {
    auto impl = std::make_shared<Impl>();
    impl->path = path;
    const std::string where = "safetensors: '" + path + "': ";

    FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    ENG_CHECK(fd.fd >= 0, where, "cannot open: ", std::strerror(errno), ". HINT: check the path");
    struct stat st;
    ENG_CHECK(::fstat(fd.fd, &st) == 0, where, "cannot stat: ", std::strerror(errno));
    ENG_CHECK(!S_ISDIR(st.st_mode), where,
              "is a folder. HINT: use load_safetensors()/SafeTensorsSet for a folder of shards");
    ENG_CHECK(S_ISREG(st.st_mode), where, "is not a regular file");
    const uint64_t size = uint64_t(st.st_size);
    ENG_CHECK(size >= 8, where, "the file is only ", size,
              " bytes long; a safetensors file starts with an 8-byte header length (truncated or not a "
              "safetensors file)");

    auto map = std::make_shared<Mapping>();
    void* addr = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd.fd, 0);
    ENG_CHECK(addr != MAP_FAILED, where, "cannot memory-map ", size, " bytes: ", std::strerror(errno));
    map->data = static_cast<const uint8_t*>(addr);
    map->size = size_t(size);
    impl->map = map;

    uint64_t n = 0;
    std::memcpy(&n, map->data, 8);  // little-endian u64
    ENG_CHECK(n <= kMaxHeader, where, "header length ", n, " exceeds the limit of ", kMaxHeader,
              " bytes (corrupt, or not a safetensors file)");
    ENG_CHECK(n <= size - 8, where, "header length ", n, " runs past the end of the file (", size,
              " bytes): the file is truncated");
    const uint64_t buffer = size - 8 - n;

    json::Value header;
    try {
        header = json::parse(std::string_view(reinterpret_cast<const char*>(map->data + 8), size_t(n)),
                             path + " (header)");
    } catch (const Error& e) {
        ENG_FAIL(where, "invalid JSON header: ", e.what());
    }
    ENG_CHECK(header.is_object(), where, "the header is a JSON ", json::kind_name(header.kind()),
              ", not an object");

    struct Span {
        uint64_t begin, end;
        const std::string* name;
    };
    std::vector<Span> spans;
    for (const auto& [name, entry] : header.as_object()) {
        if (name == "__metadata__") {
            ENG_CHECK(entry.is_object(), where, "__metadata__ must be an object of strings, got a ",
                      json::kind_name(entry.kind()));
            for (const auto& [k, v] : entry.as_object()) {
                ENG_CHECK(v.is_string(), where, "__metadata__ value of '", k, "' must be a string, got ",
                          json::dump(v));
                impl->metadata[k] = v.as_string();
            }
            continue;
        }
        ENG_CHECK(entry.is_object(), where, "entry '", name, "' must be an object, got ", json::dump(entry));
        const json::Value* dt = entry.find("dtype");
        const json::Value* shape = entry.find("shape");
        const json::Value* offs = entry.find("data_offsets");
        ENG_CHECK(dt && shape && offs, where, "tensor '", name, "' needs \"dtype\", \"shape\" and \"data_offsets\"");
        ENG_CHECK(dt->is_string(), where, "tensor '", name, "' has a non-string dtype ", json::dump(*dt));
        const FileDType* fdt = find_dtype(dt->as_string());
        ENG_CHECK(fdt, where, "tensor '", name, "' has the unknown dtype '", dt->as_string(), "'");
        ENG_CHECK(shape->is_array(), where, "tensor '", name, "' has a shape that is not an array");
        ENG_CHECK(offs->is_array() && offs->size() == 2, where, "tensor '", name,
                  "' needs data_offsets [begin, end], got ", json::dump(*offs));

        TensorInfo ti;
        ti.dtype = fdt->name;
        // The product of the dims counted as at least 1 too (it bounds every
        // stride): with a 0 in the shape the byte count stays 0 while the other
        // dims' product can pass 2^63.
        uint64_t nbytes = fdt->size, span = 1;
        for (const auto& d : shape->as_array()) {
            uint64_t dim = header_uint(d, path, name, "a shape");
            ENG_CHECK(dim <= uint64_t(std::numeric_limits<int64_t>::max()) &&
                          !__builtin_mul_overflow(nbytes, dim, &nbytes) &&
                          !__builtin_mul_overflow(span, std::max<uint64_t>(dim, 1), &span) &&
                          span <= uint64_t(std::numeric_limits<int64_t>::max()),
                      where, "tensor '", name, "' has a shape ", json::dump(*shape), " whose size overflows");
            ti.shape.push_back(int64_t(dim));
        }
        uint64_t begin = header_uint((*offs)[0], path, name, "a data_offsets");
        uint64_t end = header_uint((*offs)[1], path, name, "a data_offsets");
        ENG_CHECK(begin <= end, where, "tensor '", name, "' has data_offsets [", begin, ", ", end,
                  "] with begin after end");
        ENG_CHECK(end <= buffer, where, "tensor '", name, "' has data_offsets [", begin, ", ", end,
                  "] past the end of the data (", buffer, " bytes): the file is truncated");
        ENG_CHECK(end - begin == nbytes, where, "tensor '", name, "' has ", end - begin, " bytes but dtype ",
                  ti.dtype, " and shape ", shape_str(ti.shape), " need ", nbytes, " bytes (wrong size)");
        ti.offset = 8 + n + begin;
        ti.nbytes = nbytes;
        auto ins = impl->tensors.emplace(name, std::move(ti));
        spans.push_back({begin, end, &ins.first->first});
    }

    // The data must tile the buffer exactly: sorted by offset, each tensor
    // starts where the previous one ended, from 0 to the end of the file.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t prev_end = 0;
    const std::string* prev = nullptr;
    for (const Span& s : spans) {
        ENG_CHECK(s.begin >= prev_end, where, "tensor '", *s.name, "' starts at byte ", s.begin,
                  " inside tensor '", (prev ? *prev : std::string()), "' (ends at ", prev_end,
                  "): overlapping data_offsets");
        ENG_CHECK(s.begin == prev_end, where, "tensor '", *s.name, "' starts at byte ", s.begin, " but the ",
                  (prev ? "previous tensor '" + *prev + "' ends" : std::string("data starts")), " at ", prev_end,
                  ": a gap in data_offsets");
        prev_end = s.end;
        prev = s.name;
    }
    ENG_CHECK(prev_end == buffer, where, buffer - prev_end, " trailing bytes after the last tensor (the data is ",
              buffer, " bytes, the tensors cover ", prev_end, ")");

    SafeTensorsFile f;
    f.impl_ = impl;
    return f;
}

const std::string& SafeTensorsFile::path() const { return impl_->path; }

std::vector<std::string> SafeTensorsFile::names() const {
    std::vector<std::string> out;
    for (const auto& kv : impl_->tensors) out.push_back(kv.first);
    return out;
}

bool SafeTensorsFile::has(const std::string& name) const { return impl_->tensors.count(name) != 0; }

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
    auto it = impl_->tensors.find(name);
    ENG_CHECK(it != impl_->tensors.end(), "safetensors: '", impl_->path, "' has no tensor '", name, "' (it holds ",
              impl_->tensors.size(), " tensors)");
    return it->second;
}

const std::map<std::string, std::string>& SafeTensorsFile::metadata() const { return impl_->metadata; }

const uint8_t* SafeTensorsFile::raw(const std::string& name) const { return impl_->map->data + info(name).offset; }

Tensor SafeTensorsFile::load(const std::string& name, std::optional<DType> as) const {
    const TensorInfo& ti = info(name);
    const std::string& dt = ti.dtype;
    const std::string where = "safetensors: '" + impl_->path + "': tensor '" + name + "'";
    const bool is_float = dt == "F32" || dt == "F16" || dt == "BF16" || dt == "F64";
    const bool is_int = dt == "I32" || dt == "I64" || dt == "U8";
    ENG_CHECK(is_float || is_int, where, " has dtype ", dt,
              ", which cannot be read (supported: F32, F16, BF16, F64, I32, I64, U8)");

    DType target = as ? *as : (dt == "BF16" ? DType::bf16 : is_int ? DType::i32 : DType::f32);
    ENG_CHECK(target != DType::i32 || is_int, where, " has dtype ", dt,
              " and cannot be loaded as i32 (only integer tensors can)");

    Tensor t = empty(ti.shape, TensorOptions{target, Device::CPU});
    int64_t n = 1;
    for (int64_t d : ti.shape) n *= d;
    if (n == 0) return t;
    const uint8_t* src = raw(name);

    if (target == DType::i32) {
        int32_t* out = t.data<int32_t>();
        if (dt == "I32") {
            std::memcpy(out, src, size_t(n) * 4);
        } else if (dt == "U8") {
            for (int64_t i = 0; i < n; ++i) out[i] = src[i];
        } else {  // I64: narrow, refusing values that do not fit
            for (int64_t i = 0; i < n; ++i) {
                int64_t v = read_at<int64_t>(src, i);
                ENG_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
                          where, " (I64) holds ", v, " at element ", i,
                          ", outside the i32 range of the engine's integer tensors");
                out[i] = int32_t(v);
            }
        }
        return t;
    }
    if (target == DType::bf16 && dt == "BF16") {
        std::memcpy(t.raw_data(), src, size_t(n) * 2);
        return t;
    }
    if (target == DType::f32 && dt == "F32") {
        std::memcpy(t.raw_data(), src, size_t(n) * 4);
        return t;
    }
    // The remaining cases convert element by element.
    if (target == DType::f32) convert_to_float(t.data<float>(), dt, src, n);
    else convert_to_float(t.data<uint16_t>(), dt, src, n);
    return t;
}

// ---- SafeTensorsSet -----------------------------------------------------------

SafeTensorsSet SafeTensorsSet::open(const std::string& path_in) {
    SafeTensorsSet set;
    std::string path = path_in;
    if (is_dir(path)) {
        std::string index = path + "/model.safetensors.index.json";
        std::string single = path + "/model.safetensors";
        if (is_file(index)) path = index;
        else if (is_file(single)) path = single;
        else
            ENG_FAIL("safetensors: folder '", path_in,
                     "' holds neither model.safetensors.index.json nor model.safetensors. HINT: pass the file itself");
    }
    set.source_ = path;
    if (!ends_with(path, ".json")) {
        SafeTensorsFile f = SafeTensorsFile::open(path);
        for (const auto& name : f.names()) set.where_[name] = 0;
        set.metadata_ = f.metadata();
        set.files_.push_back(std::move(f));
        return set;
    }

    // A sharded checkpoint: {"metadata": {...}, "weight_map": {tensor: shard file}}.
    set.sharded_ = true;
    const json::Value index = json::parse_file(path);
    const std::string where = "safetensors index '" + path + "': ";
    ENG_CHECK(index.is_object(), where, "must be a JSON object");
    if (const json::Value* meta = index.find("metadata")) {
        ENG_CHECK(meta->is_object(), where, "\"metadata\" must be an object");
        for (const auto& [k, v] : meta->as_object()) set.metadata_[k] = v.is_string() ? v.as_string() : json::dump(v);
    }
    const json::Value* wm = index.find("weight_map");
    ENG_CHECK(wm && wm->is_object(), where, "needs a \"weight_map\" object mapping tensor names to shard files");
    const std::string dir = folder_of(path);
    std::map<std::string, size_t> shard_index;
    for (const auto& [name, file] : wm->as_object()) {
        ENG_CHECK(file.is_string() && !file.as_string().empty(), where, "weight_map entry '", name,
                  "' must name a shard file, got ", json::dump(file));
        const std::string& shard = file.as_string();
        auto it = shard_index.find(shard);
        if (it == shard_index.end()) {
            std::string shard_path = shard[0] == '/' ? shard : dir + "/" + shard;
            ENG_CHECK(is_file(shard_path), where, "shard '", shard, "' (holding '", name, "') is missing: '",
                      shard_path, "'");
            set.files_.push_back(SafeTensorsFile::open(shard_path));
            it = shard_index.emplace(shard, set.files_.size() - 1).first;
        }
        ENG_CHECK(set.files_[it->second].has(name), where, "maps '", name, "' to '", shard,
                  "', but that shard has no such tensor");
        set.where_[name] = it->second;
    }
    return set;
}

std::vector<std::string> SafeTensorsSet::names() const {
    std::vector<std::string> out;
    for (const auto& kv : where_) out.push_back(kv.first);
    return out;
}

bool SafeTensorsSet::has(const std::string& name) const { return where_.count(name) != 0; }

const std::string& SafeTensorsSet::file_of(const std::string& name) const {
    auto it = where_.find(name);
    ENG_CHECK(it != where_.end(), "safetensors: '", source_, "' has no tensor '", name, "'");
    return files_[it->second].path();
}

const TensorInfo& SafeTensorsSet::info(const std::string& name) const {
    auto it = where_.find(name);
    ENG_CHECK(it != where_.end(), "safetensors: '", source_, "' has no tensor '", name, "'");
    return files_[it->second].info(name);
}

Tensor SafeTensorsSet::load(const std::string& name, std::optional<DType> as) const {
    auto it = where_.find(name);
    ENG_CHECK(it != where_.end(), "safetensors: '", source_, "' has no tensor '", name, "'");
    return files_[it->second].load(name, as);
}

const std::map<std::string, std::string>& SafeTensorsSet::metadata() const { return metadata_; }

std::map<std::string, Tensor> load_safetensors(const std::string& path, std::optional<DType> as) {
    SafeTensorsSet set = SafeTensorsSet::open(path);
    std::map<std::string, Tensor> out;
    for (const auto& name : set.names()) out.emplace(name, set.load(name, as));
    return out;
}

}  // namespace eng::nn
