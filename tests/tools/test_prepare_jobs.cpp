// test_prepare_jobs.cpp: the input list of build/prepare (tools/prepare_jobs.h)
// on small trees: names that collide on one output are converted once and the
// others reported, a file reached through a link is converted once, symlink
// loops are not followed, and outputs of a linked folder stay under --out.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/temp_dir.h"
#include "tools/prepare_jobs.h"

namespace fs = std::filesystem;

namespace {

// Content is irrelevant to the collection except the DICM marker (--any-name).
void touch(const fs::path& p, bool dicm = false) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary);
    f << std::string(128, '\0') << (dicm ? "DICM" : "XXXX");
}

const prepare_jobs::Job* find(const prepare_jobs::Collected& c, const fs::path& input) {
    for (const auto& j : c.jobs)
        if (j.input == input) return &j;
    return nullptr;
}

size_t converted(const prepare_jobs::Collected& c) {
    size_t n = 0;
    for (const auto& j : c.jobs) n += j.skip_kind.empty();
    return n;
}

}  // namespace

TEST_CASE("prepare jobs: two inputs with one output name are converted once, the other reported") {
    testing::TempDir t("prepare_jobs");
    const fs::path in = t.path / "in", out = t.path / "out";
    touch(in / "a.dcm", true);
    touch(in / "a.DCM", true);
    touch(in / "a", true);  // with --any-name: also a_resized.jpg
    touch(in / "b.dcm", true);

    auto c = prepare_jobs::collect(in.string(), out.string(), "jpg", false);
    REQUIRE(c.jobs.size() == 3);  // a.DCM, a.dcm, b.dcm ("a" has no suffix)
    CHECK(c.ignored == 1);
    CHECK(converted(c) == 2);
    // Sorted: "a.DCM" < "a.dcm", so a.DCM is kept and a.dcm reported.
    const auto* kept = find(c, in / "a.DCM");
    const auto* dup = find(c, in / "a.dcm");
    REQUIRE(kept);
    REQUIRE(dup);
    CHECK(kept->skip_kind.empty());
    CHECK(dup->skip_kind == "duplicate output name");
    CHECK(dup->skip_message.find("a.DCM") != std::string::npos);
    CHECK(dup->skip_message.find("a_resized.jpg") != std::string::npos);
    CHECK(dup->skip_message.find("HINT") != std::string::npos);

    auto any = prepare_jobs::collect(in.string(), out.string(), "jpg", true);
    REQUIRE(any.jobs.size() == 4);
    CHECK(converted(any) == 2);  // one of a, a.DCM, a.dcm; and b.dcm
    const auto* plain = find(any, in / "a");
    REQUIRE(plain);
    CHECK(plain->skip_kind.empty());  // "a" sorts first
    CHECK(find(any, in / "a.DCM")->skip_kind == "duplicate output name");

    // The outputs still to write are all different.
    std::vector<fs::path> outs;
    for (const auto& j : any.jobs)
        if (j.skip_kind.empty()) outs.push_back(j.output);
    CHECK(outs.size() == 2);
    CHECK(outs[0] != outs[1]);
}

TEST_CASE("prepare jobs: a symlink loop is not followed and a linked file is converted once") {
    testing::TempDir t("prepare_jobs");
    const fs::path in = t.path / "in", out = t.path / "out", elsewhere = t.path / "elsewhere";
    touch(in / "real" / "x.dcm");
    touch(elsewhere / "y.dcm");
    fs::create_directory_symlink("..", in / "real" / "loop");     // real/loop -> in (a loop)
    fs::create_directory_symlink(in / "real", in / "alias");      // the same folder under another name
    fs::create_directory_symlink(elsewhere, in / "outside");      // a folder outside the tree

    auto c = prepare_jobs::collect(in.string() + "/", out.string(), "png", false);
    // real/x.dcm, alias/x.dcm, outside/y.dcm; nothing under real/loop/...
    for (const auto& j : c.jobs) CHECK(j.input.string().find("loop") == std::string::npos);
    REQUIRE(c.jobs.size() == 3);
    CHECK(converted(c) == 2);
    CHECK(c.notes.size() == 2);  // real/loop, and alias/loop (the same link seen through alias)
    for (const std::string& note : c.notes) CHECK(note.find("symlink loop") != std::string::npos);

    // The path without links is the one kept.
    const auto* direct = find(c, in / "real" / "x.dcm");
    const auto* alias = find(c, in / "alias" / "x.dcm");
    REQUIRE(direct);
    REQUIRE(alias);
    CHECK(direct->skip_kind.empty());
    CHECK(alias->skip_kind.find("duplicate input") == 0);
    CHECK(direct->output == out / "real" / "x_resized.png");

    // A linked outside folder keeps its link name under out/ (fs::relative would give ../elsewhere).
    const auto* outside = find(c, in / "outside" / "y.dcm");
    REQUIRE(outside);
    CHECK(outside->skip_kind.empty());
    CHECK(outside->output == out / "outside" / "y_resized.png");
}

TEST_CASE("prepare jobs: two file names linking to one stored file are two inputs (a content-addressed tree)") {
    // git-annex, DVC or a download cache store identical files once and link
    // each name to the blob: every name must still get its output.
    testing::TempDir t("prepare_jobs");
    const fs::path in = t.path / "in", out = t.path / "out";
    touch(in / "store" / "blob.dcm");
    fs::create_directories(in / "names");
    fs::create_symlink("../store/blob.dcm", in / "names" / "a.dcm");
    fs::create_symlink("../store/blob.dcm", in / "names" / "b.dcm");
    auto c = prepare_jobs::collect(in.string(), out.string(), "png", false);
    REQUIRE(c.jobs.size() == 3);
    CHECK(converted(c) == 3);
    const auto* b = find(c, in / "names" / "b.dcm");
    REQUIRE(b);
    CHECK(b->output == out / "names" / "b_resized.png");
}

TEST_CASE("prepare jobs: a single file and a missing input") {
    testing::TempDir t("prepare_jobs");
    touch(t.path / "one.dcm");
    auto c = prepare_jobs::collect((t.path / "one.dcm").string(), (t.path / "o").string(), "jpg", false);
    REQUIRE(c.jobs.size() == 1);
    CHECK(c.jobs[0].output == t.path / "o" / "one_resized.jpg");
    std::string msg;
    try {
        prepare_jobs::collect((t.path / "nope").string(), "o", "jpg", false);
    } catch (const eng::Error& e) {
        msg = e.what();
    }
    CHECK(msg.find("does not exist") != std::string::npos);
}
