// synth.h: procedural synthetic mammograms and an EMBED-layout dataset around
// them (data-and-weights.md §6.2). A dataset is first *planned* (patients,
// exams, findings, table rows: cheap and sequential), then every image is
// *rendered* independently from (seed, its image index), so the output does not
// depend on the number of threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mama/image.h"

namespace mama {

// One clinical-table row (one finding, or the exam's single "no finding" row),
// with what is drawn for it. Codes are EMBED legend codes; "" means NaN.
struct SynthFinding {
    char side = 0;          // 'L', 'R', or 0 for NaN (negative exam)
    char asses = 'N';       // BI-RADS letter A N B P S M K
    std::string massshape, massmargin, massdens, calcfind, calcdistri;
    int path_severity = -1; // -1 = NaN
    bool clip = false;      // biopsy marker clip (BI-RADS K)
    bool drawn = false;     // false for rows that only record a negative side
    // Placement shared by the CC and MLO of the breast: depth from the chest
    // wall (fraction of the nipple depth), ml = medial-lateral offset (the CC's
    // vertical axis), si = superior-inferior offset (the MLO's vertical axis),
    // both as fractions of the local half-width, in [-1, 1].
    float depth = 0.5f, ml = 0.0f, si = 0.0f;
    float size_mm = 10.0f;  // mass radius, asymmetry radius or calcification spread
    uint64_t shape_seed = 0;
};

struct SynthView {
    int64_t image_index = 0;   // global index: the per-image generator key
    char side = 'L';           // ImageLateralityFinal
    std::string view;          // ViewPosition: CC or MLO
    std::string dicom_path;    // anon_dicom_path as in EMBED
    std::string image_rel;     // path under DIR/images/ (…/<name>.png)
};

struct SynthExam {
    int64_t acc_anon = 0;
    std::string study_date;    // study_date_anon, YYYY-MM-DD
    bool screening = true;
    std::string description;   // StudyDescription
    double age = 50;           // age_at_study
    std::vector<SynthFinding> rows;
    std::vector<SynthView> views;
};

struct SynthPatient {
    int64_t index = 0;         // 0..N-1
    int64_t empi_anon = 0;
    int density = 2;           // tissueden 1..4, same for both breasts and all exams
    std::string race, ethnic;  // RACE_DESC, ETHNIC_GROUP_DESC
    uint64_t anatomy_seed[2] = {0, 0};  // [0] left breast, [1] right breast
    std::vector<SynthExam> exams;
};

struct SynthOptions {
    int64_t patients = 10;
    uint64_t seed = 1;
    int size = 512;            // long (vertical) side of every image in pixels
    std::string dicom_prefix = "/mnt/NAS2/mammo/anon_dicom/";
    int force_density = 0;     // 1..4: every patient gets this class (tests)
    std::string force_asses;   // e.g. "M": every exam's primary finding (tests)
    int contact_exams = 4;     // exams shown in contact_sheet.png (0 = none)
};

// Plans all patients (deterministic for options.seed).
std::vector<SynthPatient> plan_synth_dataset(const SynthOptions& opt);

// What a render reports besides the pixels.
struct SynthRenderInfo {
    double breast_fraction = 0;   // breast pixels / all pixels
    double dense_fraction = 0;    // pixels with glandular weight > 0.5 / breast pixels
    std::vector<std::vector<int>> rois;  // (ymin, xmin, ymax, xmax) of each drawn finding
};

// Renders one image: width = round(0.77 * size), height = size, values in [0,1]
// with a black background; R images are mirrored (chest wall on the right).
// draw_findings = false renders the same anatomy without any finding (tests).
Image render_synth_view(const SynthPatient& patient, const SynthExam& exam, const SynthView& view, int size,
                        uint64_t seed, SynthRenderInfo* info = nullptr, bool draw_findings = true);

struct SynthSummary {
    int64_t patients = 0, exams = 0, images = 0;
    double render_seconds = 0;
    int threads = 1;
};

// Writes DIR/tables/*.csv (the four EMBED tables), DIR/images/... PNGs and
// DIR/contact_sheet.png. Uses OpenMP over images.
SynthSummary write_synth_dataset(const SynthOptions& opt, const std::string& out_dir);

// The legend rows (Header in export, Discription, Code, Meaning) this generator
// uses, and the meaning of a code (for the contact sheet and tests).
std::vector<std::vector<std::string>> synth_legend_rows();

}  // namespace mama
