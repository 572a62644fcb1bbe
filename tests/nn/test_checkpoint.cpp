// test_checkpoint.cpp: training checkpoints.  A run of 2N steps equals N steps,
// a checkpoint, a load into fresh objects and N more, bit for bit (dropout on,
// so the RNG restore matters); 64-bit RNG states round-trip exactly; a write
// that fails midway (file-size limit hit inside the real write) or before
// writing leaves the previous checkpoint intact; load errors name the file and
// what is missing; a tensor damaged on disk is found by its checksum.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "autograd/ops.h"
#include "nn/atomic_file.h"
#include "nn/checkpoint.h"
#include "nn/checksum.h"
#include "nn/gpt2.h"
#include "nn/safetensors.h"
#include "nn/schedule.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

// A private folder under /tmp, removed with its files at the end of a test.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/eng_ckpt_XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        for (const std::string& f : files()) std::remove((path + "/" + f).c_str());
        ::rmdir(path.c_str());
    }
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d))
                if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
            ::closedir(d);
        }
        return out;
    }
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

GPT2Config run_config() {
    GPT2Config c = GPT2Config::preset("tiny");  // vocab 96, width 32, 2 layers, 4 heads
    c.positions = 16;
    c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = 0.1f;  // dropout draws from the default generator
    return c;
}

// A small training run: tiny GPT-2 with dropout, AdamW with two parameter
// groups, the cosine schedule, clipping, random batches from a data generator
// and a caller-side cursor (the "data-loader position").
struct Run {
    Generator init;
    std::unique_ptr<GPT2Model> model;
    std::unique_ptr<AdamW> opt;
    Generator data;
    Schedule sched;
    int64_t step = 0, cursor = 0;

    explicit Run(uint64_t seed) : init(seed), data(seed + 100) {
        model = std::make_unique<GPT2Model>(run_config(), &init);
        ParamGroup decay{{}, 1e-2f, 0.1f}, no_decay{{}, 1e-2f, 0.0f};
        for (Tensor* p : model->parameters()) (p->dim() >= 2 ? decay : no_decay).params.push_back(p);
        opt = std::make_unique<AdamW>(std::vector<ParamGroup>{decay, no_decay}, 0.9, 0.95);
        sched.max_lr = 1e-2;
        sched.min_lr = 1e-3;
        sched.warmup_steps = 2;
        sched.total_steps = 8;
    }

    float train_step() {
        opt->set_lr(float(sched.lr_at(step)));
        std::vector<int32_t> ids = randint(0, 96, {2, 9}, &data).to_ivector();
        ids[0] = int32_t(cursor % 96);  // the cursor feeds the data, so restoring it matters
        std::vector<int32_t> x, y;
        for (int b = 0; b < 2; ++b)
            for (int t = 0; t < 8; ++t) {
                x.push_back(ids[size_t(b * 9 + t)]);
                y.push_back(ids[size_t(b * 9 + t + 1)]);
            }
        Tensor loss = cross_entropy(reshape(model->logits(model->forward(from_ivector(x, {2, 8}))), {-1, 96}),
                                    from_ivector(y, {16}));
        backward(loss);
        clip_grad_norm(model->parameters(), 1.0f);
        opt->step();
        opt->zero_grad();
        ++step;
        ++cursor;
        return loss.item();
    }

    NamedGenerators rngs() { return {{"default", &default_generator()}, {"data", &data}}; }

    void save(const std::string& path) {
        TrainingState st;
        st.step = step;
        st.extra["cursor"] = std::to_string(cursor);
        save_checkpoint(path, *model, opt.get(), st, rngs(), R"({"lr": 0.01, "model": "tiny"})");
    }

    void load(const std::string& path) {
        std::string config;
        TrainingState st = load_checkpoint(path, *model, opt.get(), rngs(), &config);
        CHECK(config == R"({"lr": 0.01, "model": "tiny"})");
        step = st.step;
        cursor = std::stoll(st.extra.at("cursor"));
    }
};

