// embed_select.cpp: the table-independent rules of the EMBED reader: ids, the
// image path rule, the per-image finding-row choice (§1.3), the patient split
// and the per-class subset draw (§1.5).
#include <algorithm>
#include <cctype>
#include <map>

#include "mama/embed.h"
#include "tensor/check.h"
#include "tensor/random.h"

namespace mama {

const char* split_name(Split s) {
    switch (s) {
        case Split::Train: return "train";
        case Split::Valid: return "valid";
        case Split::Test: return "test";
    }
    return "?";
}

Split parse_split(const std::string& name) {
    if (name == "train") return Split::Train;
    if (name == "valid") return Split::Valid;
    if (name == "test") return Split::Test;
    ENG_FAIL("unknown split '", name, "'. HINT: use train, valid or test");
}

std::string embed_split_csv_name(Split s) {
    return std::string("EMBED_OpenData_metadata_reduced_") + split_name(s) + ".csv";
}

std::string canonical_id(const std::string& text) {
    size_t b = 0, e = text.size();
    while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
    std::string s = text.substr(b, e - b);
    // Integer text, optionally with a ".0..." tail (how pandas writes an int
    // column that once held a NaN): drop '+', leading zeros and the tail.
    size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    size_t digits_begin = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    size_t digits_end = i;
    if (digits_end == digits_begin) return s;
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && s[i] == '0') ++i;
    }
    if (i != s.size()) return s;
    size_t nz = digits_begin;
    while (nz + 1 < digits_end && s[nz] == '0') ++nz;
    std::string digits = s.substr(nz, digits_end - nz);
    if (digits == "0") negative = false;
    return (negative ? "-" : "") + digits;
}

std::string embed_image_path(const std::string& dicom_path, const EmbedOptions& o) {
    std::string image_dir = o.image_dir.empty() ? o.data_dir + "/images/" : o.image_dir;
    if (!image_dir.empty() && image_dir.back() != '/') image_dir += '/';
    std::string out;
    size_t k = o.path_marker.empty() ? std::string::npos : dicom_path.find(o.path_marker);
    if (k != std::string::npos) {
        out = image_dir + dicom_path.substr(k + o.path_marker.size());
    } else if (!dicom_path.empty() && dicom_path[0] != '/') {
        // A relative path such as the AWS copy's "./images/cohort_1/..." is
        // taken relative to the dataset folder.
        std::string rel = dicom_path;
        while (rel.compare(0, 2, "./") == 0) rel.erase(0, 2);
        out = o.data_dir + "/" + rel;
    } else {
        out = dicom_path;
    }
    const std::string& ext = o.dicom_ext;
    if (!ext.empty() && out.size() >= ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0)
        out = out.substr(0, out.size() - ext.size()) + o.image_suffix;
    return out;
}

