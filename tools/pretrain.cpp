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
#include "tools/cli_args.h"

// Help (msg null) goes to stdout with status 0; a usage error to stderr with 2.
static int usage(const char* msg) {
    if (msg) std::cerr << "error: " << msg << "\n";
    (msg ? std::cerr : std::cout) << "usage: build/pretrain --config FILE [--SECTION.KEY VALUE ...] [--resume [--allow-config-change]]\n"
                 "                      [--stop-at STEP] [--quiet]\n"
                 "       build/pretrain --config FILE --init W.safetensors --check-batch B.safetensors --dump D.safetensors\n"
                 "Config keys (see mama/configs/paper.json) are overridden with dotted flags, e.g.\n"
                 "  --train.steps 200 --train.data_dir data/synth --model.vit.depth 6  (or --train.steps=200)\n"
                 "--resume continues OUT/last.safetensors; give the same config and overrides as the run it continues\n"
                 "--stop-at STEP saves and exits (status 0) after that step, to train in chunks; --resume goes on\n";
    return msg ? 2 : 0;
}

int main(int argc, char** argv) {
    std::string config, init, check_batch, dump;
    std::vector<std::pair<std::string, std::string>> overrides;
    mama::PretrainOptions opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        // --key=value is --key value.
        std::string inline_value;
        bool has_inline = false;
        if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = a.substr(eq + 1), has_inline = true;
            a.resize(eq);
        }
        auto value = [&]() -> std::string {
            if (has_inline) {
                has_inline = false;
                return inline_value;
            }
            if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
            return argv[++i];
        };
        try {
            if (a == "--config") config = value();
            else if (a == "--resume") opt.resume = true;
            else if (a == "--quiet") opt.quiet = true;
            else if (a == "--allow-config-change") opt.allow_config_change = true;
            else if (a == "--stop-at") opt.stop_at = cli::parse_int(a, value(), 1, std::numeric_limits<int64_t>::max());
            else if (a == "--init") init = value();
            else if (a == "--check-batch") check_batch = value();
            else if (a == "--dump") dump = value();
            else if (a == "--help" || a == "-h") return usage(nullptr);
            else if (a.rfind("--", 0) == 0 && a.find('.') != std::string::npos) overrides.emplace_back(a.substr(2), value());
            else return usage(("unknown argument " + a).c_str());
            if (has_inline) return usage((a + " takes no value").c_str());
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
