// test_embed.cpp: the EMBED and RSNA readers on tiny hand-made tables written
// to a temp folder: finding-row choice (§1.3), eligibility (§1.4), labels
// (§1.5), split, partners (§1.6), the per-class test subset and error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "mama/csv.h"
#include "mama/embed.h"
#include "mama/rsna.h"
#include "tensor/check.h"
#include "tests/temp_dir.h"
#include "tests/testing.h"

namespace fs = std::filesystem;

namespace {

using testing::TempDir;

void write_text(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
}

using ::testing::error_of;

const char* kMeta =
    "anon_dicom_path,empi_anon,acc_anon,ImageLateralityFinal,ViewPosition,FinalImageType,StudyDescription,spot_mag\n"
    "/mnt/NAS2/mammo/anon_dicom/p1/e100/lcc.dcm,1,100,L,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p1/e100/lmlo.dcm,1,100,L,MLO,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p1/e100/rcc.dcm,1,100,R,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p1/e100/rmlo.dcm,1,100,R,MLO,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p1/e100/lcc_cview.dcm,1,100,L,CC,cview,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p2/e200/lcc.dcm,2,200,L,CC,2D,MG Diagnostic Bilateral,1\n"
    "/mnt/NAS2/mammo/anon_dicom/p2/e200/rcc.dcm,2,200,R,CC,2D,MG Diagnostic Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p2/e201/lmlo.dcm,2,201,L,MLO,2D,\"MG Diagnostic Left, extra\",\n"
    "/mnt/NAS2/mammo/anon_dicom/p3/e300/rcc.dcm,3,300,R,CC,2D,MG Diagnostic Right,\n"
    "/mnt/NAS2/mammo/anon_dicom/p4/e400/lcc.dcm,4,400,L,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p5/e500/lcc.dcm,5,500,L,CC,2D,MG Other,\n"
    "/mnt/NAS2/mammo/anon_dicom/p5/e500/rcc.dcm,5,500,R,CC,2D,,\n"
    "/mnt/NAS2/mammo/anon_dicom/p6/e600/lcc.dcm,6,600,L,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p7/e700/lcc.dcm,7,700,L,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p8/e800/lcc.dcm,8,800,L,CC,2D,MG Screening Bilateral,\n"
    "/mnt/NAS2/mammo/anon_dicom/p9/e900/lcc.dcm,9,900,L,,2D,MG Diag BI-RADS category 2 follow-up,\n";

const char* kReduced =
    "acc_anon,empi_anon,side,asses,tissueden,age_at_study,RACE_DESC,ETHNIC_GROUP_DESC,desc\n"
    "100,1,L,N,3.0,57.0,Asian,Hispanic or Latino,a\n"
    "100,1,R,B,3.0,57.0,Asian,Hispanic or Latino,b\n"
    "100,1,R,A,3.0,57.0,Asian,Hispanic or Latino,c\n"
    "200,2,B,S,2.0,63.5,Caucasian or White,Non-Hispanic,d\n"
    "200,2,,N,2.0,63.5,Caucasian or White,Non-Hispanic,e\n"
    "201,2,R,K,4.0,64.0,Caucasian or White,,f\n"
    "300,3,R,,2.0,70.0,Asian,,g\n"
    "300,3,R,M,1.0,70.0,Asian,,h\n"
    "400,4,L,N,5.0,50.0,,,i\n"
    "500,5,L,N,2.0,40.0,,,j\n"
    "700,7,L,N,,40.0,,,k\n"
    "800,8,L,N,2.0,40.0,,,l\n"
    "900,9,L,S,2.0,45.0,,,m\n";

// acc_anon written as a float for exam 100, as pandas does for an int column with NaNs.
const char* kFull =
    "acc_anon,side,massshape,massdens,calcfind,calcdistri,path_severity\r\n"
    "100.0,L,,,,,\r\n"
    "100.0,R,,,,,\r\n"
    "100.0,R,X,+,,,\r\n"
    "200,B,,,I,G,4\r\n"
    "200,,,,,,\r\n"
    "201,R,R,+,,,0\r\n"
    "300,R,,,,,\r\n"
    "300,R,X,+,,,\r\n"
    "400,L,,,,,\r\n"
    "500,L,,,,,\r\n"
    "700,L,,,,,\r\n"
    "800,L,,,,,\r\n"
    "900,L,,,,,\r\n";

const char* kLegend =
    "\xEF\xBB\xBFHeader in export,Discription,Code,Meaning\r\n"
    "massshape,Mass shape,X,Irregular\r\n"
    "massshape,Mass shape,R,Round\r\n"
    "massdens,Mass density,+,High density\r\n"
    "calcfind,Calcification,I,Fine pleomorphic\r\n"
    "calcdistri,Calc distribution,G,Grouped\r\n"
    "tissueden,Density,3,\"heterogeneously dense   \"\r\n";

// Writes the four tables and an (empty) image file for every 2D row but p8's.
void make_dataset(const fs::path& dir) {
    write_text(dir / "tables" / mama::kEmbedMetadataCsv, kMeta);
    write_text(dir / "tables" / mama::kEmbedClinicalReducedCsv, kReduced);
    write_text(dir / "tables" / mama::kEmbedClinicalCsv, kFull);
    write_text(dir / "tables" / mama::kEmbedLegendCsv, kLegend);
    for (const char* p : {"p1/e100/lcc", "p1/e100/lmlo", "p1/e100/rcc", "p1/e100/rmlo", "p2/e200/lcc", "p2/e200/rcc",
                          "p2/e201/lmlo", "p3/e300/rcc", "p4/e400/lcc", "p5/e500/lcc", "p5/e500/rcc", "p6/e600/lcc",
                          "p7/e700/lcc", "p9/e900/lcc"})
        write_text(dir / "images" / (std::string(p) + ".png"), "");
}

// Separators and bos/eos, written out here independently of the code under test.
std::string model(const std::string& report) {
    std::string out = "<|startoftext|>";
    for (char c : report) out += (c == '.' || c == ';') ? std::string("<|separatetext|>") : std::string(1, c);
    return out + "<|endoftext|>";
}

mama::EmbedOptions options_for(const TempDir& d) {
    mama::EmbedOptions o;
    o.data_dir = d.str();
    o.warnings = false;
    return o;
}

}  // namespace

