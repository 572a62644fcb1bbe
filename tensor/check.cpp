// check.cpp: builds the text of an eng::Error (message, then the source location).
#include "tensor/check.h"

namespace eng::detail {

void fail(const char* file, int line, const std::string& message) {
    // Strip the directory part of the path so messages stay short and stable.
    std::string where = file;
    size_t slash = where.find_last_of('/');
    size_t second = slash == std::string::npos ? std::string::npos : where.find_last_of('/', slash - 1);
    if (second != std::string::npos) where = where.substr(second + 1);
    throw Error(message + "  [" + where + ":" + std::to_string(line) + "]");
}

}  // namespace eng::detail
