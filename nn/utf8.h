// utf8.h: UTF-8 encoding of one code point, shared by the JSON parser
// (\u escapes) and the BPE tokenizer (GPT-2's byte-to-unicode map).
#pragma once
#include <string>

namespace eng {

// Appends the 1-4 byte UTF-8 form of a valid code point (at most U+10FFFF).
void utf8_append(std::string& out, char32_t cp);

}  // namespace eng
