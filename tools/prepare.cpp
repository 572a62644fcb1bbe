// prepare.cpp: build/prepare converts DICOM mammograms to the reference's 8-bit
// images with long side 1080 (mama-reference.md §3.1; see mama/prepare.h).
//
//   build/prepare --in DIR_OR_FILE --out DIR [--long-side 1080] [--format jpg|png]
//                 [--quality 75] [--any-name] [--skip-existing] [--apply-bits-stored]
//                 [--threads N]
//
// A tree is walked recursively; every *.dcm file (any case; with --any-name every
// file with the "DICM" marker) becomes OUT/<same relative folder>/<name>_resized.jpg.
// Files are converted in parallel (OpenMP); a file that fails (compressed transfer
// syntax, truncated, not an image ...) is reported and counted, never fatal for the
// rest. The failures are also listed in OUT/prepare_failures.tsv. Links to
// folders are followed, but symlink loops are not entered, a file reached twice
// is converted once, and inputs that map to one output name are converted once
// (the others are listed as skipped): tools/prepare_jobs.h.
// Exit status: 0 all converted, 3 some files skipped, 1 usage or fatal error.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "mama/dicom.h"
#include "mama/prepare.h"
#include "tensor/check.h"
#include "tools/cli_args.h"
#include "tools/prepare_jobs.h"

namespace fs = std::filesystem;

namespace {

const char* kUsage =
    "usage: prepare --in DIR_OR_FILE --out DIR [options]\n"
    "  converts DICOM images to 8-bit images like MaMA's resize_embed.py:\n"
    "  scale by 255/max, invert MONOCHROME1, INTER_AREA resize to the long side.\n"
    "  --long-side N        long side of the output in pixels, 1..8192 (default 1080)\n"
    "  --format jpg|png     output format (default jpg)\n"
    "  --quality Q          JPEG quality 1..100 (default 75, PIL's default as in the reference)\n"
    "  --any-name           also convert files without a .dcm suffix that carry the DICM marker\n"
    "  --skip-existing      leave files whose output already exists (resume an interrupted run)\n"
    "  --apply-bits-stored  mask samples to BitsStored/HighBit (the reference uses the whole word)\n"
    "  --threads N          worker threads, 1..1024 (default: OpenMP's default)\n";

struct Args {
    std::string in, out;
    mama::PrepareOptions options;
    bool any_name = false, skip_existing = false;
    int threads = 0;
};

// The longest output side accepted: twice the long side of the largest
// mammography detectors (about 4096 px), so no real use is refused, while the
// float buffers of one conversion (~0.5 GB at 8192) times the threads still fit
// a workstation.  An unbounded value ended in std::bad_alloc for every file.
constexpr int kMaxLongSide = 8192;

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string f = argv[i];
        auto value = [&]() -> std::string {
            ENG_CHECK(i + 1 < argc, "prepare: ", f, " needs a value\n", kUsage);
            return argv[++i];
        };
        if (f == "--in") a.in = value();
        else if (f == "--out") a.out = value();
        else if (f == "--long-side") a.options.long_side = int(cli::parse_int(f, value(), 1, kMaxLongSide));
        else if (f == "--format") a.options.format = value();
        else if (f == "--quality") a.options.jpeg_quality = int(cli::parse_int(f, value(), 1, 100));
        else if (f == "--threads") a.threads = cli::parse_threads(f, value());
        else if (f == "--any-name") a.any_name = true;
        else if (f == "--skip-existing") a.skip_existing = true;
        else if (f == "--apply-bits-stored") a.options.read.apply_bits_stored = true;
        else if (f == "--help" || f == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else ENG_FAIL("prepare: unknown option '", f, "'\n", kUsage);
    }
    ENG_CHECK(!a.in.empty() && !a.out.empty(), "prepare: --in and --out are required\n", kUsage);
    if (a.options.format == "jpeg") a.options.format = "jpg";
    ENG_CHECK(a.options.format == "jpg" || a.options.format == "png", "prepare: --format must be jpg or png, got '",
              a.options.format, "'");
    return a;
}

using prepare_jobs::Job;

struct Outcome {
    int status = 0;  // 0 converted, 1 already there, 2 failed
    std::string kind, message;
};

