// Source rows on disk, for preparing logs larger than memory (prepare.cc). A parser keeps rows in
// its RawLog until they pass a row budget, then RowSpill moves them to a file of fixed-width
// records in source order. Preparation later scatters the records into user-range partitions that
// each fit the budget, and sorts and processes one partition at a time. Internal to the data
// module.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/check.h"

namespace recprism::data {

struct RawLog;

// Columns of a set of source rows. `seq` is the row's position in the source (ties in time keep
// it); `split` is -1 until assigned, or the source's split.
struct RowRecords {
  std::vector<int64_t> user, item, time, seq;
  std::vector<float> value;
  std::vector<uint8_t> event, click, conversion;
  std::vector<int8_t> split;
  std::vector<int64_t> cat_features;  // [size x fc]
  std::vector<float> num_features;    // [size x fd]
  int fc = 0, fd = 0;

  size_t size() const { return user.size(); }
  // Reorders every column: row k becomes old row order[k].
  void Permute(const std::vector<int64_t>& order);
};

// Bytes of one record with fc categorical and fd numeric features.
size_t RecordBytes(int fc, int fd);

// A binary file of records, written and read in large sequential blocks. Removed on destruction
// unless released.
class RecordFile {
 public:
  RecordFile(std::string path, int fc, int fd);
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  // Appends row i of a RawLog or RowRecords-shaped set of columns, with its seq.
  template <typename Columns>
  void Append(const Columns& c, size_t i, int64_t seq);
  // Appends every row of `r`, in order.
  void AppendAll(const RowRecords& r);
  // Flushes and closes the writer; the file can then be read.
  void FinishWriting();
  // Calls on_block(records) for consecutive blocks of at most block_rows rows.
  template <typename F>
  void ForEachBlock(size_t block_rows, F&& on_block) const;
  // Reads every record into `out` (cleared first).
  void ReadAll(RowRecords* out) const;
  // Truncates for rewriting.
  void Rewrite();
  int64_t rows() const { return rows_; }
  int fc() const { return fc_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  void Put(const void* p, size_t n);
  void Open(const char* mode);

  std::string path_;
  int fc_, fd_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  int64_t rows_ = 0;
};

// The spill of one parse: RawLog rows moved to disk once they pass budget_rows, with per-user
// row and positive counts of what was moved.
class RowSpill {
 public:
  RowSpill(const std::string& dir, int64_t budget_rows, int fc, int fd);
  // Reserves the log's row columns for budget_rows rows.
  void ReserveColumns(RawLog& log) const;
  // Moves the log's rows to the file when it holds at least budget_rows of them, or when force.
  void Take(RawLog& log, bool force = false);
  int64_t rows() const { return file_.rows(); }
  int64_t budget_rows() const { return budget_rows_; }
  RecordFile& file() { return file_; }
  std::vector<int64_t> user_rows, user_positives;  // per source user index

 private:
  int64_t budget_rows_;
  RecordFile file_;
};

// ---------------------------------------------------------------- inline templates
struct RecordHeader {
  int64_t user, item, time, seq;
  float value;
  uint8_t event, click, conversion;
  int8_t split;
};
static_assert(sizeof(RecordHeader) == 40, "record header layout");

template <typename Columns>
void RecordFile::Append(const Columns& c, size_t i, int64_t seq) {
  RecordHeader h{c.user[i], c.item[i], c.time[i], seq, c.value[i], c.event[i], c.click[i], c.conversion[i], c.split[i]};
  Put(&h, sizeof(h));
  if (fc_ > 0) Put(c.cat_features.data() + i * fc_, sizeof(int64_t) * fc_);
  if (fd_ > 0) Put(c.num_features.data() + i * fd_, sizeof(float) * fd_);
  ++rows_;
}

void ReadRecordsBlock(const char* data, size_t rows, int fc, int fd, RowRecords* out);

template <typename F>
void RecordFile::ForEachBlock(size_t block_rows, F&& on_block) const {
  const size_t width = RecordBytes(fc_, fd_);
  std::FILE* in = std::fopen(path_.c_str(), "rb");
  RP_REQUIRE(in != nullptr, StatusCode::kIoError, "cannot reopen the spill file {}", path_);
  std::vector<char> bytes(width * block_rows);
  RowRecords block;
  for (;;) {
    const size_t got = std::fread(bytes.data(), width, block_rows, in);
    if (got == 0) break;
    ReadRecordsBlock(bytes.data(), got, fc_, fd_, &block);
    on_block(block);
    if (got < block_rows) break;
  }
  const bool failed = std::ferror(in) != 0;
  std::fclose(in);
  RP_REQUIRE(!failed, StatusCode::kIoError, "reading the spill file {} failed", path_);
}

}  // namespace recprism::data
