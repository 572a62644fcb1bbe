// test_report.cpp: the evaluation writers: the metrics JSON read back, the
// predictions CSV, the aligned terminal table, the JSONL training-log reader
// and the HTML report (balanced tags, the expected SVG elements, embedded or
// relative images), plus the small helpers (base64, ticks, PNG size).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mama/report.h"
#include "mama/report_svg.h"
#include "nn/json.h"
#include "tensor/check.h"
#include "tests/testing.h"
#include "tests/temp_dir.h"

using namespace mama;

namespace {

using testing::TempDir;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream is(text);
    for (std::string l; std::getline(is, l);) out.push_back(l);
    return out;
}

// Checks that every element is closed in order (<a>..</a> or <a/>) and that
// no raw '<' appears in text.  Returns "" or a description of the first fault.
std::string tag_balance(const std::string& html) {
    std::vector<std::string> stack;
    for (size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
        if (html.compare(i, 2, "<!") == 0) continue;  // doctype
        size_t end = html.find('>', i);
        if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
        bool closing = html[i + 1] == '/';
        size_t ns = i + (closing ? 2 : 1);
        size_t ne = html.find_first_of(" \t\n/>", ns);
        std::string name = html.substr(ns, ne - ns);
        if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
            return "raw '<' at " + std::to_string(i);
        if (closing) {
            if (stack.empty() || stack.back() != name)
                return "</" + name + "> at " + std::to_string(i) + " closes <" + (stack.empty() ? "" : stack.back()) + ">";
            stack.pop_back();
        } else if (html[end - 1] != '/') {
            stack.push_back(name);
        }
        i = end;
    }
    return stack.empty() ? "" : "<" + stack.back() + "> never closed";
}

// The hand-computed three-class case of test_metrics.cpp ("three classes with ties").
EvalResult three_class() {
    EvalResult r;
    r.task = "toy_birads";
    r.class_names = {"BI-RADS 1", "BI-RADS 2", "<B&3>"};
    r.labels = {0, 0, 1, 1, 2, 2};
    r.probs = {{.5f, .25f, .25f}, {.25f, .5f, .25f}, {.25f, .5f, .25f},
               {.5f, .25f, .25f}, {.25f, .25f, .5f}, {.5f, .25f, .25f}};
    r.paths = {"a/img0.png", "img,1.png", "say \"2\".png", "img3.png", "img4.png", "img5.png"};
    return r;
}

// A minimal PNG prefix: signature and an IHDR chunk for a 40 x 20 image (enough for png_size).
std::string fake_png() {
    const unsigned char b[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0,    0,   0,   40,  0,    0,    0,    20,   8, 0, 0, 0,  0,   0,   0,   0, 0};
    return std::string(reinterpret_cast<const char*>(b), sizeof b);
}

}  // namespace

TEST_CASE("report: metrics JSON parses back with the right values") {
    TempDir tmp;
    EvalResult r = three_class();
    Metrics m = compute_metrics(r);
    write_metrics_json(tmp.file("m.json"), r, m);
    auto j = eng::json::parse_file(tmp.file("m.json"));
    // Hand values (test_metrics.cpp): accuracy 3/6, balanced 1/2, macro AUC (.5 + .625 + .75)/3, all x 100.
    CHECK(j.at("task").as_string() == "toy_birads");
    CHECK(j.at("num_samples").as_int() == 6);
    CHECK(j.at("class_names")[2].as_string() == "<B&3>");
    CHECK(j.at("accuracy").as_number() == doctest::Approx(50.0));
    CHECK(j.at("balanced_accuracy").as_number() == doctest::Approx(50.0));
    CHECK(j.at("auc").as_number() == doctest::Approx(62.5));
    CHECK(j.at("auc_kind").as_string() == "macro_ovr");
    CHECK(j.at("macro_f1").as_number() == doctest::Approx(100 * (0.4 + 0.5 + 2.0 / 3.0) / 3));
    const auto& c2 = j.at("per_class")[2];
    CHECK(c2.at("name").as_string() == "<B&3>");
    CHECK(c2.at("support").as_int() == 2);
    CHECK(c2.at("tp").as_int() == 1);
    CHECK(c2.at("tn").as_int() == 4);
    CHECK(c2.at("ppv").as_number() == doctest::Approx(100.0));
    CHECK(c2.at("npv").as_number() == doctest::Approx(80.0));
    CHECK(c2.at("auc").as_number() == doctest::Approx(75.0));
    const int64_t cm[3][3] = {{1, 1, 0}, {1, 1, 0}, {1, 0, 1}};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) CHECK(j.at("confusion_matrix")[a][b].as_int() == cm[a][b]);
    const auto& roc2 = j.at("roc")[2];
    CHECK(roc2.at("thresholds")[0].is_null());  // +infinity has no JSON form
    CHECK(roc2.at("thresholds")[1].as_number() == 0.5);
    CHECK(roc2.at("tpr")[1].as_number() == 0.5);
    CHECK(roc2.at("fpr")[2].as_number() == 1.0);
    CHECK(j.at("warnings").size() == 0);
}

