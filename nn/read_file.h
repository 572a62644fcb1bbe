// read_file.h: reading a whole input file (a config, a table, a tokenizer
// file, a DICOM) with errors a user can act on.  A folder opens fine on Linux
// and then reads as empty (or, sought to its end, as 2^63 bytes), which made a
// folder given as a merges file a tokenizer without merges, and as a config
// "unexpected end of text": here it is named for what it is.
#pragma once
#include <string>

namespace eng::nn {

// The bytes of the file (or pipe) at `path`; throws naming `what` (e.g.
// "json", "tokenizer merges") when it is missing, a folder, unreachable or
// unreadable, or fails while being read.
std::string read_whole_file(const std::string& path, const std::string& what);

}  // namespace eng::nn
