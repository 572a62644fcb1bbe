// prepare_jobs.h: the list of files build/prepare converts (header-only, used by
// tools/prepare.cpp and tested in tests/tools/test_prepare_jobs.cpp).
//
// A tree is walked recursively, following folder links (data sets are often
// assembled from links), but:
//   - a linked folder that leads back to one of its own ancestors (a symlink
//     loop) is not entered, and a note says so;
//   - a file reached twice (through a link) is converted once; the other path is
//     listed as skipped, "duplicate input";
//   - two inputs that would be written to the same output (a.dcm and a.DCM, or
//     a and a.dcm with --any-name) would race on one file, so only the first in
//     sorted order is converted and the others are skipped, "duplicate output name".
// Outputs mirror the input folders lexically (the link's own name is kept), so
// a link to a folder outside the tree never sends outputs outside --out.
#pragma once
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "mama/dicom.h"
#include "mama/prepare.h"
#include "tensor/check.h"

namespace prepare_jobs {

namespace fs = std::filesystem;

struct Job {
    fs::path input;             // file to read
    fs::path output;            // image to write
    std::string skip_kind;      // not empty: not converted; the reason for the summary
    std::string skip_message;   // ... and the full message
};

struct Collected {
    std::vector<Job> jobs;            // sorted by input path
    size_t ignored = 0;               // files without .dcm (or the DICM marker with any_name)
    std::vector<std::string> notes;   // folders not entered, and why
};

inline bool has_dcm_suffix(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".dcm";
}

// True when entering the linked folder `dir` (met under `root`) would loop:
// its target contains the folder the link sits in (a link to "..", or to an
// ancestor above root), or equals one of the folders walked to reach it (a
// cycle of several links: x/l1 -> y, y/l2 -> x).
inline bool is_link_loop(const fs::path& dir, const fs::path& root) {
    std::error_code ec;
    const fs::path target = fs::canonical(dir, ec);
    if (ec) return true;  // dangling or unresolvable (ELOOP): nothing to enter
    const fs::path here = fs::canonical(dir.parent_path(), ec);
    if (!ec && std::mismatch(target.begin(), target.end(), here.begin(), here.end()).first == target.end())
        return true;
    fs::path stop = root.lexically_normal();
    if (!stop.has_filename()) stop = stop.parent_path();  // "in/" -> "in"
    for (fs::path q = dir.parent_path(); !q.empty(); q = q.parent_path()) {
        const fs::path c = fs::canonical(q, ec);
        if (!ec && c == target) return true;
        if (q.lexically_normal() == stop || q == q.parent_path()) break;
    }
    return false;
}

inline Collected collect(const std::string& in_text, const std::string& out_text, const std::string& format,
                         bool any_name) {
    Collected r;
    // "in/" and "in" must give the same relative paths (lexically_relative
    // compares element by element, and a trailing slash is an empty element).
    fs::path in = fs::path(in_text).lexically_normal();
    if (!in.has_filename() && in.has_parent_path() && in != in.root_path()) in = in.parent_path();
    const fs::path out(out_text);
    std::error_code ec;
    ENG_CHECK(fs::exists(in, ec), "prepare: input '", in_text, "' does not exist. HINT: check the --in path");
    if (!fs::is_directory(in, ec)) {
        r.jobs.push_back({in, out / mama::prepared_name(in.filename().string(), format), "", ""});
        return r;
    }
    auto opts = fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied;
    for (fs::recursive_directory_iterator it(in, opts, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code e2;
        const fs::path& p = it->path();
        if (it->is_symlink(e2) && it->is_directory(e2)) {
            if (is_link_loop(p, in)) {
                it.disable_recursion_pending();
                r.notes.push_back("folder link '" + p.string() + "' leads back to one of its own parent folders " +
                                  "(a symlink loop): not entered");
            }
            continue;
        }
        if (!it->is_regular_file(e2)) continue;
        const bool take = has_dcm_suffix(p) || (any_name && mama::looks_like_dicom(p.string()));
        if (!take) {
            ++r.ignored;
            continue;
        }
        // lexically_relative, not fs::relative: the latter resolves links, which
        // would place outputs of a linked folder outside `out`.
        const fs::path rel = p.lexically_relative(in);
        r.jobs.push_back({p, out / rel.parent_path() / mama::prepared_name(p.filename().string(), format), "", ""});
    }
    ENG_CHECK(!ec, "prepare: cannot walk '", in_text, "': ", ec.message(),
              ". HINT: check the permissions of the folders under --in");
    std::sort(r.jobs.begin(), r.jobs.end(), [](const Job& x, const Job& y) { return x.input < y.input; });

    // The same file through two paths: keep the path without links (else the first).
    const fs::path in_canonical = fs::canonical(in, ec);
    std::map<fs::path, size_t> by_file;
    for (size_t i = 0; i < r.jobs.size(); ++i) {
        std::error_code e2;
        // The folder resolved, the file name kept: two names that link to one
        // blob (a content-addressed store) are two inputs; one directory
        // entry reached through two folder paths is one.
        const fs::path c = fs::canonical(r.jobs[i].input.parent_path(), e2) / r.jobs[i].input.filename();
        if (e2) continue;
        auto [slot, fresh] = by_file.emplace(c, i);
        if (fresh) continue;
        size_t keep = slot->second, drop = i;
        const bool i_direct = c.lexically_relative(in_canonical) == r.jobs[i].input.lexically_relative(in);
        const bool k_direct = c.lexically_relative(in_canonical) == r.jobs[keep].input.lexically_relative(in);
        if (i_direct && !k_direct) std::swap(keep, drop), slot->second = keep;
        r.jobs[drop].skip_kind = "duplicate input (the same file reached through a link)";
        r.jobs[drop].skip_message = "'" + r.jobs[drop].input.string() + "' is the same file as '" +
                                    r.jobs[keep].input.string() + "' (reached through a symbolic link); converted once";
    }
    // Two inputs, one output name: the first (sorted) input wins.
    std::map<fs::path, size_t> by_output;
    for (size_t i = 0; i < r.jobs.size(); ++i) {
        Job& j = r.jobs[i];
        if (!j.skip_kind.empty()) continue;
        auto [slot, fresh] = by_output.emplace(j.output.lexically_normal(), i);
        if (fresh) continue;
        const Job& kept = r.jobs[slot->second];
        j.skip_kind = "duplicate output name";
        j.skip_message = "'" + j.input.string() + "' and '" + kept.input.string() + "' would both be written to '" +
                         j.output.string() + "'; only '" + kept.input.string() +
                         "' is converted. HINT: rename one of them, or convert it with its own --out";
    }
    return r;
}

}  // namespace prepare_jobs
