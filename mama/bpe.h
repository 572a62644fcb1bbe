// bpe.h: GPT-2 byte-level BPE tokenizer (encode, decode, special tokens,
// padding/truncation with an attention mask) and its file formats.
//
// Behaviour follows GPT-2's encoder.py / Hugging Face's GPT2TokenizerFast:
//  1. The text is split on exact occurrences of the added (special) tokens,
//     leftmost first, longest first at one position; those map straight to
//     their ids and never go through BPE.
//  2. Each other segment is pre-tokenised with the GPT-2 pattern
//     (bpe_pretokenize.h); each piece's bytes become GPT-2 "byte characters".
//  3. BPE: repeatedly merge every non-overlapping occurrence (left to right)
//     of the adjacent pair with the lowest merge rank, until no pair has a rank.
//  4. Each final symbol's id comes from the vocabulary (not from 256 + rank:
//     Hugging Face-trained vocabularies order the alphabet differently).
// No BOS/EOS is added automatically (MaMA writes them into the caption text).
// decode() returns raw bytes, so decode(encode(x)) == x for ANY byte string
// (invalid UTF-8 included) unless add_prefix_space is on.
//
// Files: vocab.json + merges.txt (GPT-2 / HF slow format; "#version" header
// lines are skipped), or a Hugging Face tokenizer.json (model.type "BPE",
// merges as "a b" strings or ["a","b"] pairs, added_tokens honoured).
// Thread safety: encode() and decode() may be called concurrently (the word
// cache is behind a mutex); add_special_token() must not race with them.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mama {

// One encoded text, padded or truncated to a fixed length.
struct Encoding {
    std::vector<int32_t> ids;             // length == max_len
    std::vector<int32_t> attention_mask;  // 1 on real tokens, 0 on padding
    int32_t length = 0;                   // number of real tokens kept
    bool truncated = false;               // true if tokens were cut off
};

// Ids of the MaMA special tokens (mama-reference.md §2.4).
struct MamaSpecialIds {
    int32_t eos = -1;   // <|endoftext|>  (kept from the base vocabulary)
    int32_t bos = -1;   // <|startoftext|>
    int32_t pad = -1;   // <|padtext|>
    int32_t mask = -1;  // <|masktext|>
    int32_t sep = -1;   // <|separatetext|>
    int32_t unk = -1;   // <|unknowntext|>
    int32_t key = -1;   // <|keytext|>
};

// An added token (Hugging Face "added_tokens" entry).
struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = true;
    bool lstrip = false;       // swallow whitespace to its left
    bool rstrip = false;       // swallow whitespace to its right
    bool single_word = false;  // only match when not inside a word
};

class BpeTokenizer {
public:
    BpeTokenizer();
    BpeTokenizer(const BpeTokenizer& other);
    BpeTokenizer& operator=(const BpeTokenizer& other);
    BpeTokenizer(BpeTokenizer&&) noexcept;
    BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
    ~BpeTokenizer();

    // Builds from a vocabulary (token -> id) and merges in rank order.  Every
    // merge's two parts and their concatenation must be in the vocabulary.
    // `source` names the data in error messages.
    static BpeTokenizer from_vocab_merges(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                          const std::vector<std::pair<std::string, std::string>>& merges,
                                          const std::string& source = "<vocab>");
    // vocab.json + merges.txt.  No token is special after loading (GPT-2's own
    // encoder treats "<|endoftext|>" in text as plain text); add them with
    // add_special_token() / add_mama_special_tokens().
    static BpeTokenizer load(const std::string& vocab_json, const std::string& merges_txt);
    // Hugging Face tokenizer.json, added tokens included.
    static BpeTokenizer load_tokenizer_json(const std::string& path);
    // Writes DIR/vocab.json (every id, added tokens included) and DIR/merges.txt
    // ("#version: 0.2" header, one "left right" line per merge, in rank order).
    void save(const std::string& dir) const;
    // 16 hex digits identifying the vocabulary (every id's string), the
    // merges in rank order, and the settings that change a text's ids
    // (add_prefix_space, ignore_merges, unk_id, added tokens' strip and
    // single-word flags; only where not the defaults) (FNV-1a, 64 bits): a
    // checkpoint records it, so a run resumed with other tokenizer files is
    // refused instead of training on different token ids.
    std::string fingerprint() const;

