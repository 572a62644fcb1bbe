// test_loader.cpp: the batch loader on a tiny synthetic EMBED dataset: shapes,
// contents against the transforms and the tokenizer called directly, bit-equal
// batches for any worker count, epoch shuffling, drop_last, §1.6 partners,
// exact resume, the class-balanced sampler, sharding and error propagation.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "mama/bpe_train.h"
#include "mama/loader.h"
#include "mama/synth.h"

namespace fs = std::filesystem;
using mama::Batch;
using mama::BatchLoader;
using mama::LoaderOptions;

namespace {

constexpr int kS = 28;  // loader image size

// One synthetic dataset and tokenizer for the whole file (removed at exit).
struct Fixture {
    std::string dir;
    mama::EmbedData data;
    mama::BpeTokenizer tok;
    Fixture() {
        dir = (fs::temp_directory_path() / ("mama_test_loader_" + std::to_string(::getpid()))).string();
        fs::remove_all(dir);
        mama::SynthOptions so;
        so.patients = 10;
        so.seed = 31;
        so.size = 64;
        so.contact_exams = 0;
        mama::write_synth_dataset(so, dir);
        mama::EmbedOptions eo;
        eo.data_dir = dir;
        eo.warnings = false;
        data = mama::load_embed(eo);
        std::vector<std::string> lines;
        for (size_t i = 0; i < data.records.size(); ++i) lines.push_back(data.caption(int64_t(i)));
        mama::BpeTrainOptions bo;
        bo.vocab_size = 400;
        tok = mama::train_bpe(lines, bo);
        tok.add_mama_special_tokens();
    }
    ~Fixture() { fs::remove_all(dir); }
};

Fixture& fx() {
    static Fixture f;
    return f;
}

LoaderOptions base_options(int batch, int workers) {
    LoaderOptions o;
    o.batch_size = batch;
    o.image_size = kS;
    o.max_len = 96;
    o.num_workers = workers;
    o.prefetch = 2;
    o.seed = 7;
    return o;
}

bool same_tensor(const eng::Tensor& a, const eng::Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    return std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * eng::dtype_size(a.dtype())) == 0;
}

bool same_batch(const Batch& a, const Batch& b) {
    return a.epoch == b.epoch && a.index == b.index && a.items == b.items && a.records == b.records &&
           a.partner_records == b.partner_records && a.positions == b.positions && a.paths == b.paths &&
           a.captions == b.captions && same_tensor(a.images, b.images) &&
           same_tensor(a.partner_images, b.partner_images) && same_tensor(a.input_ids, b.input_ids) &&
           same_tensor(a.attention_mask, b.attention_mask) && same_tensor(a.labels, b.labels);
}

// Row j of an [n, 3, S, S] tensor as a vector.
std::vector<float> row(const eng::Tensor& t, int64_t j) {
    const size_t plane = size_t(3) * kS * kS;
    const float* p = t.data<float>() + size_t(j) * plane;
    return std::vector<float>(p, p + plane);
}

std::vector<Batch> epoch_batches(BatchLoader& l) {
    std::vector<Batch> out;
    Batch b;
    while (l.next_in_epoch(b)) out.push_back(std::move(b));
    return out;
}

}  // namespace

