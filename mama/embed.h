// embed.h: reading the EMBED Open Data tables the way the MaMA reference does
// (shared/mama-reference.md §1.1-1.7): image rows, the clinical finding row of
// each image, which images get a caption, BI-RADS and density labels, the
// seeded patient split, the same-exam partner map and the per-class test subset.
//
// Dataset layout (also what build/synth writes):
//   DIR/tables/EMBED_OpenData_metadata_reduced.csv   one row per image
//   DIR/tables/EMBED_OpenData_clinical_reduced.csv   one row per finding
//   DIR/tables/EMBED_OpenData_clinical.csv           the full clinical table
//   DIR/tables/AWS_Open_Data_Clinical_Legend.csv     code -> meaning
//   DIR/images/...                                   the images
// Image path rule: in anon_dicom_path everything up to and including
// `path_marker` ("/anon_dicom/") is replaced by `image_dir` (DIR/images/), and a
// trailing ".dcm" by `image_suffix` (".png"; the reference's own JPEG cache uses
// "_resized.jpg").
//
// The split cannot equal the reference's: its patient shuffle is unseeded
// (random.sample without a seed).  Ours is a seeded eng::Generator permutation
// of the patients in first-appearance order, cut 70% train / 20% test / rest
// valid with the reference's int(0.7 n), int(0.2 n) arithmetic.  The per-class
// test subset likewise cannot equal GLAM's Python random.seed(42) draw bit for
// bit; it follows the same rule (10% per class, at least 200) with seed 42.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mama/captions.h"

namespace mama {

enum class Split { Train = 0, Valid = 1, Test = 2 };
const char* split_name(Split s);
// "train", "valid" or "test" (throws eng::Error naming the accepted values).
Split parse_split(const std::string& name);

struct EmbedOptions {
    std::string data_dir;                      // DIR (required)
    std::string tables_dir;                    // "" = DIR/tables
    std::string image_dir;                     // "" = DIR/images/
    std::string path_marker = "/anon_dicom/";  // prefix of anon_dicom_path up to and including this is replaced
    std::string dicom_ext = ".dcm";            // trailing extension replaced by image_suffix
    std::string image_suffix = ".png";         // "_resized.jpg" for images prepared like the reference's
    uint64_t split_seed = 42;                  // patient shuffle
    double train_frac = 0.7, test_frac = 0.2;  // valid gets the rest
    bool split_from_files = false;  // take the split from EMBED_OpenData_metadata_reduced_{train,valid,test}.csv
    bool write_splits = false;      // write those three files (2D rows of each split's patients); not with split_from_files
    bool same_side_partners = false;  // partners: same exam and same laterality (the reference's --inter_view)
    bool fix_finding_index = false;   // quirk fix of §1.3: index the valid-letter rows, not all rows
    bool strict_side = false;         // quirk fix of §1.3: never use the other breast's findings (see select_finding)
    bool birads_from_letter = false;  // quirk fix of §1.5: BI-RADS label from the letter, not the caption text
    bool trim_codes = false;          // trim spaces around legend and finding codes before lookup
    bool check_images = true;         // skip (and count) images whose file does not exist
    bool warnings = true;             // print warnings (missing images, ...) to stderr
    CaptionOptions caption;           // used for the cached captions
};

struct EmbedRecord {
    std::string image_path;  // local image file
    std::string dicom_path;  // anon_dicom_path as in the table
    std::string patient;     // empi_anon (canonical text, see canonical_id)
    std::string exam;        // acc_anon (canonical text)
    int64_t meta_row = -1;   // 0-based data row of the metadata table
    Split split = Split::Train;
    ReportFields report;     // everything the caption is built from
    int birads = -1;         // 0..6, parsed from the caption as the reference does
    int density = -1;        // 0..3 (tissueden-1); -1 for tissueden 5 (male), dropped from the density task
    std::vector<int64_t> partners;  // other captioned records of the same exam (same split by construction)
};

struct EmbedSummary {
    int64_t metadata_rows = 0, not_2d = 0, duplicate_path = 0, not_in_split_files = 0;
    int64_t no_clinical_rows = 0, no_side_match = 0, no_procedure = 0, no_reason = 0, no_density = 0;
    int64_t no_birads = 0;
    int64_t missing_image = 0, captioned = 0, male = 0;
    int64_t per_split[3] = {0, 0, 0};
    std::vector<std::string> missing_examples;  // up to 5 missing image paths
    std::string text() const;                   // a few human-readable lines
};

struct EmbedData {
    EmbedOptions options;
    std::vector<EmbedRecord> records;         // captioned images with a file, in metadata order
    std::vector<std::string> patients[3];     // each split's patients, in shuffled order
    EmbedSummary summary;

