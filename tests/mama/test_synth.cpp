// test_synth.cpp: the synthetic mammogram generator: density drives the dense
// area, findings appear in both views of the affected breast only, the output
// is byte-identical for a seed whatever the thread count, the plan follows the
// EMBED conventions, and the tables load through the EMBED reader.
#include <doctest/doctest.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "mama/csv.h"
#include "mama/embed.h"
#include "mama/synth.h"

namespace fs = std::filesystem;
using mama::Image;

namespace {

std::string tmp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("mama_test_synth_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(p);
    return p.string();
}

// Every regular file under `dir`: relative path -> bytes.
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::ifstream f(e.path(), std::ios::binary);
        out[fs::relative(e.path(), dir).string()] =
            std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }
    return out;
}

const mama::SynthFinding* row_for_side(const mama::SynthExam& ex, char side) {
    for (const auto& f : ex.rows)
        if (f.side == side) return &f;
    return nullptr;
}

}  // namespace

TEST_CASE("synth: the dense-area fraction rises with the density class") {
    double prev_model = -1, prev_image = -1;
    for (int cls = 1; cls <= 4; ++cls) {
        mama::SynthOptions opt;
        opt.patients = 3;
        opt.seed = 5;
        opt.force_density = cls;
        opt.force_asses = "N";
        auto plan = mama::plan_synth_dataset(opt);
        double model = 0, image = 0;
        int n = 0;
        for (const auto& pt : plan) {
            CHECK(pt.density == cls);
            for (const auto& vw : pt.exams[0].views) {
                if (vw.side != 'L') continue;
                mama::SynthRenderInfo info;
                Image img = mama::render_synth_view(pt, pt.exams[0], vw, 128, opt.seed, &info);
                // Image measure: among breast pixels (above the black background),
                // the share brighter than mid-gray (fat renders ~0.3, gland ~0.7).
                int breast = 0, bright = 0;
                for (float v : img.pixels) {
                    breast += v > 0.05f;
                    bright += v > 0.5f;
                }
                REQUIRE(breast > 0);
                model += info.dense_fraction;
                image += double(bright) / breast;
                ++n;
            }
        }
        model /= n;
        image /= n;
        INFO("class ", cls, ": model dense fraction ", model, ", bright fraction ", image);
        CHECK(model > prev_model + 0.1);
        CHECK(image > prev_image + 0.05);
        prev_model = model;
        prev_image = image;
    }
}

TEST_CASE("synth: findings appear in both views of the affected breast and nowhere else") {
    for (const char* letter : {"M", "K", "S", "B"}) {
        mama::SynthOptions opt;
        opt.patients = 3;
        opt.seed = 9;
        opt.force_asses = letter;
        auto plan = mama::plan_synth_dataset(opt);
        for (const auto& pt : plan) {
            const auto& ex = pt.exams[0];
            const mama::SynthFinding& f = ex.rows[0];
            REQUIRE(f.drawn);
            CHECK(f.asses == letter[0]);
            const mama::SynthFinding* other = row_for_side(ex, f.side == 'L' ? 'R' : 'L');
            REQUIRE(other != nullptr);
            for (const auto& vw : ex.views) {
                mama::SynthRenderInfo with_info, without_info;
                Image with = mama::render_synth_view(pt, ex, vw, 128, opt.seed, &with_info, true);
                Image without = mama::render_synth_view(pt, ex, vw, 128, opt.seed, &without_info, false);
                REQUIRE(with.pixels.size() == without.pixels.size());
                double max_diff = 0;
                int changed = 0;
                for (size_t i = 0; i < with.pixels.size(); ++i) {
                    const double d = std::fabs(with.pixels[i] - without.pixels[i]);
                    max_diff = std::max(max_diff, d);
                    changed += d > 0.02;
                }
                INFO(letter, " patient ", pt.index, " ", vw.side, " ", vw.view, " finding side ", f.side);
                if (vw.side == f.side) {
                    CHECK(max_diff > 0.05);
                    CHECK(changed >= 3);
                    CHECK(!with_info.rois.empty());
                } else if (!other->drawn) {
                    CHECK(max_diff == 0.0);
                    CHECK(with_info.rois.empty());
                }
            }
        }
    }
}