TEST_CASE("embed: ids and the image path rule") {
    CHECK(mama::canonical_id("0012") == "12");
    CHECK(mama::canonical_id("12.0") == "12");
    CHECK(mama::canonical_id(" 7 ") == "7");
    CHECK(mama::canonical_id("-0") == "0");
    CHECK(mama::canonical_id("1.5") == "1.5");
    CHECK(mama::canonical_id("abc") == "abc");
    mama::EmbedOptions o;
    o.data_dir = "/d";
    CHECK(mama::embed_image_path("/mnt/NAS2/mammo/anon_dicom/a/b.dcm", o) == "/d/images/a/b.png");
    CHECK(mama::embed_image_path("./images/cohort_1/5/x.dcm", o) == "/d/images/cohort_1/5/x.png");
    CHECK(mama::embed_image_path("/other/x.dcm", o) == "/other/x.png");
    o.image_suffix = "_resized.jpg";
    o.image_dir = "/jpg";
    o.path_marker = "/mnt/NAS2/mammo/anon_dicom/";
    CHECK(mama::embed_image_path("/mnt/NAS2/mammo/anon_dicom/a/b.dcm", o) == "/jpg/a/b_resized.jpg");
    CHECK(mama::embed_image_path("/mnt/NAS2/mammo/anon_dicom/a/b.dcm.txt", o) == "/jpg/a/b.dcm.txt");
}