TEST_CASE("loader: shapes, dtypes and contents match the transforms and the tokenizer") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    REQUIRE(ds.size() >= 12);
    LoaderOptions o = base_options(5, 0);
    o.transform = mama::LoaderTransform::Eval;
    o.shuffle = false;
    o.drop_last = false;
    BatchLoader l(ds, &f.tok, o);
    CHECK(!l.masked_captions());
    const int64_t n = ds.size();
    CHECK(l.batches_per_epoch() == (n + 4) / 5);
    mama::TransformOptions topt;
    topt.size = kS;
    int64_t seen = 0;
    for (const Batch& b : epoch_batches(l)) {
        const int64_t m = b.size();
        CHECK(m == std::min<int64_t>(5, n - seen));
        CHECK(b.images.shape() == eng::Shape{m, 3, kS, kS});
        CHECK(b.images.dtype() == eng::DType::f32);
        CHECK(!b.partner_images.defined());
        CHECK(b.input_ids.shape() == eng::Shape{m, 96});
        CHECK(b.input_ids.dtype() == eng::DType::i32);
        CHECK(b.attention_mask.shape() == eng::Shape{m, 96});
        CHECK(b.attention_mask.dtype() == eng::DType::i32);
        CHECK(b.labels.shape() == eng::Shape{m});
        CHECK(b.labels.dtype() == eng::DType::i32);
        const std::vector<int32_t> labels = b.labels.to_ivector();
        const std::vector<int32_t> ids = b.input_ids.to_ivector(), mask = b.attention_mask.to_ivector();
        for (int64_t j = 0; j < m; ++j) {
            // No shuffle: the items in order.
            CHECK(b.items[size_t(j)] == seen + j);
            const int64_t r = b.records[size_t(j)];
            const mama::EmbedRecord& rec = f.data.records[size_t(r)];
            CHECK(rec.split == mama::Split::Train);
            CHECK(b.paths[size_t(j)] == rec.image_path);
            CHECK(labels[size_t(j)] == rec.birads);
            CHECK(b.captions[size_t(j)] == f.data.caption(r));
            const mama::Encoding enc = f.tok.encode_padded(f.data.caption(r), 96);
            CHECK(std::vector<int32_t>(ids.begin() + j * 96, ids.begin() + (j + 1) * 96) == enc.ids);
            CHECK(std::vector<int32_t>(mask.begin() + j * 96, mask.begin() + (j + 1) * 96) == enc.attention_mask);
            CHECK(row(b.images, j) == mama::eval_transform(mama::load_source(rec.image_path, kS), topt));
        }
        seen += m;
    }
    CHECK(seen == n);
    // The density task drops no synthetic image (no male patients) and labels density.
    mama::LoaderDataset dd = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Density);
    REQUIRE(dd.size() == n);
    for (int64_t i = 0; i < n; ++i) CHECK(dd.labels[size_t(i)] == f.data.records[size_t(dd.records[size_t(i)])].density);
}

TEST_CASE("loader: RSNA images are letterboxed at 1024 before the transform, whatever the image size (§1.8)") {
    // RSNA records over the synthetic images: the dataset carries the quirk.
    Fixture& f = fx();
    mama::RsnaData rd;
    for (int i = 0; i < 3; ++i) {
        mama::RsnaRecord r;
        r.image_path = f.data.records[size_t(i)].image_path;
        r.patient = std::to_string(i);
        r.cancer = i % 2;
        r.split = mama::Split::Test;
        rd.records.push_back(r);
        rd.patients[int(mama::Split::Test)].push_back(r.patient);
    }
    mama::LoaderDataset ds = mama::rsna_dataset(rd, mama::Split::Test);
    CHECK(ds.source_size == 1024);
    CHECK(ds.prompt_max_len == 72);
    LoaderOptions o = base_options(3, 0);
    o.transform = mama::LoaderTransform::Eval;
    o.captions = mama::CaptionMode::None;
    o.shuffle = false;
    BatchLoader l(ds, nullptr, o);
    std::vector<Batch> batches = epoch_batches(l);
    REQUIRE(batches.size() == 1);
    mama::TransformOptions topt;
    topt.size = kS;
    int differs = 0;
    for (int64_t j = 0; j < 3; ++j) {
        const std::string& path = ds.paths[size_t(j)];
        CHECK(row(batches[0].images, j) == mama::eval_transform(mama::load_source(path, 1024), topt));
        differs += row(batches[0].images, j) != mama::eval_transform(mama::load_source(path, kS), topt);
    }
    CHECK(differs == 3);  // the letterbox size shows in the result
    // An explicit source_size still wins over the dataset's.
    o.source_size = kS;
    BatchLoader explicit_size(ds, nullptr, o);
    CHECK(row(epoch_batches(explicit_size)[0].images, 0) ==
          mama::eval_transform(mama::load_source(ds.paths[0], kS), topt));
}

