// bpe_train.cpp: byte-level BPE training (see bpe_train.h).
//
// Classic incremental algorithm: count distinct pre-tokens ("words") once,
// keep the count of every adjacent symbol pair and, per pair, the words that
// contain it.  After each merge only the words holding the merged pair are
// re-scanned; their old pair counts are subtracted and the new ones added.  A
// std::set ordered by (count desc, left string, right string) gives the next
// merge in O(log P).
#include "mama/bpe_train.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "mama/bpe_pretokenize.h"
#include "tensor/check.h"

namespace mama {

namespace {

uint64_t key_of(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int32_t left_of(uint64_t k) { return int32_t(k >> 32); }
int32_t right_of(uint64_t k) { return int32_t(k & 0xFFFFFFFFu); }

// Splits a line at every occurrence of a cut string and counts the pre-tokens
// of the pieces in between.
void count_words(const std::string& line, const std::vector<std::string>& cuts,
                 std::map<std::string, int64_t>& words) {
    size_t start = 0, pos = 0;
    auto flush = [&](size_t end) {
        for (std::string_view piece : pretokenize(std::string_view(line).substr(start, end - start)))
            ++words[std::string(piece)];
    };
    while (pos < line.size()) {
        size_t hit = 0;
        for (const std::string& c : cuts)
            if (c.size() > hit && line.compare(pos, c.size(), c) == 0) hit = c.size();
        if (hit == 0) {
            ++pos;
            continue;
        }
        flush(pos);
        pos += hit;
        start = pos;
    }
    flush(line.size());
}

}  // namespace

BpeTokenizer train_bpe(const std::vector<std::string>& lines, const BpeTrainOptions& options) {
    const int n_special = int(options.special_tokens.size());
    ENG_CHECK(options.vocab_size >= 256 + n_special, "train_bpe: vocab_size ", options.vocab_size,
              " is too small; it must hold the 256 byte characters and ", n_special, " special token(s)");
    ENG_CHECK(options.min_frequency >= 1, "train_bpe: min_frequency must be >= 1, got ", options.min_frequency);

    // Alphabet: the 256 byte characters sorted by code point.
    const auto& b2u = byte_to_unicode();
    std::vector<int> bytes_by_cp(256);
    for (int b = 0; b < 256; ++b) bytes_by_cp[b] = b;
    std::sort(bytes_by_cp.begin(), bytes_by_cp.end(), [&](int x, int y) { return b2u[x] < b2u[y]; });
    std::vector<std::string> tokens;
    std::unordered_map<std::string, int32_t> token_ids;
    int32_t byte_id[256];
    for (int b : bytes_by_cp) {
        std::string s;
        utf8_append(s, b2u[b]);
        byte_id[b] = int32_t(tokens.size());
        token_ids[s] = int32_t(tokens.size());
        tokens.push_back(s);
    }

    // Distinct words (std::map: fixed order, hence deterministic indices).
    std::vector<std::string> cuts = options.cut_tokens;
    cuts.insert(cuts.end(), options.special_tokens.begin(), options.special_tokens.end());
    cuts.erase(std::remove_if(cuts.begin(), cuts.end(), [](const std::string& s) { return s.empty(); }), cuts.end());
    std::map<std::string, int64_t> word_counts;
    for (const std::string& line : lines) count_words(line, cuts, word_counts);
    std::vector<std::vector<int32_t>> words;
    std::vector<int64_t> freq;
    for (const auto& [w, c] : word_counts) {
        std::vector<int32_t> syms;
        for (char ch : w) syms.push_back(byte_id[static_cast<unsigned char>(ch)]);
        words.push_back(std::move(syms));
        freq.push_back(c);
    }

    // Pair statistics.
    std::unordered_map<uint64_t, int64_t> counts;
    std::unordered_map<uint64_t, std::vector<int32_t>> where;
    for (size_t w = 0; w < words.size(); ++w)
        for (size_t i = 0; i + 1 < words[w].size(); ++i) {
            uint64_t k = key_of(words[w][i], words[w][i + 1]);
            counts[k] += freq[w];
            auto& list = where[k];
            if (list.empty() || list.back() != int32_t(w)) list.push_back(int32_t(w));
        }
    auto better = [&tokens](const std::pair<int64_t, uint64_t>& x, const std::pair<int64_t, uint64_t>& y) {
        if (x.first != y.first) return x.first > y.first;
        const std::string &xl = tokens[left_of(x.second)], &yl = tokens[left_of(y.second)];
        if (xl != yl) return xl < yl;
        return tokens[right_of(x.second)] < tokens[right_of(y.second)];
    };
    std::set<std::pair<int64_t, uint64_t>, decltype(better)> queue(better);
    for (const auto& [k, c] : counts) queue.emplace(c, k);

    std::vector<std::pair<std::string, std::string>> merges;
    std::unordered_map<uint64_t, int64_t> delta;
    std::vector<int32_t> merged_word;
    while (int(tokens.size()) + n_special < options.vocab_size && !queue.empty()) {
        const auto [count, k] = *queue.begin();
        if (count < options.min_frequency) break;
        const int32_t a = left_of(k), b = right_of(k);
        std::string joined = tokens[a] + tokens[b];
        int32_t c;
        if (auto it = token_ids.find(joined); it != token_ids.end()) {
            c = it->second;  // the same string was already made by another merge
        } else {
            c = int32_t(tokens.size());
            token_ids.emplace(joined, c);
            tokens.push_back(joined);
        }
        merges.emplace_back(tokens[a], tokens[b]);

        std::vector<int32_t> affected = std::move(where[k]);
        where.erase(k);
        std::sort(affected.begin(), affected.end());
        affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
        delta.clear();
        for (int32_t w : affected) {
            std::vector<int32_t>& syms = words[w];
            merged_word.clear();
            bool changed = false;
            for (size_t i = 0; i < syms.size();) {
                if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
                    merged_word.push_back(c);
                    i += 2;
                    changed = true;
                } else {
                    merged_word.push_back(syms[i++]);
                }
            }
            if (!changed) continue;  // stale entry: the pair was merged away earlier
            for (size_t i = 0; i + 1 < syms.size(); ++i) delta[key_of(syms[i], syms[i + 1])] -= freq[w];
            for (size_t i = 0; i + 1 < merged_word.size(); ++i) {
                uint64_t nk = key_of(merged_word[i], merged_word[i + 1]);
                delta[nk] += freq[w];
                if (merged_word[i] == c || merged_word[i + 1] == c) {
                    auto& list = where[nk];
                    if (list.empty() || list.back() != w) list.push_back(w);
                }
            }
            syms.swap(merged_word);
        }
        for (const auto& [pk, d] : delta) {
            if (d == 0) continue;
            int64_t& cnt = counts[pk];
            if (cnt > 0) queue.erase({cnt, pk});
            cnt += d;
            if (cnt > 0)
                queue.emplace(cnt, pk);
            else
                counts.erase(pk);
        }
    }

    std::vector<std::pair<std::string, int32_t>> vocab;
    for (size_t i = 0; i < tokens.size(); ++i) vocab.emplace_back(tokens[i], int32_t(i));
    for (const std::string& s : options.special_tokens) {
        ENG_CHECK(!s.empty() && !token_ids.count(s), "train_bpe: special token \"", s,
                  "\" is empty, repeated or equal to a learned token");
        token_ids[s] = int32_t(vocab.size());
        vocab.emplace_back(s, int32_t(vocab.size()));
    }
    return BpeTokenizer::from_vocab_merges(vocab, merges, "train_bpe");
}

}  // namespace mama
