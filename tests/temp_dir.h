// temp_dir.h: a scratch directory for one test, created fresh (mkdtemp, so
// parallel test runs never collide) and removed with everything in it when the
// test ends.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace testing {

struct TempDir {
    std::filesystem::path path;

    explicit TempDir(const std::string& name = "test") {
        std::string tmpl = (std::filesystem::temp_directory_path() / ("mama_" + name + "_XXXXXX")).string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("TempDir: cannot create " + tmpl);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string str() const { return path.string(); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace testing