bool same_parameters(Run& a, Run& b) {
    auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
    if (pa.size() != pb.size()) return false;
    for (size_t i = 0; i < pa.size(); ++i)
        if (pa[i].first != pb[i].first || pa[i].second->to_vector() != pb[i].second->to_vector()) return false;
    return true;
}

}  // namespace

TEST_CASE("checkpoint: 2N steps in one go equal N steps, save, load into fresh objects, N steps (bit-exact)") {
    TempDir dir;
    const std::string path = dir.path + "/run.ckpt";
    const int N = 4;
    manual_seed(77);
    Run straight(5);
    std::vector<float> losses;
    for (int i = 0; i < 2 * N; ++i) losses.push_back(straight.train_step());

    manual_seed(77);
    Run first(5);
    for (int i = 0; i < N; ++i) CHECK(first.train_step() == losses[size_t(i)]);
    first.save(path);

    manual_seed(999);  // the fresh process state differs; load must restore it
    Run resumed(6);    // different initial weights, no optimiser state yet
    CHECK(!same_parameters(resumed, first));
    resumed.load(path);
    CHECK(same_parameters(resumed, first));
    CHECK(resumed.step == N);
    CHECK(resumed.cursor == N);
    for (int i = N; i < 2 * N; ++i) CHECK(resumed.train_step() == losses[size_t(i)]);
    CHECK(same_parameters(resumed, straight));

    // The comparison can fail: resuming without the dropout stream's state diverges.
    Run diverged(6);
    diverged.load(path);
    manual_seed(999);
    for (int i = N; i < 2 * N; ++i) diverged.train_step();
    CHECK(!same_parameters(diverged, straight));
}

TEST_CASE("checkpoint: step, extra values, config and 64-bit generator states round-trip exactly") {
    TempDir dir;
    const std::string path = dir.path + "/state.ckpt";
    Linear lin(3, 2);
    Generator a(1), b(2);
    a.set_state({0xFEDCBA9876543210ull, 0xFFFFFFFFFFFFFFF0ull});
    b.set_state({(1ull << 63) + 1, (1ull << 53) + 1});  // not representable as a double
    TrainingState st;
    st.step = 5000000000LL;  // above 2^32
    st.extra = {{"epoch", "3"}, {"shard", "train-0007.tar"}, {"empty", ""}};
    save_checkpoint(path, lin, nullptr, st, {{"a", &a}, {"b", &b}}, R"({"nested": {"x": [1, 2]}})");
    std::vector<float> w = lin.weight.to_vector();

    Linear other(3, 2);
    Generator a2(0), b2(0);
    std::string config;
    TrainingState got = load_checkpoint(path, other, nullptr, {{"b", &b2}, {"a", &a2}}, &config);
    CHECK(got.step == st.step);
    CHECK(got.extra == st.extra);
    CHECK(config == R"({"nested": {"x": [1, 2]}})");
    CHECK(a2.state().seed == a.state().seed);
    CHECK(a2.state().offset == a.state().offset);
    CHECK(b2.state().seed == b.state().seed);
    CHECK(b2.state().offset == b.state().offset);
    CHECK(a2.uniform_double() == a.uniform_double());
    CHECK(other.weight.to_vector() == w);
    // The file is an ordinary safetensors file with the documented names.
    SafeTensorsFile f = SafeTensorsFile::open(path);
    CHECK(f.names() == std::vector<std::string>{"model.bias", "model.weight"});
    CHECK(f.metadata().at("rng.a.seed") == "18364758544493064720");
    CHECK(f.metadata().at("step") == "5000000000");
    CHECK(f.metadata().at("format") == "eng-checkpoint-1");
    CHECK(!f.metadata().count("optim.type"));
}

