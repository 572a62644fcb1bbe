// pretrain_testing.h: the tiny synthetic dataset and run config shared by the
// pretraining tests (tests/mama/test_pretrain.cpp, tests/cuda/test_cuda_mama.cpp).
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "mama/config.h"
#include "mama/synth.h"
#include "tests/temp_dir.h"

namespace testing {

// The tiny dataset: 14 synthetic patients at 64 px, written to `dir`.
inline void write_tiny_dataset(const std::string& dir) {
    mama::SynthOptions o;
    o.patients = 14;
    o.seed = 5;
    o.size = 64;
    o.contact_exams = 0;
    mama::write_synth_dataset(o, dir);
}

// One tiny dataset made on first use and shared by every case of the test binary.
inline const std::string& tiny_dataset_dir() {
    static TempDir dir("data");
    static const std::string path = [] {
        write_tiny_dataset(dir.path.string());
        return dir.path.string();
    }();
    return path;
}

// mama/configs/tiny.json on that dataset, writing to `out`, for `steps` steps,
// with further "section.key" overrides.
inline mama::RunConfig tiny_run_config(const std::string& out, int64_t steps,
                                       std::vector<std::pair<std::string, std::string>> more = {}) {
    std::vector<std::pair<std::string, std::string>> o = {{"train.data_dir", "\"" + tiny_dataset_dir() + "\""},
                                                          {"train.out_dir", "\"" + out + "\""},
                                                          {"train.steps", std::to_string(steps)},
                                                          {"train.workers", "2"}};
    o.insert(o.end(), more.begin(), more.end());
    return mama::load_run_config("mama/configs/tiny.json", o);
}

// The "loss" of each training line of a pretrain log (validation lines have none).
inline std::vector<double> logged_losses(const std::filesystem::path& log) {
    std::ifstream in(log);
    std::vector<double> out;
    std::string line;
    while (std::getline(in, line)) {
        const size_t at = line.find("\"loss\":");
        if (at != std::string::npos) out.push_back(std::stod(line.substr(at + 7)));
    }
    return out;
}

}  // namespace testing
