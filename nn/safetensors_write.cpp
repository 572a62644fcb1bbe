// safetensors_write.cpp: the safetensors writer: layout as the reference
// implementation (so files are byte-identical), and an atomic write
// (nn/atomic_file.h: temporary file in the same folder, fsync, rename) so a
// crash or an error mid-write never destroys the previous file.
#include <algorithm>
#include <cstring>
#include <set>

#include "nn/atomic_file.h"
#include "nn/json.h"
#include "nn/safetensors.h"

namespace eng::nn {

namespace {

// One tensor ready to be written.
struct Planned {
    std::string name;
    Tensor t;           // CPU, contiguous
    const char* dtype;  // "F32", "BF16", "I32"
    int rank;           // position in the reference's dtype enum (increasing alignment)
    uint64_t nbytes;
};

// Validates the inputs and orders them as the reference writer does: by
// descending dtype (its enum lists dtypes in increasing alignment order:
// ... BF16 < I32 < F32 ...), then by name.  Throws before anything is written.
std::vector<Planned> plan(const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& path) {
    std::vector<Planned> out;
    std::set<std::string> seen;
    for (const auto& [name, t] : tensors) {
        ENG_CHECK(!name.empty(), "save_safetensors('", path, "'): a tensor has an empty name");
        ENG_CHECK(name != "__metadata__", "save_safetensors('", path, "'): '__metadata__' is reserved, not a tensor name");
        ENG_CHECK(seen.insert(name).second, "save_safetensors('", path, "'): the name '", name, "' is used twice");
        ENG_CHECK(t.defined(), "save_safetensors('", path, "'): tensor '", name,
                  "' is undefined (an empty Tensor handle). HINT: was a parameter never created?");
        Planned p;
        p.name = name;
        p.t = t.to(Device::CPU).contiguous();
        switch (t.dtype()) {
            case DType::f32: p.dtype = "F32"; p.rank = 3; break;
            case DType::i32: p.dtype = "I32"; p.rank = 2; break;
            case DType::bf16: p.dtype = "BF16"; p.rank = 1; break;
        }
        p.nbytes = uint64_t(p.t.numel()) * dtype_size(t.dtype());
        out.push_back(std::move(p));
    }
    std::sort(out.begin(), out.end(), [](const Planned& a, const Planned& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.name < b.name;
    });
    return out;
}

std::string header_of(const std::vector<Planned>& planned, const std::map<std::string, std::string>& metadata) {
    json::Value h = json::Value::object();
    if (!metadata.empty()) {
        json::Value m = json::Value::object();
        for (const auto& [k, v] : metadata) m.set(k, v);
        h.set("__metadata__", std::move(m));
    }
    uint64_t offset = 0;
    for (const Planned& p : planned) {
        json::Value shape = json::Value::array();
        for (int64_t d : p.t.shape()) shape.push_back(d);
        json::Value offs = json::Value::array();
        offs.push_back(offset).push_back(offset + p.nbytes);
        json::Value e = json::Value::object();
        e.set("dtype", p.dtype).set("shape", std::move(shape)).set("data_offsets", std::move(offs));
        h.set(p.name, std::move(e));
        offset += p.nbytes;
    }
    // Compact JSON padded with spaces to a multiple of 8, so the data that
    // follows the 8-byte length stays 8-byte aligned.
    std::string text = json::dump(h);
    text.append((8 - text.size() % 8) % 8, ' ');
    uint64_t n = text.size();
    std::string out(8, '\0');
    std::memcpy(&out[0], &n, 8);  // little-endian host (checked in safetensors.cpp)
    return out + text;
}

}  // namespace

std::string safetensors_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
    return header_of(plan(tensors, "<header>"), metadata);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    ENG_CHECK(!path.empty() && path.back() != '/', "save_safetensors: '", path, "' is not a file path");
    const std::vector<Planned> planned = plan(tensors, path);
    const std::string header = header_of(planned, metadata);

    AtomicFile file(path);
    file.write(header.data(), header.size());
    for (const Planned& p : planned)
        if (p.nbytes) file.write(p.t.raw_data(), size_t(p.nbytes));
    file.commit();
}

}  // namespace eng::nn