TEST_CASE("checkpoint: optimizer state is stored under optim.* and restored") {
    TempDir dir;
    const std::string path = dir.path + "/opt.ckpt";
    Tensor p = from_vector({0.5f, -1.0f}, {2}).set_requires_grad(true);
    AdamW opt({{{&p}, 0.1f, 0.01f}});
    p.set_grad(from_vector({0.3f, -0.2f}, {2}));
    opt.step();
    struct One : Module {
        Tensor* w;
        explicit One(Tensor* t) : w(t) { register_parameter("w", t); }
    } model(&p);
    save_checkpoint(path, model, &opt, TrainingState{1, {}});
    SafeTensorsFile f = SafeTensorsFile::open(path);
    CHECK(f.has("optim.0.0.exp_avg"));
    CHECK(f.has("optim.0.0.exp_avg_sq"));
    CHECK(f.has("optim.step"));
    CHECK(f.metadata().at("optim.type") == "AdamW");
    // A fresh optimizer restored from the file takes the same next step as the original.
    Tensor q = from_vector({0.0f, 0.0f}, {2}).set_requires_grad(true);
    One model2(&q);
    AdamW opt2({{{&q}, 0.1f, 0.01f}});
    load_checkpoint(path, model2, &opt2);
    CHECK(opt2.steps() == 1);
    p.set_grad(from_vector({-0.1f, 0.4f}, {2}));
    q.set_grad(from_vector({-0.1f, 0.4f}, {2}));
    opt.step();
    opt2.step();
    CHECK(p.to_vector() == q.to_vector());
}

