#include "data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"

namespace recprism::data {
namespace {

// Approximate bytes one row occupies in memory while its block is loaded.
int64_t RowBytes(const Metadata& m) {
  return 3 * 8 + 4 * 1 + 4 + static_cast<int64_t>(m.cat_feature_names.size()) * 8 +
         static_cast<int64_t>(m.num_feature_names.size()) * 4 + 16;  // + sample index bookkeeping
}

}  // namespace

LoaderOptions MakeLoaderOptions(const DataOptions& data, Split split, int batch_size, uint64_t seed, bool shuffle) {
  LoaderOptions o;
  o.split = split;
  o.max_seq_len = data.max_seq_len;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.seed = seed;
  o.memory_budget_bytes = data.memory_budget_mb * (int64_t{1} << 20);
  o.prefetch_batches = data.prefetch_batches;
  o.shard = data.shard;
  return o;
}

// Produces the batches of one epoch on a background thread into a bounded queue.
struct ShardLoader::Prefetcher {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  bool done = false, stop = false;
  std::exception_ptr error;
  std::thread thread;

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }
  // Blocks while the queue is full; false when asked to stop.
  bool Push(Batch&& b, size_t capacity) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop || queue.size() < capacity; });
    if (stop) return false;
    queue.push_back(std::move(b));
    cv.notify_all();
    return true;
  }
};

ShardLoader::ShardLoader(const std::string& path, Communicator& comm, const LoaderOptions& options)
    : comm_(comm), options_(options), reader_(std::make_unique<PreparedReader>(path, /*load_raw_ids=*/false)) {
  RP_REQUIRE(options.batch_size >= 1 && options.max_seq_len >= 1, StatusCode::kInvalidArgument,
             "loader: batch_size and max_seq_len must be >= 1");
  const UserTable& users = reader_->users();
  const int s = static_cast<int>(options.split);
  // Balanced on the split being iterated: its samples are what every rank must share equally.
  plan_ = MakeShardPlan(users, comm.WorldSize(), options.shard, s);
  const int rank = comm.Rank();
  if (plan_.method == "hash" && rank == 0 && comm.WorldSize() > 1) {
    RP_LOG_WARN("data.shard: hash is a debugging mode: every rank reads and decompresses the whole file each epoch "
                "(contiguous reads only the rank's own users)");
  }
  // Users this rank reads, as contiguous ranges of the file.
  int64_t first = 0, last = users.num_users;
  if (plan_.method == "contiguous") {
    first = plan_.user_begin[rank];
    last = plan_.user_begin[rank + 1];
  }
  for (int64_t u = first; u < last; ++u) {
    if (plan_.RankOf(u) != rank) continue;
    const int64_t split_rows = users.split_rows[u * kNumSplits + s];
    // One sample per user with rows in the split (a user whose rows there are all unclicked yields
    // none: the step count is then an upper bound, and the rank pads with empty batches).
    local_samples_ += options.last_positive_per_user ? (split_rows > 0 ? 1 : 0) : split_rows;
    local_rows_ += users.offsets[u + 1] - users.offsets[u];
  }
  // Blocks of consecutive users whose rows fit the budget (half of it; the rest is for samples
  // being built and the prefetch queue). A single user larger than that is a block of its own.
  const int64_t budget_rows = std::max<int64_t>(1, options.memory_budget_bytes / 2 / RowBytes(reader_->metadata()));
  int64_t b = first;
  while (b < last) {
    int64_t e = b + 1;
    while (e < last && users.offsets[e + 1] - users.offsets[b] <= budget_rows) ++e;
    blocks_.emplace_back(b, e);
    max_block_rows_ = std::max(max_block_rows_, users.offsets[e] - users.offsets[b]);
    b = e;
  }
  if (max_block_rows_ > budget_rows) {
    RP_LOG_WARN("loader: one user has {} rows, more than the {} rows data.memory_budget_mb allows per block",
                max_block_rows_, budget_rows);
  }
}

ShardLoader::~ShardLoader() { StopPrefetch(); }

void ShardLoader::StopPrefetch() { prefetch_.reset(); }