TEST_CASE("report: binary JSON has the positive-class values and null for undefined ones") {
    TempDir tmp;
    EvalResult r;
    r.task = "rsna";
    r.class_names = {"negative", "cancer"};
    r.labels = {0, 1, 1, 0, 1};
    r.probs.assign(5, {0.5f, 0.5f});  // constant classifier: never predicts cancer
    Metrics m = compute_metrics(r);
    write_metrics_json(tmp.file("b.json"), r, m);
    auto j = eng::json::parse_file(tmp.file("b.json"));
    CHECK(j.at("auc_kind").as_string() == "binary");
    CHECK(j.at("auc").as_number() == doctest::Approx(50.0));
    CHECK(j.at("sensitivity").as_number() == 0.0);
    CHECK(j.at("specificity").as_number() == doctest::Approx(100.0));
    CHECK(j.at("ppv").is_null());  // nothing predicted positive: 0/0
    CHECK(j.at("npv").as_number() == doctest::Approx(40.0));
    CHECK(j.at("probabilistic_f1").as_number() == doctest::Approx(100 * 0.6 / 1.1));
    CHECK(j.at("roc").size() == 1);
    CHECK(j.at("roc")[0].at("class").as_string() == "cancer");
}

TEST_CASE("report: predictions CSV has one row per image and every probability") {
    TempDir tmp;
    EvalResult r = three_class();
    r.probs[0] = {0.123456789f, 0.2f, 0.676543211f};
    write_predictions_csv(tmp.file("p.csv"), r);
    auto lines = lines_of(slurp(tmp.file("p.csv")));
    REQUIRE(lines.size() == 7);
    CHECK(lines[0] == "path,label,label_name,predicted,prob_BI-RADS 1,prob_BI-RADS 2,prob_<B&3>");
    // Row 0: predicted class 2 (largest probability); %.9g reads back the exact float.
    std::string expect0 = "a/img0.png,0,BI-RADS 1,2,";
    REQUIRE(lines[1].compare(0, expect0.size(), expect0) == 0);
    std::string probs = lines[1].substr(expect0.size());
    std::vector<float> back;
    std::istringstream is(probs);
    for (std::string f; std::getline(is, f, ',');) back.push_back(std::strtof(f.c_str(), nullptr));
    CHECK(back == r.probs[0]);
    CHECK(lines[2] == "\"img,1.png\",0,BI-RADS 1,1,0.25,0.5,0.25");
    CHECK(lines[3] == "\"say \"\"2\"\".png\",1,BI-RADS 2,1,0.25,0.5,0.25");
    CHECK(lines[5] == "img4.png,2,<B&3>,2,0.25,0.25,0.5");
    r.paths.pop_back();
    CHECK_THROWS_CONTAINING(write_predictions_csv(tmp.file("q.csv"), r), "5 paths");
    CHECK_THROWS_CONTAINING(write_predictions_csv(tmp.path.string() + "/no/such/dir/x.csv", three_class()),
                            "cannot open");
}

