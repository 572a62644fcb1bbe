// bpe_pretokenize.cpp: UTF-8 decoding, Unicode classes, the GPT-2 byte map and
// the hand-written GPT-2 pre-tokeniser (see bpe_pretokenize.h).
#include "mama/bpe_pretokenize.h"

#include <algorithm>

namespace mama {

namespace {
struct CodeRange {
    char32_t first, last;
};
#include "mama/unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t cp) {
    // Binary search for the last range whose first <= cp.
    const CodeRange* end = table + N;
    const CodeRange* it = std::upper_bound(table, end, cp,
                                           [](char32_t c, const CodeRange& r) { return c < r.first; });
    if (it == table) return false;
    --it;
    return cp <= it->last;
}
}  // namespace

size_t utf8_decode(std::string_view text, size_t pos, char32_t& cp) {
    const size_t n = text.size();
    const unsigned char b0 = static_cast<unsigned char>(text[pos]);
    cp = kInvalidCodePoint;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t len;
    char32_t value, min_value;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, value = b0 & 0x1F, min_value = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, value = b0 & 0x0F, min_value = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, value = b0 & 0x07, min_value = 0x10000;
    } else {
        return 1;  // continuation byte or 0xF8..0xFF where a lead byte belongs
    }
    if (pos + len > n) return 1;
    for (size_t k = 1; k < len; ++k) {
        const unsigned char b = static_cast<unsigned char>(text[pos + k]);
        if ((b & 0xC0) != 0x80) return 1;
        value = (value << 6) | (b & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
    if (value < min_value || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 1;
    cp = value;
    return len;
}

bool is_letter(char32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
    return in_ranges(kLetterRanges, cp);
}
bool is_number(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(kNumberRanges, cp);
}
bool is_space(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return in_ranges(kSpaceRanges, cp);
}

const std::array<char32_t, 256>& byte_to_unicode() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            t[b] = printable ? char32_t(b) : next++;
        }
        return t;
    }();
    return table;
}

int unicode_to_byte(char32_t cp) {
    static const std::array<int, 324> inverse = [] {
        std::array<int, 324> inv{};
        inv.fill(-1);
        const auto& fwd = byte_to_unicode();
        for (int b = 0; b < 256; ++b) inv[fwd[b]] = b;
        return inv;
    }();
    return cp < inverse.size() ? inverse[cp] : -1;
}

std::string bytes_to_unicode_string(std::string_view bytes) {
    const auto& map = byte_to_unicode();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) utf8_append(out, map[static_cast<unsigned char>(c)]);
    return out;
}

namespace {
enum Class { kLetter, kNumber, kSpace, kOther };
Class classify(char32_t cp) {
    if (is_letter(cp)) return kLetter;
    if (is_number(cp)) return kNumber;
    if (is_space(cp)) return kSpace;
    return kOther;  // includes kInvalidCodePoint
}
}  // namespace

std::vector<std::string_view> pretokenize(std::string_view text) {
    // Decode once: character i spans bytes [offset[i], offset[i+1]).
    std::vector<char32_t> cps;
    std::vector<Class> cls;
    std::vector<size_t> offset;
    cps.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        char32_t cp;
        offset.push_back(pos);
        pos += utf8_decode(text, pos, cp);
        cps.push_back(cp);
        cls.push_back(classify(cp));
    }
    const size_t n = cps.size();
    offset.push_back(text.size());

    std::vector<std::string_view> pieces;
    size_t i = 0;
    while (i < n) {
        size_t end = i;  // one past the last character of the match
        // 1) 's 't 're 've 'm 'll 'd (case-sensitive, no letter check after).
        if (cps[i] == '\'' && i + 1 < n) {
            const char32_t a = cps[i + 1];
            const char32_t b = i + 2 < n ? cps[i + 2] : 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd')
                end = i + 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                end = i + 3;
        }
        // 2-4) " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+", tried in this order.
        // The optional space is only U+0020; if the character after it is not in
        // the class, the empty alternative is tried at the space itself, which
        // fails because a space is in none of the three classes.
        for (Class c : {kLetter, kNumber, kOther}) {
            if (end != i) break;
            size_t k;
            if (cps[i] == ' ' && i + 1 < n && cls[i + 1] == c)
                k = i + 1;
            else if (cls[i] == c)
                k = i;
            else
                continue;
            while (k < n && cls[k] == c) ++k;
            end = k;
        }
        // 5) "\s+(?!\S)": the longest whitespace run that is followed by the end
        //    of the text or by more whitespace, i.e. the run minus its last
        //    character when a non-space follows (that one is left to prefix the
        //    next word).  6) "\s+": a lone whitespace character before a non-space.
        if (end == i && cls[i] == kSpace) {
            size_t j = i;
            while (j < n && cls[j] == kSpace) ++j;
            if (j == n)
                end = n;
            else if (j - i >= 2)
                end = j - 1;
            else
                end = j;
        }
        if (end == i) end = i + 1;  // unreachable: every class is covered above
        pieces.push_back(text.substr(offset[i], offset[end] - offset[i]));
        i = end;
    }
    return pieces;
}

}  // namespace mama
