// rsna.h: the RSNA Screening Mammography (Kaggle 2022) train.csv as an
// out-of-distribution binary cancer task (shared/mama-reference.md §1.8,
// data-and-weights.md §2.1).
//
// Layout: DIR/train.csv (patient_id, image_id, laterality, view, cancer, ...);
// images at IMAGE_DIR/<patient_id>/<image_id><suffix>, by default
// DIR/RSNA_MAMMO_1080_JPG/<patient_id>/<image_id>_resized.jpg as the reference
// prepares them; `build/prepare --in DIR/train_images --out DIR/RSNA_MAMMO_1080_JPG`
// writes that from Kaggle's DICOM files, which the image reader cannot open
// themselves (image_dir / image_suffix select another prepared layout).
//
// Split: the reference's split CSVs are not published and its rule is not in
// the code, so we choose one: patient level, seeded, 80% train / 20% test,
// stratified by whether a patient has any cancer image (positives are ~2% of
// patients, so an unstratified cut can leave the test set with very few).  As
// in the reference there is no separate validation set: "valid" is the test
// set (the reference maps split "test" to "valid" and reads the same file).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mama/embed.h"

namespace mama {

struct RsnaOptions {
    std::string data_dir;                      // DIR (required)
    std::string csv;                           // "" = DIR/train.csv
    std::string image_dir;                     // "" = DIR/RSNA_MAMMO_1080_JPG
    std::string image_suffix = "_resized.jpg";
    uint64_t split_seed = 42;
    double test_frac = 0.2;
    bool stratify = true;       // shuffle patients with and without cancer separately
    bool check_images = true;   // skip (and count) rows whose image file does not exist
    bool warnings = true;
    bool write_splits = false;  // write DIR/rsna_mammo_{train,test}.csv (all columns of each split's rows)
};

struct RsnaRecord {
    std::string image_path, patient, image_id, laterality, view;
    int cancer = 0;       // the label, 0/1
    Split split = Split::Train;  // Train or Test
    int64_t row = -1;     // 0-based data row of train.csv
};

struct RsnaData {
    std::vector<RsnaRecord> records;
    std::vector<std::string> patients[3];  // [Valid] stays empty; valid = test
    int64_t rows = 0, missing_image = 0;
    std::vector<std::string> missing_examples;
    // Records of a split; Valid returns the test records, like the reference.
    std::vector<int64_t> split_indices(Split s) const;
};

std::string rsna_image_path(const std::string& patient, const std::string& image_id, const RsnaOptions& o);
RsnaData load_rsna(const RsnaOptions& options);

}  // namespace mama