FindingChoice select_finding(const std::vector<std::string>& sides, const std::vector<std::string>& asses,
                             const std::vector<std::string>& full_sides, const std::string& image_side,
                             bool fix_index, bool strict_side) {
    ENG_CHECK(sides.size() == asses.size(), "select_finding: ", sides.size(), " sides but ", asses.size(),
              " assessments");
    FindingChoice choice;
    if (sides.empty()) return choice;
    // 1-2. Keep the rows of the image's side, else the bilateral rows, else all
    // (which may be the other breast's findings).  The full table is filtered
    // by its own side column with the same rule.
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
        return !x.empty() && std::find(v.begin(), v.end(), x) != v.end();
    };
    bool keep_all = false;
    std::string keep;  // the side kept ("" = the rows without a side, strict mode only)
    if (has(sides, image_side)) keep = image_side;
    else if (has(sides, "B")) keep = "B";
    else keep_all = !strict_side;
    std::vector<int64_t> rows, full_rows;
    for (size_t i = 0; i < sides.size(); ++i)
        if (keep_all || sides[i] == keep) rows.push_back(int64_t(i));
    for (size_t i = 0; i < full_sides.size(); ++i)
        if (keep_all || full_sides[i] == keep) full_rows.push_back(int64_t(i));
    if (rows.empty()) return choice;  // strict mode: no row for this breast

    // 3. BI-RADS numbers of the rows with a valid letter.
    std::vector<int> birads;
    std::vector<int64_t> valid_pos;  // position in `rows` of each valid letter
    for (size_t p = 0; p < rows.size(); ++p) {
        int n = birads_number(asses[size_t(rows[p])]);
        if (n >= 0) birads.push_back(n), valid_pos.push_back(int64_t(p));
    }
    int64_t idx = 0;  // the reference's except-branch: the first row
    if (!birads.empty()) {
        auto mx = std::max_element(birads.begin(), birads.end());  // first maximum
        auto mn = std::min_element(birads.begin(), birads.end());  // first minimum
        // Prefer the "recall" (BI-RADS 0) row when the exam has only 0-2 findings.
        idx = (*mx <= 2 && *mn == 0) ? int64_t(mn - birads.begin()) : int64_t(mx - birads.begin());
        if (fix_index) {
            int64_t p = valid_pos[size_t(idx)];
            choice.reduced = rows[size_t(p)];
            if (p < int64_t(full_rows.size())) choice.full = full_rows[size_t(p)];
            return choice;
        }
        // Quirk: idx counts valid letters but indexes all kept rows.  When the
        // full table has fewer kept rows, the reference's iloc raises; its
        // except-branch then reads row 0 of a row already selected, a scalar,
        // and the caption building fails (real EMBED never gets here).  Row 0
        // of both tables is this project's choice for that case.
        if (idx >= int64_t(full_rows.size())) idx = 0;
    }
    choice.reduced = rows[size_t(idx)];
    if (idx < int64_t(full_rows.size())) choice.full = full_rows[size_t(idx)];
    return choice;
}

std::vector<std::vector<std::string>> split_patients(const std::vector<std::string>& patients, uint64_t seed,
                                                     double train_frac, double test_frac) {
    ENG_CHECK(train_frac >= 0 && test_frac >= 0 && train_frac + test_frac <= 1.0, "split_patients: fractions train ",
              train_frac, " + test ", test_frac, " must be in [0, 1]");
    const int64_t n = int64_t(patients.size());
    eng::Generator gen(seed);
    std::vector<int64_t> perm = gen.permutation(n);
    const int64_t n_train = int64_t(train_frac * double(n));
    const int64_t n_test = int64_t(test_frac * double(n));
    std::vector<std::vector<std::string>> out(3);
    for (int64_t i = 0; i < n; ++i) {
        const std::string& p = patients[size_t(perm[size_t(i)])];
        if (i < n_train) out[size_t(Split::Train)].push_back(p);
        else if (i < n_train + n_test) out[size_t(Split::Test)].push_back(p);
        else out[size_t(Split::Valid)].push_back(p);
    }
    return out;
}

std::vector<int64_t> per_class_subset(const std::vector<int>& labels, double frac, int64_t floor, uint64_t seed) {
    std::vector<int> order;  // classes in first-seen order
    std::map<int, std::vector<int64_t>> members;
    for (size_t i = 0; i < labels.size(); ++i) {
        auto& m = members[labels[i]];
        if (m.empty()) order.push_back(labels[i]);
        m.push_back(int64_t(i));
    }
    eng::Generator gen(seed);
    std::vector<int64_t> out;
    for (int c : order) {
        std::vector<int64_t>& m = members[c];
        const int64_t n = int64_t(m.size());
        const int64_t k = std::min(n, std::max(int64_t(frac * double(n)), floor));
        // Partial Fisher-Yates: the first k slots become a uniform k-sample.
        for (int64_t j = 0; j < k; ++j) {
            std::swap(m[size_t(j)], m[size_t(gen.randint(j, n))]);
            out.push_back(m[size_t(j)]);
        }
    }
    return out;
}

}  // namespace mama