TEST_CASE("embed: finding-row choice of reference section 1.3") {
    using V = std::vector<std::string>;
    // Same side wins over B and the other side.
    auto c = mama::select_finding(V{"R", "L", "B"}, V{"S", "N", "K"}, V{"R", "L", "B"}, "L", false);
    CHECK(c.reduced == 1);
    CHECK(c.full == 1);
    // No row of the image's side: the bilateral rows.
    c = mama::select_finding(V{"R", "B", "", "B"}, V{"S", "N", "K", "B"}, V{"R", "B", "", "B"}, "L", false);
    CHECK(c.reduced == 3);  // B rows: N(1), B(2) -> max 2
    CHECK(c.full == 3);
    // Neither: all rows (possibly the other breast's), max BI-RADS, first on ties.
    c = mama::select_finding(V{"R", "R", ""}, V{"B", "K", "K"}, V{"R", "R", ""}, "L", false);
    CHECK(c.reduced == 1);
    // Only 0-2 and a 0 present: the BI-RADS 0 row.
    c = mama::select_finding(V{"L", "L", "L"}, V{"N", "A", "B"}, V{"L", "L", "L"}, "L", false);
    CHECK(c.reduced == 1);
    // A 0 with a 4: the maximum.
    c = mama::select_finding(V{"L", "L"}, V{"A", "S"}, V{"L", "L"}, "L", false);
    CHECK(c.reduced == 1);
    // First maximum on ties.
    c = mama::select_finding(V{"L", "L", "L"}, V{"B", "N", "B"}, V{"L", "L", "L"}, "L", false);
    CHECK(c.reduced == 0);
    // Quirk: index over valid letters applied to all rows; fixed: the M row.
    c = mama::select_finding(V{"L", "L"}, V{"", "M"}, V{"L", "L"}, "L", false);
    CHECK(c.reduced == 0);
    c = mama::select_finding(V{"L", "L"}, V{"", "M"}, V{"L", "L"}, "L", true);
    CHECK(c.reduced == 1);
    CHECK(c.full == 1);
    // No valid letter: the first row.
    c = mama::select_finding(V{"L", "L"}, V{"X", ""}, V{"L", "L"}, "L", false);
    CHECK(c.reduced == 0);
    // Fewer full rows than the index: the reference falls back to row 0 of both.
    c = mama::select_finding(V{"L", "L"}, V{"N", "S"}, V{"L"}, "L", false);
    CHECK(c.reduced == 0);
    CHECK(c.full == 0);
    c = mama::select_finding(V{"L", "L"}, V{"N", "S"}, V{"L"}, "L", true);
    CHECK(c.reduced == 1);
    CHECK(c.full == -1);
    // The full table is filtered by its own side column.
    c = mama::select_finding(V{"L", "R"}, V{"N", "S"}, V{"R", "L"}, "L", false);
    CHECK(c.reduced == 0);
    CHECK(c.full == 1);
    // A missing image side matches nothing (falls back to B / all).
    c = mama::select_finding(V{"", "L"}, V{"N", "S"}, V{"", "L"}, "", false);
    CHECK(c.reduced == 1);
    CHECK(mama::select_finding(V{}, V{}, V{}, "L", false).reduced == -1);
    // Strict side: rows without a side, never the other breast's.
    c = mama::select_finding(V{"R", "", "R"}, V{"S", "N", "K"}, V{"R", "", "R"}, "L", false, true);
    CHECK(c.reduced == 1);
    CHECK(c.full == 1);
    c = mama::select_finding(V{"R", "R"}, V{"S", "K"}, V{"R", "R"}, "L", false, true);
    CHECK(c.reduced == -1);
    CHECK(c.full == -1);
}