TEST_CASE("loader: the same seed gives bit-identical batches with 0, 1 and 3 workers") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    std::vector<std::vector<Batch>> runs;
    for (int workers : {0, 1, 3}) {
        LoaderOptions o = base_options(4, workers);
        o.with_partners = true;
        o.prefetch = workers == 3 ? 3 : 1;
        BatchLoader l(ds, &f.tok, o);
        CHECK(l.masked_captions());
        std::vector<Batch> all;
        for (int64_t k = 0; k < 2 * l.batches_per_epoch(); ++k) all.push_back(l.next());
        runs.push_back(std::move(all));
    }
    REQUIRE(runs[0].size() == runs[1].size());
    REQUIRE(runs[0].size() == runs[2].size());
    for (size_t k = 0; k < runs[0].size(); ++k) {
        INFO("batch ", k);
        CHECK(same_batch(runs[0][k], runs[1][k]));
        CHECK(same_batch(runs[0][k], runs[2][k]));
    }
    // A different seed gives other batches (order and augmentations).
    LoaderOptions o = base_options(4, 0);
    o.seed = 8;
    BatchLoader other(ds, &f.tok, o);
    const Batch b = other.next();
    CHECK(!same_tensor(b.images, runs[0][0].images));
    // Asking for partners does not change the anchors or captions.
    LoaderOptions np = base_options(4, 0);
    BatchLoader no_partners(ds, &f.tok, np);
    const Batch c = no_partners.next();
    CHECK(same_tensor(c.images, runs[0][0].images));
    CHECK(c.captions == runs[0][0].captions);
}

TEST_CASE("loader: every epoch is a new permutation, and drop_last drops the partial batch") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    const int64_t n = ds.size();
    REQUIRE(n % 5 != 0);  // so that drop_last matters
    for (bool drop : {false, true}) {
        LoaderOptions o = base_options(5, 2);
        o.drop_last = drop;
        o.transform = mama::LoaderTransform::Eval;  // cheap
        BatchLoader l(ds, &f.tok, o);
        CHECK(l.batches_per_epoch() == (drop ? n / 5 : (n + 4) / 5));
        std::vector<std::vector<int64_t>> orders;
        for (int e = 0; e < 3; ++e) {
            std::vector<int64_t> order;
            std::vector<Batch> bs = epoch_batches(l);
            CHECK(int64_t(bs.size()) == l.batches_per_epoch());
            for (const Batch& b : bs) {
                CHECK(b.epoch == e);
                CHECK((b.size() == 5 || (!drop && &b == &bs.back() && b.size() == n % 5)));
                order.insert(order.end(), b.items.begin(), b.items.end());
            }
            if (drop) {
                CHECK(int64_t(order.size()) == n / 5 * 5);
                CHECK(std::set<int64_t>(order.begin(), order.end()).size() == order.size());
            } else {
                std::vector<int64_t> sorted = order;
                std::sort(sorted.begin(), sorted.end());
                std::vector<int64_t> want(static_cast<size_t>(n));
                for (int64_t i = 0; i < n; ++i) want[size_t(i)] = i;
                CHECK(sorted == want);
            }
            orders.push_back(order);
        }
        CHECK(orders[0] != orders[1]);
        CHECK(orders[1] != orders[2]);
    }
}

