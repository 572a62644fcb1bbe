// tokenize.cpp: build/tokenize, the command-line face of the BPE tokenizer
// (mama/bpe.h): encodes texts and prints their ids and tokens, or trains a
// vocabulary on a file of lines (--train).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "mama/bpe.h"
#include "mama/bpe_train.h"
#include "nn/json.h"
#include "tensor/check.h"
#include "tools/cli_args.h"

namespace {

const char* kUsage =
    "usage:\n"
    "  tokenize --vocab vocab.json --merges merges.txt [options] TEXT...\n"
    "  tokenize --tokenizer tokenizer.json [options] TEXT...\n"
    "  tokenize ... --file F                  encode every line of F instead of TEXT arguments\n"
    "  tokenize --train --file F --vocab-size N --out DIR [--min-frequency K]\n"
    "\n"
    "options (encoding):\n"
    "  --max-len N     pad (right, with <|padtext|>) or truncate to N tokens and print the attention mask\n"
    "  --no-mama       do not add MaMA's special tokens (<|endoftext|> and the six of its\n"
    "                  add_special_tokens call); then such strings are encoded as plain text\n"
    "  --ids-only      print only the ids, one text per line\n"
    "options (training, --train):\n"
    "  --vocab-size N  total vocabulary size: 256 byte characters + merges + <|endoftext|>\n"
    "  --min-frequency K  only merge pairs seen at least K times (default 2)\n"
    "  --out DIR       writes DIR/vocab.json and DIR/merges.txt (created if missing)\n"
    "\n"
    "Each text prints three lines: '# text N: T tokens', 'ids: ...' and 'tokens: ...'\n"
    "(tokens as JSON strings in GPT-2's byte spelling: 'Ġ' is a space, 'Ċ' a newline).\n";

[[noreturn]] void usage_error(const std::string& what) {
    std::cerr << "tokenize: " << what << "\n\n" << kUsage;
    std::exit(2);
}

int parse_int(const std::string& flag, const std::string& value) {
    try {
        return int(cli::parse_int(flag, value, 1, (1 << 30) - 1));
    } catch (const eng::Error& e) {
        usage_error(e.what());
    }
}

std::vector<std::string> read_lines(const std::string& path) {
    // A folder opens as a stream on Linux and reads as zero lines, so
    // --train would "succeed" on nothing: refuse it by name.
    std::error_code ec;
    ENG_CHECK(!std::filesystem::is_directory(path, ec), "tokenize: --file '", path,
              "' is a folder, not a text file. HINT: give one file with one text per line");
    std::ifstream in(path, std::ios::binary);
    ENG_CHECK(in, "tokenize: cannot open '", path, "'. HINT: check the path and permissions");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

int run(int argc, char** argv) {
    std::string vocab, merges, tokenizer_json, file, out_dir;
    int max_len = 0, vocab_size = 0, min_frequency = 2;
    bool train = false, mama_tokens = true, ids_only = false;
    std::vector<std::string> texts;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--vocab") vocab = value();
        else if (a == "--merges") merges = value();
        else if (a == "--tokenizer") tokenizer_json = value();
        else if (a == "--file") file = value();
        else if (a == "--max-len") max_len = parse_int(a, value());
        else if (a == "--train") train = true;
        else if (a == "--vocab-size") vocab_size = parse_int(a, value());
        else if (a == "--min-frequency") min_frequency = parse_int(a, value());
        else if (a == "--out") out_dir = value();
        else if (a == "--no-mama") mama_tokens = false;
        else if (a == "--ids-only") ids_only = true;
        else if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            return 0;
        } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') usage_error("unknown option " + a);
        else texts.push_back(a);
    }

    if (train) {
        if (file.empty() || out_dir.empty() || vocab_size == 0)
            usage_error("--train needs --file F, --vocab-size N and --out DIR");
        if (!texts.empty()) usage_error("--train takes no TEXT arguments (put the corpus in --file)");
        mama::BpeTrainOptions opt;
        opt.vocab_size = vocab_size;
        opt.min_frequency = min_frequency;
        const std::vector<std::string> lines = read_lines(file);
        const bool all_empty =
            std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return l.empty(); });
        ENG_CHECK(!all_empty, "tokenize: --file '", file, "' ",
                  lines.empty() ? "is empty" : "has only empty lines (" + std::to_string(lines.size()) + ")",
                  ": nothing to learn merges from. HINT: give the corpus, one text per line");
        mama::BpeTokenizer t = mama::train_bpe(lines, opt);
        std::filesystem::create_directories(out_dir);
        t.save(out_dir);
        std::cout << "trained on " << lines.size() << " lines: " << t.vocab_size() << " tokens (256 bytes + "
                  << t.num_merges() << " merges + <|endoftext|>)"
                  << (t.vocab_size() < vocab_size ? " -- fewer than asked: no pair left with enough count" : "")
                  << "\nwrote " << out_dir << "/vocab.json and " << out_dir << "/merges.txt\n";
        return 0;
    }

    mama::BpeTokenizer t;
    if (!tokenizer_json.empty()) {
        if (!vocab.empty() || !merges.empty()) usage_error("give either --tokenizer or --vocab/--merges, not both");
        t = mama::BpeTokenizer::load_tokenizer_json(tokenizer_json);
    } else {
        if (vocab.empty() || merges.empty()) usage_error("need --vocab and --merges (or --tokenizer)");
        t = mama::BpeTokenizer::load(vocab, merges);
    }
    if (mama_tokens) t.add_mama_special_tokens();
    if (max_len > 0 && t.pad_id() < 0) usage_error("--max-len needs the pad token: drop --no-mama");
    if (!file.empty()) {
        if (!texts.empty()) usage_error("give TEXT arguments or --file, not both");
        texts = read_lines(file);
    }
    if (texts.empty()) usage_error("nothing to encode: give TEXT arguments or --file F");

    for (size_t n = 0; n < texts.size(); ++n) {
        std::vector<int32_t> ids, mask;
        int32_t length;
        bool truncated = false;
        if (max_len > 0) {
            mama::Encoding e = t.encode_padded(texts[n], max_len);
            ids = e.ids, mask = e.attention_mask, length = e.length, truncated = e.truncated;
        } else {
            ids = t.encode(texts[n]);
            length = int32_t(ids.size());
        }
        std::string id_line, tok_line, mask_line;
        for (size_t k = 0; k < ids.size(); ++k) {
            id_line += (k ? " " : "") + std::to_string(ids[k]);
            tok_line += (k ? " " : "") + eng::json::dump(eng::json::Value(t.id_to_token(ids[k])));
            if (!mask.empty()) mask_line += (k ? " " : "") + std::to_string(mask[k]);
        }
        if (ids_only) {
            std::cout << id_line << "\n";
            continue;
        }
        std::cout << "# text " << n + 1 << ": " << length << " tokens" << (truncated ? " (truncated)" : "") << "\n"
                  << "ids: " << id_line << "\n"
                  << "tokens: " << tok_line << "\n";
        if (!mask.empty()) std::cout << "mask: " << mask_line << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::string message = cli::exception_text(e);
        if (message.rfind("tokenize: ", 0) == 0) message.erase(0, 10);  // not "tokenize: error: tokenize: ..."
        std::cerr << "tokenize: error: " << message << "\n";
        return 1;
    }
}
