// loader_order.cpp: the data side of the batch loader: datasets built from the
// EMBED and RSNA records, the epoch order (shuffle / class-balanced draws with
// replacement), sharding over ranks, and the saved position.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "mama/loader.h"
#include "tensor/check.h"

namespace mama {

// ---- datasets ----------------------------------------------------------------

LoaderDataset embed_dataset(const EmbedData& data, const std::vector<int64_t>& records, EmbedTask task,
                            const std::string& name) {
    LoaderDataset ds;
    ds.name = name;
    ds.num_classes = task == EmbedTask::Birads ? 7 : 4;
    ds.caption_options = data.options.caption;
    std::unordered_map<int64_t, int64_t> item_of;  // record -> item
    for (int64_t r : records) {
        ENG_CHECK(r >= 0 && r < int64_t(data.records.size()), "embed_dataset: record index ", r, " outside 0..",
                  data.records.size());
        const EmbedRecord& rec = data.records[size_t(r)];
        const int label = task == EmbedTask::Birads ? rec.birads : rec.density;
        if (task == EmbedTask::Density && label < 0) continue;  // male images (§1.5)
        if (!item_of.emplace(r, ds.size()).second) continue;    // listed twice
        ds.paths.push_back(rec.image_path);
        ds.labels.push_back(label);
        ds.records.push_back(r);
        ds.reports.push_back(rec.report);
    }
    ds.partners.resize(ds.paths.size());
    for (size_t i = 0; i < ds.records.size(); ++i)
        for (int64_t pr : data.records[size_t(ds.records[i])].partners) {
            auto it = item_of.find(pr);
            if (it != item_of.end()) ds.partners[i].push_back(it->second);
        }
    return ds;
}

LoaderDataset embed_dataset(const EmbedData& data, Split split, EmbedTask task) {
    return embed_dataset(data, data.split_indices(split), task,
                         std::string("EMBED ") + split_name(split) +
                             (task == EmbedTask::Birads ? " (birads)" : " (density)"));
}

LoaderDataset rsna_dataset(const RsnaData& data, Split split) {
    LoaderDataset ds;
    ds.name = std::string("RSNA ") + split_name(split);
    ds.num_classes = 2;
    for (int64_t r : data.split_indices(split)) {
        const RsnaRecord& rec = data.records[size_t(r)];
        ds.paths.push_back(rec.image_path);
        ds.labels.push_back(rec.cancer);
        ds.records.push_back(r);
    }
    ds.partners.resize(ds.paths.size());
    // The reference's RSNA dataset ignores --img_size: its images are
    // letterboxed to its default 1024 before the transform (which then
    // crops and resizes to the model's size), and its prompts are cut at 72
    // tokens (§1.8).
    ds.source_size = 1024;
    ds.prompt_max_len = 72;
    return ds;
}

// ---- order -------------------------------------------------------------------

uint64_t loader_epoch_key(uint64_t seed, int64_t epoch, uint64_t stream) {
    return eng::random_word(eng::random_word(seed, uint64_t(epoch)), stream);
}

SampleOrder::SampleOrder(const std::vector<int>& labels, const LoaderOptions& o)
    : seed_(o.seed), n_(int64_t(labels.size())), batch_(o.batch_size), world_(o.world_size), rank_(o.rank),
      shuffle_(o.shuffle), balanced_(o.balanced), drop_last_(o.drop_last) {
    ENG_CHECK(n_ > 0, "loader: the dataset is empty. HINT: check the split and the task's label filter");
    ENG_CHECK(o.batch_size >= 1, "loader: batch_size must be >= 1, got ", o.batch_size);
    ENG_CHECK(o.world_size >= 1 && o.rank >= 0 && o.rank < o.world_size, "loader: rank ", o.rank,
              " is not in 0..world_size-1 (world_size ", o.world_size, ")");
    ENG_CHECK(o.num_samples >= 0, "loader: num_samples must be >= 0, got ", o.num_samples);
    total_ = n_;
    if (balanced_) {
        std::map<int, std::vector<int64_t>> by_class;
        for (int64_t i = 0; i < n_; ++i) {
            ENG_CHECK(labels[size_t(i)] >= 0, "loader: balanced sampling needs a label for every item; item ", i,
                      " has none");
            by_class[labels[size_t(i)]].push_back(i);
        }
        for (auto& c : by_class) members_.push_back(std::move(c.second));
        if (o.num_samples > 0) total_ = o.num_samples;
    }
    const int64_t g = batch_ * world_;
    batches_ = drop_last_ ? total_ / g : (total_ + g - 1) / g;
    ENG_CHECK(batches_ > 0, "loader: ", total_, " samples per epoch make no full batch of ", g,
              " (batch_size ", batch_, " x world_size ", world_,
              ") with drop_last. HINT: lower batch_size or set drop_last = false");
}

std::vector<int64_t> SampleOrder::batch_positions(int64_t b) const {
    ENG_CHECK(b >= 0 && b < batches_, "loader: batch ", b, " outside 0..", batches_ - 1);
    const int64_t g = batch_ * world_;
    const int64_t start = b * g, m = std::min(g, total_ - start);
    const int64_t per = m == g ? batch_ : (m + world_ - 1) / world_;
    std::vector<int64_t> out;
    for (int64_t k = 0; k < per; ++k) out.push_back(start + rank_ * per + k);
    return out;
}

int64_t SampleOrder::item_at(int64_t epoch, int64_t p) const {
    if (balanced_) {
        // WeightedRandomSampler with weight 1/count(class): every present class
        // has total weight 1, so the draw is a uniform class, then a uniform member.
        eng::Generator g(eng::random_word(loader_epoch_key(seed_, epoch, 1), uint64_t(p)));
        const auto& m = members_[size_t(g.randint(0, int64_t(members_.size())))];
        return m[size_t(g.randint(0, int64_t(m.size())))];
    }
    const int64_t q = p % n_;  // padding past the end wraps to the epoch's first items
    if (!shuffle_) return q;
    std::lock_guard<std::mutex> lock(mu_);
    if (perm_epoch_ != epoch) {
        eng::Generator g(loader_epoch_key(seed_, epoch, 0));
        perm_ = g.permutation(n_);
        perm_epoch_ = epoch;
    }
    return perm_[size_t(q)];
}

uint64_t SampleOrder::sample_key(int64_t epoch, int64_t p) const {
    return eng::random_word(loader_epoch_key(seed_, epoch, 2), uint64_t(p));
}

// ---- position ----------------------------------------------------------------

std::string LoaderPosition::str() const {
    std::ostringstream os;
    os << "epoch=" << epoch << " batch=" << batch << " seed=" << seed << " samples=" << samples_per_epoch
       << " global_batch=" << global_batch;
    return os.str();
}

LoaderPosition LoaderPosition::parse(const std::string& text) {
    LoaderPosition p;
    std::istringstream is(text);
    std::string tok;
    bool have_epoch = false, have_batch = false;
    std::set<std::string> seen;
    while (is >> tok) {
        const size_t eq = tok.find('=');
        ENG_CHECK(eq != std::string::npos && eq > 0, "LoaderPosition::parse: '", tok, "' in '", text,
                  "' is not key=value");
        const std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
        size_t used = 0;
        unsigned long long v = 0;
        try {
            ENG_CHECK(!value.empty() && value[0] != '-', "negative");
            v = std::stoull(value, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        ENG_CHECK(used == value.size() && used > 0, "LoaderPosition::parse: '", value, "' of ", key, " in '", text,
                  "' is not a non-negative integer");
        ENG_CHECK(seen.insert(key).second, "LoaderPosition::parse: ", key, " appears twice in '", text, "'");
        // Counts beyond 2^62 are no position a run reaches; they would overflow
        // epoch × batches_per_epoch.  (The seed may use all 64 bits.)
        ENG_CHECK(key == "seed" || v <= (1ull << 62), "LoaderPosition::parse: ", key, " ", v, " in '", text,
                  "' is out of range");
        if (key == "epoch") p.epoch = int64_t(v), have_epoch = true;
        else if (key == "batch") p.batch = int64_t(v), have_batch = true;
        else if (key == "seed") p.seed = uint64_t(v);
        else if (key == "samples") p.samples_per_epoch = int64_t(v);
        else if (key == "global_batch") p.global_batch = int64_t(v);
        else ENG_FAIL("LoaderPosition::parse: unknown key '", key, "' in '", text,
                      "'. HINT: expected epoch=, batch=, seed=, samples=, global_batch=");
    }
    ENG_CHECK(have_epoch && have_batch, "LoaderPosition::parse: '", text, "' lacks epoch= or batch=");
    return p;
}

}  // namespace mama
