// synth.cpp: build/synth writes a synthetic EMBED-layout mammography dataset.
//   build/synth --patients N --out DIR --seed S [--size 512] [--threads T]
//               [--prefix /mnt/NAS2/mammo/anon_dicom/] [--contact-exams 4]
// Numbers are checked by tools/cli_args.h (--threads at most 1024, --size 32..8192).
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "mama/synth.h"
#include "tensor/check.h"
#include "tools/cli_args.h"

namespace {

// Help goes to stdout (asked for); after a usage error, to stderr.
void usage(FILE* to = stderr) {
    std::fprintf(to,
                 "usage: synth --patients N --out DIR --seed S [--size 512] [--threads T]\n"
                 "             [--prefix /mnt/NAS2/mammo/anon_dicom/] [--contact-exams 4]\n"
                 "Writes DIR/tables/ (the four EMBED tables), DIR/images/<empi>/<acc>/<uid>.png\n"
                 "and DIR/contact_sheet.png. Same seed, same bytes, whatever the thread count.\n");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        mama::SynthOptions opt;
        std::string out;
        bool have_patients = false, have_seed = false;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "-h" || a == "--help") {
                usage(stdout);
                return 0;
            }
            ENG_CHECK(i + 1 < argc, "synth: ", a, " needs a value (see --help)");
            const std::string v = argv[++i];
            if (a == "--patients") {
                opt.patients = cli::parse_int(a, v, 1, 10000000);  // mama/synth_plan.cpp's limit
                have_patients = true;
            } else if (a == "--out") {
                out = v;
            } else if (a == "--seed") {
                opt.seed = cli::parse_u64(a, v);
                have_seed = true;
            } else if (a == "--size") {
                opt.size = int(cli::parse_int(a, v, 32, 8192));
            } else if (a == "--threads") {
                omp_set_num_threads(cli::parse_threads(a, v));
            } else if (a == "--prefix") {
                opt.dicom_prefix = v;
                ENG_CHECK(!v.empty() && v.back() == '/', "synth: --prefix must end with '/', got '", v, "'");
            } else if (a == "--contact-exams") {
                // The sheet keeps these exams' images in memory; a few are enough to look at.
                opt.contact_exams = int(cli::parse_int(a, v, 0, 1000));
            } else {
                ENG_FAIL("synth: unknown option '", a, "' (see --help)");
            }
        }
        ENG_CHECK(have_patients && have_seed && !out.empty(), "synth: --patients, --seed and --out are required (see --help)");
        mama::SynthSummary s = mama::write_synth_dataset(opt, out);
        std::printf("synth: %lld patients, %lld exams, %lld images (%dx%d) in %.2f s on %d threads = %.0f images/min\n",
                    (long long)s.patients, (long long)s.exams, (long long)s.images, int(0.77 * opt.size + 0.5), opt.size,
                    s.render_seconds, s.threads, s.render_seconds > 0 ? 60.0 * double(s.images) / s.render_seconds : 0.0);
        std::printf("synth: tables in %s/tables, images in %s/images, contact sheet %s/contact_sheet.png\n", out.c_str(),
                    out.c_str(), out.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", cli::error_line("synth", e).c_str());
        return 1;
    }
}
