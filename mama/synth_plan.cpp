// synth_plan.cpp: the synthetic cohort: patients, exams (a screening, recall and
// biopsy story), BI-RADS-correlated findings with EMBED codes, and the legend.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "mama/synth.h"
#include "tensor/check.h"
#include "tensor/random.h"

namespace mama {

namespace {

// Streams of the master seed (xor-ed in), so plan and render draws never overlap.
constexpr uint64_t kPlanStream = 0x9b1d5c3a77e0f421ull;
constexpr uint64_t kAnatomyStream = 0x41c64e6da3bc0074ull;
constexpr uint64_t kShapeStream = 0x2545f4914f6cdd1dull;

template <typename T>
const T& pick(eng::Generator& g, const std::vector<T>& items, const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double u = g.uniform_double() * total;
    for (size_t i = 0; i < items.size(); ++i) {
        if (u < weights[i]) return items[i];
        u -= weights[i];
    }
    return items.back();
}

double uni(eng::Generator& g, double lo, double hi) { return lo + (hi - lo) * g.uniform_double(); }

// Density class from age: younger women have denser breasts (BI-RADS atlas
// proportions roughly 10/40/40/10 overall).
int sample_density(eng::Generator& g, double age) {
    double w = std::clamp((age - 40.0) / 40.0, 0.0, 1.0);
    std::vector<int> cls = {1, 2, 3, 4};
    return pick(g, cls, {0.06 + 0.16 * w, 0.34 + 0.12 * w, 0.44 - 0.16 * w, 0.16 - 0.12 * w});
}

// Draws the descriptors and placement of a finding with BI-RADS letter `a`.
SynthFinding make_finding(eng::Generator& g, char side, char a, uint64_t shape_seed) {
    SynthFinding f;
    f.side = side;
    f.asses = a;
    f.drawn = true;
    f.depth = float(uni(g, 0.3, 0.78));
    f.ml = float(uni(g, -0.55, 0.55));
    f.si = float(uni(g, -0.55, 0.45));
    f.shape_seed = shape_seed;
    auto mass = [&](const std::vector<std::string>& shapes, const std::vector<double>& ws,
                    const std::vector<std::string>& margins, const std::string& dens, double r0, double r1) {
        f.massshape = pick(g, shapes, ws);
        f.massmargin = pick(g, margins, std::vector<double>(margins.size(), 1.0));
        f.massdens = dens;
        f.size_mm = float(uni(g, r0, r1));
    };
    auto calc = [&](const std::vector<std::string>& finds, const std::vector<std::string>& distris) {
        f.calcfind = pick(g, finds, std::vector<double>(finds.size(), 1.0));
        f.calcdistri = pick(g, distris, std::vector<double>(distris.size(), 1.0));
        if (f.massshape.empty()) f.size_mm = float(uni(g, 4.0, 9.0));
    };
    switch (a) {
        case 'A': {  // recall: asymmetry / questioned distortion, or faint calcifications
            if (g.bernoulli(0.78)) {
                f.massshape = pick(g, std::vector<std::string>{"F", "V", "S", "Q", "B"}, {0.4, 0.15, 0.2, 0.15, 0.1});
                f.size_mm = float(uni(g, 10.0, 22.0));
            } else {
                calc({"A", "P"}, {"G", "C"});
            }
            break;
        }
        case 'B': {  // benign: fat-containing / isodense circumscribed mass, or benign calcifications
            if (g.bernoulli(0.5)) {
                mass({"O", "R", "N"}, {0.45, 0.25, 0.3}, {"D"}, "", 4.0, 9.0);
                f.massdens = (f.massshape == "N" || g.bernoulli(0.4)) ? "0" : "=";
            } else {
                calc({"C", "L", "V", "E", "9", "R", "S"}, {"D", "R", "G"});
                if (f.calcfind == "C" || f.calcfind == "E") f.calcdistri = g.bernoulli(0.5) ? "G" : "R";
            }
            break;
        }
        case 'P': {  // probably benign: oval circumscribed equal density 5-15 mm, or a grouped punctate cluster
            if (g.bernoulli(0.6)) {
                mass({"O"}, {1.0}, {"D"}, "=", 2.5, 7.5);
            } else {
                calc({"P", "R"}, {"G"});
            }
            break;
        }
        case 'S': {  // suspicious: irregular indistinct/microlobulated dense mass, or amorphous/pleomorphic cluster
            double u = g.uniform_double();
            if (u < 0.85) mass({"X", "R", "O"}, {0.7, 0.15, 0.15}, {"I", "M", "U"}, "+", 4.0, 10.0);
            if (u >= 0.55) calc({"A", "I", "K"}, {"G", "C"});
            break;
        }
        case 'M':
        case 'K': {  // highly suggestive: spiculated irregular dense mass and/or linear-branching calcifications
            double u = g.uniform_double();
            if (u < 0.85) {
                mass({"X", "A"}, {0.8, 0.2}, {"S"}, "+", 5.0, 12.0);
                if (f.massshape == "A") f.massdens = "";
            }
            if (u >= 0.6) calc({"B", "F", "I"}, {"L", "S", "C"});
            if (a == 'K') {
                f.clip = true;
                f.path_severity = g.bernoulli(0.8) ? 0 : 1;
            }
            break;
        }
        default:
            f.drawn = false;
            break;
    }
    return f;
}

// A finding seen again at a later exam: same place and shape seed, new assessment.
SynthFinding follow_up(eng::Generator& g, const SynthFinding& prev, char a) {
    SynthFinding f = make_finding(g, prev.side, a, prev.shape_seed);
    f.depth = prev.depth;
    f.ml = prev.ml;
    f.si = prev.si;
    return f;
}

SynthFinding negative_row(char side) {
    SynthFinding f;
    f.side = side;
    f.asses = 'N';
    return f;
}

std::string format_date(int day_number) {
    // Days since 2010-01-01 on a 360-day calendar of 30-day months: enough for
    // plausible, ordered anonymised dates.
    int y = 2010 + day_number / 360, m = 1 + (day_number % 360) / 30, d = 1 + day_number % 30;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, std::min(d, 28));
    return buf;
}

}  // namespace

