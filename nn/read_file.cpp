// read_file.cpp: read_whole_file (see read_file.h).
#include "nn/read_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/check.h"

namespace eng::nn {

std::string read_whole_file(const std::string& path, const std::string& what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    // A folder that cannot be entered or a link loop is not "missing".
    ENG_CHECK(!ec || ec == std::errc::no_such_file_or_directory, what, ": cannot reach '", path, "': ", ec.message());
    ENG_CHECK(fs::exists(st), what, ": '", path, "' does not exist. HINT: check the path");
    ENG_CHECK(!fs::is_directory(st), what, ": '", path, "' is a folder, not a file. HINT: give the file itself");
    // (A pipe streams fine: --config <(...) and /dev/stdin keep working.)
    std::ifstream in(path, std::ios::binary);
    ENG_CHECK(in.good(), what, ": cannot open '", path, "': ", std::strerror(errno), ". HINT: check the permissions");
    std::ostringstream ss;
    ss << in.rdbuf();
    ENG_CHECK(!in.bad(), what, ": error while reading '", path, "'. HINT: check the file and the disk");
    return ss.str();
}

}  // namespace eng::nn