TEST_CASE("checkpoint: a write that fails midway leaves the previous checkpoint intact") {
    TempDir dir;
    const std::string path = dir.path + "/run.ckpt";
    manual_seed(3);
    Run run(1);
    run.train_step();
    run.save(path);
    const std::string before = read_bytes(path);
    REQUIRE(before.size() > 4096);
    run.train_step();

    // 1. The real write fails after part of the file is written: a file-size
    //    limit makes write() fail with EFBIG halfway through the temporary file.
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    rlimit small = old;
    small.rlim_cur = before.size() / 2;
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string what;
    try {
        run.save(path);
    } catch (const Error& e) {
        threw = true;
        what = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    CHECK(threw);
    CHECK_MESSAGE(what.find("writing") != std::string::npos, what);
    CHECK(read_bytes(path) == before);
    CHECK(dir.files() == std::vector<std::string>{"run.ckpt"});  // no temporary left behind

    // 2. An error while gathering the state (before any byte is written).
    struct Broken : Optimizer {
        Broken() : Optimizer({}) {}
        void step() override {}
        std::map<std::string, Tensor> state_dict() const override { ENG_FAIL("broken optimizer state"); }
        void load_state_dict(const std::map<std::string, Tensor>&) override {}
    } broken;
    CHECK_THROWS_CONTAINING(save_checkpoint(path, *run.model, &broken, TrainingState{}), "broken optimizer state");
    CHECK(read_bytes(path) == before);

    // The surviving file still loads, at the step it was saved.
    Run fresh(2);
    fresh.load(path);
    CHECK(fresh.step == 1);
    CHECK(dir.files() == std::vector<std::string>{"run.ckpt"});
}

TEST_CASE("atomic files: all or nothing, and a killed writer's temporaries are swept") {
    TempDir dir;
    const std::string path = dir.path + "/vocab.json";
    write_file_atomic(path, "old");
    {
        AtomicFile f(path);
        f.write("new, half written", 9);
        CHECK(dir.files().size() == 2);  // the file and a hidden temporary
    }  // dropped without commit: the temporary goes, the old file stays
    CHECK(read_bytes(path) == "old");
    CHECK(dir.files() == std::vector<std::string>{"vocab.json"});
    write_file_atomic(path, "new");
    CHECK(read_bytes(path) == "new");
    CHECK(dir.files().size() == 1);
    // A temporary of a process that has ended is removed, one of a running
    // process (this one) and files that only look alike are kept.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    REQUIRE(child > 0);
    REQUIRE(::waitpid(child, nullptr, 0) == child);
    const std::string dead = ".last.safetensors.tmp" + std::to_string(child) + "_3";
    const std::string alive = ".last.safetensors.tmp" + std::to_string(::getpid()) + "_0";
    for (const std::string& name : {dead, alive, std::string(".notes.tmp12x_1"), std::string("last.safetensors")})
        std::ofstream(dir.path + "/" + name) << "x";
    CHECK(remove_stale_temporaries(dir.path) == 1);
    std::vector<std::string> left = dir.files();
    std::sort(left.begin(), left.end());
    CHECK(left == std::vector<std::string>{alive, ".notes.tmp12x_1", "last.safetensors", "vocab.json"});
    CHECK(remove_stale_temporaries(dir.path + "/no-such-folder") == 0);
}

TEST_CASE("checkpoint: load errors name the file and what is missing or wrong") {
    TempDir dir;
    const std::string path = dir.path + "/small.ckpt";
    Linear lin(2, 3);
    Generator g(1);
    save_checkpoint(path, lin, nullptr, TrainingState{7, {}}, {{"data", &g}});

    CHECK_THROWS_CONTAINING(load_checkpoint(dir.path + "/nope.ckpt", lin, nullptr), "nope.ckpt");
    Linear wider(2, 4);
    CHECK_THROWS_CONTAINING(load_checkpoint(path, wider, nullptr), "weight: file [3, 2] vs module [4, 2]");
    CHECK_THROWS_CONTAINING(load_checkpoint(path, wider, nullptr), path);
    Linear no_bias(2, 3, false);
    save_checkpoint(path, no_bias, nullptr, TrainingState{7, {}}, {{"data", &g}});
    CHECK_THROWS_CONTAINING(load_checkpoint(path, lin, nullptr), "tensor 'model.bias' is missing");
    save_checkpoint(path, lin, nullptr, TrainingState{7, {}}, {{"data", &g}});

    // Nothing is modified when validation fails: a missing generator is found first.
    std::vector<float> w = lin.weight.to_vector();
    Linear other(2, 3);
    std::vector<float> w_other = other.weight.to_vector();
    Generator h(5);
    CHECK_THROWS_CONTAINING(load_checkpoint(path, other, nullptr, {{"dropout", &h}}), "no 'rng.dropout.seed'");
    CHECK(other.weight.to_vector() == w_other);
    CHECK(h.state().seed == 5);

    Tensor p = zeros({1}).set_requires_grad(true);
    AdamW adam({ParamGroup{{&p}}});
    CHECK_THROWS_CONTAINING(load_checkpoint(path, other, &adam), "has no optimizer state");
    SGD sgd({ParamGroup{other.parameters()}}, 0.9f);
    save_checkpoint(path, lin, &sgd, TrainingState{});
    CHECK_THROWS_CONTAINING(load_checkpoint(path, other, &adam), "holds SGD state but the optimizer is AdamW");

    // A model file that is not a checkpoint, and a bad config.
    save_safetensors(path, {{"weight", lin.weight}});
    CHECK_THROWS_CONTAINING(load_checkpoint(path, other, nullptr), "no 'format'");
    CHECK_THROWS_CONTAINING(save_checkpoint(path, lin, nullptr, TrainingState{}, {}, "{\"a\": }"), "config");
    (void)w;
}

TEST_CASE("checksum64: any one changed byte, and the length, change it; it reads only its range") {
    Generator g(4);
    std::vector<float> v = uniform({37}, -1.0f, 1.0f, &g).to_vector();  // 148 bytes: 4 blocks of 32, then 20
    std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    const uint64_t base = checksum64(bytes.data(), bytes.size());
    CHECK(checksum64(bytes.data(), bytes.size()) == base);
    std::string copy = bytes + "tail that is not part of the range";  // only the range counts
    CHECK(checksum64(copy.data(), bytes.size()) == base);
    for (size_t i = 0; i < bytes.size(); ++i) {
        for (unsigned char flip : {0x01, 0x80}) {
            std::string changed = bytes;
            changed[i] = char(changed[i] ^ flip);
            CHECK_MESSAGE(checksum64(changed.data(), changed.size()) != base, "byte ", i, " bit ", int(flip));
        }
    }
    // Equal prefixes of other lengths, and swapped words, differ.
    for (size_t n : {size_t(0), size_t(1), size_t(8), size_t(31), size_t(32), size_t(147)})
        CHECK_MESSAGE(checksum64(bytes.data(), n) != base, "length ", n);
    std::string zeros8(8, '\0'), zeros9(9, '\0');
    CHECK(checksum64(zeros8.data(), 8) != checksum64(zeros9.data(), 9));  // padding does not hide a zero byte
    std::string swapped = bytes;
    std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 8);
    CHECK(checksum64(swapped.data(), swapped.size()) != base);
    CHECK(checksum_hex(0x0123456789abcdefull) == "0123456789abcdef");
}