TEST_CASE("loader: partners are a same-exam image about half the time, else the anchor's own source") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    int64_t with_list = 0;
    for (const auto& p : ds.partners) with_list += !p.empty();
    REQUIRE(with_list >= ds.size() / 2);
    mama::TransformOptions topt;
    topt.size = kS;
    // Eval transform: both kinds of partner are exactly predictable.
    LoaderOptions o = base_options(8, 2);
    o.transform = mama::LoaderTransform::Eval;
    o.with_partners = true;
    o.drop_last = false;
    BatchLoader l(ds, &f.tok, o);
    int64_t trials = 0, other = 0;
    std::set<int64_t> partners_seen;
    while (trials < 400) {
        const Batch b = l.next();
        for (int64_t j = 0; j < b.size(); ++j) {
            const int64_t item = b.items[size_t(j)], pr = b.partner_records[size_t(j)];
            const mama::EmbedRecord& rec = f.data.records[size_t(b.records[size_t(j)])];
            if (pr < 0) {
                CHECK(row(b.partner_images, j) == row(b.images, j));
            } else {
                CHECK(!ds.partners[size_t(item)].empty());
                const mama::EmbedRecord& prec = f.data.records[size_t(pr)];
                CHECK(pr != b.records[size_t(j)]);
                CHECK(prec.exam == rec.exam);
                CHECK(prec.split == rec.split);
                CHECK(row(b.partner_images, j) == mama::eval_transform(mama::load_source(prec.image_path, kS), topt));
                partners_seen.insert(pr);
            }
            if (ds.partners[size_t(item)].empty()) continue;
            ++trials;
            other += pr >= 0;
        }
    }
    // Binomial(n, 0.5): sd = sqrt(n)/2; 6 sd bounds.
    const double sd = std::sqrt(double(trials)) / 2;
    INFO(other, " of ", trials);
    CHECK(std::fabs(double(other) - trials / 2.0) < 6 * sd);
    CHECK(partners_seen.size() > 10);  // any side and view, not one fixed partner
    // Train transform: the self-augmentation is a second, different augmentation.
    LoaderOptions t = base_options(8, 0);
    t.with_partners = true;
    BatchLoader lt(ds, &f.tok, t);
    const Batch b = lt.next();
    int self = 0;
    for (int64_t j = 0; j < b.size(); ++j)
        if (b.partner_records[size_t(j)] < 0) {
            ++self;
            CHECK(row(b.partner_images, j) != row(b.images, j));
        }
    CHECK(self > 0);
}

TEST_CASE("loader: masked training captions are rebuilt per sample") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    LoaderOptions o = base_options(6, 0);
    o.transform = mama::LoaderTransform::Eval;  // cheap images; captions forced masked below
    o.captions = mama::CaptionMode::Masked;
    BatchLoader l(ds, &f.tok, o);
    int64_t total = 0, unknown_age = 0, differs = 0;
    for (int k = 0; k < 10; ++k) {
        const Batch b = l.next();
        for (int64_t j = 0; j < b.size(); ++j) {
            const std::string& c = b.captions[size_t(j)];
            ++total;
            unknown_age += c.find("and unknown years old") != std::string::npos;
            differs += c != f.data.caption(b.records[size_t(j)]);
            // The procedure, findings and assessment are never masked (§2.3).
            const std::string cached = f.data.caption(b.records[size_t(j)]);
            CHECK(c.substr(0, c.find("Patient info")) == cached.substr(0, cached.find("Patient info")));
            CHECK(c.substr(c.find("Findings")) == cached.substr(cached.find("Findings")));
        }
    }
    // Age is "unknown" with probability 0.8 (synthetic ages are all present).
    const double sd = std::sqrt(total * 0.8 * 0.2);
    INFO(unknown_age, " of ", total);
    CHECK(std::fabs(unknown_age - 0.8 * total) < 6 * sd);
    CHECK(differs > total / 2);
}

