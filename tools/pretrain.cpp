// pretrain.cpp: build/pretrain, MaMA pretraining (and the reference-check mode).
//
//   build/pretrain --config mama/configs/cpu-small.json [--train.steps 100 ...] [--resume]
//   build/pretrain --config C --init W.safetensors --check-batch B.safetensors --dump D.safetensors
//   mpirun -np 4 build-mpi/pretrain --config C ...   (data parallel; make MPI=1)
//   ENG_PROFILE=1 build/pretrain ...   (ends with the CPU time per op, autograd/profile.h)
#include <iostream>
#include <string>
#include <vector>

#include "autograd/profile.h"
#include "mama/pretrain.h"

static int usage(const char* msg) {
    if (msg) std::cerr << "error: " << msg << "\n";
    std::cerr << "usage: build/pretrain --config FILE [--SECTION.KEY VALUE ...] [--resume [--allow-config-change]] [--quiet]\n"
                 "       build/pretrain --config FILE --init W.safetensors --check-batch B.safetensors --dump D.safetensors\n"
                 "Config keys (see mama/configs/paper.json) are overridden with dotted flags, e.g.\n"
                 "  --train.steps 200 --train.data_dir data/synth --model.vit.depth 6\n";
    return 2;
}

int main(int argc, char** argv) {
    std::string config, init, check_batch, dump;
    std::vector<std::pair<std::string, std::string>> overrides;
    mama::PretrainOptions opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
            return argv[++i];
        };
        try {
            if (a == "--config") config = value();
            else if (a == "--resume") opt.resume = true;
            else if (a == "--quiet") opt.quiet = true;
            else if (a == "--allow-config-change") opt.allow_config_change = true;
            else if (a == "--init") init = value();
            else if (a == "--check-batch") check_batch = value();
            else if (a == "--dump") dump = value();
            else if (a == "--help" || a == "-h") return usage(nullptr);
            else if (a.rfind("--", 0) == 0 && a.find('.') != std::string::npos) overrides.emplace_back(a.substr(2), value());
            else return usage(("unknown argument " + a).c_str());
        } catch (const std::exception& e) {
            return usage(e.what());
        }
    }
    if (config.empty()) return usage("--config is required");
    try {
        mama::RunConfig rc = mama::load_run_config(config, overrides);
        if (!check_batch.empty() || !init.empty() || !dump.empty()) {
            if (check_batch.empty() || init.empty() || dump.empty())
                return usage("reference-check mode needs --init, --check-batch and --dump together");
            return mama::run_reference_check(rc, init, check_batch, dump);
        }
        const int status = mama::run_pretrain(rc, opt);
        std::cout << eng::profile::report();  // ENG_PROFILE=1: where the CPU time went, per op
        return status;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << e.what() << "\n";
        eng::nn::abort_world(1);  // under mpirun: end the other ranks too (they would wait forever)
        return 1;
    }
}
