// loader.cpp: building samples (images, partners, captions, labels) and the
// worker threads that build batches ahead of the consumer, in a fixed order.
#include <algorithm>
#include <cstring>

#include "mama/loader.h"
#include "tensor/check.h"

namespace mama {

namespace {

// Sub-streams of one sample's key (see loader.h).
constexpr uint64_t kCaptionStream = 0, kAnchorStream = 1, kPartnerStream = 2;

// The sample order of a dataset, its errors naming the dataset (a loader of
// the validation split and one of the training split fail alike otherwise).
SampleOrder order_of(const LoaderDataset& d, const LoaderOptions& o) {
    try {
        return SampleOrder(d.labels, o);
    } catch (const eng::Error& e) {
        ENG_FAIL("dataset '", d.name, "' (", d.size(), " items): ", e.what());
    }
}

}  // namespace

BatchLoader::BatchLoader(LoaderDataset dataset, const BpeTokenizer* tokenizer, const LoaderOptions& options)
    : data_(std::move(dataset)), tok_(tokenizer), opt_(options), order_(order_of(data_, options)) {
    const size_t n = data_.paths.size();
    ENG_CHECK(data_.labels.size() == n && data_.records.size() == n && data_.partners.size() == n &&
                  (data_.reports.empty() || data_.reports.size() == n),
              "BatchLoader: dataset '", data_.name, "' has inconsistent field sizes (", n, " paths, ",
              data_.labels.size(), " labels, ", data_.records.size(), " records, ", data_.partners.size(),
              " partner lists, ", data_.reports.size(), " reports)");
    for (size_t i = 0; i < n; ++i)
        for (int64_t p : data_.partners[i])
            ENG_CHECK(p >= 0 && p < int64_t(n), "BatchLoader: dataset '", data_.name, "': partner ", p, " of item ",
                      i, " is not an item");
    ENG_CHECK(opt_.image_size >= 1, "BatchLoader: image_size must be >= 1, got ", opt_.image_size);
    ENG_CHECK(opt_.source_size >= 0, "BatchLoader: source_size must be >= 0, got ", opt_.source_size);
    ENG_CHECK(opt_.partner_prob >= 0 && opt_.partner_prob <= 1, "BatchLoader: partner_prob must be in [0, 1], got ",
              opt_.partner_prob);
    opt_.transform_options.size = opt_.image_size;
    if (opt_.source_size == 0) opt_.source_size = data_.source_size > 0 ? data_.source_size : opt_.image_size;
    masked_ = opt_.captions == CaptionMode::Masked ||
              (opt_.captions == CaptionMode::Auto && opt_.transform == LoaderTransform::Train);
    text_ = opt_.captions != CaptionMode::None && !data_.reports.empty();
    ENG_CHECK(opt_.captions == CaptionMode::None || opt_.captions == CaptionMode::Auto || text_,
              "BatchLoader: captions requested but dataset '", data_.name,
              "' has none. HINT: use CaptionMode::None (e.g. for RSNA)");
    if (text_) {
        ENG_CHECK(tok_ != nullptr, "BatchLoader: dataset '", data_.name,
                  "' has captions but no tokenizer was given. HINT: pass one, or set captions = CaptionMode::None");
        ENG_CHECK(tok_->pad_id() >= 0, "BatchLoader: the tokenizer has no pad token. HINT: call "
                                       "add_mama_special_tokens() on it first");
        ENG_CHECK(opt_.max_len >= 1, "BatchLoader: max_len must be >= 1, got ", opt_.max_len);
    }
    // At most 1024 workers (tools/cli_args.h's kMaxThreads, the programs' limit):
    // more is never faster for this CPU-bound decoding, and std::thread fails
    // with a bare "Resource temporarily unavailable" at the system's thread limit.
    ENG_CHECK(opt_.num_workers <= 1024, "BatchLoader: ", opt_.num_workers,
              " worker threads asked for; at most 1024 are allowed. HINT: use about one worker per core "
              "(evaluate --workers N, or train.workers in the config)");
    workers_ = opt_.num_workers;
    if (workers_ < 0) workers_ = int(std::max(1u, std::thread::hardware_concurrency()));
    opt_.prefetch = std::max(1, opt_.prefetch);
}

BatchLoader::~BatchLoader() { stop_workers(); }

// ---- one batch ---------------------------------------------------------------

Batch BatchLoader::start_batch(int64_t seq) const {
    Batch b;
    const int64_t nb = order_.batches_per_epoch();
    b.epoch = seq / nb;
    b.index = seq % nb;
    b.positions = order_.batch_positions(b.index);
    const int64_t n = int64_t(b.positions.size());
    for (int64_t p : b.positions) {
        const int64_t item = order_.item_at(b.epoch, p);
        b.items.push_back(item);
        b.records.push_back(data_.records[size_t(item)]);
        b.paths.push_back(data_.paths[size_t(item)]);
    }
    const int64_t S = opt_.image_size;
    b.images = eng::empty({n, 3, S, S});
    if (opt_.with_partners) {
        b.partner_images = eng::empty({n, 3, S, S});
        b.partner_records.assign(size_t(n), -1);
    }
    if (text_) {
        b.input_ids = eng::empty({n, opt_.max_len}, {eng::DType::i32});
        b.attention_mask = eng::empty({n, opt_.max_len}, {eng::DType::i32});
        b.captions.assign(size_t(n), std::string());
    }
    b.labels = eng::empty({n}, {eng::DType::i32});
    return b;
}

// Fills row j of every tensor.  Touches only row j of the preallocated tensors
// and slot j of the vectors, so workers can fill rows of one batch in parallel.
void BatchLoader::build_sample(Batch& b, int64_t j) const {
    const int64_t item = b.items[size_t(j)];
    const uint64_t key = order_.sample_key(b.epoch, b.positions[size_t(j)]);
    const bool train = opt_.transform == LoaderTransform::Train;
    const TransformOptions& topt = opt_.transform_options;
    const bool q8 = topt.faithful_uint8;
    const size_t plane = size_t(3) * size_t(opt_.image_size) * size_t(opt_.image_size);
    // An image that cannot be read is an error naming the file and the sample.
    auto load = [&](int64_t it, const char* what) {
        try {
            return load_source(data_.paths[size_t(it)], opt_.source_size, q8);
        } catch (const std::exception& e) {
            ENG_FAIL("BatchLoader: dataset '", data_.name, "', epoch ", b.epoch, " batch ", b.index, " sample ", j,
                     what, ": cannot load '", data_.paths[size_t(it)], "': ", e.what(),
                     "\nHINT: re-run the dataset preparation, or drop this image from the tables");
        }
    };

    b.labels.data<int32_t>()[j] = data_.labels[size_t(item)];

    if (text_) {
        const ReportFields& f = data_.reports[size_t(item)];
        std::string text;
        if (masked_) {
            eng::Generator g(eng::random_word(key, kCaptionStream));
            text = training_caption(f, g, data_.caption_options);
        } else {
            text = cached_caption(f, data_.caption_options);
        }
        const Encoding enc = tok_->encode_padded(text, opt_.max_len);
        std::memcpy(b.input_ids.data<int32_t>() + j * opt_.max_len, enc.ids.data(), sizeof(int32_t) * opt_.max_len);
        std::memcpy(b.attention_mask.data<int32_t>() + j * opt_.max_len, enc.attention_mask.data(),
                    sizeof(int32_t) * opt_.max_len);
        b.captions[size_t(j)] = std::move(text);
    }

    const Image source = load(item, "");
    auto transform = [&](const Image& src, eng::Generator& g) {
        std::vector<float> v = train ? train_transform(src, g, topt) : eval_transform(src, topt);
        ENG_CHECK(v.size() == plane, "BatchLoader: the transform gave ", v.size(), " values, expected ", plane);
        return v;
    };
    {
        eng::Generator g(eng::random_word(key, kAnchorStream));
        const std::vector<float> v = transform(source, g);
        std::memcpy(b.images.data<float>() + size_t(j) * plane, v.data(), sizeof(float) * plane);
    }
    if (opt_.with_partners) {
        // §1.6: u ~ U[0,1); "other image" if u > 0.5 (the reference's test), else
        // (and when the image has no partner) a second augmentation of the source.
        eng::Generator g(eng::random_word(key, kPartnerStream));
        const double u = g.uniform_double();
        const auto& partners = data_.partners[size_t(item)];
        std::vector<float> v;
        if (u > 1.0 - opt_.partner_prob && !partners.empty()) {
            const int64_t other = partners[size_t(g.randint(0, int64_t(partners.size())))];
            b.partner_records[size_t(j)] = data_.records[size_t(other)];
            v = transform(load(other, " (the partner image)"), g);
        } else {
            v = transform(source, g);
        }
        std::memcpy(b.partner_images.data<float>() + size_t(j) * plane, v.data(), sizeof(float) * plane);
    }
}

Batch BatchLoader::build_batch(int64_t epoch, int64_t batch) const {
    ENG_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch(), "BatchLoader::build_batch: batch ", batch,
              " of epoch ", epoch, " does not exist (", batches_per_epoch(), " batches per epoch)");
    Batch b = start_batch(epoch * batches_per_epoch() + batch);
    for (int64_t j = 0; j < b.size(); ++j) build_sample(b, j);
    return b;
}

