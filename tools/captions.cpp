// captions.cpp: build/captions prints what the model is trained on: one line
// per captioned EMBED image with its labels, partner count and caption.
//
//   build/captions --data DIR [--split train|valid|test] [--masked [--seed N]]
//
// Output columns (tab-separated): image path, BI-RADS label (0-6), density
// label (0-3, or -1 for male images, which the density task drops), number of
// same-exam partner images, caption (model text with the special tokens; tabs
// and newlines inside it are printed as \t and \n).  A summary of what was
// skipped goes to stderr.
#include <cstdlib>
#include <iostream>
#include <string>

#include "mama/embed.h"
#include "tensor/check.h"
#include "tensor/random.h"
#include "tools/cli_args.h"

namespace {

const char* kUsage =
    "usage: captions --data DIR [options]\n"
    "  --data DIR            EMBED-layout dataset (DIR/tables/*.csv, DIR/images/)\n"
    "  --split S             only this split: train, valid or test (default: all)\n"
    "  --masked              training captions: each meta field 'unknown' with p=0.8\n"
    "  --seed N              seed of the masking draws (default 0; each metadata row has its own stream)\n"
    "  --split-seed N        seed of the patient split (default 42)\n"
    "  --image-suffix S      replaces .dcm in anon_dicom_path (default .png)\n"
    "  --path-marker S       anon_dicom_path prefix up to and including S -> DIR/images/ (default /anon_dicom/)\n"
    "  --same-side           partners of the same exam and side only\n"
    "  --fix-quirks          corrected finding-row choice (index, side), BI-RADS label from the letter,\n"
    "                        missing ethnicity 'unknown', newlines as spaces everywhere\n"
    "  --write-splits        write DIR/tables/EMBED_OpenData_metadata_reduced_{train,valid,test}.csv\n"
    "  --no-image-check      do not skip images whose file is missing\n"
    "output: path <TAB> birads <TAB> density <TAB> partners <TAB> caption, one line per image\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "captions: " << message << "\n" << kUsage;
    std::exit(2);
}

uint64_t parse_u64(const std::string& flag, const std::string& text) {
    try {
        return cli::parse_u64(flag, text);  // "-1" refused, not wrapped; no trailing junk
    } catch (const eng::Error& e) {
        usage_error(e.what());
    }
}

std::string one_line(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    mama::EmbedOptions opt;
    std::string split;
    bool masked = false, seed_given = false;
    uint64_t seed = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--data") opt.data_dir = value();
        else if (a == "--split") split = value();
        else if (a == "--masked") masked = true;
        else if (a == "--seed") seed = parse_u64(a, value()), seed_given = true;
        else if (a == "--split-seed") opt.split_seed = parse_u64(a, value());
        else if (a == "--image-suffix") opt.image_suffix = value();
        else if (a == "--path-marker") opt.path_marker = value();
        else if (a == "--same-side") opt.same_side_partners = true;
        else if (a == "--fix-quirks") {
            opt.fix_finding_index = true;
            opt.strict_side = true;
            opt.birads_from_letter = true;
            opt.caption.newline_to_space_always = true;
            opt.caption.unknown_missing_ethnicity = true;
        } else if (a == "--write-splits") opt.write_splits = true;
        else if (a == "--no-image-check") opt.check_images = false;
        else if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            return 0;
        } else usage_error("unknown argument '" + a + "'");
    }
    if (opt.data_dir.empty()) usage_error("--data DIR is required");
    if (seed_given && !masked) usage_error("--seed only applies with --masked");
    if (!split.empty() && split != "train" && split != "valid" && split != "test")
        usage_error("--split must be train, valid or test, got '" + split + "'");

    try {
        mama::EmbedData data = mama::load_embed(opt);
        for (size_t i = 0; i < data.records.size(); ++i) {
            const mama::EmbedRecord& r = data.records[i];
            if (!split.empty() && mama::split_name(r.split) != split) continue;
            std::string caption;
            if (masked) {
                // A stream per metadata row: the output does not depend on --split.
                eng::Generator gen(eng::random_word(seed, uint64_t(r.meta_row)));
                caption = data.training_caption(int64_t(i), gen);
            } else {
                caption = data.caption(int64_t(i));
            }
            std::cout << r.image_path << '\t' << r.birads << '\t' << r.density << '\t' << r.partners.size() << '\t'
                      << one_line(caption) << '\n';
        }
        std::cerr << data.summary.text();
    } catch (const std::exception& e) {  // eng::Error, and std::bad_alloc or I/O errors of huge tables
        std::cerr << cli::error_line("captions", e) << "\n";
        return 1;
    }
    return 0;
}