TEST_CASE("synth: the plan follows EMBED conventions") {
    mama::SynthOptions opt;
    opt.patients = 40;
    opt.seed = 3;
    auto plan = mama::plan_synth_dataset(opt);
    std::map<char, int> letters;
    for (const auto& pt : plan) {
        CHECK(pt.density >= 1);
        CHECK(pt.density <= 4);
        CHECK(pt.exams.size() >= 1);
        CHECK(pt.exams.size() <= 3);
        for (const auto& ex : pt.exams) {
            CHECK(ex.views.size() == 4);
            const bool screen = ex.description.find("Screening") != std::string::npos;
            CHECK(screen == ex.screening);
            for (const auto& f : ex.rows) {
                ++letters[f.asses];
                // README: screening exams are BI-RADS 0-3, diagnostic 4-6 (and 1-3).
                if (ex.screening) CHECK(std::string("ANBP").find(f.asses) != std::string::npos);
                if (f.asses == 'K') CHECK(f.clip);
                if (f.asses == 'N') CHECK(!f.drawn);
            }
            for (const auto& vw : ex.views) {
                CHECK(vw.dicom_path.rfind("/mnt/NAS2/mammo/anon_dicom/", 0) == 0);
                CHECK(vw.dicom_path.size() > 4);
                CHECK(vw.dicom_path.substr(vw.dicom_path.size() - 4) == ".dcm");
            }
        }
    }
    for (char c : std::string("ANBPSMK")) CHECK(letters[c] > 0);
}

TEST_CASE("synth: same seed gives the same bytes whatever the thread count") {
    mama::SynthOptions opt;
    opt.patients = 2;
    opt.seed = 17;
    opt.size = 64;
    opt.contact_exams = 2;
    const std::string a = tmp_dir("a"), b = tmp_dir("b"), c = tmp_dir("c");
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    mama::write_synth_dataset(opt, a);
    omp_set_num_threads(2);
    mama::write_synth_dataset(opt, b);
    omp_set_num_threads(saved);
    opt.seed = 18;
    mama::write_synth_dataset(opt, c);
    auto sa = snapshot(a), sb = snapshot(b), sc = snapshot(c);
    CHECK(sa.size() > 8);
    CHECK(sa.count("tables/EMBED_OpenData_metadata_reduced.csv") == 1);
    CHECK(sa.count("tables/EMBED_OpenData_clinical_reduced.csv") == 1);
    CHECK(sa.count("tables/EMBED_OpenData_clinical.csv") == 1);
    CHECK(sa.count("tables/AWS_Open_Data_Clinical_Legend.csv") == 1);
    CHECK(sa.count("contact_sheet.png") == 1);
    CHECK(sa == sb);
    CHECK(sa != sc);
    // The legend starts with a UTF-8 byte-order mark like the real file.
    CHECK(sa["tables/AWS_Open_Data_Clinical_Legend.csv"].rfind("\xEF\xBB\xBFHeader in export,", 0) == 0);
    // Every metadata row's image exists at DIR/images/<path after /anon_dicom/ with .png>.
    mama::CsvTable meta = mama::read_csv(a + "/tables/EMBED_OpenData_metadata_reduced.csv");
    const int col = meta.require("anon_dicom_path");
    CHECK(meta.num_rows() > 0);
    for (int64_t r = 0; r < meta.num_rows(); ++r) {
        std::string p = meta.cell(r, col);
        p = p.substr(p.find("/anon_dicom/") + 12);
        p = p.substr(0, p.size() - 4) + ".png";
        CHECK(sa.count("images/" + p) == 1);
    }
    fs::remove_all(a);
    fs::remove_all(b);
    fs::remove_all(c);
}

TEST_CASE("synth: the tables load through the EMBED reader and every image gets a caption") {
    mama::SynthOptions opt;
    opt.patients = 6;
    opt.seed = 23;
    opt.size = 48;
    opt.contact_exams = 0;
    const std::string dir = tmp_dir("embed");
    mama::SynthSummary s = mama::write_synth_dataset(opt, dir);
    auto plan = mama::plan_synth_dataset(opt);
    // Expected labels per image path: the row of the image's side (§1.3).
    std::map<std::string, std::pair<int, int>> want;  // dicom path -> (birads, density)
    const std::string letters = "ANBPSMK";
    for (const auto& pt : plan)
        for (const auto& ex : pt.exams)
            for (const auto& vw : ex.views) {
                const mama::SynthFinding* f = row_for_side(ex, vw.side);
                const char a = f ? f->asses : ex.rows[0].asses;
                want[vw.dicom_path] = {int(letters.find(a)), pt.density - 1};
            }
    mama::EmbedOptions eo;
    eo.data_dir = dir;
    eo.warnings = false;
    mama::EmbedData data = mama::load_embed(eo);
    CHECK(data.summary.missing_image == 0);
    CHECK(int64_t(data.records.size()) == s.images);
    for (size_t i = 0; i < data.records.size(); ++i) {
        const auto& r = data.records[i];
        REQUIRE(want.count(r.dicom_path) == 1);
        INFO(r.dicom_path);
        CHECK(r.birads == want[r.dicom_path].first);
        CHECK(r.density == want[r.dicom_path].second);
        CHECK(!data.caption(int64_t(i)).empty());
        CHECK(fs::exists(r.image_path));
    }
    fs::remove_all(dir);
}
