// loader.h: the batch loader for MaMA pretraining and for linear probing /
// fine-tuning (shared/mama-reference.md §1.6, §1.7, §2.3, §2.4, §3.2-3.4).
//
// A batch holds the anchor images (train or eval transform), optionally the
// §1.6 partner images (probability 0.5 a same-exam image, any side and view;
// otherwise, or when the image has no partner, a second augmentation of the
// anchor's source image), the caption tokens and attention mask (masked
// training caption rebuilt per sample, or the cached unmasked one), the labels,
// and the record indices and image paths.
//
// Determinism.  Every random decision of a sample comes from generators keyed
// by (seed, epoch, global draw position):
//   epoch_key(stream) = random_word(random_word(seed, epoch), stream)
//     stream 0: the epoch's shuffle permutation, 1: balanced draws, 2: samples
//   sample_key(p)     = random_word(epoch_key(2), p)
//   caption mask      : Generator(random_word(sample_key, 0))
//   anchor transform  : Generator(random_word(sample_key, 1))
//   partner choice and its transform: Generator(random_word(sample_key, 2))
// so batches are bit-identical whatever the number of worker threads, whether
// partners are requested, and whatever the world size (see below).
//
// Order of an epoch.  The epoch's global draw sequence has samples_per_epoch
// positions p: item perm_e[p] (shuffle), item p (no shuffle), or an independent
// class-balanced draw with replacement (balanced: a uniform class among those
// present, then a uniform member, i.e. exactly PyTorch's WeightedRandomSampler
// with weight 1/count(class); samples_per_epoch = the dataset length by
// default, as the reference).  Global batches are G = batch_size * world_size
// consecutive positions; rank r takes positions [r*B, (r+1)*B) of each, so the
// ranks of a world of W together see exactly the batches of one process with
// batch size G.  With drop_last the partial last global batch is dropped.
// Without it, its m positions are dealt as ceil(m/W) to each rank; a rank
// whose slice runs past the end is padded with the epoch's first items again
// (like torch's DistributedSampler; balanced: further draws), each with its
// own fresh augmentation.
//
// Threads: num_workers std::threads build single samples of up to `prefetch`
// batches ahead; batches are always delivered in order.  An error in a worker
// (e.g. an image file that cannot be decoded, named in the message) is
// rethrown by next() for the batch it belongs to; the position then moves past
// that batch.  num_workers = 0 builds each batch in the calling thread.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mama/bpe.h"
#include "mama/captions.h"
#include "mama/embed.h"
#include "mama/rsna.h"
#include "mama/transforms.h"
#include "tensor/tensor.h"

