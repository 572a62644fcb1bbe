// checksum.h: a fast 64-bit checksum of a byte range, to find checkpoint data
// damaged after it was written (a disk or copy error).  Not a cryptographic
// hash: it guards against accidents, not against tampering.
//
// Four lanes take every fourth 64-bit word w as  h ← (h ⊕ w) · P  (P the odd
// 64-bit FNV prime), so the multiplications of neighbouring words overlap in
// the CPU.  Both steps are one-to-one on 64-bit values (xor with a fixed value;
// multiplication by an odd number modulo 2^64), so changing any single word
// always changes the result; the trailing bytes fill one last word, and the
// length and the four lanes are folded together the same way at the end.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace eng::nn {

inline uint64_t checksum64(const void* data, size_t n) {
    constexpr uint64_t kPrime = 0x100000001b3ull, kBasis = 0xcbf29ce484222325ull;  // FNV-1a's constants
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t lane[4] = {kBasis, kBasis ^ 1, kBasis ^ 2, kBasis ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; ++l) {
            uint64_t w;
            std::memcpy(&w, p + i + 8 * size_t(l), 8);  // little-endian hosts only (as the safetensors I/O)
            lane[l] = (lane[l] ^ w) * kPrime;
        }
    for (int l = 0; i < n; ++l, i += 8) {  // up to three whole words, then the last bytes zero-padded
        uint64_t w = 0;
        std::memcpy(&w, p + i, n - i < 8 ? n - i : 8);
        lane[l] = (lane[l] ^ w) * kPrime;
    }
    uint64_t h = (kBasis ^ uint64_t(n)) * kPrime;
    for (uint64_t l : lane) h = (h ^ l) * kPrime;
    return h ^ (h >> 32);  // the high bits, which every input bit reaches, into the low ones
}

// As 16 lowercase hex digits (how checkpoints store it).
inline std::string checksum_hex(uint64_t h) {
    char s[17];
    std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(h));
    return s;
}

}  // namespace eng::nn
