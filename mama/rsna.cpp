// rsna.cpp: reading RSNA-Mammo train.csv, the seeded patient split and the
// image path rule (see rsna.h).
#include "mama/rsna.h"

#include <filesystem>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "mama/csv.h"
#include "tensor/check.h"
#include "tensor/random.h"

namespace mama {

std::string rsna_image_path(const std::string& patient, const std::string& image_id, const RsnaOptions& o) {
    std::string dir = o.image_dir.empty() ? o.data_dir + "/RSNA_MAMMO_1080_JPG" : o.image_dir;
    if (!dir.empty() && dir.back() == '/') dir.pop_back();
    return dir + "/" + patient + "/" + image_id + o.image_suffix;
}

std::vector<int64_t> RsnaData::split_indices(Split s) const {
    if (s == Split::Valid) s = Split::Test;
    std::vector<int64_t> out;
    for (size_t i = 0; i < records.size(); ++i)
        if (records[i].split == s) out.push_back(int64_t(i));
    return out;
}

RsnaData load_rsna(const RsnaOptions& o) {
    ENG_CHECK(!o.data_dir.empty(), "load_rsna: no dataset folder given. HINT: set RsnaOptions::data_dir");
    ENG_CHECK(o.test_frac >= 0 && o.test_frac <= 1, "load_rsna: test_frac ", o.test_frac, " must be in [0, 1]");
    const std::string path = o.csv.empty() ? o.data_dir + "/train.csv" : o.csv;
    const CsvTable t = read_csv(path);
    const int pc = t.require("patient_id"), ic = t.require("image_id"), cc = t.require("cancer");
    const int lc = t.column("laterality"), vc = t.column("view");
    RsnaData data;
    data.rows = t.num_rows();

    // Rows -> records (labels checked), patients in first-appearance order.
    std::vector<std::string> patients;
    std::unordered_map<std::string, bool> positive;
    for (int64_t r = 0; r < t.num_rows(); ++r) {
        const auto& row = t.rows[size_t(r)];
        RsnaRecord rec;
        rec.row = r;
        rec.patient = canonical_id(row[size_t(pc)]);
        rec.image_id = canonical_id(row[size_t(ic)]);
        ENG_CHECK(!rec.patient.empty() && !rec.image_id.empty(), path, ":", t.lines[size_t(r)],
                  ": empty patient_id or image_id");
        const std::string c = canonical_id(row[size_t(cc)]);
        ENG_CHECK(c == "0" || c == "1", path, ":", t.lines[size_t(r)], ": column 'cancer' must be 0 or 1, got '",
                  row[size_t(cc)], "'");
        rec.cancer = c == "1";
        if (lc >= 0) rec.laterality = row[size_t(lc)];
        if (vc >= 0) rec.view = row[size_t(vc)];
        rec.image_path = rsna_image_path(rec.patient, rec.image_id, o);
        auto it = positive.find(rec.patient);
        if (it == positive.end()) {
            patients.push_back(rec.patient);
            positive[rec.patient] = rec.cancer;
        } else if (rec.cancer) {
            it->second = true;
        }
        data.records.push_back(std::move(rec));
    }

    // Patient split: per stratum, a seeded shuffle; the first int(test_frac*n) go to test.
    std::vector<std::vector<std::string>> strata(o.stratify ? 2 : 1);
    for (const auto& p : patients) strata[o.stratify && positive[p] ? 1 : 0].push_back(p);
    eng::Generator gen(o.split_seed);
    std::unordered_map<std::string, Split> split_of;
    for (const auto& stratum : strata) {
        std::vector<int64_t> perm = gen.permutation(int64_t(stratum.size()));
        const int64_t n_test = int64_t(o.test_frac * double(stratum.size()));
        for (size_t k = 0; k < stratum.size(); ++k) {
            Split s = int64_t(k) < n_test ? Split::Test : Split::Train;
            split_of[stratum[size_t(perm[k])]] = s;
            data.patients[int(s)].push_back(stratum[size_t(perm[k])]);
        }
    }
    for (auto& rec : data.records) rec.split = split_of.at(rec.patient);

    if (o.write_splits) {
        std::vector<std::vector<std::string>> train, test;
        for (const auto& rec : data.records) (rec.split == Split::Test ? test : train).push_back(t.rows[size_t(rec.row)]);
        write_csv(o.data_dir + "/rsna_mammo_train.csv", t.header, train);
        write_csv(o.data_dir + "/rsna_mammo_test.csv", t.header, test);
    }

    if (o.check_images) {
        std::vector<char> exists(data.records.size());
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < int64_t(data.records.size()); ++i) {
            std::error_code ec;
            exists[size_t(i)] = std::filesystem::is_regular_file(data.records[size_t(i)].image_path, ec);
        }
        std::vector<RsnaRecord> kept;
        for (size_t i = 0; i < data.records.size(); ++i) {
            if (exists[i]) {
                kept.push_back(std::move(data.records[i]));
                continue;
            }
            ++data.missing_image;
            if (data.missing_examples.size() < 5) data.missing_examples.push_back(data.records[i].image_path);
        }
        data.records = std::move(kept);
        if (data.missing_image > 0 && o.warnings)
            std::cerr << "warning: RSNA: " << data.missing_image << " image file(s) not found, skipped (first: "
                      << data.missing_examples[0] << "). HINT: build/prepare writes the images; --rsna-image-dir and --rsna-suffix of build/evaluate "
                         "(RsnaOptions::image_dir / image_suffix) select another layout\n";
    }
    return data;
}

}  // namespace mama