    // Registers a special token matched whole before BPE.  If the string is
    // already in the vocabulary its id is kept (as Hugging Face does); otherwise
    // it gets the next free id, vocab_size().  Returns the id.
    int32_t add_special_token(const std::string& content);
    void add_token(const AddedToken& token);  // full control (used by the loaders)
    // Makes <|endoftext|> special (appending it if absent, as HF does for
    // BioMedLM's eos/bos/unk), then adds bos, pad, mask, sep, unk, key in the
    // order of MaMA's add_special_tokens call.  For BioMedLM (28,895 entries in
    // vocab.json) this gives eos 28895 and 28896..28901.  Idempotent.
    MamaSpecialIds add_mama_special_tokens();

    std::vector<int32_t> encode(std::string_view text) const;
    // encode(), then keep the first max_len ids (right truncation) or pad on the
    // right with pad_id up to max_len.  pad_id < 0 uses the registered pad token
    // (set_pad_token / add_mama_special_tokens); it is an error if there is none.
    Encoding encode_padded(std::string_view text, int max_len, int32_t pad_id = -1) const;
    // Concatenates the tokens' bytes; added tokens give their content (or
    // nothing when skip_special and the token is special).  Unknown ids throw.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

    // Number of ids (the largest id + 1).
    int32_t vocab_size() const { return int32_t(id_to_token_.size()); }
    // The vocabulary string of an id (byte characters for BPE tokens, the
    // content for added tokens); throws for an unknown id.
    const std::string& id_to_token(int32_t id) const;
    // The id of a vocabulary string, or -1.
    int32_t token_to_id(const std::string& token) const;
    size_t num_merges() const { return merges_.size(); }
    const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }
    const std::vector<AddedToken>& added_tokens() const { return added_; }

    void set_pad_token(int32_t id);
    int32_t pad_id() const { return pad_id_; }
    // ByteLevel(add_prefix_space=true): prepend a space to every text segment
    // that does not start with one.  Off by default (GPT-2 and BioMedLM).
    bool add_prefix_space = false;
    // HF "ignore_merges": a pre-token that is itself in the vocabulary is
    // emitted as that token without running the merges.
    bool ignore_merges = false;
    // Id used for a byte whose character is missing from the vocabulary; -1
    // makes that an error.  (A full byte-level vocabulary never needs it.)
    int32_t unk_id = -1;

private:
    struct Cache;
    void encode_segment(std::string_view segment, std::vector<int32_t>& out) const;
    void bpe_word(std::string_view piece, std::vector<int32_t>& out) const;
    void set_token(int32_t id, const std::string& token, const std::string& source);
    static BpeTokenizer build(const std::vector<std::pair<std::string, int32_t>>& vocab,
                              const std::vector<std::pair<std::string, std::string>>& merges,
                              const std::string& source, const std::vector<int>* merge_lines,
                              const std::string& vocab_source = "");  // names the vocabulary in its errors (else source)

    std::vector<std::string> id_to_token_;  // "" for ids with no token (gaps)
    std::vector<uint8_t> has_token_;
    std::unordered_map<std::string, int32_t> token_to_id_;
    std::vector<std::pair<std::string, std::string>> merges_;
    // (left id << 32 | right id) -> (rank, merged id)
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merge_ranks_;
    std::vector<AddedToken> added_;            // matched before BPE, longest first
    std::vector<int32_t> added_index_;         // id -> index in added_, or -1
    std::array<std::vector<int32_t>, 256> added_by_byte_;  // first byte -> indices in added_
    std::array<int32_t, 256> byte_ids_;        // byte -> id of its byte character, or -1
    int32_t pad_id_ = -1;
    std::unique_ptr<Cache> cache_;
};

}  // namespace mama
