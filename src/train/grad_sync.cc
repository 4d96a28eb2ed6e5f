#include "train/grad_sync.h"

#include <torch/torch.h>

#include <chrono>

#include "comm/collectives.h"
#include "core/check.h"
#include "train/tensor_collectives.h"

namespace recprism::train {

GradientSync::GradientSync(Communicator& comm, FlatParameters& flat, const std::string& table, const std::string& mode,
                           int64_t bucket_mb)
    : comm_(comm), flat_(flat), mode_(mode), bucket_elems_(std::max<int64_t>(1, bucket_mb * (1 << 20) / 4)) {
  RP_REQUIRE(mode == "auto" || mode == "dense" || mode == "sparse", StatusCode::kInvalidConfig,
             "train.sparse_embeddings: expected auto, dense or sparse, found '{}'", mode);
  if (!table.empty()) {
    table_ = flat.Find(table);
    if (table_ != nullptr && (!table_->trainable || table_->shape.size() != 2)) table_ = nullptr;
  }
}

void GradientSync::AllReduceRange(int64_t begin, int64_t end) {
  auto& g = flat_.grads();
  for (int64_t b = begin; b < end; b += bucket_elems_) {
    auto view = g.narrow(0, b, std::min(bucket_elems_, end - b));
    AllReduceTensor(comm_, view, ReduceOp::kSum);
  }
}

SyncStats GradientSync::Synchronize(double global_samples, const torch::Tensor& touched, int64_t global_touched) {
  RP_CHECK(global_samples > 0, "gradient sync of a step without samples");
  SyncStats s;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t total = flat_.size();
  auto& g = flat_.grads();
  if (table_ != nullptr) {
    const int64_t d = table_->shape[1];
    s.dense_table_bytes = 4.0 * table_->numel;
    s.sparse_table_bytes = static_cast<double>(global_touched) * (8.0 + 4.0 * d);
    s.sparse = mode_ == "sparse" || (mode_ == "auto" && comm_.WorldSize() > 1 && s.sparse_table_bytes < s.dense_table_bytes);
  }
  if (s.sparse) {
    const int64_t d = table_->shape[1];
    AllReduceRange(0, table_->offset);
    AllReduceRange(table_->offset + table_->numel, total);
    auto grad_table = g.narrow(0, table_->offset, table_->numel).view({table_->shape[0], d});
    std::vector<int64_t> ids(touched.data_ptr<int64_t>(), touched.data_ptr<int64_t>() + touched.numel());
    auto rows = grad_table.index_select(0, touched.to(grad_table.device())).to(torch::kCPU).contiguous();
    std::vector<float> values(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
    auto all_ids = AllGatherV(comm_, ids);
    auto all_values = AllGatherV(comm_, values);
    grad_table.zero_();
    const int64_t k = static_cast<int64_t>(all_ids.size());
    if (k > 0) {
      auto idx = torch::from_blob(all_ids.data(), {k}, torch::kLong).to(grad_table.device());
      auto val = torch::from_blob(all_values.data(), {k, d}, torch::kFloat).to(grad_table.device());
      grad_table.index_add_(0, idx, val);
    }
    s.payload_bytes = 4.0 * (total - table_->numel) + static_cast<double>(ids.size()) * (8.0 + 4.0 * d);
  } else {
    AllReduceRange(0, total);
    s.payload_bytes = 4.0 * total;
  }
  g.div_(global_samples);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace recprism::train
