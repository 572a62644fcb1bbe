// bpe_io.cpp: reading and writing BPE tokenizer files: vocab.json + merges.txt
// (GPT-2 / Hugging Face "slow" format) and Hugging Face tokenizer.json.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "mama/bpe.h"
#include "nn/atomic_file.h"
#include "nn/json.h"
#include "nn/read_file.h"
#include "tensor/check.h"

namespace mama {

namespace {

std::vector<std::pair<std::string, int32_t>> read_vocab_object(const eng::json::Value& v,
                                                               const std::string& source) {
    ENG_CHECK(v.is_object(), source, ": the vocabulary must be a JSON object {\"token\": id, ...}, found ",
              eng::json::kind_name(v.kind()));
    std::vector<std::pair<std::string, int32_t>> vocab;
    vocab.reserve(v.size());
    for (const auto& [token, id] : v.as_object()) {
        ENG_CHECK(id.is_int() && id.as_int() >= 0 && id.as_int() <= INT32_MAX, source, ": token \"", token,
                  "\" must map to a non-negative integer id");
        vocab.emplace_back(token, int32_t(id.as_int()));
    }
    return vocab;
}

// "left right" -> (left, right); exactly one space separates the two parts.
bool split_merge(const std::string& line, std::pair<std::string, std::string>& out) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size()) return false;
    if (line.find(' ', sp + 1) != std::string::npos) return false;
    out = {line.substr(0, sp), line.substr(sp + 1)};
    return true;
}

}  // namespace

BpeTokenizer BpeTokenizer::load(const std::string& vocab_json, const std::string& merges_txt) {
    eng::json::Value vj = eng::json::parse_file(vocab_json);
    auto vocab = read_vocab_object(vj, vocab_json);

    std::istringstream in(eng::nn::read_whole_file(merges_txt, "tokenizer merges file (merges.txt; GPT-2: vocab.bpe)"));
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<int> lines;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        // The header "#version: 0.2" (HF skips any line starting with it) and
        // the empty line after the final newline carry no merge.
        if (line.empty() || line.rfind("#version", 0) == 0) continue;
        std::pair<std::string, std::string> m;
        ENG_CHECK(split_merge(line, m), merges_txt, ":", lineno, ": expected \"left right\" (two tokens and one space), got \"",
                  line, "\"");
        merges.push_back(std::move(m));
        lines.push_back(lineno);
    }
    return build(vocab, merges, merges_txt, &lines, vocab_json);
}