std::vector<SynthPatient> plan_synth_dataset(const SynthOptions& opt) {
    ENG_CHECK(opt.patients >= 1, "synth: --patients must be at least 1 (got ", opt.patients, ")");
    ENG_CHECK(opt.patients <= 10000000, "synth: --patients ", opt.patients, " is too many (limit 10 million)");
    ENG_CHECK(opt.force_density >= 0 && opt.force_density <= 4, "synth: force_density ", opt.force_density,
              " must be 0 (off) or 1..4");
    ENG_CHECK(opt.force_asses.empty() || std::string("ANBPSMK").find(opt.force_asses) != std::string::npos,
              "synth: force_asses '", opt.force_asses, "' must be one of A N B P S M K");
    const std::vector<std::string> races = {"Caucasian or White",
                                            "African American  or Black",
                                            "Asian",
                                            "Native Hawaiian or Other Pacific Islander",
                                            "American Indian or Alaskan Native",
                                            "Multiple",
                                            "Unknown, Unavailable or Unreported",
                                            "Not Recorded",
                                            "Patient Declines"};
    const std::vector<double> race_w = {0.38, 0.42, 0.07, 0.01, 0.01, 0.02, 0.05, 0.03, 0.01};
    std::vector<SynthPatient> out;
    out.reserve(size_t(opt.patients));
    for (int64_t p = 0; p < opt.patients; ++p) {
        eng::Generator g(eng::random_word(opt.seed ^ kPlanStream, uint64_t(p)));
        SynthPatient pt;
        pt.index = p;
        // 8-digit ids; 7919 is coprime with 9e7 so ids are distinct.
        pt.empi_anon = 10000000 + (p * 7919 + 1234567) % 90000000;
        double age0 = uni(g, 40.0, 78.0);
        pt.density = opt.force_density ? opt.force_density : sample_density(g, age0);
        pt.race = pick(g, races, race_w);
        pt.ethnic = g.bernoulli(0.08) ? "Hispanic or Latino" : "Non-Hispanic or Latino";
        pt.anatomy_seed[0] = eng::random_word(opt.seed ^ kAnatomyStream, uint64_t(2 * p));
        pt.anatomy_seed[1] = eng::random_word(opt.seed ^ kAnatomyStream, uint64_t(2 * p + 1));
        const int n_exams = int(pick(g, std::vector<int>{1, 2, 3}, {0.4, 0.35, 0.25}));
        int day = int(g.randint(0, 360 * 8));
        double age = age0;
        SynthFinding lesion;  // the finding followed across exams, if any
        bool has_lesion = false;
        char last = 0;
        for (int e = 0; e < n_exams; ++e) {
            SynthExam ex;
            ex.acc_anon = 1000000000000000ll + ((p * 3 + e) * 104729ll + 7777) % 8000000000000000ll;
            ex.study_date = format_date(day);
            ex.age = std::floor(age);
            const uint64_t shape_seed = eng::random_word(opt.seed ^ kShapeStream, uint64_t(p * 3 + e));
            // The story: a recall (A) is worked up at a diagnostic exam (B/P/S/M);
            // a suspicious finding (S/M) is biopsied and seen with its clip (K).
            char a;
            if (!opt.force_asses.empty()) {
                a = opt.force_asses[0];
            } else if (last == 'A') {
                a = pick(g, std::vector<char>{'B', 'P', 'S', 'M'}, {0.2, 0.25, 0.33, 0.22});
            } else if (last == 'S' || last == 'M') {
                a = 'K';
            } else if (g.bernoulli(0.22)) {
                a = pick(g, std::vector<char>{'S', 'M', 'P', 'B'}, {0.4, 0.3, 0.15, 0.15});
            } else {
                a = pick(g, std::vector<char>{'N', 'B', 'A', 'P'}, {0.5, 0.2, 0.22, 0.08});
            }
            ex.screening = (a == 'N' || a == 'A') || ((a == 'B' || a == 'P') && last != 'A' && g.bernoulli(0.7));
            if (!opt.force_asses.empty()) ex.screening = (a == 'N' || a == 'A' || a == 'B' || a == 'P');
            if (a == 'N') {
                ex.rows.push_back(negative_row(0));
                ex.description = "MG Screening Bilateral";
            } else {
                const bool follow = has_lesion && (last == 'A' || last == 'S' || last == 'M');
                SynthFinding f = follow ? follow_up(g, lesion, a)
                                        : make_finding(g, g.bernoulli(0.5) ? 'L' : 'R', a, shape_seed);
                ex.rows.push_back(f);
                lesion = f;
                has_lesion = true;
                const char other = f.side == 'L' ? 'R' : 'L';
                // The contralateral breast gets its own row (negative, or now and
                // then a benign finding), so each image's row (§1.3) describes it.
                if (g.bernoulli(0.12))
                    ex.rows.push_back(make_finding(g, other, 'B', shape_seed ^ 0x5bd1e995ull));
                else
                    ex.rows.push_back(negative_row(other));
                if (ex.screening)
                    ex.description = "MG Screening Bilateral";
                else
                    ex.description = std::string("MG Diagnostic ") + (f.side == 'L' ? "Left" : "Right");
            }
            last = a;
            for (int v = 0; v < 4; ++v) {
                SynthView vw;
                vw.image_index = (p * 3 + e) * 4 + v;
                vw.side = v < 2 ? 'R' : 'L';
                vw.view = (v % 2 == 0) ? "CC" : "MLO";
                char name[96];
                std::snprintf(name, sizeof name, "1.2.826.0.1.3680043.9.7433.%lld.%d.%d", (long long)pt.empi_anon, e + 1,
                              v + 1);
                const std::string rel =
                    std::to_string(pt.empi_anon) + "/" + std::to_string(ex.acc_anon) + "/" + name;
                vw.dicom_path = opt.dicom_prefix + rel + ".dcm";
                vw.image_rel = rel + ".png";
                ex.views.push_back(vw);
            }
            pt.exams.push_back(ex);
            const int gap = int(g.randint(300, 800));  // days to the next exam
            day += gap;
            age += gap / 360.0;
        }
        out.push_back(pt);
    }
    return out;
}

