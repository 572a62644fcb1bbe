// bpe.cpp: the BpeTokenizer core: vocabulary and merge tables, added/special
// tokens, the BPE merge loop with its word cache, encode, decode and padding.
// File loading and saving live in bpe_io.cpp.
#include "mama/bpe.h"

#include <algorithm>
#include <climits>
#include <mutex>

#include "mama/bpe_pretokenize.h"
#include "tensor/check.h"

namespace mama {

namespace {
// Ids above this are refused: a corrupt file must not make us allocate
// gigabytes for the id table.
constexpr int64_t kMaxId = 1 << 24;
constexpr size_t kMaxGap = 65536;
// The word cache is cleared when it grows past this many entries.
constexpr size_t kCacheLimit = 200000;

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// Start of the UTF-8 character that ends just before byte `pos`.
size_t prev_char_start(std::string_view text, size_t pos, size_t floor) {
    size_t p = pos - 1;
    for (int k = 0; k < 3 && p > floor && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80; ++k) --p;
    return p;
}
// True if the character [start, pos) decodes to a whitespace code point.
bool space_before(std::string_view text, size_t pos, size_t floor, size_t& start) {
    if (pos <= floor) return false;
    start = prev_char_start(text, pos, floor);
    char32_t cp;
    size_t len = utf8_decode(text, start, cp);
    if (start + len != pos) {  // invalid bytes: treat the last byte alone
        start = pos - 1;
        utf8_decode(text, start, cp);
    }
    return is_space(cp);
}
bool is_word_char(char32_t cp) { return cp == '_' || is_letter(cp) || is_number(cp); }
}  // namespace

struct BpeTokenizer::Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>> words;
    // The public settings the cached words were made under: a word's ids
    // depend on ignore_merges and unk_id, which a caller may change after
    // encoding (the cache is dropped then).
    bool ignore_merges = false;
    int32_t unk_id = -1;
};

BpeTokenizer::BpeTokenizer() : cache_(std::make_unique<Cache>()) { byte_ids_.fill(-1); }
BpeTokenizer::BpeTokenizer(const BpeTokenizer& o)
    : add_prefix_space(o.add_prefix_space),
      ignore_merges(o.ignore_merges),
      unk_id(o.unk_id),
      id_to_token_(o.id_to_token_),
      has_token_(o.has_token_),
      token_to_id_(o.token_to_id_),
      merges_(o.merges_),
      merge_ranks_(o.merge_ranks_),
      added_(o.added_),
      added_index_(o.added_index_),
      added_by_byte_(o.added_by_byte_),
      byte_ids_(o.byte_ids_),
      pad_id_(o.pad_id_),
      cache_(std::make_unique<Cache>()) {}
BpeTokenizer& BpeTokenizer::operator=(const BpeTokenizer& o) {
    if (this != &o) *this = BpeTokenizer(o);
    return *this;
}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

void BpeTokenizer::set_token(int32_t id, const std::string& token, const std::string& source) {
    ENG_CHECK(id >= 0 && id < kMaxId, source, ": token ", '"', token, '"', " has id ", id,
              " outside 0..", kMaxId - 1);
    ENG_CHECK(!token.empty(), source, ": the empty string cannot be a token (id ", id, ")");
    if (size_t(id) >= id_to_token_.size()) {
        id_to_token_.resize(size_t(id) + 1);
        has_token_.resize(size_t(id) + 1, 0);
        added_index_.resize(size_t(id) + 1, -1);
    }
    ENG_CHECK(!has_token_[id], source, ": id ", id, " is given to both \"", id_to_token_[id], "\" and \"",
              token, "\"");
    auto [it, inserted] = token_to_id_.emplace(token, id);
    ENG_CHECK(inserted, source, ": token \"", token, "\" appears twice (ids ", it->second, " and ", id, ")");
    id_to_token_[id] = token;
    has_token_[id] = 1;
    // A token that is exactly one byte character is the start symbol for that byte.
    char32_t cp;
    if (utf8_decode(token, 0, cp) == token.size()) {
        int b = unicode_to_byte(cp);
        if (b >= 0) byte_ids_[b] = id;
    }
}

