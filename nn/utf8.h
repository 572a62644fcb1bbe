// utf8.h: UTF-8 encoding of one code point, shared by the JSON parser
// (\u escapes) and the BPE tokenizer (GPT-2's byte-to-unicode map).
#pragma once
#include <cstddef>
#include <string>

namespace eng {

// Appends the 1-4 byte UTF-8 form of a valid code point (at most U+10FFFF).
void utf8_append(std::string& out, char32_t cp);

// The length (1-4) of the valid UTF-8 character starting at p (n bytes
// available), or 0 where the bytes are not one: a stray continuation byte, a
// truncated sequence, an overlong form, a surrogate or a code point above
// U+10FFFF.
size_t utf8_valid_length(const char* p, size_t n);

}  // namespace eng