TEST_CASE("report: terminal table has aligned columns") {
    EvalResult r = three_class();
    Metrics m = compute_metrics(r);
    std::ostringstream os;
    print_metrics_table(os, r, m);
    std::string t = os.str();
    CHECK(t.find("toy_birads: 6 samples, 3 classes") != std::string::npos);
    auto lines = lines_of(t);
    // The per-class rows and the confusion-matrix rows: equal lengths within each block.
    size_t head = 0, conf = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].find("support") != std::string::npos) head = i;
        if (lines[i].find("true \\ pred") != std::string::npos) conf = i;
    }
    REQUIRE(head > 0);
    REQUIRE(conf > head);
    for (int c = 1; c <= 3; ++c) CHECK(lines[head + c].size() == lines[head].size());
    for (int c = 1; c <= 3; ++c) CHECK(lines[conf + c].size() == lines[conf].size());
    // Class 2's row: support 2, sensitivity 50, specificity 100, PPV 100, NPV 80, F1 66.67, AUC 75.
    std::istringstream row(lines[head + 3].substr(lines[head + 3].find("<B&3>") + 5));
    std::vector<std::string> f;
    for (std::string x; row >> x;) f.push_back(x);
    CHECK(f == std::vector<std::string>{"2", "50.00", "100.00", "100.00", "80.00", "66.67", "75.00"});
    CHECK(t.find("accuracy") != std::string::npos);
    CHECK(lines[conf + 3].find("<B&3>") != std::string::npos);
}

TEST_CASE("report: training log reader skips and counts malformed lines") {
    std::string text =
        "{\"step\": 1, \"loss\": 2.5, \"lr\": 0.001, \"phase\": \"train\"}\n"
        "{\"step\": 2, \"loss\": 2.0\n"         // cut short
        "\n"                                    // blank: skipped silently
        "[1, 2]\n"                              // not an object
        "{\"loss\": 1.0}\n"                     // no step
        "{\"step\": \"3\", \"loss\": 1.0}\n"    // step not a number
        "{\"step\": 3, \"loss\": 1.5, \"val_acc\": 0.4, \"extra\": {\"a\": 1}, \"n\": null}\r\n"
        "{\"step\": 4, \"lr\": 0.002}";         // no trailing newline
    TrainingLog log = parse_training_log(text);
    CHECK(log.lines == 7);
    CHECK(log.bad_lines == 4);
    CHECK(log.bad_line_numbers == std::vector<int64_t>{2, 4, 5, 6});
    REQUIRE(log.keys == std::vector<std::string>{"loss", "lr", "val_acc"});
    using P = std::vector<std::pair<double, double>>;
    CHECK(log.series[0] == P{{1, 2.5}, {3, 1.5}});
    CHECK(log.series[1] == P{{1, 0.001}, {4, 0.002}});
    CHECK(log.series[2] == P{{3, 0.4}});
    CHECK_THROWS_CONTAINING(read_training_log("/nonexistent/log.jsonl"), "cannot open the training log");
}

