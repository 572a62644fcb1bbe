// test_csv.cpp: the CSV reader and writer on hand-made text: quoting, BOM,
// CRLF, blank lines, error positions, missing columns and a write/read round trip.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "mama/csv.h"
#include "tensor/check.h"
#include "tests/temp_dir.h"
#include "tests/testing.h"

namespace {

// A fresh folder under the system temp dir, removed at the end of the test.
using testing::TempDir;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

using ::testing::error_of;

}  // namespace

TEST_CASE("csv: quoted fields, BOM, CRLF, blank lines and empty fields") {
    const std::string text =
        "\xEF\xBB\xBFname,note,n\r\n"
        "alpha,\"x, y\",1\r\n"
        "\r\n"
        "beta,\"say \"\"hi\"\"\",\r\n"
        "\"gam\nma\",,3\r\n";
    mama::CsvTable t = mama::parse_csv(text, "t.csv");
    REQUIRE(t.header == std::vector<std::string>{"name", "note", "n"});
    REQUIRE(t.num_rows() == 3);
    CHECK(t.rows[0] == std::vector<std::string>{"alpha", "x, y", "1"});
    CHECK(t.rows[1] == std::vector<std::string>{"beta", "say \"hi\"", ""});
    CHECK(t.rows[2] == std::vector<std::string>{"gam\nma", "", "3"});
    CHECK(t.lines == std::vector<int64_t>{2, 4, 5});
    CHECK(t.column("note") == 1);
    CHECK(t.column("Note") == -1);
    CHECK(t.require("n") == 2);
    CHECK(t.cell(2, 0) == "gam\nma");
}

TEST_CASE("csv: LF and lone CR line ends, no final newline, quoted CRLF kept") {
    mama::CsvTable a = mama::parse_csv("a,b\n1,2\n3,4", "a.csv");
    REQUIRE(a.num_rows() == 2);
    CHECK(a.rows[1] == std::vector<std::string>{"3", "4"});
    mama::CsvTable b = mama::parse_csv("a,b\r1,2\r3,\"x\r\ny\"\r", "b.csv");
    REQUIRE(b.num_rows() == 2);
    CHECK(b.rows[0] == std::vector<std::string>{"1", "2"});
    CHECK(b.rows[1] == std::vector<std::string>{"3", "x\r\ny"});
    CHECK(b.lines == std::vector<int64_t>{2, 3});
    // A quoted empty field on its own line is a row, not a blank line.
    mama::CsvTable c = mama::parse_csv("only\n\"\"\n\nz\n", "c.csv");
    REQUIRE(c.num_rows() == 2);
    CHECK(c.rows[0][0] == "");
    CHECK(c.rows[1][0] == "z");
}

TEST_CASE("csv: malformed input names file, line and column") {
    // Unterminated quote opened at line 2, column 3.
    std::string m = error_of([] { mama::parse_csv("a,b\n1,\"open\n2,3\n", "t.csv"); });
    CHECK(m.find("t.csv:2:3") != std::string::npos);
    CHECK(m.find("never closed") != std::string::npos);
    // Text after a closing quote: the 'y' is line 2, column 6.
    m = error_of([] { mama::parse_csv("a,b\n1,\"x\"y\n", "t.csv"); });
    CHECK(m.find("t.csv:2:6") != std::string::npos);
    CHECK(m.find("after the closing quote") != std::string::npos);
    // A bare quote inside an unquoted field: line 2, column 4.
    m = error_of([] { mama::parse_csv("a,b\n1,x\"y\n", "t.csv"); });
    CHECK(m.find("t.csv:2:4") != std::string::npos);
    CHECK(m.find("unquoted field") != std::string::npos);
    // Too many fields: the third starts at line 3, column 5.
    m = error_of([] { mama::parse_csv("a,b\n1,2\n1,2,3\n", "t.csv"); });
    CHECK(m.find("t.csv:3:5") != std::string::npos);
    CHECK(m.find("row has 3 fields but the header has 2") != std::string::npos);
    // Too few fields: the row ends at line 2, column 4.
    m = error_of([] { mama::parse_csv("a,b,c\n1,2\n", "t.csv"); });
    CHECK(m.find("t.csv:2:4") != std::string::npos);
    CHECK(m.find("row has 2 fields but the header has 3") != std::string::npos);
    // Line numbers count newlines inside quoted fields.
    m = error_of([] { mama::parse_csv("a,b\n\"x\ny\",1\n1,2,3\n", "t.csv"); });
    CHECK(m.find("t.csv:4:5") != std::string::npos);
    // Empty input.
    CHECK(error_of([] { mama::parse_csv("", "e.csv"); }).find("e.csv: the table is empty") != std::string::npos);
    CHECK(error_of([] { mama::parse_csv("\n\r\n", "e.csv"); }).find("empty") != std::string::npos);
}

