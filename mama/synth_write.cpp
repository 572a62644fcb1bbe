// synth_write.cpp: writes a synthetic EMBED-layout dataset: the four tables
// (real file names, columns and codes), the images rendered in parallel, and a
// contact sheet.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "mama/csv.h"
#include "mama/synth.h"
#include "mama/synth_sheet.h"
#include "tensor/check.h"

namespace mama {

namespace {

std::string fmt1(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

// Python repr of a tuple of 4-tuples: "()", "((1, 2, 3, 4),)", "((..), (..))".
std::string roi_string(const std::vector<std::vector<int>>& rois) {
    if (rois.empty()) return "()";
    std::string s = "(";
    for (size_t i = 0; i < rois.size(); ++i) {
        if (i) s += ", ";
        s += "(" + std::to_string(rois[i][0]) + ", " + std::to_string(rois[i][1]) + ", " + std::to_string(rois[i][2]) +
             ", " + std::to_string(rois[i][3]) + ")";
    }
    if (rois.size() == 1) s += ",";
    return s + ")";
}

// Views are planned RCC, RMLO, LCC, LMLO; the sheet hangs them RCC LCC RMLO LMLO.
const int kHangingColumn[4] = {0, 2, 1, 3};

struct Job {
    size_t patient, exam, view;
};

}  // namespace

SynthSummary write_synth_dataset(const SynthOptions& opt, const std::string& out_dir) {
    namespace fs = std::filesystem;
    ENG_CHECK(!out_dir.empty(), "synth: --out DIR is required");
    const std::vector<SynthPatient> plan = plan_synth_dataset(opt);
    std::error_code ec;
    fs::create_directories(fs::path(out_dir) / "tables", ec);
    ENG_CHECK(!ec, "synth: cannot create '", (fs::path(out_dir) / "tables").string(), "': ", ec.message());

    std::vector<Job> jobs;
    for (size_t p = 0; p < plan.size(); ++p)
        for (size_t e = 0; e < plan[p].exams.size(); ++e) {
            const std::string dir = (fs::path(out_dir) / "images" /
                                     fs::path(plan[p].exams[e].views[0].image_rel).parent_path()).string();
            fs::create_directories(dir, ec);
            ENG_CHECK(!ec, "synth: cannot create '", dir, "': ", ec.message());
            for (size_t v = 0; v < plan[p].exams[e].views.size(); ++v) jobs.push_back({p, e, v});
        }

    // Images for the contact sheet are kept (the first opt.contact_exams exams).
    std::vector<std::vector<std::vector<int>>> rois(jobs.size());
    size_t sheet_jobs = 0;
    {
        int exams_seen = 0;
        for (const Job& j : jobs) {
            if (j.view == 0) ++exams_seen;
            if (exams_seen > opt.contact_exams) break;
            ++sheet_jobs;
        }
    }
    std::vector<Image> sheet_images(sheet_jobs);
    std::string first_error;
    const auto t0 = std::chrono::steady_clock::now();
    int threads = 1;
#pragma omp parallel
    {
#pragma omp single
        threads = omp_get_num_threads();
#pragma omp for schedule(dynamic, 1)
        for (long k = 0; k < long(jobs.size()); ++k) {
            try {
                const Job& j = jobs[size_t(k)];
                const SynthPatient& pt = plan[j.patient];
                const SynthExam& ex = pt.exams[j.exam];
                const SynthView& vw = ex.views[j.view];
                SynthRenderInfo info;
                Image img = render_synth_view(pt, ex, vw, opt.size, opt.seed, &info);
                save_png8((fs::path(out_dir) / "images" / vw.image_rel).string(), img);
                rois[size_t(k)] = info.rois;
                if (size_t(k) < sheet_jobs) sheet_images[size_t(k)] = std::move(img);
            } catch (const std::exception& e) {
#pragma omp critical(synth_error)
                if (first_error.empty()) first_error = e.what();
            }
        }
    }
    if (!first_error.empty()) throw eng::Error(first_error);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Tables.
    std::vector<std::vector<std::string>> meta, clin_r, clin_f;
    size_t k = 0;
    int64_t row_index = 0;
    for (const SynthPatient& pt : plan)
        for (const SynthExam& ex : pt.exams) {
            for (const SynthView& vw : ex.views) {
                const auto& r = rois[k++];
                meta.push_back({std::to_string(row_index++), std::to_string(pt.empi_anon), std::to_string(ex.acc_anon),
                                ex.study_date, ex.description, std::string(1, vw.side) + " " + vw.view, "2D",
                                std::string(1, vw.side), vw.view, "", roi_string(r), std::to_string(r.size()),
                                vw.dicom_path});
            }
            int nl = 0, nr = 0;
            for (const SynthFinding& f : ex.rows) {
                nl += f.drawn && f.side == 'L';
                nr += f.drawn && f.side == 'R';
            }
            for (const SynthFinding& f : ex.rows) {
                std::vector<std::string> row = {std::to_string(pt.empi_anon),
                                                std::to_string(ex.acc_anon),
                                                ex.study_date,
                                                ex.description,
                                                f.side ? std::string(1, f.side) : "",
                                                std::string(1, f.asses),
                                                fmt1(pt.density),
                                                std::to_string(nl + nr),
                                                std::to_string(nl),
                                                std::to_string(nr),
                                                fmt1(ex.age),
                                                pt.race,
                                                pt.ethnic,
                                                f.path_severity >= 0 ? fmt1(f.path_severity) : ""};
                clin_r.push_back(row);
                row.insert(row.end(), {f.massshape, f.massmargin, f.massdens, f.calcfind, f.calcdistri});
                clin_f.push_back(row);
            }
        }
    const fs::path tables = fs::path(out_dir) / "tables";
    // The real metadata table carries pandas' unnamed index column first.
    write_csv((tables / "EMBED_OpenData_metadata_reduced.csv").string(),
              {"", "empi_anon", "acc_anon", "study_date_anon", "StudyDescription", "SeriesDescription",
               "FinalImageType", "ImageLateralityFinal", "ViewPosition", "spot_mag", "ROI_coords", "num_roi",
               "anon_dicom_path"},
              meta);
    const std::vector<std::string> clin_header = {"empi_anon",    "acc_anon",     "study_date_anon", "desc",
                                                  "side",         "asses",        "tissueden",       "numfind",
                                                  "total_L_find", "total_R_find", "age_at_study",    "RACE_DESC",
                                                  "ETHNIC_GROUP_DESC", "path_severity"};
    write_csv((tables / "EMBED_OpenData_clinical_reduced.csv").string(), clin_header, clin_r);
    std::vector<std::string> full_header = clin_header;
    full_header.insert(full_header.end(), {"massshape", "massmargin", "massdens", "calcfind", "calcdistri"});
    write_csv((tables / "EMBED_OpenData_clinical.csv").string(), full_header, clin_f);
    // The legend file starts with a UTF-8 byte-order mark, as the real one does.
    write_csv((tables / "AWS_Open_Data_Clinical_Legend.csv").string(),
              {"\xEF\xBB\xBFHeader in export", "Discription", "Code", "Meaning"}, synth_legend_rows());

    if (sheet_jobs > 0) {
        std::vector<synth::SheetTile> tiles;
        for (size_t i = 0; i < sheet_jobs; ++i) {
            const Job& j = jobs[i];
            const SynthPatient& pt = plan[j.patient];
            const SynthExam& ex = pt.exams[j.exam];
            const SynthView& vw = ex.views[j.view];
            char asses = 'N';
            for (const SynthFinding& f : ex.rows)
                if (f.side == vw.side) asses = f.asses;
            synth::SheetTile t;
            t.image = &sheet_images[i];
            t.row = int(i / 4);
            t.col = kHangingColumn[j.view % 4];
            t.label = std::string(1, vw.side) + " " + vw.view + " D" + std::to_string(pt.density) + " " + asses;
            tiles.push_back(t);
        }
        synth::write_contact_sheet((fs::path(out_dir) / "contact_sheet.png").string(), tiles, 256);
    }
    SynthSummary s;
    s.patients = int64_t(plan.size());
    for (const SynthPatient& pt : plan) s.exams += int64_t(pt.exams.size());
    s.images = int64_t(jobs.size());
    s.render_seconds = secs;
    s.threads = threads;
    return s;
}

}  // namespace mama
