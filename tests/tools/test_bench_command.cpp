// test_bench_command.cpp: the command line `bench step --compare-torch` hands
// to /bin/sh: paths are single-quoted words (a config path with a space used
// to split into two arguments, and one with ';' or '$' reached the shell).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "tools/bench_common.h"

namespace {

// What /bin/sh passes to printf as its one argument after `printf %s WORD`.
std::string through_shell(const std::string& word) {
    FILE* p = popen(("printf %s " + word).c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[256];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(pclose(p) == 0);
    return out;
}

}  // namespace

TEST_CASE("bench: shell_quote makes any path one word that the shell passes on unchanged") {
    for (const std::string s : {"mama/configs/bench-cpu.json", "/tmp/my cfg.json", "a;echo hacked", "$HOME/`id`",
                                "it's \"quoted\"", "'", "", "tab\there", "back\\slash*?"}) {
        CAPTURE(s);
        CHECK(through_shell(bench::shell_quote(s)) == s);
    }
    CHECK(bench::shell_quote("a b") == "'a b'");
    CHECK(bench::shell_quote("it's") == "'it'\\''s'");
}