TEST_CASE("loader: a saved position resumes with exactly the same batches") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    LoaderOptions o = base_options(4, 2);
    o.with_partners = true;
    BatchLoader a(ds, &f.tok, o);
    const int64_t nb = a.batches_per_epoch();
    REQUIRE(nb >= 3);
    for (int64_t k = 0; k < nb + 1; ++k) a.next();  // into the second epoch
    const std::string saved = a.position().str();
    const mama::LoaderPosition p = mama::LoaderPosition::parse(saved);
    CHECK(p.epoch == 1);
    CHECK(p.batch == 1);
    std::vector<Batch> rest;
    for (int k = 0; k < nb; ++k) rest.push_back(a.next());
    LoaderOptions o3 = o;
    o3.num_workers = 3;
    BatchLoader b(ds, &f.tok, o3);
    b.next();  // prefetching has started; set_position drops it
    b.set_position(mama::LoaderPosition::parse(saved));
    for (int k = 0; k < nb; ++k) {
        INFO("batch ", k);
        CHECK(same_batch(b.next(), rest[size_t(k)]));
    }
    // build_batch is the same function of (epoch, batch).
    CHECK(same_batch(b.build_batch(rest[0].epoch, rest[0].index), rest[0]));
    // A position for another loader configuration is refused.
    LoaderOptions o5 = o;
    o5.batch_size = 5;
    BatchLoader c(ds, &f.tok, o5);
    CHECK_THROWS_AS(c.set_position(p), eng::Error);
    CHECK_THROWS_AS(mama::LoaderPosition::parse("epoch=1 batch=x"), eng::Error);
    CHECK_THROWS_AS(mama::LoaderPosition::parse("epoch=1"), eng::Error);
    CHECK_THROWS_WITH_AS(mama::LoaderPosition::parse("epoch=0 batch=1 epoch=5"), doctest::Contains("appears twice"),
                         eng::Error);
    CHECK_THROWS_WITH_AS(mama::LoaderPosition::parse("epoch=9223372036854775807 batch=1"),
                         doctest::Contains("out of range"), eng::Error);
    CHECK(mama::LoaderPosition::parse("epoch=1 batch=0 seed=18446744073709551615").seed == UINT64_MAX);
    CHECK_THROWS_WITH_AS(c.set_position(mama::LoaderPosition{int64_t(1) << 62, 0}), doctest::Contains("does not exist"),
                         eng::Error);
    // next_in_epoch stops once at the end of the epoch, then continues with the next.
    BatchLoader d(ds, &f.tok, o);
    d.set_position(mama::LoaderPosition{0, nb - 1});
    Batch x;
    CHECK(d.next_in_epoch(x));
    CHECK(x.index == nb - 1);
    CHECK(!d.next_in_epoch(x));
    CHECK(d.position().epoch == 1);
    CHECK(d.position().batch == 0);
    CHECK(d.next_in_epoch(x));
    CHECK((x.epoch == 1 && x.index == 0));
}

TEST_CASE("loader: the balanced sampler draws every class about equally often") {
    // Hand-made labels: 90 of class 0, 9 of class 3, 1 of class 5.
    std::vector<int> labels(100, 0);
    for (int i = 90; i < 99; ++i) labels[size_t(i)] = 3;
    labels[99] = 5;
    LoaderOptions o;
    o.balanced = true;
    o.batch_size = 10;
    o.num_samples = 3000;
    o.seed = 3;
    mama::SampleOrder order(labels, o);
    CHECK(order.samples_per_epoch() == 3000);
    CHECK(order.batches_per_epoch() == 300);
    std::map<int, int64_t> count;
    std::map<int64_t, int64_t> per_item;
    for (int64_t p = 0; p < 3000; ++p) {
        const int64_t item = order.item_at(0, p);
        REQUIRE((item >= 0 && item < 100));
        ++count[labels[size_t(item)]];
        ++per_item[item];
    }
    const double sd = std::sqrt(3000 * (1.0 / 3) * (2.0 / 3));
    for (int c : {0, 3, 5}) {
        INFO("class ", c, ": ", count[c]);
        CHECK(std::fabs(count[c] - 1000.0) < 6 * sd);
    }
    CHECK(per_item[99] == count[5]);          // the single class-5 item, drawn with replacement
    CHECK(per_item.size() > 60);              // many of the class-0 items are reached
    // The default num_samples is the dataset length; another epoch draws anew.
    o.num_samples = 0;
    mama::SampleOrder d(labels, o);
    CHECK(d.samples_per_epoch() == 100);
    int same = 0;
    for (int64_t p = 0; p < 100; ++p) same += d.item_at(0, p) == d.item_at(1, p);
    CHECK(same < 60);
    // Missing labels are refused.
    labels[0] = -1;
    CHECK_THROWS_AS(mama::SampleOrder(labels, o), eng::Error);

    // Through the loader on the synthetic set: labels follow the drawn items.
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Density);
    LoaderOptions lo = base_options(8, 2);
    lo.balanced = true;
    lo.drop_last = false;
    lo.transform = mama::LoaderTransform::Eval;
    lo.captions = mama::CaptionMode::None;
    BatchLoader l(ds, nullptr, lo);
    CHECK(!l.has_text());
    CHECK(l.samples_per_epoch() == ds.size());
    for (const Batch& b : epoch_batches(l)) {
        CHECK(!b.input_ids.defined());
        const std::vector<int32_t> lab = b.labels.to_ivector();
        for (int64_t j = 0; j < b.size(); ++j) CHECK(lab[size_t(j)] == ds.labels[size_t(b.items[size_t(j)])]);
    }
}

