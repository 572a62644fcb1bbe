// embed.cpp: load_embed, which reads the four EMBED tables and builds the
// captioned image records, labels, split and partner lists (see embed.h).
#include "mama/embed.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "mama/csv.h"
#include "tensor/check.h"

namespace mama {

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::optional<std::string> text_or_na(const std::string& s) {
    if (is_na(s)) return std::nullopt;
    return s;
}

// A float cell as pandas reads it; NA or unparsable text is missing.
std::optional<double> number_or_na(const std::string& s) {
    if (is_na(s)) return std::nullopt;
    std::string t = trim(s);
    if (t.empty()) return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return std::nullopt;
    return v;
}

// Columns of one table, looked up once (a missing one is an error naming it and the file).
struct Columns {
    std::vector<int> idx;
    Columns(const CsvTable& t, std::initializer_list<const char*> names) {
        for (const char* n : names) idx.push_back(t.require(n));
    }
    int operator[](size_t k) const { return idx[k]; }
};

using CodeMap = std::unordered_map<std::string, std::string>;

// The four code -> meaning lookups of the legend; later rows overwrite earlier
// ones, as a Python dict comprehension does.  NA codes and meanings are left out.
std::unordered_map<std::string, CodeMap> read_legend(const CsvTable& legend, bool trim_codes) {
    Columns c(legend, {"Header in export", "Code", "Meaning"});
    std::unordered_map<std::string, CodeMap> maps;
    for (const char* field : {"massshape", "massdens", "calcfind", "calcdistri"}) maps[field];
    for (int64_t r = 0; r < legend.num_rows(); ++r) {
        const auto& row = legend.rows[size_t(r)];
        auto it = maps.find(row[size_t(c[0])]);
        if (it == maps.end()) continue;
        const std::string& code = row[size_t(c[1])];
        const std::string& meaning = row[size_t(c[2])];
        if (is_na(code) || is_na(meaning)) continue;
        it->second[trim_codes ? trim(code) : code] = meaning;
    }
    return maps;
}

std::optional<std::string> lookup(const CodeMap& map, const std::string& code, bool trim_codes) {
    if (is_na(code)) return std::nullopt;
    auto it = map.find(trim_codes ? trim(code) : code);
    if (it == map.end()) return std::nullopt;
    return it->second;
}

std::unordered_map<std::string, std::vector<int64_t>> index_by_exam(const CsvTable& t, int exam_col) {
    std::unordered_map<std::string, std::vector<int64_t>> index;
    for (int64_t r = 0; r < t.num_rows(); ++r) index[canonical_id(t.rows[size_t(r)][size_t(exam_col)])].push_back(r);
    return index;
}

// The BI-RADS class as the reference gets it: parsed back out of the caption.
// The regex can only disagree with the letter when another "birads" text
// (e.g. in StudyDescription) precedes the impression, so it runs only then.
int birads_label(const ReportFields& f, const CaptionOptions& opt) {
    std::string cap = cached_caption(f, opt);
    std::string low;
    low.reserve(cap.size());
    for (char ch : cap)
        if (ch != '-') low += char(std::tolower(static_cast<unsigned char>(ch)));
    size_t first = low.find("birads");
    bool only_one = first != std::string::npos && low.find("birads", first + 1) == std::string::npos &&
                    low.find("bi rads") == std::string::npos;
    if (only_one) return birads_number(*f.assessment);
    // A number outside the 7 classes (a StudyDescription's "BIRADS category
    // 9") is no class: the letter decides, as it would without that text.
    int parsed = birads_label_from_caption(cap);
    const int classes = int(std::char_traits<char>::length(kBiradsLetters));
    return parsed >= 0 && parsed < classes ? parsed : birads_number(*f.assessment);
}

}  // namespace

// ---------------------------------------------------------------------------

std::string EmbedSummary::text() const {
    std::ostringstream os;
    os << "EMBED: " << metadata_rows << " metadata rows; " << not_2d << " not 2D; " << captioned
       << " captioned images (train " << per_split[0] << ", valid " << per_split[1] << ", test " << per_split[2]
       << "; " << male << " male)\n";
    os << "  skipped: " << duplicate_path << " duplicate path, " << not_in_split_files << " not in a split file, "
       << no_clinical_rows << " no clinical row, " << no_side_match << " no finding row for the side, "
       << no_procedure << " no StudyDescription, " << no_reason << " no screening/diagnostic reason, " << no_density
       << " no density, " << no_birads << " no valid BI-RADS, " << missing_image << " missing image file\n";
    for (const auto& p : missing_examples) os << "  missing image: " << p << "\n";
    return os.str();
}

