#include "data/row_spill.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "data/raw_log.h"

namespace recprism::data {

size_t RecordBytes(int fc, int fd) { return sizeof(RecordHeader) + sizeof(int64_t) * fc + sizeof(float) * fd; }

void RowRecords::Permute(const std::vector<int64_t>& order) {
  auto gather = [&](auto& col) {
    std::remove_reference_t<decltype(col)> out(order.size());
    for (size_t k = 0; k < order.size(); ++k) out[k] = col[order[k]];
    col.swap(out);
  };
  auto gather_wide = [&](auto& col, int width) {
    if (width == 0) return;
    std::remove_reference_t<decltype(col)> out(order.size() * width);
    for (size_t k = 0; k < order.size(); ++k) {
      std::copy_n(col.begin() + order[k] * width, width, out.begin() + static_cast<int64_t>(k) * width);
    }
    col.swap(out);
  };
  gather(user); gather(item); gather(time); gather(seq); gather(value);
  gather(event); gather(click); gather(conversion); gather(split);
  gather_wide(cat_features, fc);
  gather_wide(num_features, fd);
}

void ReadRecordsBlock(const char* data, size_t rows, int fc, int fd, RowRecords* out) {
  const size_t width = RecordBytes(fc, fd);
  out->fc = fc;
  out->fd = fd;
  out->user.resize(rows); out->item.resize(rows); out->time.resize(rows); out->seq.resize(rows);
  out->value.resize(rows); out->event.resize(rows); out->click.resize(rows); out->conversion.resize(rows);
  out->split.resize(rows);
  out->cat_features.resize(rows * fc);
  out->num_features.resize(rows * fd);
  for (size_t i = 0; i < rows; ++i) {
    const char* p = data + i * width;
    RecordHeader h;
    std::memcpy(&h, p, sizeof(h));
    out->user[i] = h.user; out->item[i] = h.item; out->time[i] = h.time; out->seq[i] = h.seq;
    out->value[i] = h.value; out->event[i] = h.event; out->click[i] = h.click; out->conversion[i] = h.conversion;
    out->split[i] = h.split;
    if (fc > 0) std::memcpy(out->cat_features.data() + i * fc, p + sizeof(h), sizeof(int64_t) * fc);
    if (fd > 0) std::memcpy(out->num_features.data() + i * fd, p + sizeof(h) + sizeof(int64_t) * fc, sizeof(float) * fd);
  }
}

RecordFile::RecordFile(std::string path, int fc, int fd) : path_(std::move(path)), fc_(fc), fd_(fd) { Open("wb"); }

RecordFile::~RecordFile() {
  if (file_ != nullptr) std::fclose(file_);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void RecordFile::Open(const char* mode) {
  file_ = std::fopen(path_.c_str(), mode);
  RP_REQUIRE(file_ != nullptr, StatusCode::kIoError, "cannot create the spill file {}: {} (data.memory_budget_mb is "
             "smaller than the log, so prepare spills rows next to the output)", path_, std::strerror(errno));
  buffer_.resize(1 << 20);
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
}

void RecordFile::Put(const void* p, size_t n) {
  RP_REQUIRE(std::fwrite(p, 1, n, file_) == n, StatusCode::kIoError, "writing the spill file {} failed: {} (is the "
             "disk full?)", path_, std::strerror(errno));
}

void RecordFile::AppendAll(const RowRecords& r) {
  for (size_t i = 0; i < r.size(); ++i) Append(r, i, r.seq[i]);
}

void RecordFile::FinishWriting() {
  if (file_ == nullptr) return;
  const bool ok = std::fflush(file_) == 0;
  std::fclose(file_);
  file_ = nullptr;
  RP_REQUIRE(ok, StatusCode::kIoError, "writing the spill file {} failed: {} (is the disk full?)", path_,
             std::strerror(errno));
}

void RecordFile::ReadAll(RowRecords* out) const {
  *out = RowRecords();
  out->fc = fc_;
  out->fd = fd_;
  if (rows_ == 0) return;
  // Sized once, filled block by block: the file's bytes are never all in memory beside the columns.
  const size_t n = static_cast<size_t>(rows_);
  out->user.reserve(n); out->item.reserve(n); out->time.reserve(n); out->seq.reserve(n); out->value.reserve(n);
  out->event.reserve(n); out->click.reserve(n); out->conversion.reserve(n); out->split.reserve(n);
  out->cat_features.reserve(n * fc_);
  out->num_features.reserve(n * fd_);
  ForEachBlock(1 << 16, [&](RowRecords& b) {
    auto add = [](auto& dst, const auto& src) { dst.insert(dst.end(), src.begin(), src.end()); };
    add(out->user, b.user); add(out->item, b.item); add(out->time, b.time); add(out->seq, b.seq);
    add(out->value, b.value); add(out->event, b.event); add(out->click, b.click); add(out->conversion, b.conversion);
    add(out->split, b.split); add(out->cat_features, b.cat_features); add(out->num_features, b.num_features);
  });
}

void RecordFile::Rewrite() {
  if (file_ != nullptr) std::fclose(file_);
  rows_ = 0;
  Open("wb");
}

RowSpill::RowSpill(const std::string& dir, int64_t budget_rows, int fc, int fd)
    : budget_rows_(std::max<int64_t>(1, budget_rows)), file_(dir + "/source.rows", fc, fd) {}

void RowSpill::ReserveColumns(RawLog& log) const {
  // The columns refill to the same size after every spill: size them once, without the doubling
  // steps (and their transient copies) of push_back. Pages never touched cost no memory.
  const size_t cap = static_cast<size_t>(budget_rows_) + 1;
  log.user.reserve(cap); log.item.reserve(cap); log.time.reserve(cap); log.event.reserve(cap);
  log.click.reserve(cap); log.conversion.reserve(cap); log.value.reserve(cap); log.split.reserve(cap);
  log.cat_features.reserve(cap * file_.fc());
  log.num_features.reserve(cap * file_.fd());
}

void RowSpill::Take(RawLog& log, bool force) {
  const size_t n = log.user.size();
  if (n == 0 || (!force && static_cast<int64_t>(n) < budget_rows_)) return;
  const int64_t first_seq = file_.rows();
  if (user_rows.size() < static_cast<size_t>(log.users.size())) {
    user_rows.resize(log.users.size(), 0);
    user_positives.resize(log.users.size(), 0);
  }
  for (size_t i = 0; i < n; ++i) {
    file_.Append(log, i, first_seq + static_cast<int64_t>(i));
    ++user_rows[log.user[i]];
    user_positives[log.user[i]] += log.click[i];
  }
  // Keep the capacity for the next rows while parsing; give it back after the last spill.
  auto reset = [force](auto& col) {
    if (force) {
      std::remove_reference_t<decltype(col)>().swap(col);
    } else {
      col.clear();
    }
  };
  reset(log.user); reset(log.item); reset(log.time); reset(log.event); reset(log.click);
  reset(log.conversion); reset(log.value); reset(log.split); reset(log.cat_features); reset(log.num_features);
}

void RawLog::MaybeSpill() {
  if (spill_dir.empty()) return;
  if (!spill) {
    const int fc = static_cast<int>(cat_feature_names.size()), fd = static_cast<int>(num_feature_names.size());
    const int64_t budget_rows =
        std::max<int64_t>(1, spill_budget_mb * (int64_t{1} << 20) / 2 / static_cast<int64_t>(RecordBytes(fc, fd)));
    if (static_cast<int64_t>(size()) < budget_rows) return;
    spill = std::make_shared<RowSpill>(spill_dir, budget_rows, fc, fd);
  }
  spill->Take(*this);
}

}  // namespace recprism::data
