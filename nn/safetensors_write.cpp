// safetensors_write.cpp: the safetensors writer: layout as the reference
// implementation (so files are byte-identical), and an atomic write (temporary
// file in the same folder, fsync, rename) so a crash or an error mid-write
// never destroys the previous file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

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

// Writes all bytes, retrying short writes and EINTR.
void write_all(int fd, const void* data, size_t size, const std::string& path) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t w = ::write(fd, p, std::min<size_t>(size, size_t(1) << 30));
        if (w < 0 && errno == EINTR) continue;
        ENG_CHECK(w > 0, "save_safetensors: writing '", path, "' failed: ", std::strerror(errno),
                  ". HINT: is the disk full?");
        p += w;
        size -= size_t(w);
    }
}

std::string folder_of(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
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

    // A unique temporary name in the same folder (rename is atomic only within
    // one file system); hidden so a crash leaves no look-alike checkpoint.
    static std::atomic<unsigned> counter{0};
    size_t slash = path.find_last_of('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    std::string dir_prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    std::string tmp = dir_prefix + "." + base + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(counter++);

    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ENG_CHECK(fd >= 0, "save_safetensors: cannot create '", tmp, "': ", std::strerror(errno),
              ". HINT: does the folder '", folder_of(path), "' exist and is it writable?");
    try {
        write_all(fd, header.data(), header.size(), tmp);
        for (const Planned& p : planned)
            if (p.nbytes) write_all(fd, p.t.raw_data(), size_t(p.nbytes), tmp);
        ENG_CHECK(::fsync(fd) == 0, "save_safetensors: fsync of '", tmp, "' failed: ", std::strerror(errno));
        int rc = ::close(fd);
        fd = -1;
        ENG_CHECK(rc == 0, "save_safetensors: closing '", tmp, "' failed: ", std::strerror(errno));
        ENG_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "save_safetensors: cannot rename '", tmp, "' to '",
                  path, "': ", std::strerror(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    // Make the rename itself durable (best effort: some file systems refuse).
    int dfd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace eng::nn
