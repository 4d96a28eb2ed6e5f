// Gradient synchronisation of data-parallel training over the flat gradient buffer.
//
// Gradients are summed over ranks and divided by the global number of samples of the step (each
// rank's loss is a sum over its own samples), so a rank with a short or empty batch weighs in
// exactly as much as it contributed. Dense regions are all-reduced in place in buckets of
// train.bucket_mb. The item-embedding table can instead exchange only its touched rows
// (all-gather-v of row ids and gradient rows, summed in rank order) when that moves fewer bytes;
// the choice is made from the all-reduced row count, so every rank makes the same one.
#pragma once

#include <torch/types.h>

#include "comm/communicator.h"
#include "train/optimizer.h"

namespace recprism::train {

struct SyncStats {
  bool sparse = false;        // the table went through the row exchange this step
  double payload_bytes = 0;   // bytes each rank contributed to collectives this step
  double dense_table_bytes = 0;   // what the table alone would cost densely (for the log)
  double sparse_table_bytes = 0;  // what the row exchange costs (all ranks' rows, ids included)
  double seconds = 0;         // wall time in the collectives
};

class GradientSync {
 public:
  // table: the parameter name eligible for the row exchange (empty = none). mode: auto, dense, sparse.
  GradientSync(Communicator& comm, FlatParameters& flat, const std::string& table, const std::string& mode,
               int64_t bucket_mb);
  // touched: this rank's rows of the table with a possibly non-zero gradient (int64, unique);
  // global_touched: their sum over ranks; global_samples: samples of the step over all ranks (> 0).
  SyncStats Synchronize(double global_samples, const torch::Tensor& touched, int64_t global_touched);
  bool has_table() const { return table_ != nullptr; }
  int64_t table_rows() const { return table_ ? table_->shape[0] : 0; }

 private:
  void AllReduceRange(int64_t begin, int64_t end);
  Communicator& comm_;
  FlatParameters& flat_;
  const ParameterSlot* table_ = nullptr;
  std::string mode_;
  int64_t bucket_elems_;
};

}  // namespace recprism::train
