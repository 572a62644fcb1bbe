// inspect.cpp: build/inspect FILE lists the tensors of a safetensors file (or a
// sharded checkpoint: its model.safetensors.index.json or its folder) with
// dtype, shape and min/max/mean, then the metadata; a training checkpoint's
// recorded checksums are verified (exit code 1 when a tensor is damaged).
//
//   build/inspect model.safetensors
//   build/inspect checkpoints/biomedlm/            (folder with an index)
//   build/inspect --no-stats big.safetensors       (header only: instant)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "nn/checkpoint.h"
#include "nn/safetensors.h"

namespace {

// Help goes to stdout (asked for); after a usage error, to stderr.
void usage(FILE* to = stderr) {
    std::fprintf(to,
                 "usage: inspect [--no-stats] FILE\n"
                 "  FILE: a .safetensors file, a model.safetensors.index.json, or a folder holding one\n"
                 "  --no-stats: list names, dtypes and shapes only (reads just the headers)\n");
}

// min, max and mean of the finite values; NaN and infinities are counted.
struct Stats {
    double min = INFINITY, max = -INFINITY, sum = 0;
    int64_t finite = 0, nonfinite = 0;
};

Stats stats_of(const eng::Tensor& t) {
    Stats s;
    const float* p = t.data<float>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) {
        float v = p[i];
        if (!std::isfinite(v)) {
            ++s.nonfinite;
            continue;
        }
        s.min = std::min(s.min, double(v));
        s.max = std::max(s.max, double(v));
        s.sum += v;
        ++s.finite;
    }
    return s;
}

int run(const std::string& path, bool with_stats) {
    eng::nn::SafeTensorsSet set = eng::nn::SafeTensorsSet::open(path);
    const auto names = set.names();
    size_t name_w = 4, shape_w = 5;
    for (const auto& n : names) {
        name_w = std::max(name_w, n.size());
        shape_w = std::max(shape_w, eng::shape_str(set.info(n).shape).size());
    }
    std::printf("%s: %zu tensors in %zu file%s\n", path.c_str(), names.size(), set.files().size(),
                set.files().size() == 1 ? "" : "s");
    std::printf("%-*s  %-5s  %-*s", int(name_w), "name", "dtype", int(shape_w), "shape");
    if (with_stats) std::printf("  %13s  %13s  %13s", "min", "max", "mean");
    if (set.sharded()) std::printf("  file");
    std::printf("\n");

    uint64_t total_bytes = 0, total_elems = 0;
    for (const auto& n : names) {
        const eng::nn::TensorInfo& ti = set.info(n);
        total_bytes += ti.nbytes;
        total_elems += uint64_t(eng::shape_numel(ti.shape));
        std::printf("%-*s  %-5s  %-*s", int(name_w), n.c_str(), ti.dtype.c_str(), int(shape_w),
                    eng::shape_str(ti.shape).c_str());
        if (with_stats) {
            static const char* readable[] = {"F32", "F16", "BF16", "F64", "I32", "I64", "U8"};
            bool can = std::find_if(std::begin(readable), std::end(readable),
                                    [&](const char* d) { return ti.dtype == d; }) != std::end(readable);
            Stats s;
            if (can) s = stats_of(set.load(n, eng::DType::f32));
            if (s.finite > 0)
                std::printf("  %13.6g  %13.6g  %13.6g", s.min, s.max, s.sum / double(s.finite));
            else
                std::printf("  %13s  %13s  %13s", "-", "-", "-");
            if (s.nonfinite) std::printf("  (%lld NaN/inf)", (long long)s.nonfinite);
        }
        if (set.sharded()) {
            const std::string& f = set.file_of(n);
            size_t slash = f.find_last_of('/');
            std::printf("  %s", slash == std::string::npos ? f.c_str() : f.c_str() + slash + 1);
        }
        std::printf("\n");
    }
    std::printf("total: %llu elements, %llu bytes of data\n", (unsigned long long)total_elems,
                (unsigned long long)total_bytes);
    if (!set.metadata().empty()) {
        std::printf("metadata:\n");
        for (const auto& [k, v] : set.metadata())
            if (k != "checksums") std::printf("  %s: %s\n", k.c_str(), v.c_str());
    }
    // A checkpoint's checksums (nn/checkpoint.h): checked with the statistics,
    // which read all the data anyway.
    if (set.metadata().count("checksums") && !set.sharded()) {
        if (!with_stats) {
            std::printf("checksums: recorded (not checked with --no-stats)\n");
            return 0;
        }
        try {
            eng::nn::verify_checksums(set.files()[0]);
        } catch (const std::exception& e) {
            std::printf("checksums: MISMATCH\n");
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        }
        std::printf("checksums: all %zu tensors match\n", names.size());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    bool with_stats = true;
    std::string path;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--no-stats")) {
            with_stats = false;
        } else if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (path.empty()) {
            path = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (path.empty()) {
        usage();
        return 2;
    }
    try {
        return run(path, with_stats);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "inspect: error: %s\n", e.what());
        return 1;
    }
}