TEST_CASE("loader: ranks of a world of 2 together give the world-1 batches") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    for (bool balanced : {false, true}) {
        LoaderOptions o1 = base_options(6, 0);
        o1.with_partners = true;
        o1.balanced = balanced;
        BatchLoader one(ds, &f.tok, o1);
        LoaderOptions o2 = o1;
        o2.batch_size = 3;
        o2.world_size = 2;
        o2.num_workers = 2;
        o2.rank = 0;
        BatchLoader r0(ds, &f.tok, o2);
        o2.rank = 1;
        BatchLoader r1(ds, &f.tok, o2);
        REQUIRE(one.batches_per_epoch() == r0.batches_per_epoch());
        for (int64_t k = 0; k < one.batches_per_epoch() + 1; ++k) {
            const Batch a = one.next(), b0 = r0.next(), b1 = r1.next();
            REQUIRE(b0.size() == 3);
            REQUIRE(b1.size() == 3);
            std::vector<int64_t> items = b0.items, pos = b0.positions;
            items.insert(items.end(), b1.items.begin(), b1.items.end());
            pos.insert(pos.end(), b1.positions.begin(), b1.positions.end());
            CHECK(items == a.items);
            CHECK(pos == a.positions);
            for (int64_t j = 0; j < 6; ++j) {
                const Batch& s = j < 3 ? b0 : b1;
                CHECK(row(s.images, j % 3) == row(a.images, j));
                CHECK(row(s.partner_images, j % 3) == row(a.partner_images, j));
                CHECK(s.captions[size_t(j % 3)] == a.captions[size_t(j)]);
            }
        }
    }
    // Without drop_last the partial last global batch is dealt evenly, padded by wrapping.
    LoaderOptions o = base_options(4, 0);
    o.drop_last = false;
    o.world_size = 3;
    o.rank = 2;
    o.transform = mama::LoaderTransform::Eval;
    BatchLoader l(ds, &f.tok, o);
    const int64_t n = ds.size(), g = 12;
    CHECK(l.batches_per_epoch() == (n + g - 1) / g);
    const Batch last = l.build_batch(0, l.batches_per_epoch() - 1);
    const int64_t m = n - (l.batches_per_epoch() - 1) * g;
    CHECK(last.size() == (m + 2) / 3);
}

TEST_CASE("loader: an unreadable image is an error naming the file, from any worker") {
    Fixture& f = fx();
    mama::LoaderDataset ds = mama::embed_dataset(f.data, mama::Split::Train, mama::EmbedTask::Birads);
    const std::string bad = f.dir + "/corrupt.png";
    {
        std::ofstream out(bad, std::ios::binary);
        out << "\x89PNG\r\n\x1a\n this is not a png";
    }
    ds.paths[3] = bad;
    for (int workers : {0, 3}) {
        LoaderOptions o = base_options(4, workers);
        o.shuffle = false;
        o.transform = mama::LoaderTransform::Eval;
        BatchLoader l(ds, &f.tok, o);
        // Item 3 is in batch 0 (no shuffle, batch 4).
        std::string message;
        try {
            l.next();
        } catch (const eng::Error& e) {
            message = e.what();
        }
        INFO(message);
        CHECK(message.find("corrupt.png") != std::string::npos);
        CHECK(message.find("sample 3") != std::string::npos);
        // The loader moves past the failed batch.
        const Batch b = l.next();
        CHECK(b.index == 1);
        CHECK(b.items[0] == 4);
    }
}