TEST_CASE("csv: a missing required column names the column and the file") {
    mama::CsvTable t = mama::parse_csv("acc_anon,side\n1,L\n", "tables/clinical.csv");
    std::string m = error_of([&] { t.require("asses"); });
    CHECK(m.find("'asses'") != std::string::npos);
    CHECK(m.find("tables/clinical.csv") != std::string::npos);
    CHECK(m.find("acc_anon, side") != std::string::npos);
    CHECK(error_of([&] { t.cell(1, 0); }) != "");
}

TEST_CASE("csv: read_csv of a missing file names the path") {
    std::string m = error_of([] { mama::read_csv("/nonexistent_dir_xyz/t.csv"); });
    CHECK(m.find("/nonexistent_dir_xyz/t.csv") != std::string::npos);
}

TEST_CASE("csv: write_csv quotes only when needed and reads back") {
    TempDir dir("csv");
    const std::string path = dir.file("out.csv");
    std::vector<std::string> header = {"a", "b,c"};
    std::vector<std::vector<std::string>> rows = {
        {"plain", "with \"quote\""},
        {"multi\nline", ""},
        {" spaced ", "cr\rhere"},
    };
    mama::write_csv(path, header, rows);
    CHECK(slurp(path) ==
          "a,\"b,c\"\n"
          "plain,\"with \"\"quote\"\"\"\n"
          "\"multi\nline\",\n"
          " spaced ,\"cr\rhere\"\n");
    mama::CsvTable t = mama::read_csv(path);
    CHECK(t.header == header);
    CHECK(t.rows == rows);
    CHECK(t.source == path);
    // One empty field per row must survive (it would otherwise be a blank line).
    mama::write_csv(path, {"x"}, {{""}, {"1"}});
    mama::CsvTable u = mama::read_csv(path);
    REQUIRE(u.num_rows() == 2);
    CHECK(u.rows[0][0] == "");
    // Ragged rows and unwritable paths are errors.
    CHECK(error_of([&] { mama::write_csv(path, {"a", "b"}, {{"1"}}); }).find("row 0 has 1 fields") !=
          std::string::npos);
    CHECK(error_of([&] { mama::write_csv(dir.file("no/such/dir.csv"), {"a"}, {}); }).find("cannot create") !=
          std::string::npos);
}

TEST_CASE("csv: is_na follows pandas' default NA strings") {
    for (const char* s : {"", "NA", "NaN", "nan", "N/A", "NULL", "null", "None", "#N/A", "<NA>", "n/a"})
        CHECK(mama::is_na(s));
    for (const char* s : {"0", "N", "A", " ", "none", "X", "Na", "2D"}) CHECK_FALSE(mama::is_na(s));
}

TEST_CASE("csv: a folder or a missing file where a table was expected is named as such") {
    TempDir d("csv_folder");
    CHECK(error_of([&] { mama::read_csv(d.path.string()); }).find("is a folder, not a file") != std::string::npos);
    CHECK(error_of([&] { mama::read_csv((d.path / "none.csv").string()); }).find("does not exist") != std::string::npos);
}