TEST_CASE("checkpoint: a tensor damaged on disk is found by its checksum and named; older files still load") {
    TempDir dir;
    const std::string path = dir.path + "/run.ckpt";
    Run a(3);
    a.train_step();
    a.save(path);
    Run b(4);
    b.load(path);  // intact: loads
    CHECK(same_parameters(a, b));
    {
        SafeTensorsFile file = SafeTensorsFile::open(path);
        CHECK(file.metadata().count("checksums"));
        verify_checksums(file);  // does not throw
    }
    // One bit flipped in the middle of one tensor's bytes, the rest of the file as written.
    const std::string victim = "model.transformer.h.1.mlp.c_fc.weight";
    uint64_t at = 0;
    {
        SafeTensorsFile file = SafeTensorsFile::open(path);
        const TensorInfo& ti = file.info(victim);
        at = ti.offset + ti.nbytes / 2;
    }
    std::string bytes = read_bytes(path);
    bytes[size_t(at)] = char(bytes[size_t(at)] ^ 0x04);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    // Checked before anything is loaded: a run that never loaded the file keeps its own weights and step.
    Run fresh(6);
    fresh.train_step();
    CHECK_FALSE(same_parameters(fresh, a));
    std::vector<std::vector<float>> weights;
    for (Tensor* p : fresh.model->parameters()) weights.push_back(p->to_vector());
    CHECK_THROWS_CONTAINING(fresh.load(path), "tensor '" + victim + "' does not match the checksum");
    CHECK_THROWS_CONTAINING(fresh.load(path), path);
    for (size_t i = 0; i < weights.size(); ++i) CHECK(fresh.model->parameters()[i]->to_vector() == weights[i]);
    CHECK(fresh.step == 1);
    CHECK_THROWS_CONTAINING(verify_checksums(SafeTensorsFile::open(path)), victim);

    // A file written before checksums were recorded (the same tensors and
    // metadata without the entry) loads unchecked.
    a.save(path);
    std::map<std::string, std::string> md;
    std::vector<std::pair<std::string, Tensor>> tensors;
    {
        SafeTensorsFile file = SafeTensorsFile::open(path);
        md = file.metadata();
        for (const std::string& n : file.names()) tensors.emplace_back(n, file.load(n));
    }
    md.erase("checksums");
    save_safetensors(path, tensors, md);
    Run c(5);
    c.load(path);
    CHECK(same_parameters(a, c));
    // A checksum list that no longer covers every tensor is refused too.
    md["checksums"] = R"({"model.transformer.wte.weight": "0000000000000000"})";
    save_safetensors(path, tensors, md);
    CHECK_THROWS_CONTAINING(c.load(path), "records 1 checksums for");
    // A step beyond int64 (it wrapped to -1) is refused.
    md.erase("checksums");
    md["step"] = "18446744073709551615";
    save_safetensors(path, tensors, md);
    CHECK_THROWS_CONTAINING(c.load(path), "step 18446744073709551615 is out of range");
}