BpeTokenizer BpeTokenizer::build(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                 const std::vector<std::pair<std::string, std::string>>& merges,
                                 const std::string& source, const std::vector<int>* merge_lines,
                                 const std::string& vocab_source) {
    const std::string& vsource = vocab_source.empty() ? source : vocab_source;
    // Ids must be dense up to small gaps: a corrupt id must not make us
    // allocate a table of millions of entries.
    for (const auto& [token, id] : vocab)
        ENG_CHECK(id >= 0 && size_t(id) < vocab.size() + kMaxGap, vsource, ": token \"", token, "\" has id ", id,
                  " but the vocabulary has only ", vocab.size(), " entries. HINT: ids must run from 0 without large gaps");
    BpeTokenizer t;
    for (const auto& [token, id] : vocab) t.set_token(id, token, vsource);
    t.merges_ = merges;
    t.merge_ranks_.reserve(merges.size() * 2);
    for (size_t r = 0; r < merges.size(); ++r) {
        const auto& [a, b] = merges[r];
        std::string where = merge_lines ? source + ":" + std::to_string((*merge_lines)[r])
                                        : source + ": merge " + std::to_string(r);
        int32_t ia = t.token_to_id(a), ib = t.token_to_id(b), im = t.token_to_id(a + b);
        ENG_CHECK(ia >= 0 && ib >= 0 && im >= 0, where, ": merge \"", a, " ", b, "\" uses a token missing from the vocabulary (",
                  ia < 0 ? "\"" + a + "\"" : ib < 0 ? "\"" + b + "\"" : "\"" + a + b + "\"",
                  "). HINT: the merges file does not belong to this vocabulary");
        // As in GPT-2's dict(zip(merges, range)): a repeated pair keeps its last rank.
        t.merge_ranks_[pair_key(ia, ib)] = {int32_t(r), im};
    }
    return t;
}

BpeTokenizer BpeTokenizer::from_vocab_merges(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                             const std::vector<std::pair<std::string, std::string>>& merges,
                                             const std::string& source) {
    return build(vocab, merges, source, nullptr);
}

void BpeTokenizer::add_token(const AddedToken& token) {
    ENG_CHECK(!token.content.empty(), "tokenizer: an added token cannot be empty");
    int32_t id = token.id;
    int32_t existing = token_to_id(token.content);
    if (id < 0) id = existing >= 0 ? existing : vocab_size();
    ENG_CHECK(size_t(id) < size_t(vocab_size()) + kMaxGap, "tokenizer: added token \"", token.content, "\" has id ", id,
              ", far past the vocabulary size ", vocab_size());
    if (existing >= 0) {
        ENG_CHECK(existing == id, "tokenizer: added token \"", token.content, "\" has id ", id,
                  " but the vocabulary gives it id ", existing);
    } else {
        set_token(id, token.content, "tokenizer: added token");
    }
    AddedToken t = token;
    t.id = id;
    if (added_index_[id] >= 0) {
        added_[added_index_[id]] = t;  // re-adding updates the flags
    } else {
        added_index_[id] = int32_t(added_.size());
        added_.push_back(t);
    }
    // First-byte index, longest content first so the first hit is the longest.
    for (auto& v : added_by_byte_) v.clear();
    std::vector<int32_t> order(added_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int32_t(i);
    std::stable_sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
        return added_[x].content.size() > added_[y].content.size();
    });
    for (int32_t i : order) added_by_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(i);
}

int32_t BpeTokenizer::add_special_token(const std::string& content) {
    AddedToken t;
    t.content = content;
    t.special = true;
    add_token(t);
    return token_to_id(content);
}

MamaSpecialIds BpeTokenizer::add_mama_special_tokens() {
    MamaSpecialIds ids;
    ids.eos = add_special_token("<|endoftext|>");
    ids.bos = add_special_token("<|startoftext|>");
    ids.pad = add_special_token("<|padtext|>");
    ids.mask = add_special_token("<|masktext|>");
    ids.sep = add_special_token("<|separatetext|>");
    ids.unk = add_special_token("<|unknowntext|>");
    ids.key = add_special_token("<|keytext|>");
    pad_id_ = ids.pad;
    return ids;
}

void BpeTokenizer::set_pad_token(int32_t id) {
    ENG_CHECK(id >= 0 && id < vocab_size() && has_token_[id], "tokenizer: pad id ", id,
              " is not in the vocabulary (size ", vocab_size(), ")");
    pad_id_ = id;
}

const std::string& BpeTokenizer::id_to_token(int32_t id) const {
    ENG_CHECK(id >= 0 && id < vocab_size() && has_token_[id], "tokenizer: id ", id,
              " is not in the vocabulary (size ", vocab_size(), ")");
    return id_to_token_[id];
}

int32_t BpeTokenizer::token_to_id(const std::string& token) const {
    auto it = token_to_id_.find(token);
    return it == token_to_id_.end() ? -1 : it->second;
}