// ---- threads -----------------------------------------------------------------
//
// Jobs are single samples, handed out in order (batch by batch) to whichever
// worker asks, while the batch is fewer than `prefetch` ahead of the next one
// to deliver.  Batch seq lives in slots_[seq % prefetch]; the worker that takes
// its first sample allocates it.  A slot is reused only after its batch was
// delivered, and a batch is delivered only when all its samples are done.

void BatchLoader::start_workers() {
    if (!threads_.empty() || workers_ == 0) return;
    stop_ = false;
    slots_.assign(size_t(opt_.prefetch), Slot{});
    job_seq_ = deliver_;
    job_sample_ = 0;
    for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void BatchLoader::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    slots_.clear();
}

void BatchLoader::worker_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t depth = opt_.prefetch;
    for (;;) {
        work_cv_.wait(lock, [&] { return stop_ || job_seq_ < deliver_ + depth; });
        if (stop_) return;
        const int64_t seq = job_seq_;
        Slot& slot = slots_[size_t(seq % depth)];
        if (job_sample_ == 0) {
            slot = Slot{};
            slot.seq = seq;
            try {
                slot.batch = start_batch(seq);
            } catch (...) {
                slot.error = std::current_exception();
                slot.remaining = 0;
                ++job_seq_;
                ready_cv_.notify_all();
                continue;
            }
            slot.remaining = slot.batch.size();
        }
        const int64_t j = job_sample_;
        if (++job_sample_ == slot.batch.size()) {
            ++job_seq_;
            job_sample_ = 0;
        }
        lock.unlock();
        std::exception_ptr err;
        try {
            build_sample(slot.batch, j);
        } catch (...) {
            err = std::current_exception();
        }
        lock.lock();
        // Keep the error of the lowest sample, so the message does not depend on timing.
        if (err && (!slot.error || j < slot.error_sample)) {
            slot.error = err;
            slot.error_sample = j;
        }
        if (--slot.remaining == 0) ready_cv_.notify_all();
    }
}