BpeTokenizer BpeTokenizer::load_tokenizer_json(const std::string& path) {
    // A type error deep in the file (a string where a bool belongs) names
    // neither the file nor the key by itself: the file is added here.
    try {
        using eng::json::Value;
        const Value root = eng::json::parse_file(path);
        ENG_CHECK(root.is_object(), path, ": a tokenizer.json must be a JSON object");
        const Value& model = root.at("model");
        if (const Value* type = model.find("type"))
            ENG_CHECK(type->as_string() == "BPE", path, ": model.type is \"", type->as_string(),
                      "\"; only BPE tokenizers are supported");
        auto is_off = [](const Value* v) {
            return !v || v->is_null() || (v->is_string() && v->as_string().empty()) || (v->is_bool() && !v->as_bool()) ||
                   (v->is_number() && v->as_number() == 0.0);
        };
        ENG_CHECK(is_off(model.find("dropout")), path, ": BPE dropout is not supported (model.dropout must be null)");
        ENG_CHECK(is_off(model.find("continuing_subword_prefix")) && is_off(model.find("end_of_word_suffix")), path,
                  ": continuing_subword_prefix / end_of_word_suffix are not supported (not a byte-level BPE)");
        ENG_CHECK(is_off(model.find("byte_fallback")), path, ": byte_fallback is not supported (not a byte-level BPE)");
        if (const Value* norm = root.find("normalizer"))
            ENG_CHECK(norm->is_null(), path, ": normalizers are not supported (\"normalizer\" must be null, found type ",
                      norm->is_object() && norm->find("type") ? norm->at("type").as_string() : "?", ")");

        // Pre-tokeniser: ByteLevel, alone or inside a Sequence.
        bool add_prefix_space = false;
        if (const Value* pre = root.find("pre_tokenizer"); pre && !pre->is_null()) {
            const Value* byte_level = nullptr;
            if (pre->at("type").as_string() == "ByteLevel") {
                byte_level = pre;
            } else if (pre->at("type").as_string() == "Sequence") {
                for (const Value& p : pre->at("pretokenizers").as_array()) {
                    ENG_CHECK(p.at("type").as_string() == "ByteLevel", path, ": pre_tokenizer ", p.at("type").as_string(),
                              " inside a Sequence is not supported (only ByteLevel)");
                    byte_level = &p;
                }
            }
            ENG_CHECK(byte_level, path, ": pre_tokenizer ", pre->at("type").as_string(),
                      " is not supported; this is a GPT-2 byte-level BPE reader (ByteLevel)");
            if (const Value* aps = byte_level->find("add_prefix_space")) add_prefix_space = aps->as_bool();
            if (const Value* ur = byte_level->find("use_regex"))
                ENG_CHECK(ur->as_bool(), path, ": ByteLevel with use_regex=false is not supported");
        }

        auto vocab = read_vocab_object(model.at("vocab"), path + " (model.vocab)");
        std::vector<std::pair<std::string, std::string>> merges;
        const Value& jm = model.at("merges");
        ENG_CHECK(jm.is_array(), path, ": model.merges must be an array");
        merges.reserve(jm.size());
        for (size_t i = 0; i < jm.size(); ++i) {
            const Value& m = jm[i];
            std::pair<std::string, std::string> pair;
            if (m.is_string()) {
                ENG_CHECK(split_merge(m.as_string(), pair), path, ": model.merges[", i, "] = \"", m.as_string(),
                          "\" is not \"left right\"");
            } else {
                ENG_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), path, ": model.merges[", i,
                          "] must be \"left right\" or [\"left\", \"right\"]");
                pair = {m[0].as_string(), m[1].as_string()};
            }
            merges.push_back(std::move(pair));
        }
        BpeTokenizer t = build(vocab, merges, path, nullptr);
        t.add_prefix_space = add_prefix_space;
        if (const Value* im = model.find("ignore_merges"); im && !im->is_null()) t.ignore_merges = im->as_bool();

        if (const Value* added = root.find("added_tokens"); added && !added->is_null()) {
            for (const Value& a : added->as_array()) {
                AddedToken tok;
                tok.content = a.at("content").as_string();
                int64_t id = a.at("id").as_int();
                ENG_CHECK(id >= 0 && id <= INT32_MAX, path, ": added token \"", tok.content, "\" has a bad id ", id);
                tok.id = int32_t(id);
                auto flag = [&](const char* key, bool dflt) {
                    const Value* v = a.find(key);
                    return v && !v->is_null() ? v->as_bool() : dflt;
                };
                tok.special = flag("special", false);
                tok.lstrip = flag("lstrip", false);
                tok.rstrip = flag("rstrip", false);
                tok.single_word = flag("single_word", false);
                t.add_token(tok);
            }
        }
        if (const Value* unk = model.find("unk_token"); unk && unk->is_string()) t.unk_id = t.token_to_id(unk->as_string());
        return t;
    } catch (const eng::Error& e) {
        const std::string what = e.what();
        if (what.find(path) != std::string::npos) throw;  // names the file already
        throw eng::Error("tokenizer.json '" + path + "': " + what);
    }
}

void BpeTokenizer::save(const std::string& dir) const {
    // Each file written atomically (nn/atomic_file.h): a run killed mid-save
    // leaves the previous tokenizer, never a truncated merges.txt that would
    // load as a different tokenizer of the same size.
    using eng::json::Value;
    Value vocab = Value::object();
    for (int32_t id = 0; id < vocab_size(); ++id)
        if (has_token_[id]) vocab.set(id_to_token_[id], Value(id));
    eng::nn::write_file_atomic(dir + "/vocab.json", eng::json::dump(vocab) + "\n");
    std::string merges = "#version: 0.2\n";
    for (const auto& [a, b] : merges_) merges += a + ' ' + b + '\n';
    eng::nn::write_file_atomic(dir + "/merges.txt", merges);
}

std::string BpeTokenizer::fingerprint() const {
    uint64_t h = 14695981039346656037ull;  // FNV-1a offset basis
    auto add = [&h](const std::string& bytes) {
        for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;  // FNV prime
        h = (h ^ 0xffu) * 1099511628211ull;  // a separator no UTF-8 text contains
    };
    for (int32_t id = 0; id < vocab_size(); ++id) add(has_token_[id] ? id_to_token_[id] : std::string());
    for (const auto& [a, b] : merges_) add(a + ' ' + b);
    // The settings that also change a text's ids, hashed only where they
    // differ from the defaults: the fingerprints of tokenizers without them
    // (every tokenizer this project trains, GPT-2's and BioMedLM's files) stay
    // what earlier checkpoints recorded.
    std::string settings;
    if (add_prefix_space) settings += "add_prefix_space;";
    if (ignore_merges) settings += "ignore_merges;";
    if (unk_id >= 0) settings += "unk_id=" + std::to_string(unk_id) + ";";
    for (const AddedToken& t : added_)
        if (t.lstrip || t.rstrip || t.single_word)
            settings += t.content + (t.lstrip ? ":lstrip" : "") + (t.rstrip ? ":rstrip" : "") +
                        (t.single_word ? ":single_word" : "") + ";";
    if (!settings.empty()) add(settings);
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

}  // namespace mama