    std::vector<int64_t> split_indices(Split s) const;    // records of a split (BI-RADS task)
    std::vector<int64_t> density_indices(Split s) const;  // the same without male images
    std::string caption(int64_t i) const;                 // cached (unmasked) caption, model text
    std::string training_caption(int64_t i, eng::Generator& gen) const;  // masked, rebuilt per call
};

// Reads DIR's four tables and builds everything above.
EmbedData load_embed(const EmbedOptions& options);

// ---- the pieces, exposed for tests and other tools ------------------------

// Table file names inside the tables folder.
inline constexpr const char* kEmbedMetadataCsv = "EMBED_OpenData_metadata_reduced.csv";
inline constexpr const char* kEmbedClinicalReducedCsv = "EMBED_OpenData_clinical_reduced.csv";
inline constexpr const char* kEmbedClinicalCsv = "EMBED_OpenData_clinical.csv";
inline constexpr const char* kEmbedLegendCsv = "AWS_Open_Data_Clinical_Legend.csv";
// "EMBED_OpenData_metadata_reduced_<split>.csv"
std::string embed_split_csv_name(Split s);

// Ids compare as pandas compares its int/float columns: "0012", "12" and
// "12.0" are all the id 12.  Non-numeric text is kept (trimmed).
std::string canonical_id(const std::string& text);
// The local image path of an anon_dicom_path under `o`'s rule.
std::string embed_image_path(const std::string& dicom_path, const EmbedOptions& o);

// §1.3: the chosen finding rows of one image.  `sides`/`asses` are the exam's
// reduced-table rows in table order, `full_sides` its full-table rows; NA
// cells are "" (see is_na).  Returns positions into those lists (-1: none).
// fix_index: see EmbedOptions::fix_finding_index.  strict_side: when the exam
// has no row of the image's side and no "B" row, use only rows without a side
// (EMBED's README: a missing side matches every image), and none if there are
// none, instead of the reference's "all rows" (which may be the other breast's).
struct FindingChoice {
    int64_t reduced = -1, full = -1;
};
FindingChoice select_finding(const std::vector<std::string>& sides, const std::vector<std::string>& asses,
                             const std::vector<std::string>& full_sides, const std::string& image_side,
                             bool fix_index, bool strict_side = false);

// A patient split: `patients` (unique, in first-appearance order) permuted by
// a Generator(seed); the first int(train_frac*n) go to train, the next
// int(test_frac*n) to test, the rest to valid.  Returns the three lists.
std::vector<std::vector<std::string>> split_patients(const std::vector<std::string>& patients, uint64_t seed,
                                                     double train_frac, double test_frac);

// §1.5 subset: for each label in first-seen order, min(n, max(int(frac*n), floor))
// positions drawn without replacement from one Generator(seed).  Returns
// positions into `labels` (class by class, in draw order).  The reference
// (Python random.sample) raises when a class has fewer than `floor` items;
// here such a class is taken whole.
std::vector<int64_t> per_class_subset(const std::vector<int>& labels, double frac, int64_t floor, uint64_t seed);

enum class EmbedTask { Birads, Density };
// The per-class test subset (10%, at least 200, seed 42) as record indices.
// Density classes are tissueden 1..5; male images are dropped after drawing,
// as the reference drops them at load time.
std::vector<int64_t> embed_test_subset(const EmbedData& data, EmbedTask task, double frac = 0.1,
                                       int64_t floor = 200, uint64_t seed = 42);

}  // namespace mama
