// test_train_gpt.cpp: the byte-level GPT-2 trainer behind build/train_gpt.
// The unigram entropy against a hand computation; 80 small steps on a
// repetitive text drive the loss far below that entropy; sampling is seeded;
// a saved and resumed trainer continues bit-exactly.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "nn/text_lm.h"
#include "tests/temp_dir.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

std::string repetitive_text() {
    std::string s;
    for (int i = 0; i < 30; ++i) s += "the quick brown fox jumps over the lazy dog. ";
    return s;
}

TextLMConfig tiny_config() {
    TextLMConfig c;
    c.context = 16;
    c.width = 32;
    c.layers = 1;
    c.heads = 2;
    c.batch = 8;
    c.steps = 80;
    c.lr = 1e-2;
    c.warmup = 8;
    c.seed = 3;
    return c;
}

}  // namespace

TEST_CASE("train_gpt: unigram entropy in nats, by hand") {
    // "aab": p = 2/3, 1/3.
    double h = -(2.0 / 3 * std::log(2.0 / 3) + 1.0 / 3 * std::log(1.0 / 3));
    CHECK(ByteCorpus::from_string("aab").unigram_entropy() == doctest::Approx(h).epsilon(1e-12));
    CHECK(ByteCorpus::from_string("zzzz").unigram_entropy() == 0.0);
    // 256 distinct bytes, once each: ln 256.
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(char(b));
    ByteCorpus c = ByteCorpus::from_string(all);
    CHECK(c.bytes[200] == 200);  // bytes are unsigned token ids
    CHECK(c.unigram_entropy() == doctest::Approx(std::log(256.0)).epsilon(1e-12));
}

TEST_CASE("train_gpt: 80 steps on a repetitive text drive the loss far below the unigram entropy") {
    ByteCorpus corpus = ByteCorpus::from_string(repetitive_text());
    double h = corpus.unigram_entropy();
    REQUIRE(h > 2.5);  // 29 distinct characters
    TextLMTrainer trainer(tiny_config(), corpus);
    float before = trainer.evaluate(4, 99);
    CHECK(before > 0.9 * std::log(256.0));  // an untrained model is near uniform over 256 bytes
    float first = 0, last = 0;
    for (int i = 0; i < 80; ++i) {
        float l = trainer.train_step();
        if (i == 0) first = l;
        last = l;
    }
    float after = trainer.evaluate(4, 99);
    MESSAGE("loss ", first, " -> ", last, " (held-out batches ", after, "), unigram entropy ", h);
    CHECK(after < 0.25 * h);
    CHECK(last < 0.4 * h);
    // The greedy continuation of a prompt is made of the text's own trigrams
    // (the untrained model's would not be).
    std::string text = repetitive_text(), out = "the quick brown" + trainer.sample("the quick brown", 20, 1.0f, 1, 5);
    for (size_t i = 0; i + 3 <= out.size(); ++i) CHECK_MESSAGE(text.find(out.substr(i, 3)) != std::string::npos, out);
    // Sampling is reproducible from its seed.
    CHECK(trainer.sample("the", 30, 1.0f, 0, 7) == trainer.sample("the", 30, 1.0f, 0, 7));
}

TEST_CASE("train_gpt: a saved trainer resumes bit-exactly; sizes that do not match are refused") {
    std::string path = "/tmp/eng_test_train_gpt_" + std::to_string(::getpid()) + ".ckpt";
    ByteCorpus corpus = ByteCorpus::from_string(repetitive_text());
    TextLMConfig c = tiny_config();
    c.steps = 6;
    TextLMTrainer straight(c, corpus), first(c, corpus);
    std::vector<float> losses;
    for (int i = 0; i < 6; ++i) losses.push_back(straight.train_step());
    for (int i = 0; i < 3; ++i) first.train_step();
    first.save(path);
    TextLMConfig other_seed = c;
    other_seed.seed = 11;
    TextLMTrainer resumed(other_seed, corpus);
    resumed.load(path);
    CHECK(resumed.step() == 3);
    for (int i = 3; i < 6; ++i) CHECK(resumed.train_step() == losses[size_t(i)]);
    auto a = straight.model().named_parameters(), b = resumed.model().named_parameters();
    for (size_t i = 0; i < a.size(); ++i) CHECK_MESSAGE(a[i].second->to_vector() == b[i].second->to_vector(), a[i].first);
    TextLMConfig wider = c;
    wider.width = 64;
    TextLMTrainer mismatch(wider, corpus);
    CHECK_THROWS_CONTAINING(mismatch.load(path), path);
    std::remove(path.c_str());
    CHECK_THROWS_CONTAINING(TextLMTrainer(c, ByteCorpus::from_string("short")), "needs at least 18");
}

TEST_CASE("train_gpt: a folder given as the text is refused by name") {
    // It used to escape as std::ios_base::failure ("basic_filebuf::underflow
    // error") and abort build/train_gpt with "terminate called".
    testing::TempDir folder("train_gpt_text");
    const std::string dir = folder.str();
    std::string msg;
    try {
        ByteCorpus::from_file(dir);
    } catch (const eng::Error& e) {
        msg = e.what();
    } catch (const std::exception& e) {
        msg = std::string("not an eng::Error: ") + e.what();
    }
    INFO(msg);
    CHECK(msg.find("is a folder") != std::string::npos);
    CHECK(msg.find(dir) != std::string::npos);
    CHECK(msg.find("HINT") != std::string::npos);
}
