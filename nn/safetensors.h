// safetensors.h: reading and writing safetensors files (single and sharded).
//
// Format (huggingface/safetensors): [u64 little-endian N][N bytes of JSON
// header][byte buffer].  The header maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative to the
// buffer, plus an optional "__metadata__" string->string map.
//
// Reading validates everything before any byte of data is touched: header
// length bounds, UTF-8 JSON, known dtypes, shapes, offsets contiguous from 0
// with no overlap and no gap, sizes equal to prod(shape) * dtype size (overflow
// checked), no trailing bytes, no duplicate names.  Files are memory-mapped, so
// opening a 10 GB checkpoint reads only its header; load() copies (and converts)
// one tensor.  Every error names the file and the problem.
//
// dtypes read: F32, F16, BF16, I32, I64, U8.  Default engine dtype on load:
//   F32 -> f32, F16 -> f32, BF16 -> bf16, I32 -> i32, I64 -> i32 (range
//   checked), U8 -> i32.  A requested dtype may override this: any of them can
//   be loaded as f32 or bf16; only integer dtypes can be loaded as i32.
// dtypes written: f32 -> F32, bf16 -> BF16, i32 -> I32, laid out as the
// reference writer does (dtype order descending, then name; header padded
// with spaces to a multiple of 8), so our files are byte-identical to theirs.
// Writing is atomic: a temporary file in the same folder, fsync, rename.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace eng::nn {

// Where one tensor lives in a file.
struct TensorInfo {
    std::string dtype;     // the file's dtype string: "F32", "BF16", "I64", ...
    Shape shape;           // [] is a scalar
    uint64_t offset = 0;   // absolute byte offset in the file
    uint64_t nbytes = 0;   // bytes in the file
};

// One .safetensors file, memory-mapped and validated on open().  Copies are
// cheap and share the mapping; it is unmapped when the last copy goes.
class SafeTensorsFile {
public:
    static SafeTensorsFile open(const std::string& path);

    const std::string& path() const;
    std::vector<std::string> names() const;  // sorted by name
    bool has(const std::string& name) const;
    const TensorInfo& info(const std::string& name) const;  // throws naming the tensor and file
    // Copies one tensor into a new CPU tensor (see the dtype rules above).
    Tensor load(const std::string& name, std::optional<DType> as = {}) const;
    const std::map<std::string, std::string>& metadata() const;
    // The raw little-endian bytes of a tensor inside the mapping (info().nbytes
    // long), valid while any copy of this SafeTensorsFile lives.  Replacing the
    // file on disk with save_safetensors (a rename) does not disturb a mapping.
    const uint8_t* raw(const std::string& name) const;

    struct Impl;

private:
    SafeTensorsFile() = default;  // only open() makes one, so impl_ is never null
    std::shared_ptr<const Impl> impl_;
};

// A checkpoint that may be split into shards: a single .safetensors file, a
// model.safetensors.index.json (its "weight_map" names the shard of each
// tensor), or a folder holding either of these (the index is preferred).
class SafeTensorsSet {
public:
    static SafeTensorsSet open(const std::string& path);

    std::vector<std::string> names() const;  // sorted by name
    bool has(const std::string& name) const;
    const TensorInfo& info(const std::string& name) const;
    Tensor load(const std::string& name, std::optional<DType> as = {}) const;
    const std::string& file_of(const std::string& name) const;  // the shard holding it
    // The index's "metadata" values (as JSON text when not strings) for an
    // index; the file's __metadata__ for a single file.
    const std::map<std::string, std::string>& metadata() const;
    const std::vector<SafeTensorsFile>& files() const { return files_; }
    bool sharded() const { return sharded_; }

private:
    std::vector<SafeTensorsFile> files_;
    std::map<std::string, size_t> where_;  // tensor name -> index in files_
    std::map<std::string, std::string> metadata_;
    std::string source_;
    bool sharded_ = false;
};

// Loads every tensor of a file, index or folder (see SafeTensorsSet).
std::map<std::string, Tensor> load_safetensors(const std::string& path, std::optional<DType> as = {});

// Writes tensors (any device, any strides; f32, bf16 or i32) and string
// metadata.  Throws before touching `path` if a tensor is undefined, a name is
// empty, repeated or "__metadata__"; an existing file at `path` is replaced
// only once the new one is complete on disk.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The bytes save_safetensors writes for the header: the u64 length followed by
// the space-padded JSON.  Exposed for tests and tools.
std::string safetensors_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace eng::nn