TEST_CASE("embed: tiny dataset: records, eligibility, labels, captions, partners") {
    TempDir d("embed");
    make_dataset(d.path);
    mama::EmbedData data = mama::load_embed(options_for(d));
    const mama::EmbedSummary& s = data.summary;
    CHECK(s.metadata_rows == 16);
    CHECK(s.not_2d == 1);
    CHECK(s.no_birads == 1);  // p3: the misaligned NaN row
    CHECK(s.no_reason == 1);
    CHECK(s.no_procedure == 1);
    CHECK(s.no_clinical_rows == 1);
    CHECK(s.no_density == 1);
    CHECK(s.missing_image == 1);
    REQUIRE(s.missing_examples.size() == 1);
    CHECK(s.missing_examples[0] == d.str() + "/images/p8/e800/lcc.png");
    CHECK(s.male == 1);
    REQUIRE(data.records.size() == 9);
    CHECK(s.captioned == 9);

    std::vector<std::string> names;
    for (const auto& r : data.records) names.push_back(r.image_path.substr(d.str().size()));
    CHECK(names == std::vector<std::string>{"/images/p1/e100/lcc.png", "/images/p1/e100/lmlo.png",
                                            "/images/p1/e100/rcc.png", "/images/p1/e100/rmlo.png",
                                            "/images/p2/e200/lcc.png", "/images/p2/e200/rcc.png",
                                            "/images/p2/e201/lmlo.png", "/images/p4/e400/lcc.png",
                                            "/images/p9/e900/lcc.png"});
    std::vector<int> birads, density;
    std::vector<size_t> partners;
    for (const auto& r : data.records) {
        birads.push_back(r.birads);
        density.push_back(r.density);
        partners.push_back(r.partners.size());
    }
    // p9's StudyDescription holds "BI-RADS category 2", which the reference's
    // label regex finds before the impression (its letter S would give 4).
    CHECK(birads == std::vector<int>{1, 1, 0, 0, 4, 4, 6, 1, 2});
    CHECK(density == std::vector<int>{2, 2, 2, 2, 1, 1, 3, -1, 1});
    CHECK(partners == std::vector<size_t>{3, 3, 3, 3, 1, 1, 0, 0, 0});
    CHECK(data.records[0].partners == std::vector<int64_t>{1, 2, 3});
    CHECK(data.records[4].partners == std::vector<int64_t>{5});

    CHECK(data.caption(2) ==
          model("Procedure reported: MG Screening Bilateral; Reason for procedure: screening; Patient info: This "
                "patient is Asian, Hispanic or Latino, and 57 years old.  Image info: This is a 2D full-field "
                "digital mammogram of the right breast with CC view.  Breast composition: The breast is "
                "heterogeneously dense. This may lower the sensitivity of mammography.  Findings: The mammogram "
                "shows that an additional imaging is recommended. The mass is Irregular and High density.  "
                "Impressions: BI-RADS Category 0: additional imaging required. Overall Assessment: Additional "
                "imaging is recommended. "));
    CHECK(data.caption(4) ==
          model("Procedure reported: MG Diagnostic Bilateral; Reason for procedure: diagnostic; Patient info: This "
                "patient is Caucasian or White, Non-Hispanic or Latino, and 63 years old.  Image info: This is a 2D "
                "full-field digital mammogram of the left breast with CC view.  Breast composition: The breast is "
                "scattered fibroglandular densities.  Findings: The mammogram shows that a suspicious abnormality "
                "is present.  A Grouped Fine pleomorphic calcification is present.  Impressions: BI-RADS Category "
                "4: suspicious abnormality. Overall Assessment: Suspicious abnormality. "));
    // Other breast's findings (no L or B row in exam 201), with the mass extra.
    CHECK(data.caption(6) ==
          model("Procedure reported: MG Diagnostic Left, extra; Reason for procedure: diagnostic; Patient info: "
                "This patient is Caucasian or White, Non-Hispanic or Latino, and 64 years old.  Image info: This is "
                "a 2D full-field digital mammogram of the left breast with MLO view.  Breast composition: The "
                "breast is extremely dense. This may lower the sensitivity of mammography.  Findings: The "
                "mammogram shows that a known biopsy-proven malignant mass is present. The mass is Round and High "
                "density.  Impressions: BI-RADS Category 6: known biopsy-proven malignancy. Overall Assessment: "
                "Known biopsy-proven malignancy. "));
    // Male, unknown race, missing view.
    CHECK(data.caption(7).find("This patient is unknown, Non-Hispanic or Latino, and 50 years old") !=
          std::string::npos);
    CHECK(data.caption(7).find("The breast is normal male dense<|separatetext|>  Findings") != std::string::npos);
    CHECK(data.caption(8).find("left breast with unknown view") != std::string::npos);

    // Masked training captions keep the findings and vary the meta fields.
    eng::Generator gen(5);
    std::string a = data.training_caption(2, gen), b = data.training_caption(2, gen);
    CHECK(a.find("The mass is Irregular and High density") != std::string::npos);
    CHECK(gen.state().offset == 12);

    // Same-side partners.
    mama::EmbedOptions o = options_for(d);
    o.same_side_partners = true;
    mama::EmbedData same = mama::load_embed(o);
    CHECK(same.records[0].partners == std::vector<int64_t>{1});
    CHECK(same.records[2].partners == std::vector<int64_t>{3});
    CHECK(same.records[4].partners.empty());
}

TEST_CASE("embed: the corrected finding index keeps the misaligned image") {
    TempDir d("embed");
    make_dataset(d.path);
    mama::EmbedOptions o = options_for(d);
    o.fix_finding_index = true;
    mama::EmbedData data = mama::load_embed(o);
    CHECK(data.summary.no_birads == 0);
    REQUIRE(data.records.size() == 10);
    const mama::EmbedRecord& r = data.records[7];
    CHECK(r.image_path == d.str() + "/images/p3/e300/rcc.png");
    CHECK(r.birads == 5);
    CHECK(r.density == 0);
    CHECK(data.caption(7).find("The breast is almost entirely fat<|separatetext|>  Findings: The mammogram shows "
                               "that a highly suggestive of malignancy is present, a biopsy is recommended"
                               "<|separatetext|> The mass is Irregular and High density") != std::string::npos);
}