namespace mama {

// What a loader draws from: one entry per item (image).
struct LoaderDataset {
    std::string name;                             // for messages, e.g. "EMBED train (birads)"
    std::vector<std::string> paths;               // image file of each item
    std::vector<int> labels;                      // class of each item (-1: none)
    int num_classes = 0;                          // 7 BI-RADS, 4 density, 2 RSNA
    std::vector<int64_t> records;                 // index into the source records (EmbedData/RsnaData)
    std::vector<std::vector<int64_t>> partners;   // §1.6 same-exam partners as ITEM positions (empty: none)
    std::vector<ReportFields> reports;            // caption fields per item; empty = no captions
    CaptionOptions caption_options;
    // The dataset's own quirks (0 = none): the letterbox size of §3.2 when the
    // loader is not given one, and the token length of its zero-shot prompts.
    int source_size = 0;       // RSNA: 1024, whatever the image size (§1.8)
    int prompt_max_len = 0;    // RSNA: 72 (§1.8); 0 = train.max_len
    int64_t size() const { return int64_t(paths.size()); }
};

// EMBED items of a split for a task: BI-RADS uses every captioned record of the
// split, density drops male images (§1.5).  Partners are kept when they are
// items of the same dataset (the reference keeps "those in the current split's
// file list").
LoaderDataset embed_dataset(const EmbedData& data, Split split, EmbedTask task);
// The same for an explicit list of record indices (e.g. embed_test_subset()).
LoaderDataset embed_dataset(const EmbedData& data, const std::vector<int64_t>& records, EmbedTask task,
                            const std::string& name = "EMBED subset");
// RSNA items of a split (binary cancer label, no captions, no partners), with
// the reference's quirks: a 1024 letterbox and 72-token prompts (§1.8).
LoaderDataset rsna_dataset(const RsnaData& data, Split split);

enum class LoaderTransform { Train, Eval };              // §3.3 or §3.4
enum class CaptionMode { Auto, Masked, Unmasked, None };  // Auto: masked with Train, unmasked with Eval

struct LoaderOptions {
    int batch_size = 36;          // per rank
    int image_size = 518;         // S of the output images (sets transform.size)
    int source_size = 0;          // letterbox size of §3.2; 0 = the dataset's (RSNA: 1024), else image_size
    int max_len = 144;            // T: captions padded / truncated to this many tokens
    LoaderTransform transform = LoaderTransform::Train;
    TransformOptions transform_options;  // augmentation parameters (size is overridden)
    CaptionMode captions = CaptionMode::Auto;
    bool with_partners = false;   // build partner_images (§1.6)
    double partner_prob = 0.5;    // "other image" when u > 1 - partner_prob, u ~ U[0,1)
    int num_workers = -1;         // -1 = std::thread::hardware_concurrency(); 0 = in the caller's thread
    int prefetch = 4;             // batches built ahead (at least 1)
    uint64_t seed = 0;
    bool shuffle = true;          // a new permutation every epoch (ignored when balanced)
    bool drop_last = true;
    bool balanced = false;        // §1.7 class-balanced sampling with replacement
    int64_t num_samples = 0;      // balanced draws per epoch (all ranks together); 0 = dataset length
    int rank = 0, world_size = 1;
};

// One batch.  n = this rank's sample count (batch_size, or less for a last
// partial batch without drop_last).
struct Batch {
    eng::Tensor images;           // f32 [n, 3, S, S]
    eng::Tensor partner_images;   // f32 [n, 3, S, S]; undefined unless with_partners
    eng::Tensor input_ids;        // i32 [n, T]; undefined without captions
    eng::Tensor attention_mask;   // i32 [n, T]; undefined without captions
    eng::Tensor labels;           // i32 [n] (-1 where the item has no label)
    std::vector<int64_t> items;     // positions in the LoaderDataset
    std::vector<int64_t> records;   // source record indices
    std::vector<int64_t> partner_records;  // the partner's record, -1 = second augmentation (with_partners)
    std::vector<int64_t> positions; // global draw positions in the epoch
    std::vector<std::string> paths; // image files
    std::vector<std::string> captions;  // the caption text that was tokenised
    int64_t epoch = 0, index = 0;   // which batch of which epoch
    int64_t size() const { return int64_t(items.size()); }
};

// Where a loader stands: the next batch to deliver, plus what must match for
// an exact resume (checked by set_position when non-zero).
struct LoaderPosition {
    int64_t epoch = 0, batch = 0;
    uint64_t seed = 0;
    int64_t samples_per_epoch = 0, global_batch = 0;
    // "epoch=E batch=B seed=S samples=N global_batch=G"
    std::string str() const;
    static LoaderPosition parse(const std::string& text);
};

// The epoch order, sharding and balanced draws (pure; thread safe).
class SampleOrder {
public:
    SampleOrder(const std::vector<int>& labels, const LoaderOptions& options);
    int64_t samples_per_epoch() const { return total_; }
    int64_t batches_per_epoch() const { return batches_; }
    // This rank's global draw positions in batch b (the same in every epoch).
    std::vector<int64_t> batch_positions(int64_t batch) const;
    // The item at a draw position (positions past the end wrap, see above).
    int64_t item_at(int64_t epoch, int64_t position) const;
    // The key of a sample's generators (see the top of this file).
    uint64_t sample_key(int64_t epoch, int64_t position) const;

private:
    uint64_t seed_;
    int64_t n_, total_, batches_, batch_, world_, rank_;
    bool shuffle_, balanced_, drop_last_;
    std::vector<std::vector<int64_t>> members_;  // balanced: items of each present class
    mutable std::mutex mu_;
    mutable int64_t perm_epoch_ = -1;
    mutable std::vector<int64_t> perm_;
};

uint64_t loader_epoch_key(uint64_t seed, int64_t epoch, uint64_t stream);

class BatchLoader {
public:
    // The tokenizer (needed unless captions are None or the dataset has none)
    // must outlive the loader and have a pad token (add_mama_special_tokens()).
    BatchLoader(LoaderDataset dataset, const BpeTokenizer* tokenizer, const LoaderOptions& options);
    ~BatchLoader();
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    // The next batch, moving on to the next epoch after the last one.
    Batch next();
    // The next batch of the current epoch; false once at the end of the epoch
    // (the position is then the next epoch's first batch).
    bool next_in_epoch(Batch& out);
    // Builds batch b of epoch e in this thread (no prefetching): the same result
    // as the threaded path.
    Batch build_batch(int64_t epoch, int64_t batch) const;

    LoaderPosition position() const;
    void set_position(const LoaderPosition& p);  // drops prefetched batches
    void set_epoch(int64_t epoch) { set_position(LoaderPosition{epoch, 0}); }

    int64_t batches_per_epoch() const { return order_.batches_per_epoch(); }
    int64_t samples_per_epoch() const { return order_.samples_per_epoch(); }
    const LoaderDataset& dataset() const { return data_; }
    const LoaderOptions& options() const { return opt_; }
    int num_workers() const { return workers_; }
    bool masked_captions() const { return masked_; }
    bool has_text() const { return text_; }

private:
    struct Slot {
        int64_t seq = -1;  // linear batch number (epoch * batches_per_epoch + batch)
        Batch batch;
        int64_t remaining = 0;
        int64_t error_sample = -1;
        std::exception_ptr error;
    };
    Batch start_batch(int64_t seq) const;  // tensors allocated, per-sample fields filled
    void build_sample(Batch& b, int64_t j) const;
    void worker_loop();
    void start_workers();
    void stop_workers();
    Batch take(int64_t seq);

    LoaderDataset data_;
    const BpeTokenizer* tok_;
    LoaderOptions opt_;
    SampleOrder order_;
    bool masked_ = false, text_ = false;
    int workers_ = 0;

    bool epoch_end_pending_ = false;  // next_in_epoch() returns false once

    // deliver_ (the next batch to deliver, linear: epoch * batches_per_epoch +
    // batch) is written by the consumer; the rest is shared with the workers
    // under mu_.
    std::mutex mu_;
    std::condition_variable work_cv_, ready_cv_;
    std::vector<std::thread> threads_;
    std::vector<Slot> slots_;
    bool stop_ = false;
    int64_t deliver_ = 0, job_seq_ = 0, job_sample_ = 0;
};

}  // namespace mama