Outcome convert(const Job& job, const Args& a) {
    Outcome r;
    if (!job.skip_kind.empty()) {  // a duplicate found while collecting
        r.status = 2;
        r.kind = job.skip_kind;
        r.message = job.skip_message;
        return r;
    }
    std::error_code ec;
    if (a.skip_existing && fs::exists(job.output, ec)) {
        r.status = 1;
        return r;
    }
    r.status = 2;
    mama::Image image;
    int rows = 0, columns = 0;
    try {
        mama::DicomImage dicom = mama::read_dicom(job.input.string(), a.options.read);
        rows = dicom.rows, columns = dicom.columns;
        image = mama::dicom_to_image(dicom, a.options);
    } catch (const mama::DicomUnsupported& e) {
        r.kind = e.kind;
        r.message = e.what();
        return r;
    } catch (const std::bad_alloc&) {
        // Not the file's fault: say which size did not fit instead of "unreadable".
        r.kind = "out of memory";
        int w = 0, h = 0;
        if (rows > 0 && columns > 0) mama::reference_resize_size(columns, rows, a.options.long_side, w, h);
        r.message = "'" + job.input.string() + "': " +
                    (w > 0 ? "output " + std::to_string(w) + "x" + std::to_string(h) + " too large"
                           : std::string("the image is too large")) +
                    " for the memory left. HINT: a smaller --long-side or fewer --threads";
        return r;
    } catch (const std::exception& e) {
        r.kind = "unreadable (corrupt, truncated or not DICOM)";
        r.message = e.what();
        return r;
    }
    try {
        mama::save_prepared(job.output.string(), image, a.options);
    } catch (const std::exception& e) {
        r.kind = "write failed";
        r.message = e.what();
        return r;
    }
    r.status = 0;
    return r;
}

int run(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    prepare_jobs::Collected collected = prepare_jobs::collect(a.in, a.out, a.options.format, a.any_name);
    const std::vector<Job>& jobs = collected.jobs;
    const size_t ignored = collected.ignored;
    for (const std::string& note : collected.notes) std::fprintf(stderr, "prepare: note: %s\n", note.c_str());
    std::error_code ec;
    fs::create_directories(a.out, ec);
    ENG_CHECK(!ec, "prepare: cannot create the output folder '", a.out, "': ", ec.message());
    std::fprintf(stderr, "prepare: %zu file(s) under '%s' -> '%s' (long side %d, %s)\n", jobs.size(), a.in.c_str(),
                 a.out.c_str(), a.options.long_side, a.options.format.c_str());
    if (ignored > 0)
        std::fprintf(stderr, "prepare: %zu other file(s) ignored (no .dcm suffix%s)\n", ignored,
                     a.any_name ? " and no DICM marker" : "; --any-name also takes files with the DICM marker");

    std::vector<Outcome> results(jobs.size());
    std::atomic<long> done{0}, failed{0};
    const auto start = std::chrono::steady_clock::now();
    double last_print = -1.0;
    const long total = long(jobs.size());
    const int kShownFailures = 20;

#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < total; ++i) {
        results[size_t(i)] = convert(jobs[size_t(i)], a);
        long n = ++done;
        long nf = failed.load();
        if (results[size_t(i)].status == 2) nf = ++failed;
#pragma omp critical(prepare_progress)
        {
            if (results[size_t(i)].status == 2 && nf <= kShownFailures)
                std::fprintf(stderr, "\nskipped: %s\n",
                             results[size_t(i)].message.c_str());
            double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (t - last_print >= 0.5 || n == total) {
                last_print = t;
                std::fprintf(stderr, "\rprepare: %ld/%ld files, %ld failed, %.1f s", n, total, failed.load(), t);
            }
        }
    }
    if (total > 0) std::fputc('\n', stderr);

    long converted = 0, existing = 0;
    std::map<std::string, long> reasons;
    for (const Outcome& r : results) {
        if (r.status == 0) ++converted;
        else if (r.status == 1) ++existing;
        else ++reasons[r.kind];
    }
    const long skipped = total - converted - existing;
    std::printf("prepare: %ld file(s): %ld converted, %ld skipped", total, converted, skipped);
    if (existing > 0) std::printf(", %ld already done", existing);
    std::printf("\n");
    if (skipped > 0) {
        std::printf("skipped, by reason:\n");
        for (const auto& [kind, n] : reasons) std::printf("  %6ld  %s\n", n, kind.c_str());
        fs::path list = fs::path(a.out) / "prepare_failures.tsv";
        std::ofstream tsv(list);
        if (tsv) {
            auto one_line = [](std::string s) {
                for (char& c : s)
                    if (c == '\n' || c == '\t') c = ' ';
                return s;
            };
            tsv << "path\treason\tmessage\n";
            for (size_t i = 0; i < jobs.size(); ++i)
                if (results[i].status == 2)
                    tsv << jobs[i].input.string() << '\t' << results[i].kind << '\t' << one_line(results[i].message)
                        << '\n';
            std::printf("every skipped file and its message: %s\n", list.string().c_str());
        }
        if (skipped > kShownFailures) std::printf("(only the first %d messages were printed above)\n", kShownFailures);
    }
    return skipped > 0 ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "prepare: error: %s\n", cli::exception_text(e).c_str());
        return 1;
    }
}
