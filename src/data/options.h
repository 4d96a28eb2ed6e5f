// Data options (config section `data`): dataset resolution, preparation, sharding and loading.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recprism {

// Column mapping for the `generic` preset: the user's own CSV/TSV logs.
struct GenericMapping {
  std::string path;                    // file, plain or .gz; relative: the working directory, then data_dir
  std::string layout = "rows";         // rows (one interaction per line) or sequences (`user item item ...`)
  std::string item_attributes;         // sequences: JSON map item -> [attribute ids], used as categories
  std::string delimiter = "auto";      // auto, tab, comma, semicolon, pipe or space
  bool header = true;                  // first line names the columns
  std::string user;                    // user id column (required)
  std::string item;                    // item id column (required)
  std::string time;                    // timestamp column (unix seconds); empty = file order
  std::string event;                   // event-type column; its values are matched against the lists below
  std::vector<std::string> click_events = {"click", "view", "pv", "cart", "fav", "buy", "purchase"};
  std::vector<std::string> conversion_events = {"buy", "purchase", "order"};  // also count as clicks
  std::string click;                   // 0/1 click label column
  std::string conversion;              // 0/1 conversion label column
  // Where the non-click exposures come from: logged (the log's rows with click 0 are the
  // exposures; nothing is sampled), sampled (negatives_per_positive are drawn per click, as for
  // implicit feedback), or auto: sampled when no row of the log is a non-click exposure (a log of
  // views, carts and purchases only), else logged.
  std::string exposures = "auto";
  std::string value;                   // price or revenue column
  std::string category;                // item category column ('|'-separated lists allowed)
  std::vector<std::string> categorical;  // extra categorical feature columns
  std::vector<std::string> numeric;      // extra numeric feature columns
};

// The `synthetic` preset: generated logs with planted structure, streamed to disk.
struct SyntheticOptions {
  int64_t rows = 1000000;   // interaction rows to generate (exposures included)
  int64_t users = 0;        // 0 = rows / 50
  int64_t items = 0;        // 0 = max(1000, rows / 200)
  int categories = 50;      // item categories
  int clusters = 16;        // user interest clusters over categories
  double zipf = 1.1;        // exponent of the power-law item popularity
};

struct DataOptions {
  std::string dataset;          // preset: ml-100k, ml-1m, amazon-beauty, jd, ali-ccp, aliexpress, synthetic, generic
  std::string data_dir;         // mirror of the official downloads; empty = $RECPRISM_DATA_DIR
  std::string cache_dir = "~/.cache/recprism";  // downloads and prepared files
  std::string prepared;         // prepared HDF5 file; empty = <cache_dir>/prepared/<dataset>.h5
  bool download = true;         // fetch from the official address when neither mirror nor cache has a file
  std::string layout = "auto";  // ali-ccp source layout: auto, csv, feasign
  std::string split = "auto";   // auto (preset default), leave_one_out, temporal, random, source
  std::vector<double> split_ratios = {0.7, 0.15, 0.15};  // train/valid/test for temporal and random
  int negatives_per_positive = 4;        // sampled exposures per positive for implicit data; 0 = none
  int eval_negatives_per_positive = -1;  // the same for valid and test positives; -1 = negatives_per_positive
  std::string negative_sampler = "uniform";  // uniform or popularity
  std::string negative_pool = "train";       // train (items with a train row) or catalogue (every item)
  int min_user_interactions = 0;         // drop users with fewer positive interactions
  std::string history_order = "source";  // jd, ml-1m without timestamps: source (file order) or shuffled (seeded, per user)
  std::string on_bad_row = "fail";       // fail or skip (skipped rows are counted and reported)
  int max_seq_len = 50;                  // behaviours kept in a sample's history (L)
  std::string shard = "contiguous";      // contiguous (balanced user ranges by rows) or hash
  int64_t memory_budget_mb = 1024;       // loader memory per rank for rows held at once
  int prefetch_batches = 4;              // bounded prefetch queue depth
  GenericMapping generic;
  SyntheticOptions synthetic;
};

}  // namespace recprism
