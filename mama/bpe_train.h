// bpe_train.h: learns a GPT-2 style byte-level BPE vocabulary from lines of
// text (e.g. all captions), so a project without BioMedLM's files still gets a
// tokenizer, saved in the same vocab.json + merges.txt formats.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mama/bpe.h"

namespace mama {

struct BpeTrainOptions {
    // Total number of entries of the result: 256 byte characters + merged
    // tokens + special_tokens.  Training stops earlier when no pair occurs at
    // least min_frequency times.
    int vocab_size = 8192;
    int min_frequency = 2;
    // Appended after the merged tokens, in this order (the MaMA tokens are added
    // later by BpeTokenizer::add_mama_special_tokens, after the base vocabulary).
    std::vector<std::string> special_tokens = {"<|endoftext|>"};
    // Strings cut out of the training text before pre-tokenisation (they are
    // matched whole at encode time, so their pieces must not shape the merges).
    // special_tokens are always cut out too.
    std::vector<std::string> cut_tokens = {"<|startoftext|>", "<|padtext|>",     "<|masktext|>",
                                           "<|separatetext|>", "<|unknowntext|>", "<|keytext|>"};
};

// Vocabulary layout: ids 0..255 are the 256 byte characters sorted by code
// point (the same order as GPT-2's encoder.json), then one id per new merged
// string in merge order, then the special tokens.
//
// Each step merges the adjacent pair with the highest count, counted over the
// GPT-2 pre-tokens of all lines (a pre-token occurring k times counts k times).
// Ties go to the pair whose (left, right) vocabulary strings are smallest in
// byte order, so the result is deterministic and independent of line order
// apart from counts.  Merged occurrences are replaced left to right without
// overlap, exactly as encoding does.
BpeTokenizer train_bpe(const std::vector<std::string>& lines, const BpeTrainOptions& options);

}  // namespace mama