std::vector<int64_t> EmbedData::split_indices(Split s) const {
    std::vector<int64_t> out;
    for (size_t i = 0; i < records.size(); ++i)
        if (records[i].split == s) out.push_back(int64_t(i));
    return out;
}

std::vector<int64_t> EmbedData::density_indices(Split s) const {
    std::vector<int64_t> out;
    for (size_t i = 0; i < records.size(); ++i)
        if (records[i].split == s && records[i].density >= 0) out.push_back(int64_t(i));
    return out;
}

std::string EmbedData::caption(int64_t i) const {
    ENG_CHECK(i >= 0 && i < int64_t(records.size()), "EmbedData::caption: index ", i, " outside 0..",
              records.size());
    return cached_caption(records[size_t(i)].report, options.caption);
}

std::string EmbedData::training_caption(int64_t i, eng::Generator& gen) const {
    ENG_CHECK(i >= 0 && i < int64_t(records.size()), "EmbedData::training_caption: index ", i, " outside 0..",
              records.size());
    return mama::training_caption(records[size_t(i)].report, gen, options.caption);
}

// ---------------------------------------------------------------------------

EmbedData load_embed(const EmbedOptions& options) {
    ENG_CHECK(!options.data_dir.empty(), "load_embed: no dataset folder given. HINT: set EmbedOptions::data_dir");
    EmbedData data;
    data.options = options;
    EmbedSummary& sum = data.summary;
    const std::string tables = options.tables_dir.empty() ? options.data_dir + "/tables" : options.tables_dir;

    const CsvTable meta = read_csv(tables + "/" + kEmbedMetadataCsv);
    const CsvTable reduced = read_csv(tables + "/" + kEmbedClinicalReducedCsv);
    const CsvTable full = read_csv(tables + "/" + kEmbedClinicalCsv);
    const CsvTable legend = read_csv(tables + "/" + kEmbedLegendCsv);
    enum { M_PATH, M_PID, M_SID, M_SIDE, M_VIEW, M_TYPE, M_DESC };
    Columns mc(meta, {"anon_dicom_path", "empi_anon", "acc_anon", "ImageLateralityFinal", "ViewPosition",
                      "FinalImageType", "StudyDescription"});
    enum { R_SID, R_SIDE, R_ASSES, R_DEN, R_AGE, R_RACE, R_ETH };
    Columns rc(reduced, {"acc_anon", "side", "asses", "tissueden", "age_at_study", "RACE_DESC", "ETHNIC_GROUP_DESC"});
    enum { F_SID, F_SIDE, F_SHAPE, F_MDENS, F_CFIND, F_CDIST };
    Columns fc(full, {"acc_anon", "side", "massshape", "massdens", "calcfind", "calcdistri"});
    const auto maps = read_legend(legend, options.trim_codes);
    const auto reduced_by_exam = index_by_exam(reduced, rc[R_SID]);
    const auto full_by_exam = index_by_exam(full, fc[F_SID]);

    // ---- 2D filter and the patients of the 2D rows (first-appearance order)
    sum.metadata_rows = meta.num_rows();
    std::vector<int64_t> rows_2d;
    std::vector<std::string> patients;
    std::unordered_set<std::string> seen_patients;
    for (int64_t r = 0; r < meta.num_rows(); ++r) {
        const auto& row = meta.rows[size_t(r)];
        if (row[size_t(mc[M_TYPE])] != "2D") {
            ++sum.not_2d;
            continue;
        }
        rows_2d.push_back(r);
        std::string pid = canonical_id(row[size_t(mc[M_PID])]);
        if (seen_patients.insert(pid).second) patients.push_back(pid);
    }

    // ---- split: seeded patient shuffle, or the existing split files
    std::unordered_map<std::string, Split> patient_split, path_split;
    if (options.split_from_files) {
        for (Split s : {Split::Train, Split::Valid, Split::Test}) {
            const CsvTable t = read_csv(tables + "/" + embed_split_csv_name(s));
            int pc = t.require("anon_dicom_path"), ic = t.require("empi_anon");
            std::unordered_set<std::string> seen;
            for (const auto& row : t.rows) {
                path_split[row[size_t(pc)]] = s;
                std::string pid = canonical_id(row[size_t(ic)]);
                if (seen.insert(pid).second) data.patients[int(s)].push_back(pid);
            }
        }
    } else {
        auto lists = split_patients(patients, options.split_seed, options.train_frac, options.test_frac);
        for (int s = 0; s < 3; ++s) {
            data.patients[s] = lists[size_t(s)];
            for (const auto& p : lists[size_t(s)]) patient_split[p] = Split(s);
        }
    }

    // ---- one record per captioned 2D image
    std::unordered_set<std::string> seen_paths;
    for (int64_t r : rows_2d) {
        const auto& row = meta.rows[size_t(r)];
        EmbedRecord rec;
        rec.dicom_path = row[size_t(mc[M_PATH])];
        rec.image_path = embed_image_path(rec.dicom_path, options);
        rec.patient = canonical_id(row[size_t(mc[M_PID])]);
        rec.exam = canonical_id(row[size_t(mc[M_SID])]);
        rec.meta_row = r;
        if (!seen_paths.insert(rec.image_path).second) {
            ++sum.duplicate_path;
            continue;
        }
        if (options.split_from_files) {
            auto it = path_split.find(rec.dicom_path);
            if (it == path_split.end()) {
                ++sum.not_in_split_files;
                continue;
            }
            rec.split = it->second;
        } else {
            rec.split = patient_split.at(rec.patient);
        }
        auto red = reduced_by_exam.find(rec.exam);
        if (red == reduced_by_exam.end()) {
            ++sum.no_clinical_rows;  // the reference would stop with an IndexError here
            continue;
        }
        // §1.3: the finding row of this image.
        const std::string side = is_na(row[size_t(mc[M_SIDE])]) ? "" : row[size_t(mc[M_SIDE])];
        std::vector<std::string> sides, asses, full_sides;
        for (int64_t k : red->second) {
            const auto& c = reduced.rows[size_t(k)];
            sides.push_back(is_na(c[size_t(rc[R_SIDE])]) ? "" : c[size_t(rc[R_SIDE])]);
            asses.push_back(c[size_t(rc[R_ASSES])]);
        }
        auto fit = full_by_exam.find(rec.exam);
        static const std::vector<int64_t> kNone;
        const std::vector<int64_t>& full_rows = fit == full_by_exam.end() ? kNone : fit->second;
        for (int64_t k : full_rows) {
            const std::string& s = full.rows[size_t(k)][size_t(fc[F_SIDE])];
            full_sides.push_back(is_na(s) ? "" : s);
        }
        FindingChoice ch =
            select_finding(sides, asses, full_sides, side, options.fix_finding_index, options.strict_side);
        if (ch.reduced < 0) {
            ++sum.no_side_match;
            continue;
        }

        ReportFields& f = rec.report;
        f.procedure = text_or_na(row[size_t(mc[M_DESC])]);
        f.image_type = text_or_na(row[size_t(mc[M_TYPE])]);
        f.laterality = text_or_na(row[size_t(mc[M_SIDE])]);
        f.view = text_or_na(row[size_t(mc[M_VIEW])]);
        const auto& c = reduced.rows[size_t(red->second[size_t(ch.reduced)])];
        f.age = number_or_na(c[size_t(rc[R_AGE])]);
        f.race = text_or_na(c[size_t(rc[R_RACE])]);
        f.ethnicity = text_or_na(c[size_t(rc[R_ETH])]);
        f.assessment = text_or_na(c[size_t(rc[R_ASSES])]);
        // tissueden is a float column; only the integral values 1..5 have a description.
        auto den = number_or_na(c[size_t(rc[R_DEN])]);
        if (den && std::isfinite(*den) && *den == std::floor(*den) && *den >= 1 && *den <= 5) f.density = int(*den);
        if (ch.full >= 0) {
            const auto& fr = full.rows[size_t(full_rows[size_t(ch.full)])];
            const bool t = options.trim_codes;
            f.mass_shape = lookup(maps.at("massshape"), fr[size_t(fc[F_SHAPE])], t);
            f.mass_density = lookup(maps.at("massdens"), fr[size_t(fc[F_MDENS])], t);
            f.calc_find = lookup(maps.at("calcfind"), fr[size_t(fc[F_CFIND])], t);
            f.calc_distri = lookup(maps.at("calcdistri"), fr[size_t(fc[F_CDIST])], t);
        }
        std::string problem = caption_problem(f);
        if (problem == "no StudyDescription") ++sum.no_procedure;
        else if (problem == "no screening/diagnostic reason") ++sum.no_reason;
        else if (problem == "no density") ++sum.no_density;
        else if (problem == "no valid BI-RADS letter") ++sum.no_birads;
        if (!problem.empty()) continue;
        data.records.push_back(std::move(rec));
    }

    // ---- image files: existence only (decoding is the image loader's job)
    if (options.check_images) {
        std::vector<char> exists(data.records.size());
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < int64_t(data.records.size()); ++i) {
            std::error_code ec;
            exists[size_t(i)] = std::filesystem::is_regular_file(data.records[size_t(i)].image_path, ec);
        }
        std::vector<EmbedRecord> kept;
        kept.reserve(data.records.size());
        for (size_t i = 0; i < data.records.size(); ++i) {
            if (exists[i]) {
                kept.push_back(std::move(data.records[i]));
                continue;
            }
            ++sum.missing_image;
            if (sum.missing_examples.size() < 5) sum.missing_examples.push_back(data.records[i].image_path);
        }
        data.records = std::move(kept);
        if (sum.missing_image > 0 && options.warnings) {
            std::cerr << "warning: EMBED: " << sum.missing_image << " image file(s) not found, skipped (first: "
                      << sum.missing_examples[0]
                      << "). HINT: check EmbedOptions::image_dir / path_marker / image_suffix\n";
        }
    }

    // ---- labels
    const int64_t n = int64_t(data.records.size());
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n; ++i) {
        EmbedRecord& rec = data.records[size_t(i)];
        rec.birads = options.birads_from_letter ? birads_number(*rec.report.assessment)
                                                : birads_label(rec.report, options.caption);
        rec.density = *rec.report.density <= 4 ? *rec.report.density - 1 : -1;
    }
    for (const auto& rec : data.records) {
        ++sum.per_split[int(rec.split)];
        if (rec.density < 0) ++sum.male;
    }
    sum.captioned = n;

    // ---- same-exam partners (§1.6): captioned images of the same exam, any
    // side and view (or the same laterality), minus the image itself.
    std::unordered_map<std::string, std::vector<int64_t>> groups;
    for (int64_t i = 0; i < n; ++i) {
        const EmbedRecord& rec = data.records[size_t(i)];
        std::string key = rec.exam;
        if (options.same_side_partners) {
            if (!rec.report.laterality) continue;  // NaN never equals NaN
            key += '\n' + *rec.report.laterality;
        }
        groups[key].push_back(i);
    }
    for (const auto& g : groups)
        for (int64_t i : g.second)
            for (int64_t j : g.second)
                if (j != i && data.records[size_t(j)].split == data.records[size_t(i)].split)
                    data.records[size_t(i)].partners.push_back(j);

    // ---- the split files, as the reference's preprocess_embed.py writes them
    if (options.write_splits && !options.split_from_files) {
        std::vector<std::vector<std::string>> parts[3];
        for (int64_t r : rows_2d) {
            const auto& row = meta.rows[size_t(r)];
            parts[int(patient_split.at(canonical_id(row[size_t(mc[M_PID])])))].push_back(row);
        }
        for (Split s : {Split::Train, Split::Valid, Split::Test})
            write_csv(tables + "/" + embed_split_csv_name(s), meta.header, parts[int(s)]);
    }
    return data;
}

std::vector<int64_t> embed_test_subset(const EmbedData& data, EmbedTask task, double frac, int64_t floor,
                                       uint64_t seed) {
    std::vector<int64_t> test = data.split_indices(Split::Test);
    std::vector<int> labels;
    for (int64_t i : test) {
        const EmbedRecord& r = data.records[size_t(i)];
        labels.push_back(task == EmbedTask::Birads ? r.birads : *r.report.density);
    }
    std::vector<int64_t> out;
    for (int64_t p : per_class_subset(labels, frac, floor, seed)) {
        int64_t i = test[size_t(p)];
        if (task == EmbedTask::Density && data.records[size_t(i)].density < 0) continue;  // male
        out.push_back(i);
    }
    return out;
}

}  // namespace mama
