// test_captions.cpp: whole caption strings for hand-made report fields, written
// by hand from shared/mama-reference.md §2 (phrases, order, spacing), the
// reference's own worked example, masking statistics, prompts and quirk options.
#include <doctest/doctest.h>

#include <string>

#include "mama/captions.h"
#include "tensor/check.h"

namespace {

const std::string S = "<|separatetext|>";
const std::string BOS = "<|startoftext|>";
const std::string EOS = "<|endoftext|>";

// Screening, left CC, heterogeneously dense, BI-RADS 1, no mass or calcification.
mama::ReportFields screening_left() {
    mama::ReportFields f;
    f.procedure = "MG Screening Bilateral";
    f.age = 57.9;
    f.race = "African American  or Black";
    f.image_type = "2D";
    f.laterality = "L";
    f.view = "CC";
    f.density = 3;
    f.assessment = "N";
    return f;
}

// Diagnostic, right MLO, fatty, BI-RADS 4 with a mass and a calcification.
mama::ReportFields diagnostic_right() {
    mama::ReportFields f;
    f.procedure = "MG Diagnostic Left";
    f.race = "Asian";
    f.ethnicity = "Hispanic or Latino";
    f.image_type = "2D";
    f.laterality = "R";
    f.view = "MLO";
    f.density = 1;
    f.assessment = "S";
    f.mass_shape = "Irregular";
    f.mass_density = "High density";
    f.calc_find = "Fine pleomorphic";
    f.calc_distri = "Grouped";
    return f;
}

int count(const std::string& s, const std::string& what) {
    int n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("captions: plain structured report, screening, dense, BI-RADS 1") {
    CHECK(mama::structural_report(screening_left()) ==
          "Procedure reported: MG Screening Bilateral; "
          "Reason for procedure: screening; "
          "Patient info: This patient is African American  or Black, Non-Hispanic or Latino, and 57 years old.  "
          "Image info: This is a 2D full-field digital mammogram of the left breast with CC view.  "
          "Breast composition: The breast is heterogeneously dense. "
          "This may lower the sensitivity of mammography.  "
          "Findings: The mammogram shows that no significant masses, calcification, or other abnormalities "
          "are present.  "
          "Impressions: BI-RADS Category 1: negative. "
          "Overall Assessment: Negative. ");
}

TEST_CASE("captions: cached model text with mass and calcification sentences") {
    CHECK(mama::cached_caption(diagnostic_right()) ==
          BOS + "Procedure reported: MG Diagnostic Left" + S + " Reason for procedure: diagnostic" + S +
              " Patient info: This patient is Asian, Hispanic or Latino, and unknown years old" + S +
              "  Image info: This is a 2D full-field digital mammogram of the right breast with MLO view" + S +
              "  Breast composition: The breast is almost entirely fat" + S +
              "  Findings: The mammogram shows that a suspicious abnormality is present" + S +
              " The mass is Irregular and High density" + S + "  A Grouped Fine pleomorphic calcification is present" +
              S + "  Impressions: BI-RADS Category 4: suspicious abnormality" + S +
              " Overall Assessment: Suspicious abnormality" + S + " " + EOS);
}

TEST_CASE("captions: the reference's worked example (masked age, race, type, view)") {
    mama::ReportFields f = screening_left();
    mama::MetaMask mask;
    mask.age = mask.race = mask.image_type = mask.view = true;
    // Copied from mama-reference.md §2.2 with <S> spelled out.
    const std::string expected =
        "<|startoftext|>Procedure reported: MG Screening Bilateral<S> Reason for procedure: screening<S> Patient "
        "info: This patient is unknown, Non-Hispanic or Latino, and unknown years old<S>  Image info: This is a "
        "unknown full-field digital mammogram of the left breast with unknown view<S>  Breast composition: The "
        "breast is heterogeneously dense<S> This may lower the sensitivity of mammography<S>  Findings: The "
        "mammogram shows that no significant masses, calcification, or other abnormalities are present<S>  "
        "Impressions: BI-RADS Category 1: negative<S> Overall Assessment: Negative<S> <|endoftext|>";
    std::string want = expected;
    for (size_t p = want.find("<S>"); p != std::string::npos; p = want.find("<S>")) want.replace(p, 3, S);
    CHECK(mama::to_model_text(mama::structural_report(f, mask), false) == want);
}

TEST_CASE("captions: extras need both codes; side map; age truncation; reason rule") {
    mama::ReportFields f = diagnostic_right();
    f.mass_density.reset();  // shape without density: no mass extra
    f.calc_distri.reset();   // find without distribution: no calcification sentence
    f.laterality = "B";
    f.age = 44.999;
    std::string r = mama::structural_report(f);
    CHECK(r.find("The mass is") == std::string::npos);
    CHECK(r.find("calcification is present") == std::string::npos);
    CHECK(r.find("shows that a suspicious abnormality is present.  Impressions: ") != std::string::npos);
    CHECK(r.find("of the bilateral breast") != std::string::npos);
    CHECK(r.find("and 44 years old.  ") != std::string::npos);
    f.laterality = "X";
    CHECK(mama::structural_report(f).find("of the unknown breast") != std::string::npos);
    f.laterality.reset();
    f.view.reset();
    f.race.reset();
    r = mama::structural_report(f);
    CHECK(r.find("of the unknown breast with unknown view.") != std::string::npos);
    CHECK(r.find("This patient is unknown, Hispanic or Latino,") != std::string::npos);

    CHECK(mama::procedure_reason("MG SCREENING and diag") == "screening");
    CHECK(mama::procedure_reason("MG Diagnostic Left") == "diagnostic");
    CHECK(mama::procedure_reason("US Breast") == "");
    CHECK(mama::birads_number("K") == 6);
    CHECK(mama::birads_number("X") == -1);
    CHECK(mama::birads_number("") == -1);
    CHECK(mama::birads_number("NN") == -1);
}

TEST_CASE("captions: eligibility (procedure, reason, density, BI-RADS letter)") {
    mama::ReportFields f = screening_left();
    CHECK(mama::caption_problem(f) == "");
    f.procedure.reset();
    CHECK(mama::caption_problem(f) == "no StudyDescription");
    f.procedure = "";
    CHECK(mama::caption_problem(f) == "no StudyDescription");
    f.procedure = "US Breast";
    CHECK(mama::caption_problem(f) == "no screening/diagnostic reason");
    f = screening_left();
    f.density.reset();
    CHECK(mama::caption_problem(f) == "no density");
    f = screening_left();
    f.assessment = "X";
    CHECK(mama::caption_problem(f) == "no valid BI-RADS letter");
    CHECK_THROWS_AS(mama::structural_report(f), eng::Error);
    // Male density (5) is captioned: "normal male dense", no extra sentence.
    f = screening_left();
    f.density = 5;
    CHECK(mama::structural_report(f).find("The breast is normal male dense.  Findings:") != std::string::npos);
}

TEST_CASE("captions: meta masking frequency and independence over 1000 draws") {
    eng::Generator gen(1234);
    const mama::ReportFields f = screening_left();
    int age = 0, race = 0, ethnic = 0, type = 0, side = 0, view = 0, all = 0;
    std::string previous;
    int changed = 0;
    const int n = 1000;
    for (int i = 0; i < n; ++i) {
        std::string c = mama::training_caption(f, gen);
        bool a = c.find("and unknown years old") != std::string::npos;
        bool r = c.find("This patient is unknown,") != std::string::npos;
        bool e = c.find(", unknown, and") != std::string::npos;
        bool t = c.find("This is a unknown full-field") != std::string::npos;
        bool s = c.find("of the unknown breast") != std::string::npos;
        bool v = c.find("with unknown view") != std::string::npos;
        age += a, race += r, ethnic += e, type += t, side += s, view += v;
        all += a && r && e && t && s && v;
        // Never masked: procedure, reason, composition, findings, impression.
        CHECK(c.find("Reason for procedure: screening") != std::string::npos);
        CHECK(c.find("The breast is heterogeneously dense") != std::string::npos);
        CHECK(c.find("BI-RADS Category 1: negative") != std::string::npos);
        changed += c != previous;
        previous = c;
    }
    // Binomial(1000, 0.8): mean 800, sd 12.6; the bounds are ~4.7 sd wide.
    for (int k : {age, race, ethnic, type, side, view}) {
        CHECK(k > 740);
        CHECK(k < 860);
    }
    // All six at once: 0.8^6 = 0.262 -> mean 262, sd 13.9.
    CHECK(all > 200);
    CHECK(all < 330);
    // Rebuilt per sample: consecutive captions often differ.
    CHECK(changed > 300);
    // Each caption consumes exactly six draws.
    CHECK(gen.state().offset == uint64_t(6 * n));
    // p = 0 never masks, p = 1 always does.
    mama::CaptionOptions never;
    never.mask_prob = 0.0;
    CHECK(mama::training_caption(f, gen, never) == mama::to_model_text(mama::structural_report(f), false));
    mama::CaptionOptions always;
    always.mask_prob = 1.0;
    std::string c = mama::training_caption(f, gen, always);
    CHECK(count(c, "unknown") == 6);
}

TEST_CASE("captions: zero-shot prompts for BI-RADS, density and RSNA") {
    const mama::ReportFields f = screening_left();
    const std::string prefix =
        BOS + "Procedure reported: MG Screening Bilateral" + S + " Reason for procedure: screening" + S +
        " Patient info: This patient is African American  or Black, Non-Hispanic or Latino, and 57 years old" + S +
        "  Image info: This is a 2D full-field digital mammogram of the left breast with CC view" + S + "  ";
    std::vector<std::string> b = mama::birads_prompts(f);
    REQUIRE(b.size() == 7);
    CHECK(b[0] == prefix + "Findings: The mammogram shows that an additional imaging is recommended" + S +
                      "  Impressions: BI-RADS Category 0: additional imaging required" + S +
                      " Overall Assessment: Additional imaging is recommended" + S + " " + EOS);
    CHECK(b[5] == prefix +
                      "Findings: The mammogram shows that a highly suggestive of malignancy is present, a biopsy is "
                      "recommended" +
                      S + "  Impressions: BI-RADS Category 5: highly suggestive of malignancy" + S +
                      " Overall Assessment: Highly suggestive of malignancy" + S + " " + EOS);
    std::vector<std::string> d = mama::density_prompts(f);
    REQUIRE(d.size() == 4);
    CHECK(d[0] == prefix + "Breast composition: The breast is almost entirely fat" + S + " " + EOS);
    CHECK(d[1] == prefix + "Breast composition: The breast is scattered fibroglandular densities" + S + " " + EOS);
    CHECK(d[3] == prefix + "Breast composition: The breast is extremely dense" + S +
                      " This may lower the sensitivity of mammography" + S + " " + EOS);
    std::vector<std::string> r = mama::rsna_prompts();
    REQUIRE(r.size() == 2);
    CHECK(r[0] == BOS +
                      "Findings: The mammogram shows that Cancer negative: overall healthy or just benign finding "
                      "Impressions: BI-RADS Category N or B: Negative or Benign" +
                      S + " Overall Assessment: Negative or Benign" + EOS);
    CHECK(r[1] == BOS +
                      "Findings: The mammogram shows that Cancer positive: screening image with known "
                      "biopsy-proven malignancy or suspicious abnormality found Impressions: BI-RADS Category A: "
                      "Additional imaging required with biopsy-proven malignancy or suspicious abnormality found" +
                      S +
                      " Overall Assessment: Additional imaging required with biopsy-proven malignancy or "
                      "suspicious abnormality found" +
                      EOS);
    mama::CaptionOptions fixed;
    fixed.rsna_assessment_period = true;
    const std::string tail = "Overall Assessment: Negative or Benign" + S + " " + EOS;
    const std::string p0 = mama::rsna_prompts(fixed)[0];
    REQUIRE(p0.size() > tail.size());
    CHECK(p0.substr(p0.size() - tail.size()) == tail);
}

TEST_CASE("captions: quirk options (newlines, missing ethnicity)") {
    mama::ReportFields f = screening_left();
    f.procedure = "MG Screen\nBilateral";
    eng::Generator gen(7);
    mama::CaptionOptions opt;
    opt.mask_prob = 0.0;
    // Faithful: only the cached caption turns newlines into spaces.
    CHECK(mama::cached_caption(f).find("MG Screen Bilateral" + S) != std::string::npos);
    CHECK(mama::training_caption(f, gen, opt).find("MG Screen\nBilateral" + S) != std::string::npos);
    CHECK(mama::birads_prompts(f)[1].find("MG Screen\nBilateral") != std::string::npos);
    opt.newline_to_space_always = true;
    CHECK(mama::training_caption(f, gen, opt).find("MG Screen Bilateral" + S) != std::string::npos);
    CHECK(mama::birads_prompts(f, opt)[1].find("MG Screen Bilateral") != std::string::npos);
    // Missing ethnicity: "Non-Hispanic or Latino" by default, "unknown" with the fix.
    f = screening_left();
    CHECK(mama::structural_report(f).find("Black, Non-Hispanic or Latino, and") != std::string::npos);
    f.ethnicity = "Not Hispanic";
    CHECK(mama::structural_report(f).find("Black, Non-Hispanic or Latino, and") != std::string::npos);
    f.ethnicity.reset();
    mama::CaptionOptions fix;
    fix.unknown_missing_ethnicity = true;
    CHECK(mama::structural_report(f, {}, fix).find("Black, unknown, and") != std::string::npos);
    // A "." inside a field also becomes a separator (kept as in the reference).
    f.procedure = "MG Screen. Bilat; both";
    CHECK(mama::cached_caption(f).find("MG Screen" + S + " Bilat" + S + " both" + S) != std::string::npos);
}

TEST_CASE("captions: BI-RADS label parsed back from the caption text") {
    CHECK(mama::birads_label_from_caption(mama::cached_caption(diagnostic_right())) == 4);
    CHECK(mama::birads_label_from_caption(mama::cached_caption(screening_left())) == 1);
    CHECK(mama::birads_label_from_caption("x bi rads category 3 y") == 3);
    CHECK(mama::birads_label_from_caption("BI-RADS Category 12: z") == 12);
    CHECK(mama::birads_label_from_caption("xbirads category 3") == -1);  // \b before birads
    CHECK(mama::birads_label_from_caption("birads score 3") == -1);
    CHECK(mama::birads_label_from_caption("birads  category 3") == -1);  // exactly one space
    CHECK(mama::birads_label_from_caption("birads category x, BI-RADS\tcategory\n7") == 7);
    CHECK(mama::birads_label_from_caption("xbirads category 3; birads category 4") == 4);
    CHECK(mama::birads_label_from_caption("birads category") == -1);
    CHECK(mama::birads_label_from_caption("") == -1);
}