int64_t ShardLoader::StartEpoch(int epoch) {
  StopPrefetch();
  if (!fingerprint_checked_ && comm_.WorldSize() > 1) {
    const Metadata& m = reader_->metadata();
    std::string stamp = m.created_at + "|" + std::to_string(reader_->num_rows()) + "|" + m.params;
    for (const auto& src : m.sources) stamp += "|" + src.md5;
    const int64_t fp = static_cast<int64_t>(Mix64(Fnv1a64(stamp)) >> 1);
    const int64_t lo = AllReduceScalar<int64_t>(comm_, fp, ReduceOp::kMin);
    const int64_t hi = AllReduceScalar<int64_t>(comm_, fp, ReduceOp::kMax);
    RP_REQUIRE(lo == hi, StatusCode::kDataError,
               "the ranks opened different prepared files: rank {} read {} (created {}, {} rows, fingerprint {:016x}), "
               "but another rank's file differs; every rank must read the same file (a shared filesystem, or the "
               "same copy on every node)", comm_.Rank(), reader_->path(), m.created_at, reader_->num_rows(), fp);
    fingerprint_checked_ = true;
  }
  const int64_t local_batches = (local_samples_ + options_.batch_size - 1) / options_.batch_size;
  steps_ = AllReduceScalar<int64_t>(comm_, local_batches, ReduceOp::kMax);
  step_ = 0;
  prefetch_ = std::make_unique<Prefetcher>();
  Prefetcher* pf = prefetch_.get();
  const int rank = comm_.Rank();
  pf->thread = std::thread([this, pf, epoch, rank] {
    try {
      const PreparedReader& rd = *reader_;
      const UserTable& users = rd.users();
      const ItemTable& items = rd.items();
      const int seq_len = options_.max_seq_len;
      const uint8_t split = static_cast<uint8_t>(options_.split);
      const size_t fu = users.feature_names.size();
      const size_t fc = rd.metadata().cat_feature_names.size();
      const size_t fd = rd.metadata().num_feature_names.size();
      std::mt19937_64 rng((options_.seed * 1000003ULL + static_cast<uint64_t>(epoch)) * 7919ULL + static_cast<uint64_t>(rank));
      std::vector<size_t> block_order(blocks_.size());
      std::iota(block_order.begin(), block_order.end(), 0);
      if (options_.shuffle) std::shuffle(block_order.begin(), block_order.end(), rng);
      // Fault injection for tests: RECPRISM_FAULT_PREFETCH_ERROR_RANK=R makes rank R's prefetch
      // thread fail after its first batch, as a read error would.
      const char* fault = std::getenv("RECPRISM_FAULT_PREFETCH_ERROR_RANK");
      const bool inject = fault != nullptr && std::atoi(fault) == rank;
      Batch batch;
      int64_t in_batch = 0;
      batch.Resize(options_.batch_size, seq_len, fu, fc, fd);
      for (size_t bi : block_order) {
        const auto [ub, ue] = blocks_[bi];
        const int64_t row0 = users.offsets[ub];
        Rows rows = rd.ReadRows(row0, users.offsets[ue]);
        // Targets of this block (rows of owned users in the requested split).
        std::vector<int64_t> targets;
        std::vector<int64_t> user_of(rows.size());
        for (int64_t u = ub; u < ue; ++u) {
          const bool mine = plan_.RankOf(u) == rank;
          for (int64_t r = users.offsets[u] - row0; r < users.offsets[u + 1] - row0; ++r) {
            user_of[r] = u;
            if (mine && rows.split[r] == split) targets.push_back(r);
          }
        }
        if (options_.positives_only || options_.last_positive_per_user) {
          std::vector<int64_t> kept;
          for (int64_t t : targets) {
            if (rows.click[t] && rows.event[t] != static_cast<uint8_t>(Event::kSampledNegative)) kept.push_back(t);
          }
          targets.swap(kept);
        }
        if (options_.last_positive_per_user) {
          std::vector<int64_t> last;
          for (size_t i = 0; i < targets.size(); ++i) {
            const int64_t t = targets[i];
            if (!last.empty() && user_of[last.back()] == user_of[t]) {
              last.back() = t;
            } else {
              last.push_back(t);
            }
          }
          targets.swap(last);
        }
        if (options_.shuffle) {
          // Shuffle groups, not samples: a positive and the sampled negatives drawn for it (the rows
          // right after it) stay together, so a batch holds each shared history once per group and
          // encode_once encodes it once.
          std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) in targets
          for (size_t i = 0; i < targets.size(); ++i) {
            const bool joins = i > 0 && targets[i] == targets[i - 1] + 1 &&
                               rows.event[targets[i]] == static_cast<uint8_t>(Event::kSampledNegative);
            if (joins) {
              groups.back().second = i + 1;
            } else {
              groups.emplace_back(i, i + 1);
            }
          }
          std::shuffle(groups.begin(), groups.end(), rng);
          std::vector<int64_t> order;
          order.reserve(targets.size());
          for (const auto& [b, e] : groups) order.insert(order.end(), targets.begin() + b, targets.begin() + e);
          targets.swap(order);
        }
        for (int64_t t : targets) {
          const int64_t u = user_of[t];
          const int64_t ubegin = users.offsets[u] - row0;
          // The anchor: a sampled negative shares the history of the positive it was drawn for.
          int64_t anchor = t;
          if (rows.event[t] == static_cast<uint8_t>(Event::kSampledNegative)) {
            while (anchor > ubegin && rows.event[anchor] == static_cast<uint8_t>(Event::kSampledNegative)) --anchor;
          }
          const int64_t k = in_batch++;
          batch.row[k] = row0 + t;
          batch.user[k] = u;
          batch.target_item[k] = rows.item[t];
          batch.target_category[k] = items.FirstCategory(rows.item[t]);
          batch.click[k] = rows.click[t];
          batch.conversion[k] = rows.conversion[t];
          batch.value[k] = rows.value[t];
          for (size_t j = 0; j < fu; ++j) batch.user_features[k * fu + j] = users.features[u * fu + j];
          for (size_t j = 0; j < fc; ++j) batch.cat_features[k * fc + j] = rows.cat_features[t * fc + j];
          for (size_t j = 0; j < fd; ++j) batch.num_features[k * fd + j] = rows.num_features[t * fd + j];
          // Walk back from the anchor collecting up to L positives of allowed splits (left padding).
          int64_t filled = 0;
          for (int64_t r = anchor - 1; r >= ubegin && filled < seq_len; --r) {
            if (!rows.click[r] || rows.split[r] > rows.split[t]) continue;
            const int64_t slot = k * seq_len + (seq_len - 1 - filled);
            batch.hist_item[slot] = rows.item[r];
            batch.hist_category[slot] = items.FirstCategory(rows.item[r]);
            batch.hist_event[slot] = rows.event[r];
            batch.hist_gap[slot] = std::max<int64_t>(0, rows.time[t] - rows.time[r]);
            batch.hist_row[slot] = row0 + r;
            ++filled;
          }
          batch.hist_len[k] = filled;
          if (in_batch == options_.batch_size) {
            if (!pf->Push(std::move(batch), static_cast<size_t>(options_.prefetch_batches))) return;
            RP_REQUIRE(!inject, StatusCode::kDataError,
                       "{}: injected read error in rank {}'s prefetch thread (RECPRISM_FAULT_PREFETCH_ERROR_RANK)",
                       rd.path(), rank);
            batch = Batch();
            batch.Resize(options_.batch_size, seq_len, fu, fc, fd);
            in_batch = 0;
          }
        }
      }
      if (in_batch > 0) {
        Batch last = std::move(batch);
        last.Truncate(in_batch);
        if (!pf->Push(std::move(last), static_cast<size_t>(options_.prefetch_batches))) return;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(pf->mu);
      pf->error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(pf->mu);
    pf->done = true;
    pf->cv.notify_all();
  });
  return steps_;
}

bool ShardLoader::Next(Batch* batch) {
  RP_REQUIRE(prefetch_ != nullptr, StatusCode::kInternal, "ShardLoader::Next before StartEpoch");
  if (step_ >= steps_) return false;
  ++step_;
  Prefetcher* pf = prefetch_.get();
  std::unique_lock<std::mutex> lock(pf->mu);
  pf->cv.wait(lock, [&] { return !pf->queue.empty() || pf->done; });
  if (pf->error) std::rethrow_exception(pf->error);
  if (pf->queue.empty()) {
    // This rank's shard is exhausted: a padding step keeps the collective schedule aligned.
    *batch = Batch();
    batch->seq_len = options_.max_seq_len;
    return true;
  }
  *batch = std::move(pf->queue.front());
  pf->queue.pop_front();
  pf->cv.notify_all();
  return true;
}

}  // namespace recprism::data