TEST_CASE("embed: a caption's BI-RADS number outside the 7 classes falls back to the letter") {
    TempDir d("embed");
    make_dataset(d.path);
    std::string meta = kMeta;
    const std::string from = "BI-RADS category 2", to = "BI-RADS category 9";
    meta.replace(meta.find(from), from.size(), to);
    write_text(d.path / "tables" / mama::kEmbedMetadataCsv, meta);
    mama::EmbedData data = mama::load_embed(options_for(d));
    int found = 0;
    for (const auto& r : data.records)
        if (r.image_path == d.str() + "/images/p9/e900/lcc.png") {
            CHECK(r.birads == 4);  // the letter S, not class 9 of 7
            ++found;
        }
    CHECK(found == 1);
}

TEST_CASE("embed: strict side and BI-RADS from the letter") {
    TempDir d("embed");
    make_dataset(d.path);
    mama::EmbedOptions o = options_for(d);
    o.strict_side = true;
    o.birads_from_letter = true;
    mama::EmbedData data = mama::load_embed(o);
    // p2 exam 201 (left image, right-breast row only) and p5 right image (left row only).
    CHECK(data.summary.no_side_match == 2);
    CHECK(data.summary.no_procedure == 0);
    REQUIRE(data.records.size() == 8);
    CHECK(data.records[6].image_path == d.str() + "/images/p4/e400/lcc.png");
    CHECK(data.records[7].birads == 4);  // p9: the letter S, not the "category 2" in its StudyDescription
}

TEST_CASE("embed: patient split, disjointness, split files round trip") {
    TempDir d("embed");
    make_dataset(d.path);
    mama::EmbedOptions o = options_for(d);
    o.write_splits = true;
    mama::EmbedData data = mama::load_embed(o);
    // 9 patients with 2D rows: int(6.3) = 6 train, int(1.8) = 1 test, 2 valid.
    CHECK(data.patients[0].size() == 6);
    CHECK(data.patients[2].size() == 1);
    CHECK(data.patients[1].size() == 2);
    std::map<std::string, mama::Split> of;
    for (int s = 0; s < 3; ++s)
        for (const auto& p : data.patients[s]) CHECK(of.emplace(p, mama::Split(s)).second);  // disjoint
    CHECK(of.size() == 9);
    for (const auto& r : data.records) CHECK(of.at(r.patient) == r.split);
    // Written split files: every 2D row once, all columns kept.
    size_t rows = 0;
    for (mama::Split s : {mama::Split::Train, mama::Split::Valid, mama::Split::Test}) {
        mama::CsvTable t = mama::read_csv(d.str() + "/tables/" + mama::embed_split_csv_name(s));
        CHECK(t.has("spot_mag"));
        for (const auto& row : t.rows) CHECK(of.at(row[size_t(t.require("empi_anon"))]) == s);
        rows += t.rows.size();
    }
    CHECK(rows == 15);
    // Reading the split back from those files gives the same assignment.
    mama::EmbedOptions f = options_for(d);
    f.split_from_files = true;
    f.split_seed = 999;
    mama::EmbedData back = mama::load_embed(f);
    REQUIRE(back.records.size() == data.records.size());
    for (size_t i = 0; i < data.records.size(); ++i) CHECK(back.records[i].split == data.records[i].split);
    // Another seed gives another order of patients.
    o.write_splits = false;
    o.split_seed = 7;
    mama::EmbedData other = mama::load_embed(o);
    std::vector<std::string> x = data.patients[0], y = other.patients[0];
    x.insert(x.end(), data.patients[2].begin(), data.patients[2].end());
    y.insert(y.end(), other.patients[2].begin(), other.patients[2].end());
    CHECK(x != y);
}