Batch BatchLoader::take(int64_t seq) {
    if (workers_ == 0) {
        deliver_ = seq + 1;
        const int64_t nb = batches_per_epoch();
        return build_batch(seq / nb, seq % nb);
    }
    start_workers();
    std::unique_lock<std::mutex> lock(mu_);
    Slot& slot = slots_[size_t(seq % opt_.prefetch)];
    ready_cv_.wait(lock, [&] { return slot.seq == seq && slot.remaining == 0; });
    Batch b = std::move(slot.batch);
    std::exception_ptr err = slot.error;
    slot = Slot{};
    deliver_ = seq + 1;
    lock.unlock();
    work_cv_.notify_all();
    if (err) std::rethrow_exception(err);
    return b;
}

Batch BatchLoader::next() {
    const int64_t seq = deliver_;
    // Set before take(): a failed last batch still ends the epoch.
    epoch_end_pending_ = (seq + 1) % batches_per_epoch() == 0;
    return take(seq);
}

bool BatchLoader::next_in_epoch(Batch& out) {
    if (epoch_end_pending_) {
        epoch_end_pending_ = false;
        return false;
    }
    out = next();
    return true;
}

LoaderPosition BatchLoader::position() const {
    LoaderPosition p;
    const int64_t nb = batches_per_epoch();
    p.epoch = deliver_ / nb;
    p.batch = deliver_ % nb;
    p.seed = opt_.seed;
    p.samples_per_epoch = samples_per_epoch();
    p.global_batch = int64_t(opt_.batch_size) * opt_.world_size;
    return p;
}

void BatchLoader::set_position(const LoaderPosition& p) {
    const int64_t nb = batches_per_epoch();
    ENG_CHECK(p.epoch >= 0 && p.batch >= 0 && p.batch <= nb && p.epoch <= (INT64_MAX - nb) / std::max<int64_t>(nb, 1),
              "BatchLoader::set_position: batch ", p.batch, " of epoch ", p.epoch, " does not exist (", nb,
              " batches per epoch)");
    const int64_t gb = int64_t(opt_.batch_size) * opt_.world_size;
    // A position from position()/parse() carries samples, global batch and seed;
    // a hand-made {epoch, batch} (samples 0) is taken as it is.
    const bool full = p.samples_per_epoch != 0;
    ENG_CHECK(!full || p.samples_per_epoch == samples_per_epoch(),
              "BatchLoader::set_position: the saved position (", p.str(), ") is for ", p.samples_per_epoch,
              " samples per epoch, this loader has ", samples_per_epoch(),
              ". HINT: resume with the same dataset, split, task and num_samples");
    ENG_CHECK(!full || p.global_batch == gb, "BatchLoader::set_position: the saved position (",
              p.str(), ") is for a global batch of ", p.global_batch, ", this loader has ", gb,
              " (batch_size x world_size). HINT: resume with the same global batch");
    ENG_CHECK(!full || p.seed == opt_.seed, "BatchLoader::set_position: the saved position (", p.str(),
              ") is for seed ", p.seed, ", this loader has seed ", opt_.seed);
    stop_workers();  // dropped prefetched work; restarted lazily by the next take()
    deliver_ = p.epoch * nb + p.batch;
    epoch_end_pending_ = false;
}

}  // namespace mama