TEST_CASE("report: HTML holds the expected SVG figures and balanced tags") {
    TempDir tmp;
    std::ofstream(tmp.file("log.jsonl")) << "{\"step\":0,\"loss\":3}\n{\"step\":10,\"loss\":2}\nnot json\n"
                                            "{\"step\":20,\"loss\":1.5,\"acc\":0.5}\n";
    std::filesystem::create_directories(tmp.path / "imgs");
    std::string png = fake_png();
    std::ofstream(tmp.file("imgs/a b.png"), std::ios::binary) << png;
    ReportInputs in;
    in.title = "Toy <report>";
    in.info = {{"checkpoint", "runs/x/best.safetensors"}};
    EvalResult r = three_class();
    in.evaluations.push_back({"Zero-shot", r, compute_metrics(r)});
    in.training_log_path = tmp.file("log.jsonl");
    HeatmapExample ex;
    ex.image_path = tmp.file("imgs/a b.png");
    ex.title = "image a";
    ex.sentence = "A mass & calcifications.";
    ex.grid_h = 2;
    ex.grid_w = 3;
    ex.grid = {0.1f, 0.2f, 0.3f, 0.4f, std::nanf(""), 0.6f};  // the NaN cell stays clear
    in.examples = {ex};
    std::string out = tmp.file("report.html");
    write_html_report(out, in);
    std::string html = slurp(out);
    CHECK_MESSAGE(tag_balance(html) == "", tag_balance(html));
    CHECK(html.find("<title>Toy &lt;report&gt;</title>") != std::string::npos);
    CHECK(html.find("&lt;B&amp;3&gt;") != std::string::npos);
    CHECK(html.find("<B&3>") == std::string::npos);
    // Figures: ROC + confusion, two training charts (loss, acc), overlay + colour bar.
    CHECK(count(html, "<svg ") == 6);
    CHECK(count(html, "class=\"roc\"") == 1);
    CHECK(count(html, "class=\"cell\"") == 9);  // 3 x 3 confusion cells
    CHECK(count(html, "class=\"curve\"") == 2);
    CHECK(html.find("1 malformed line(s) skipped (line 3)") != std::string::npos);
    // 3 ROC curves + the loss curve (3 points); acc has one point: a circle.
    CHECK(count(html, "<polyline") == 4);
    // The overlay: the embedded image and one rect per finite cell (5 of 6),
    // drawn at 300 x 150 (the PNG's 40 x 20 aspect), each cell 100 x 75.
    std::string uri = "href=\"data:image/png;base64," + report_detail::base64(png) + "\"";
    CHECK(html.find(uri) != std::string::npos);
    size_t ov = html.find("class=\"overlay\"");
    REQUIRE(ov != std::string::npos);
    std::string overlay = html.substr(ov, html.find("</svg>", ov) - ov);
    CHECK(overlay.find("width=\"300\" height=\"150\"") != std::string::npos);
    CHECK(count(overlay, "<rect ") == 5);
    CHECK(overlay.find("<rect x=\"200\" y=\"75\" width=\"100\" height=\"75\" fill=\"#fde725\"") != std::string::npos);
    CHECK(overlay.find("x=\"100\" y=\"75\"") == std::string::npos);  // the NaN cell
    CHECK(html.find("A mass &amp; calcifications.") != std::string::npos);

    // Relative paths instead of data URIs; a missing image and a missing log are reported, not fatal.
    in.embed_images = false;
    HeatmapExample missing = ex;
    missing.image_path = tmp.file("imgs/none.png");
    in.examples.push_back(missing);
    in.training_log_path = tmp.file("nope.jsonl");
    std::string html2 = html_report(in, tmp.path.string());
    CHECK_MESSAGE(tag_balance(html2) == "", tag_balance(html2));
    CHECK(html2.find("href=\"imgs/a%20b.png\"") != std::string::npos);
    CHECK(html2.find("image not found") != std::string::npos);
    CHECK(html2.find("cannot open the training log") != std::string::npos);
    in.examples[0].grid.pop_back();
    CHECK_THROWS_CONTAINING(html_report(in, tmp.path.string()), "needs 6 values");
}

TEST_CASE("report: helpers (base64, ticks, colours, PNG size, escaping)") {
    using namespace report_detail;
    // RFC 4648 test vectors.
    CHECK(base64("") == "");
    CHECK(base64("f") == "Zg==");
    CHECK(base64("fo") == "Zm8=");
    CHECK(base64("foo") == "Zm9v");
    CHECK(base64("foobar") == "Zm9vYmFy");
    CHECK(base64(std::string("\xff\x00\x10", 3)) == "/wAQ");
    auto ticks = [](std::vector<double> got, std::vector<double> want) {
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    };
    ticks(nice_ticks(0, 1, 5), {0, 0.2, 0.4, 0.6, 0.8, 1});
    ticks(nice_ticks(3, 97, 4), {20, 40, 60, 80});      // raw spacing 23.5: step 20
    ticks(nice_ticks(-0.17, 0.26, 4), {-0.1, 0, 0.1, 0.2});  // raw spacing .1075: step .1
    CHECK(heat_colour(0) == "#440154");
    CHECK(heat_colour(1) == "#fde725");
    CHECK(heat_colour(0.5) == "#21918c");
    CHECK(coord(1.5) == "1.5");
    CHECK(coord(2.0) == "2");
    CHECK(coord(-0.001) == "0");
    CHECK(percent(0.12345) == "12.35");
    CHECK(percent(std::nan("")) == "-");
    CHECK(xml_escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;");
    int w = 0, h = 0;
    CHECK(png_size(fake_png(), &w, &h));
    CHECK(w == 40);
    CHECK(h == 20);
    CHECK(!png_size("GIF89a and more bytes here!!", &w, &h));
    CHECK(!png_size(fake_png().substr(0, 20), &w, &h));
}
