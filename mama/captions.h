// captions.h: MaMA's structured mammography "report" built from one image's
// table fields, its training-time meta masking, the separator/bos/eos text
// form the tokenizer sees, and the zero-shot class prompts
// (shared/mama-reference.md §2.1-2.4 and §2.6).
//
// The pieces, in order (every phrase is reproduced byte for byte, including the
// trailing spaces and the doubled space after the patient, image, composition
// and findings parts):
//   "Procedure reported: " + StudyDescription + "; "
//   "Reason for procedure: " + screening|diagnostic + "; "
//   "Patient info: " + "This patient is RACE, ETHNIC, and AGE years old. " + " "
//   "Image info: " + "This is a TYPE full-field digital mammogram of the SIDE breast with VIEW view. " + " "
//   "Breast composition: " + "The breast is DENSITY. " [+ "This may lower the sensitivity of mammography. "] + " "
//   "Findings: " + "The mammogram shows that " + MASS[letter] [+ "The mass is SHAPE and DENSITY. "] + " "
//        [+ "A DISTRI SHAPE calcification is present. " + " "]
//   "Impressions: " + "BI-RADS Category N: DESC. "
//   "Overall Assessment: " + ASSESSMENT[letter]
// Then (model text): "." and ";" -> "<|separatetext|>", wrapped in
// "<|startoftext|>" ... "<|endoftext|>".
//
// Reference quirks kept by default (CaptionOptions offers the corrected form):
//  * newlines in a field become spaces only in the cached (unmasked) caption,
//    not in the masked training caption nor in the zero-shot prompts
//    (fix: newline_to_space_always);
//  * a missing ethnicity reads "Non-Hispanic or Latino" (everything except the
//    exact string "Hispanic or Latino" does) (fix: unknown_missing_ethnicity);
//  * the RSNA prompts end with "Overall Assessment: " + the BI-RADS description
//    with no full stop, so no final separator (fix: rsna_assessment_period).
// Not offered as an option: a "." or ";" inside a field (StudyDescription,
// legend meanings, view) also becomes a separator, as in the reference.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tensor/random.h"

namespace mama {

// Special token texts (§2.4); the tokenizer maps them to ids.
inline constexpr const char* kBosText = "<|startoftext|>";
inline constexpr const char* kEosText = "<|endoftext|>";
inline constexpr const char* kSepText = "<|separatetext|>";
inline constexpr const char* kPadText = "<|padtext|>";
inline constexpr const char* kMaskText = "<|masktext|>";
inline constexpr const char* kUnkText = "<|unknowntext|>";
inline constexpr const char* kKeyText = "<|keytext|>";

// The fields of one image's report.  std::nullopt means missing (NaN in the
// reference).  Mass and calcification entries hold legend *meanings*, present
// only when the code was found in the legend.
struct ReportFields {
    std::optional<std::string> procedure;   // StudyDescription
    std::optional<double> age;              // age_at_study (years)
    std::optional<std::string> race;        // RACE_DESC
    std::optional<std::string> ethnicity;   // ETHNIC_GROUP_DESC
    std::optional<std::string> image_type;  // FinalImageType ("2D")
    std::optional<std::string> laterality;  // ImageLateralityFinal (L, R, B)
    std::optional<std::string> view;        // ViewPosition (CC, MLO, ...)
    std::optional<int> density;             // tissueden 1..5
    std::optional<std::string> assessment;  // asses: BI-RADS letter A N B P S M K
    std::optional<std::string> mass_shape, mass_density;  // legend(massshape), legend(massdens)
    std::optional<std::string> calc_find, calc_distri;    // legend(calcfind), legend(calcdistri)
};

struct CaptionOptions {
    bool newline_to_space_always = false;    // quirk fix: also in masked captions and prompts
    bool unknown_missing_ethnicity = false;  // quirk fix: missing ethnicity -> "unknown"
    bool rsna_assessment_period = false;     // quirk fix: end RSNA prompts with ". "
    double mask_prob = 0.8;                  // --mask_meta: each meta field "unknown" with this probability
};

// Which of the six meta fields are replaced by "unknown".
struct MetaMask {
    bool age = false, race = false, ethnicity = false;
    bool image_type = false, side = false, view = false;
};
// Six independent Bernoulli(p) draws in the reference order: age, race,
// ethnicity, image type, side, view (consumes exactly six draws of `gen`).
MetaMask draw_meta_mask(eng::Generator& gen, double p);

// BI-RADS letters in class order A N B P S M K = 0..6.
inline constexpr const char* kBiradsLetters = "ANBPSMK";
// 0..6 for a valid letter, -1 otherwise ("X", empty, anything else).
int birads_number(const std::string& letter);
// "screening" if "screen" is in the lower-cased text, else "diagnostic" if
// "diag" is, else "".
std::string procedure_reason(const std::string& procedure);
// "" when the image gets a caption (§1.4); otherwise why not, e.g.
// "no StudyDescription", "no screening/diagnostic reason", "no density",
// "no valid BI-RADS letter".
std::string caption_problem(const ReportFields& f);

// Plain report text (before separators): steps 1-4 (the meta prefix used by
// the zero-shot prompts) and the whole report (steps 1-8; throws eng::Error if
// caption_problem(f) is not empty).
std::string meta_prefix(const ReportFields& f, const MetaMask& mask = {}, const CaptionOptions& opt = {});
std::string structural_report(const ReportFields& f, const MetaMask& mask = {}, const CaptionOptions& opt = {});

// Model text: optional newline->space, "."/";" -> separator, bos/eos wrap.
std::string to_model_text(const std::string& report, bool newline_to_space);

// The cached (validation/test) caption: unmasked, newlines -> spaces.
std::string cached_caption(const ReportFields& f, const CaptionOptions& opt = {});
// A training caption: rebuilt with a fresh meta mask drawn from `gen`.
std::string training_caption(const ReportFields& f, eng::Generator& gen, const CaptionOptions& opt = {});

// Zero-shot prompts (model text), one per class, in class order.
// BI-RADS: 7 prompts (A N B P S M K) after the image's own unmasked meta prefix.
std::vector<std::string> birads_prompts(const ReportFields& f, const CaptionOptions& opt = {});
// Density: 4 prompts (1..4) after the image's own unmasked meta prefix.
std::vector<std::string> density_prompts(const ReportFields& f, const CaptionOptions& opt = {});
// RSNA cancer: 2 prompts (negative, positive), no meta prefix.
std::vector<std::string> rsna_prompts(const CaptionOptions& opt = {});

// The reference's label parser: lower-case, delete "-", "bi rads" -> "birads",
// then the first match of \bbirads\s\bcategory\s(\d+).  -1 when absent.
int birads_label_from_caption(const std::string& caption);

}  // namespace mama