TEST_CASE("embed: split_patients proportions on 1000 patients") {
    std::vector<std::string> p;
    for (int i = 0; i < 1000; ++i) p.push_back("pat" + std::to_string(i));
    auto s = mama::split_patients(p, 42, 0.7, 0.2);
    CHECK(s[size_t(mama::Split::Train)].size() == 700);
    CHECK(s[size_t(mama::Split::Test)].size() == 200);
    CHECK(s[size_t(mama::Split::Valid)].size() == 100);
    std::set<std::string> all;
    for (const auto& part : s) all.insert(part.begin(), part.end());
    CHECK(all.size() == 1000);
    CHECK(mama::split_patients(p, 42, 0.7, 0.2) == s);
    CHECK(mama::split_patients(p, 43, 0.7, 0.2) != s);
    // Not the identity order: the first 700 are not simply pat0..pat699.
    int low = 0;
    for (const auto& x : s[0]) low += std::stoi(x.substr(3)) < 700;
    CHECK(low < 600);
}

TEST_CASE("embed: per-class test subset sizes (10%, at least 200)") {
    // Interleaved classes, first seen in the order 3, 0, 1, 2.
    const std::map<int, int> count = {{3, 2500}, {0, 5000}, {1, 1000}, {2, 150}};
    std::vector<int> labels;
    for (int rep = 0; rep < 5000; ++rep)
        for (int c : {3, 0, 1, 2})
            if (rep < count.at(c)) labels.push_back(c);
    std::map<int, int> n;
    for (int l : labels) ++n[l];
    CHECK(n == count);
    std::vector<int64_t> sub = mama::per_class_subset(labels, 0.1, 200, 42);
    std::map<int, int> got;
    std::set<int64_t> unique(sub.begin(), sub.end());
    CHECK(unique.size() == sub.size());
    for (int64_t i : sub) ++got[labels[size_t(i)]];
    CHECK(got == std::map<int, int>{{3, 250}, {0, 500}, {1, 200}, {2, 150}});
    // Classes come out in first-seen order (3, 0, 1, 2), each as one block.
    std::vector<int> block_order;
    for (int64_t i : sub)
        if (block_order.empty() || block_order.back() != labels[size_t(i)]) block_order.push_back(labels[size_t(i)]);
    CHECK(block_order == std::vector<int>{3, 0, 1, 2});
    CHECK(mama::per_class_subset(labels, 0.1, 200, 42) == sub);
    CHECK(mama::per_class_subset(labels, 0.1, 200, 41) != sub);
}

TEST_CASE("embed: explicit per-class sizes 5000/1000/150/2500") {
    std::vector<int> labels;
    for (int i = 0; i < 5000; ++i) labels.push_back(1);
    for (int i = 0; i < 1000; ++i) labels.push_back(4);
    for (int i = 0; i < 150; ++i) labels.push_back(6);
    for (int i = 0; i < 2500; ++i) labels.push_back(0);
    std::vector<int64_t> sub = mama::per_class_subset(labels, 0.1, 200, 42);
    std::map<int, int> got;
    for (int64_t i : sub) ++got[labels[size_t(i)]];
    CHECK(got[1] == 500);
    CHECK(got[4] == 200);
    CHECK(got[6] == 150);
    CHECK(got[0] == 250);
    CHECK(sub.size() == 1100);
    // The draw is spread over the class, not its first members.
    int64_t max_one = 0;
    for (int64_t i : sub)
        if (labels[size_t(i)] == 1) max_one = std::max(max_one, i);
    CHECK(max_one > 2500);
}

TEST_CASE("embed: test subset of a loaded dataset drops male images for density") {
    TempDir d("embed");
    make_dataset(d.path);
    mama::EmbedData data = mama::load_embed(options_for(d));
    std::vector<int64_t> test = data.split_indices(mama::Split::Test);
    std::vector<int64_t> b = mama::embed_test_subset(data, mama::EmbedTask::Birads);
    std::vector<int64_t> den = mama::embed_test_subset(data, mama::EmbedTask::Density);
    // Tiny classes are taken whole.
    CHECK(std::set<int64_t>(b.begin(), b.end()) == std::set<int64_t>(test.begin(), test.end()));
    std::set<int64_t> want;
    for (int64_t i : test)
        if (data.records[size_t(i)].density >= 0) want.insert(i);
    CHECK(std::set<int64_t>(den.begin(), den.end()) == want);
    for (int64_t i : data.density_indices(mama::Split::Train)) CHECK(data.records[size_t(i)].density >= 0);
}

