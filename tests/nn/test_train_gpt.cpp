// test_train_gpt.cpp: the byte-level GPT-2 trainer behind build/train_gpt.
// The unigram entropy against a hand computation; 80 small steps on a
// repetitive text drive the loss far below that entropy; sampling is seeded;
// a saved and resumed trainer continues bit-exactly.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "autograd/ops.h"
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
    MESSAGE("loss ", first, " -> ", last, " (random batches of the training text ", after, "), unigram entropy ", h);
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
    // A window is context + 1 = 17 bytes: a 17-byte text has exactly one.
    CHECK_THROWS_CONTAINING(TextLMTrainer(c, ByteCorpus::from_string(std::string(16, 'a'))), "needs at least 17");
    TextLMTrainer one_window(c, ByteCorpus::from_string("abcdefghijklmnopq"));
    CHECK(std::isfinite(one_window.train_step()));
}

TEST_CASE("train_gpt: a resume refuses another model of the same shapes, or another text, naming the field") {
    // 2 heads and 1 head, or the tanh and the erf GELU, have the same tensors:
    // only the stored config tells them apart.
    testing::TempDir dir("train_gpt_resume");
    const std::string path = dir.str() + "/a.ckpt";
    ByteCorpus corpus = ByteCorpus::from_string(repetitive_text());
    TextLMConfig c = tiny_config();
    TextLMTrainer first(c, corpus);
    first.train_step();
    first.save(path);
    TextLMConfig one_head = c;
    one_head.heads = 1;
    TextLMTrainer heads(one_head, corpus);
    CHECK_THROWS_CONTAINING(heads.load(path), "written with heads 2, this run has 1");
    CHECK(heads.step() == 0);
    TextLMConfig erf = c;
    erf.gelu_new = false;
    TextLMTrainer gelu(erf, corpus);
    CHECK_THROWS_CONTAINING(gelu.load(path), "gelu_new true, this run has false");
    TextLMTrainer other_text(c, ByteCorpus::from_string(repetitive_text() + "!"));
    CHECK_THROWS_CONTAINING(other_text.load(path), "text_bytes");
    std::string same_size = repetitive_text();
    same_size[5] = 'Q';
    TextLMTrainer edited(c, ByteCorpus::from_string(same_size));
    CHECK_THROWS_CONTAINING(edited.load(path), "text_checksum");
    // Batch, learning rate and steps may change.
    TextLMConfig longer = c;
    longer.batch = 4;
    longer.lr = 1e-3;
    longer.steps = 200;
    TextLMTrainer resumed(longer, corpus);
    resumed.load(path);
    CHECK(resumed.step() == 1);
}

TEST_CASE("train_gpt: a diverging run stops before NaN reaches the weights; NaN weights are not sampled") {
    ByteCorpus corpus = ByteCorpus::from_string(repetitive_text());
    for (float clip : {1.0f, 0.0f}) {  // with clipping off the gradient norm is checked all the same
        CAPTURE(clip);
        TextLMConfig c = tiny_config();
        c.lr = 1e6;  // far past stability: the loss overflows within a few steps
        c.warmup = 0;
        c.clip = clip;
        TextLMTrainer trainer(c, corpus);
        std::string msg;
        for (int i = 0; i < 40 && msg.empty(); ++i) {
            try {
                trainer.train_step();
            } catch (const eng::Error& e) {
                msg = e.what();
            }
        }
        INFO(msg);
        CHECK(msg.find("training diverged") != std::string::npos);
        for (const auto& [name, p] : trainer.model().named_parameters())
            for (float v : p->to_vector()) REQUIRE_MESSAGE(std::isfinite(v), name);
    }
    // Weights that hold NaN give NaN logits: sampling refuses instead of
    // emitting a byte the model never chose.
    TextLMTrainer nan_model(tiny_config(), corpus);
    nan_model.model().named_parameters()[0].second->fill_(NAN);
    CHECK_THROWS_CONTAINING(nan_model.sample("the", 5, 1.0f, 0, 1), "not finite");
    CHECK_THROWS_CONTAINING(nan_model.sample("the", 5, 1.0f, 3, 1), "not finite");
    // One NaN logit anywhere (here byte 200's, through the tied embedding row)
    // refuses as well: it used to be caught only at byte 0.
    TextLMTrainer one_nan(tiny_config(), corpus);
    Tensor& wte = *one_nan.model().named_parameters()[0].second;
    REQUIRE(wte.dim() == 2);
    REQUIRE(wte.size(0) == 256);
    narrow(wte, 0, 200, 1).fill_(NAN);
    CHECK_THROWS_CONTAINING(one_nan.sample("the", 5, 1.0f, 0, 1), "byte 200's is nan");
}

TEST_CASE("train_gpt: temperatures are checked as floats; sampled bytes print as valid UTF-8") {
    CHECK(sampling_temperature(0.5) == 0.5f);
    CHECK_THROWS_CONTAINING(sampling_temperature(1e-50), "not a positive float");  // rounds to 0
    CHECK_THROWS_CONTAINING(sampling_temperature(1e39), "not a positive float");   // rounds to inf
    CHECK(printable_bytes("ab\n\tc") == "ab\n\tc");
    CHECK(printable_bytes("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // é and € kept
    CHECK(printable_bytes("a\x01\x7f") == "a\\x01\\x7f");
    CHECK(printable_bytes("\x9b[2J") == "\\x9b[2J");                // a lone continuation byte (8-bit CSI)
    CHECK(printable_bytes("\xc2\x9b") == "\\xc2\\x9b");          // U+009B, a C1 control, as UTF-8
    CHECK(printable_bytes("\xc2\xa0") == "\xc2\xa0");              // U+00A0 is printable
    CHECK(printable_bytes("x\xe2\x82") == "x\\xe2\\x82");        // a truncated character
    CHECK(printable_bytes("\xff\xfe") == "\\xff\\xfe");
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
