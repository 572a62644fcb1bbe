// captions.cpp: the structured report, meta masking, model text and zero-shot
// prompts (see captions.h for the template and the quirks).
#include "mama/captions.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "tensor/check.h"

namespace mama {

// ---------------------------------------------------------------------------
// fixed phrases (mama-reference.md §2.1); note the trailing spaces

namespace {

const char* const kProc = "Procedure reported: ";
const char* const kReason = "Reason for procedure: ";
const char* const kPatient = "Patient info: ";
const char* const kImage = "Image info: ";
const char* const kDens = "Breast composition: ";
const char* const kFind = "Findings: ";
const char* const kImpr = "Impressions: ";
const char* const kAssess = "Overall Assessment: ";

const char* const kPatientTpl = "This patient is {{RACE}}, {{ETHNIC}}, and {{AGE}} years old. ";
const char* const kImageTpl =
    "This is a {{IMAGE_TYPE}} full-field digital mammogram of the {{SIDE}} breast with {{VIEW}} view. ";
const char* const kCompositionTpl = "The breast is {{DENSITY}}. ";
const char* const kDensityExtra = "This may lower the sensitivity of mammography. ";
const char* const kFindLead = "The mammogram shows that ";
const char* const kMassExtraTpl = "The mass is {{SHAPE}} and {{DENSITY}}. ";
const char* const kCalcTpl = "A {{DISTRI}} {{SHAPE}} calcification is present. ";
const char* const kImpressionTpl = "BI-RADS Category {{BIRADS}}: {{BIRADS_DESC}}. ";

// Indexed by BI-RADS number 0..6 (letters A N B P S M K).
const char* const kMass[7] = {
    "an additional imaging is recommended. ",
    "no significant masses, calcification, or other abnormalities are present. ",
    "a benign finding is present. ",
    "a probably benign finding is present. ",
    "a suspicious abnormality is present. ",
    "a highly suggestive of malignancy is present, a biopsy is recommended. ",
    "a known biopsy-proven malignant mass is present. ",
};
const char* const kAssessment[7] = {
    "Additional imaging is recommended. ", "Negative. ", "Benign. ", "Probably benign. ",
    "Suspicious abnormality. ", "Highly suggestive of malignancy. ", "Known biopsy-proven malignancy. ",
};
const char* const kBiradsDesc[7] = {
    "additional imaging required", "negative", "benign finding", "probably benign finding",
    "suspicious abnormality", "highly suggestive of malignancy", "known biopsy-proven malignancy",
};
// Indexed by tissueden 1..5 (entry 0 unused).
const char* const kDensityDesc[6] = {
    "", "almost entirely fat", "scattered fibroglandular densities", "heterogeneously dense",
    "extremely dense", "normal male dense",
};

const char* const kRsnaCancer[2] = {
    "Cancer negative: overall healthy or just benign finding",
    "Cancer positive: screening image with known biopsy-proven malignancy or suspicious abnormality found",
};
const char* const kRsnaBirads[2] = {"N or B", "A"};
const char* const kRsnaBiradsDesc[2] = {
    "Negative or Benign",
    "Additional imaging required with biopsy-proven malignancy or suspicious abnormality found",
};

// Python's str.replace: every non-overlapping occurrence, left to right.
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t hit = s.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(s, pos, hit - pos);
        out += to;
        pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    return out;
}

std::string lower_ascii(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A present, non-empty string (the reference's check_element_type for text).
bool present(const std::optional<std::string>& s) { return s.has_value() && !s->empty(); }

std::string side_word(const std::optional<std::string>& side) {
    if (!side) return "unknown";
    if (*side == "L") return "left";
    if (*side == "R") return "right";
    if (*side == "B") return "bilateral";
    return "unknown";
}

std::string impression(int n) {
    return replace_all(replace_all(kImpressionTpl, "{{BIRADS}}", std::to_string(n)), "{{BIRADS_DESC}}",
                       kBiradsDesc[n]);
}

std::string composition(int density) {
    std::string s = std::string(kDens) + replace_all(kCompositionTpl, "{{DENSITY}}", kDensityDesc[density]);
    if (density == 3 || density == 4) s += kDensityExtra;
    return s;
}

}  // namespace

// ---------------------------------------------------------------------------

MetaMask draw_meta_mask(eng::Generator& gen, double p) {
    // One uniform per field, in the reference's order; "unknown" when u < p.
    MetaMask m;
    m.age = gen.uniform_double() < p;
    m.race = gen.uniform_double() < p;
    m.ethnicity = gen.uniform_double() < p;
    m.image_type = gen.uniform_double() < p;
    m.side = gen.uniform_double() < p;
    m.view = gen.uniform_double() < p;
    return m;
}

int birads_number(const std::string& letter) {
    if (letter.size() != 1) return -1;
    for (int k = 0; k < 7; ++k)
        if (kBiradsLetters[k] == letter[0]) return k;
    return -1;
}

std::string procedure_reason(const std::string& procedure) {
    std::string low = lower_ascii(procedure);
    if (low.find("screen") != std::string::npos) return "screening";
    if (low.find("diag") != std::string::npos) return "diagnostic";
    return "";
}

std::string caption_problem(const ReportFields& f) {
    if (!present(f.procedure)) return "no StudyDescription";
    if (procedure_reason(*f.procedure).empty()) return "no screening/diagnostic reason";
    if (!f.density || *f.density < 1 || *f.density > 5) return "no density";
    if (!f.assessment || birads_number(*f.assessment) < 0) return "no valid BI-RADS letter";
    return "";
}

std::string meta_prefix(const ReportFields& f, const MetaMask& mask, const CaptionOptions& opt) {
    std::string s;
    // 1-2. procedure and reason (never masked); omitted when missing, as the
    // reference does before it drops such an image.
    if (present(f.procedure)) {
        s += std::string(kProc) + *f.procedure + "; ";
        std::string reason = procedure_reason(*f.procedure);
        if (!reason.empty()) s += std::string(kReason) + reason + "; ";
    }
    // 3. patient: age = str(int(age)) (truncation toward zero), race verbatim.
    std::string age = "unknown";
    if (f.age && std::isfinite(*f.age)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.0f", std::trunc(*f.age));
        age = buf;
        if (age == "-0") age = "0";
    }
    std::string race = present(f.race) ? *f.race : "unknown";
    std::string ethnic;
    if (f.ethnicity && *f.ethnicity == "Hispanic or Latino") ethnic = *f.ethnicity;
    else if (!f.ethnicity && opt.unknown_missing_ethnicity) ethnic = "unknown";
    else ethnic = "Non-Hispanic or Latino";  // quirk: NaN and every other value
    if (mask.age) age = "unknown";
    if (mask.race) race = "unknown";
    if (mask.ethnicity) ethnic = "unknown";
    std::string patient = replace_all(kPatientTpl, "{{RACE}}", race);
    patient = replace_all(patient, "{{ETHNIC}}", ethnic);
    patient = replace_all(patient, "{{AGE}}", age);
    s += std::string(kPatient) + patient + " ";
    // 4. image.
    std::string type = present(f.image_type) ? *f.image_type : "unknown";
    std::string side = side_word(f.laterality);
    std::string view = present(f.view) ? *f.view : "unknown";
    if (mask.image_type) type = "unknown";
    if (mask.side) side = "unknown";
    if (mask.view) view = "unknown";
    std::string image = replace_all(kImageTpl, "{{IMAGE_TYPE}}", type);
    image = replace_all(image, "{{SIDE}}", side);
    image = replace_all(image, "{{VIEW}}", view);
    s += std::string(kImage) + image + " ";
    return s;
}

std::string structural_report(const ReportFields& f, const MetaMask& mask, const CaptionOptions& opt) {
    std::string problem = caption_problem(f);
    ENG_CHECK(problem.empty(), "structural_report: this image gets no caption (", problem,
              "). HINT: filter with caption_problem() first");
    std::string s = meta_prefix(f, mask, opt);
    // 5. composition (never masked).
    s += composition(*f.density) + " ";
    // 6. findings: mass sentence, optional mass extra, optional calcification.
    const int n = birads_number(*f.assessment);
    std::string mass = kMass[n];
    if (f.mass_shape && f.mass_density) {
        std::string extra = replace_all(kMassExtraTpl, "{{SHAPE}}", *f.mass_shape);
        mass += replace_all(extra, "{{DENSITY}}", *f.mass_density);
    }
    s += std::string(kFind) + kFindLead + mass + " ";
    if (f.calc_find && f.calc_distri) {
        std::string calc = replace_all(kCalcTpl, "{{SHAPE}}", *f.calc_find);
        s += replace_all(calc, "{{DISTRI}}", *f.calc_distri) + " ";
    }
    // 7-8. impression and overall assessment.
    s += std::string(kImpr) + impression(n);
    s += std::string(kAssess) + kAssessment[n];
    return s;
}

std::string to_model_text(const std::string& report, bool newline_to_space) {
    std::string s = newline_to_space ? replace_all(report, "\n", " ") : report;
    s = replace_all(s, ".", kSepText);
    s = replace_all(s, ";", kSepText);
    return std::string(kBosText) + s + kEosText;
}

std::string cached_caption(const ReportFields& f, const CaptionOptions& opt) {
    return to_model_text(structural_report(f, MetaMask{}, opt), true);
}

std::string training_caption(const ReportFields& f, eng::Generator& gen, const CaptionOptions& opt) {
    MetaMask mask = draw_meta_mask(gen, opt.mask_prob);
    return to_model_text(structural_report(f, mask, opt), opt.newline_to_space_always);
}

std::vector<std::string> birads_prompts(const ReportFields& f, const CaptionOptions& opt) {
    const std::string prefix = meta_prefix(f, MetaMask{}, opt);
    std::vector<std::string> out;
    for (int n = 0; n < 7; ++n) {
        std::string s = prefix + kFind + kFindLead + kMass[n] + " " + kImpr + impression(n) + kAssess +
                        kAssessment[n];
        out.push_back(to_model_text(s, opt.newline_to_space_always));
    }
    return out;
}

std::vector<std::string> density_prompts(const ReportFields& f, const CaptionOptions& opt) {
    const std::string prefix = meta_prefix(f, MetaMask{}, opt);
    std::vector<std::string> out;
    for (int d = 1; d <= 4; ++d) out.push_back(to_model_text(prefix + composition(d), opt.newline_to_space_always));
    return out;
}

std::vector<std::string> rsna_prompts(const CaptionOptions& opt) {
    std::vector<std::string> out;
    for (int c = 0; c < 2; ++c) {
        std::string imp = replace_all(kImpressionTpl, "{{BIRADS}}", kRsnaBirads[c]);
        imp = replace_all(imp, "{{BIRADS_DESC}}", kRsnaBiradsDesc[c]);
        std::string s = std::string(kFind) + kFindLead + kRsnaCancer[c] + " " + kImpr + imp + kAssess +
                        kRsnaBiradsDesc[c];
        if (opt.rsna_assessment_period) s += ". ";
        out.push_back(to_model_text(s, true));
    }
    return out;
}

int birads_label_from_caption(const std::string& caption) {
    std::string s = lower_ascii(caption);
    s = replace_all(s, "-", "");
    s = replace_all(s, "bi rads", "birads");
    // A hand-written matcher for the reference's \bbirads\s\bcategory\s(\d+)
    // (std::regex is slow and trips GCC 12 warnings).  Bytes >= 0x80 count as
    // word characters, which is what Python's \b does for letters outside ASCII.
    auto word = [](unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; };
    auto space = [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); };
    auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
    for (size_t p = s.find("birads"); p != std::string::npos; p = s.find("birads", p + 1)) {
        if (p > 0 && word(static_cast<unsigned char>(s[p - 1]))) continue;
        size_t q = p + 6;
        if (q >= s.size() || !space(static_cast<unsigned char>(s[q]))) continue;
        if (s.compare(q + 1, 8, "category") != 0) continue;
        size_t r = q + 9;
        if (r >= s.size() || !space(static_cast<unsigned char>(s[r]))) continue;
        size_t d = r + 1, e = d;
        while (e < s.size() && digit(static_cast<unsigned char>(s[e]))) ++e;
        if (e == d) continue;
        if (e - d > 6) return -1;
        return std::stoi(s.substr(d, e - d));
    }
    return -1;
}

}  // namespace mama