TEST_CASE("embed: missing column and malformed table errors name the file") {
    TempDir d("embed");
    make_dataset(d.path);
    std::string meta = kMeta;
    meta.replace(meta.find("ViewPosition"), 12, "ViewPos");
    write_text(d.path / "tables" / mama::kEmbedMetadataCsv, meta);
    std::string m = error_of([&] { mama::load_embed(options_for(d)); });
    CHECK(m.find("'ViewPosition'") != std::string::npos);
    CHECK(m.find("EMBED_OpenData_metadata_reduced.csv") != std::string::npos);

    make_dataset(d.path);
    std::string reduced = kReduced;
    reduced.replace(reduced.find("200,2,,N"), 8, "200,2,\"N");
    write_text(d.path / "tables" / mama::kEmbedClinicalReducedCsv, reduced);
    m = error_of([&] { mama::load_embed(options_for(d)); });
    CHECK(m.find("EMBED_OpenData_clinical_reduced.csv:6:") != std::string::npos);

    make_dataset(d.path);
    fs::remove(d.path / "tables" / mama::kEmbedLegendCsv);
    m = error_of([&] { mama::load_embed(options_for(d)); });
    CHECK(m.find("AWS_Open_Data_Clinical_Legend.csv") != std::string::npos);
    CHECK(mama::parse_split("valid") == mama::Split::Valid);
    CHECK(error_of([] { mama::parse_split("val"); }).find("'val'") != std::string::npos);
}

TEST_CASE("embed: RSNA train.csv, stratified patient split, image paths") {
    TempDir d("embed");
    std::string csv =
        "site_id,patient_id,image_id,laterality,view,age,cancer,biopsy,invasive,BIRADS,implant,density,machine_id,"
        "difficult_negative_case\n";
    // 50 patients x 2 images; patients 0..9 have a cancer image.
    for (int p = 0; p < 50; ++p)
        for (int k = 0; k < 2; ++k) {
            int image = 1000 * p + k;
            int cancer = p < 10 && k == 1;
            csv += "2," + std::to_string(10000 + p) + "," + std::to_string(image) + "," + (k ? "R" : "L") +
                   ",CC,61.0," + std::to_string(cancer) + ",0,0,,0,,29,False\n";
            if (!(p == 3 && k == 0))
                write_text(d.path / "RSNA_MAMMO_1080_JPG" / std::to_string(10000 + p) /
                               (std::to_string(image) + "_resized.jpg"),
                           "");
        }
    write_text(d.path / "train.csv", csv);
    mama::RsnaOptions o;
    o.data_dir = d.str();
    o.warnings = false;
    mama::RsnaData data = mama::load_rsna(o);
    CHECK(data.rows == 100);
    CHECK(data.missing_image == 1);
    CHECK(data.records.size() == 99);
    CHECK(data.records[0].image_path == d.str() + "/RSNA_MAMMO_1080_JPG/10000/0_resized.jpg");
    // Stratified: int(0.2*10) = 2 positive and int(0.2*40) = 8 negative test patients.
    CHECK(data.patients[int(mama::Split::Test)].size() == 10);
    CHECK(data.patients[int(mama::Split::Train)].size() == 40);
    std::map<std::string, mama::Split> of;
    for (int s = 0; s < 3; ++s)
        for (const auto& p : data.patients[s]) CHECK(of.emplace(p, mama::Split(s)).second);
    int positive_test = 0;
    for (const auto& r : data.records) {
        CHECK(of.at(r.patient) == r.split);
        positive_test += r.split == mama::Split::Test && r.cancer;
    }
    CHECK(positive_test == 2);
    CHECK(data.split_indices(mama::Split::Valid) == data.split_indices(mama::Split::Test));

    // Bad label and missing column.
    write_text(d.path / "bad.csv", "patient_id,image_id,cancer\n1,2,0\n1,3,yes\n");
    o.csv = d.str() + "/bad.csv";
    std::string m = error_of([&] { mama::load_rsna(o); });
    CHECK(m.find("bad.csv:3") != std::string::npos);
    CHECK(m.find("'cancer'") != std::string::npos);
    write_text(d.path / "bad.csv", "patient_id,image_id\n1,2\n");
    m = error_of([&] { mama::load_rsna(o); });
    CHECK(m.find("'cancer' is missing") != std::string::npos);
}