std::vector<std::vector<std::string>> synth_legend_rows() {
    // Code sets from the EMBED legend (data-and-weights.md §1.2); the tissueden
    // meanings are space-padded there too.
    std::vector<std::vector<std::string>> r;
    auto add = [&](const std::string& h, const std::string& d, const std::string& c, const std::string& m) {
        r.push_back({h, d, c, m});
    };
    const std::string ms = "Mass shape";
    add("massshape", ms, "G", "Generic");
    add("massshape", ms, "R", "Round");
    add("massshape", ms, "O", "Oval");
    add("massshape", ms, "X", "Irregular");
    add("massshape", ms, "Q", "Questioned architectural distortion");
    add("massshape", ms, "A", "Architectural distortion");
    add("massshape", ms, "T", "Asymmetric tubular structure/solitary dilated duct");
    add("massshape", ms, "N", "Intramammary lymph node");
    add("massshape", ms, "B", "Global asymmetry");
    add("massshape", ms, "F", "Focal asymmetry");
    add("massshape", ms, "S", "Asymmetry");
    add("massshape", ms, "V", "Developing asymmetry");
    add("massshape", ms, "Y", "Lymph node");
    const std::string mm = "Mass margin";
    add("massmargin", mm, "D", "Circumscribed");
    add("massmargin", mm, "U", "Obscured");
    add("massmargin", mm, "M", "Microlobulated");
    add("massmargin", mm, "I", "Indistinct");
    add("massmargin", mm, "S", "Spiculated");
    const std::string md = "Mass density";
    add("massdens", md, "+", "High density");
    add("massdens", md, "=", "Isodense");
    add("massdens", md, "-", "Low density");
    add("massdens", md, "0", "Fat containing");
    const std::string cf = "Calcification findings";
    const char* calc[][2] = {{"A", "Amorphous"},
                             {"9", "Benign"},
                             {"H", "Coarse heterogeneous"},
                             {"C", "Coarse popcorn-like"},
                             {"D", "Dystrophic"},
                             {"E", "Rim"},
                             {"F", "Fine-linear (casting)"},
                             {"B", "Fine linear-branching (casting)"},
                             {"G", "Generic"},
                             {"I", "Fine pleomorphic"},
                             {"L", "Large rodlike"},
                             {"M", "Milk of calcium"},
                             {"J", "Oil cyst"},
                             {"K", "Pleomorphic"},
                             {"P", "Punctate"},
                             {"R", "Round"},
                             {"S", "Skin"},
                             {"O", "Lucent-centered"},
                             {"U", "Suture"},
                             {"V", "Vascular"},
                             {"Q", "Coarse"}};
    for (auto& c : calc) add("calcfind", cf, c[0], c[1]);
    const std::string cd = "Calcification distribution";
    add("calcdistri", cd, "G", "Grouped");
    add("calcdistri", cd, "S", "Segmental");
    add("calcdistri", cd, "R", "Regional");
    add("calcdistri", cd, "D", "Diffuse/scattered");
    add("calcdistri", cd, "L", "Linear");
    add("calcdistri", cd, "C", "Clustered");
    const std::string td = "Tissue density";
    add("tissueden", td, "1", "The breast is almost entirely fat    ");
    add("tissueden", td, "2", "Scattered fibroglandular densities    ");
    add("tissueden", td, "3", "Heterogeneously dense    ");
    add("tissueden", td, "4", "Extremely dense    ");
    add("tissueden", td, "5", "Normal male    ");
    const std::string as = "BI-RADS assessment";
    add("asses", as, "A", "Additional evaluation needed");
    add("asses", as, "N", "Negative");
    add("asses", as, "B", "Benign");
    add("asses", as, "P", "Probably benign");
    add("asses", as, "S", "Suspicious");
    add("asses", as, "M", "Highly suggestive of malignancy");
    add("asses", as, "K", "Known biopsy proven malignancy");
    add("asses", as, "X", "No assessment");
    return r;
}

}  // namespace mama