void BpeTokenizer::bpe_word(std::string_view piece, std::vector<int32_t>& out) const {
    std::string key(piece);
    {
        std::lock_guard<std::mutex> lock(cache_->mutex);
        if (cache_->ignore_merges != ignore_merges || cache_->unk_id != unk_id) {
            cache_->words.clear();
            cache_->ignore_merges = ignore_merges, cache_->unk_id = unk_id;
        }
        auto it = cache_->words.find(key);
        if (it != cache_->words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> word;
    if (ignore_merges) {
        int32_t whole = token_to_id(bytes_to_unicode_string(piece));
        if (whole >= 0) word.push_back(whole);
    }
    if (word.empty()) {
        word.reserve(piece.size());
        for (char c : piece) {
            const unsigned char b = static_cast<unsigned char>(c);
            int32_t id = byte_ids_[b] >= 0 ? byte_ids_[b] : unk_id;
            ENG_CHECK(id >= 0, "tokenizer: byte 0x", std::hex, int(b), std::dec,
                      " has no token in the vocabulary and there is no unk token. "
                      "HINT: byte-level vocabularies must hold all 256 byte characters");
            word.push_back(id);
        }
        // Merge loop: find the adjacent pair of lowest rank, then merge all its
        // non-overlapping occurrences left to right (GPT-2's bpe()).
        std::vector<int32_t> next;
        while (word.size() > 1) {
            int32_t best_rank = INT32_MAX, best_a = -1, best_b = -1, merged = -1;
            for (size_t i = 0; i + 1 < word.size(); ++i) {
                auto it = merge_ranks_.find(pair_key(word[i], word[i + 1]));
                if (it != merge_ranks_.end() && it->second.first < best_rank) {
                    best_rank = it->second.first;
                    best_a = word[i], best_b = word[i + 1], merged = it->second.second;
                }
            }
            if (merged < 0) break;
            next.clear();
            for (size_t i = 0; i < word.size();) {
                if (i + 1 < word.size() && word[i] == best_a && word[i + 1] == best_b) {
                    next.push_back(merged);
                    i += 2;
                } else {
                    next.push_back(word[i++]);
                }
            }
            word.swap(next);
        }
    }
    out.insert(out.end(), word.begin(), word.end());
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= kCacheLimit) cache_->words.clear();
    cache_->words.emplace(std::move(key), std::move(word));
}

void BpeTokenizer::encode_segment(std::string_view segment, std::vector<int32_t>& out) const {
    if (segment.empty()) return;
    std::string prefixed;
    if (add_prefix_space && segment[0] != ' ') {
        prefixed = " " + std::string(segment);
        segment = prefixed;
    }
    for (std::string_view piece : pretokenize(segment)) bpe_word(piece, out);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    size_t seg_start = 0, pos = 0;
    const size_t n = text.size();
    while (pos < n) {
        const AddedToken* hit = nullptr;
        for (int32_t idx : added_by_byte_[static_cast<unsigned char>(text[pos])]) {
            const AddedToken& t = added_[idx];
            if (text.compare(pos, t.content.size(), t.content) != 0) continue;
            if (t.single_word) {
                // Only whole words: no word character right before or after.
                char32_t before = 0, after = 0;
                if (pos > 0) utf8_decode(text, prev_char_start(text, pos, 0), before);
                const size_t end = pos + t.content.size();
                if (end < n) utf8_decode(text, end, after);
                if (is_word_char(before) || is_word_char(after)) continue;
            }
            hit = &t;
            break;
        }
        if (!hit) {
            ++pos;
            continue;
        }
        size_t seg_end = pos, start;
        if (hit->lstrip)
            while (space_before(text, seg_end, seg_start, start)) seg_end = start;
        encode_segment(text.substr(seg_start, seg_end - seg_start), out);
        out.push_back(hit->id);
        pos += hit->content.size();
        if (hit->rstrip) {
            char32_t cp;
            while (pos < n) {
                size_t len = utf8_decode(text, pos, cp);
                if (!is_space(cp)) break;
                pos += len;
            }
        }
        seg_start = pos;
    }
    encode_segment(text.substr(seg_start), out);
    return out;
}

Encoding BpeTokenizer::encode_padded(std::string_view text, int max_len, int32_t pad_id) const {
    ENG_CHECK(max_len > 0, "tokenizer: max_len must be positive, got ", max_len);
    if (pad_id < 0) pad_id = pad_id_;
    ENG_CHECK(pad_id >= 0, "tokenizer: padding needs a pad token. "
                           "HINT: call add_mama_special_tokens() or set_pad_token()");
    Encoding e;
    e.ids = encode(text);
    e.truncated = e.ids.size() > size_t(max_len);
    e.length = int32_t(std::min<size_t>(e.ids.size(), size_t(max_len)));
    e.ids.resize(size_t(max_len), pad_id);
    e.attention_mask.assign(size_t(max_len), 0);
    std::fill(e.attention_mask.begin(), e.attention_mask.begin() + e.length, 1);
    return e;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::string out;
    for (int32_t id : ids) {
        const std::string& token = id_to_token(id);
        if (added_index_[id] >= 0) {
            if (!(skip_special && added_[added_index_[id]].special)) out += token;
            continue;
        }
        for (size_t pos = 0; pos < token.size();) {
            char32_t cp;
            size_t len = utf8_decode(token, pos, cp);
            int b = cp == kInvalidCodePoint ? -1 : unicode_to_byte(cp);
            if (b >= 0)
                out += char(b);
            else
                out.append(token, pos, len);  // not a byte character: keep it as written
            pos += len;
        }
    }
    return out;
}

}  // namespace mama
