// synth.cpp: build/synth writes a synthetic EMBED-layout mammography dataset.
//   build/synth --patients N --out DIR --seed S [--size 512] [--threads T]
//               [--prefix /mnt/NAS2/mammo/anon_dicom/] [--contact-exams 4]
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "mama/synth.h"
#include "tensor/check.h"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: synth --patients N --out DIR --seed S [--size 512] [--threads T]\n"
                 "             [--prefix /mnt/NAS2/mammo/anon_dicom/] [--contact-exams 4]\n"
                 "Writes DIR/tables/ (the four EMBED tables), DIR/images/<empi>/<acc>/<uid>.png\n"
                 "and DIR/contact_sheet.png. Same seed, same bytes, whatever the thread count.\n");
}

long long parse_int(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    ENG_CHECK(!v.empty() && end && *end == 0, "synth: ", flag, " expects an integer, got '", v, "'");
    return x;
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
                usage();
                return 0;
            }
            ENG_CHECK(i + 1 < argc, "synth: ", a, " needs a value (see --help)");
            const std::string v = argv[++i];
            if (a == "--patients") {
                opt.patients = parse_int(a, v);
                have_patients = true;
            } else if (a == "--out") {
                out = v;
            } else if (a == "--seed") {
                opt.seed = uint64_t(parse_int(a, v));
                have_seed = true;
            } else if (a == "--size") {
                opt.size = int(parse_int(a, v));
            } else if (a == "--threads") {
                long long t = parse_int(a, v);
                ENG_CHECK(t >= 1, "synth: --threads must be at least 1");
                omp_set_num_threads(int(t));
            } else if (a == "--prefix") {
                opt.dicom_prefix = v;
                ENG_CHECK(!v.empty() && v.back() == '/', "synth: --prefix must end with '/', got '", v, "'");
            } else if (a == "--contact-exams") {
                opt.contact_exams = int(parse_int(a, v));
            } else {
                ENG_FAIL("synth: unknown option '", a, "' (see --help)");
            }
        }
        ENG_CHECK(have_patients && have_seed && !out.empty(), "synth: --patients, --seed and --out are required (see --help)");
        ENG_CHECK(opt.size >= 32 && opt.size <= 8192, "synth: --size ", opt.size, " must be within 32..8192");
        mama::SynthSummary s = mama::write_synth_dataset(opt, out);
        std::printf("synth: %lld patients, %lld exams, %lld images (%dx%d) in %.2f s on %d threads = %.0f images/min\n",
                    (long long)s.patients, (long long)s.exams, (long long)s.images, int(0.77 * opt.size + 0.5), opt.size,
                    s.render_seconds, s.threads, s.render_seconds > 0 ? 60.0 * double(s.images) / s.render_seconds : 0.0);
        std::printf("synth: tables in %s/tables, images in %s/images, contact sheet %s/contact_sheet.png\n", out.c_str(),
                    out.c_str(), out.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
