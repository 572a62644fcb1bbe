// bpe_pretokenize.h: the text-level pieces of GPT-2 byte-level BPE that need no
// vocabulary: lenient UTF-8 decoding, the Unicode letter/number/space classes
// (tables generated from Debian's unicode-data), the byte-to-unicode map, and
// the GPT-2 pre-tokenisation pattern implemented by hand.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "nn/utf8.h"

namespace mama {

// ---- UTF-8 -------------------------------------------------------------------
// A code point that no valid UTF-8 decodes to; stands for one invalid byte.
constexpr char32_t kInvalidCodePoint = 0x110000;

// Decodes the character starting at text[pos] and returns how many bytes it
// takes (1..4).  Invalid or truncated sequences, overlong forms, surrogates and
// values above U+10FFFF decode as kInvalidCodePoint with length 1, so every byte
// string splits into characters and no byte is ever lost or read twice.
size_t utf8_decode(std::string_view text, size_t pos, char32_t& cp);
// Appends the UTF-8 form of a valid code point (nn/utf8.h).
using eng::utf8_append;

// ---- Unicode classes (mama/unicode_tables.inc) -------------------------------
bool is_letter(char32_t cp);  // \p{L}: Lu Ll Lt Lm Lo
bool is_number(char32_t cp);  // \p{N}: Nd Nl No
bool is_space(char32_t cp);   // \s: the White_Space property

// ---- GPT-2 byte <-> unicode map ----------------------------------------------
// Printable bytes 33..126, 161..172 and 174..255 map to the code point of the
// same value; the other 68 bytes (0..32, 127..160, 173), in increasing order,
// map to U+0100, U+0101, ... U+0143.  BPE then works on strings of printable
// characters, and every byte string has a spelling.
const std::array<char32_t, 256>& byte_to_unicode();
// The inverse: the byte a character stands for, or -1 if it is not one of the 256.
int unicode_to_byte(char32_t cp);
// Maps every byte of `bytes` to its character and returns the UTF-8 string.
std::string bytes_to_unicode_string(std::string_view bytes);

// ---- Pre-tokenisation ----------------------------------------------------------
// Splits text exactly as the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does with a leftmost-first (Perl-style) regex engine.  The pieces are views
// into `text`, contiguous, non-empty and covering all of it.  Invalid UTF-8
// bytes count as characters of none of the classes (like punctuation).
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace mama
