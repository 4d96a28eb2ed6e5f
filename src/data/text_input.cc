#include "data/text_input.h"

#include <fmt/format.h>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <future>

#include "core/check.h"
#include "core/md5.h"

namespace recprism::data {

struct BlockHasher::Open {
  Md5 md5;
};

void BlockHasher::Update(int64_t offset, const char* data, size_t n) {
  while (n > 0) {
    const int64_t k = offset / kBlock;
    const auto take = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), (k + 1) * kBlock - offset));
    if (k % every_ == which_) {
      if (k != block_) {
        if (open_) done_.emplace_back(block_, open_->md5.HexDigest());
        open_ = std::make_shared<Open>();
        block_ = k;
      }
      open_->md5.Update(data, take);
    }
    offset += static_cast<int64_t>(take);
    data += take;
    n -= take;
  }
}

std::vector<std::pair<int64_t, std::string>> BlockHasher::Finish() {
  if (open_) done_.emplace_back(block_, open_->md5.HexDigest());
  open_.reset();
  block_ = -1;
  return std::move(done_);
}

std::string FileChecksum(std::vector<std::pair<int64_t, std::string>> blocks) {
  std::sort(blocks.begin(), blocks.end());
  Md5 md5;
  for (size_t i = 0; i < blocks.size(); ++i) {
    RP_REQUIRE(blocks[i].first == static_cast<int64_t>(i), StatusCode::kInternal,
               "file checksum: block {} is missing or repeated (found block {} at position {})", i, blocks[i].first, i);
    md5.Update(blocks[i].second);
  }
  return md5.HexDigest();
}

// Blocks are read into two buffers in turn; the checksum of a block runs on another thread while
// its lines are parsed (one hashing job at a time, so the MD5 sees the blocks in order).
struct LineReader::Impl {
  gzFile file = nullptr;
  std::FILE* plain = nullptr;  // range readers read the file directly
  Md5 md5;
  bool hash = true;
  std::unique_ptr<BlockHasher> blocks;
  int64_t read_offset = 0;  // of the next byte read from the file
  std::vector<char> bufs[2] = {std::vector<char>(1 << 20), std::vector<char>(1 << 20)};
  int current = 1;
  const char* data = nullptr;
  size_t pos = 0, end = 0;
  bool eof = false;
  std::string digest;
  std::future<void> hashing;
  void WaitHashing() {
    if (hashing.valid()) hashing.get();
  }
};

LineReader::LineReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->file = gzopen(path.c_str(), "rb");
  RP_REQUIRE(impl_->file != nullptr, StatusCode::kIoError, "cannot open '{}': {}", path,
             errno != 0 ? std::strerror(errno) : "zlib could not allocate a reader");
  gzbuffer(impl_->file, 1 << 17);
}

LineReader::LineReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before)
    : impl_(std::make_unique<Impl>()), path_(path), line_(lines_before), offset_(begin), end_(end) {
  impl_->plain = std::fopen(path.c_str(), "rb");
  RP_REQUIRE(impl_->plain != nullptr, StatusCode::kIoError, "cannot open '{}': {}", path, std::strerror(errno));
  RP_REQUIRE(fseeko(impl_->plain, begin, SEEK_SET) == 0, StatusCode::kIoError, "cannot seek to byte {} of '{}': {}",
             begin, path, std::strerror(errno));
  impl_->hash = false;
  impl_->read_offset = begin;
}

void LineReader::HashBlocks(int every, int which) {
  impl_->blocks = std::make_unique<BlockHasher>(every, which);
}

std::vector<std::pair<int64_t, std::string>> LineReader::BlockDigests() {
  impl_->WaitHashing();
  return impl_->blocks ? impl_->blocks->Finish() : std::vector<std::pair<int64_t, std::string>>{};
}

LineReader::~LineReader() {
  if (impl_->hashing.valid()) impl_->hashing.wait();
  if (impl_->file != nullptr) gzclose(impl_->file);
  if (impl_->plain != nullptr) std::fclose(impl_->plain);
}

bool LineReader::Next(std::string* line) {
  Impl& s = *impl_;
  line->clear();
  if (end_ >= 0 && offset_ >= end_) return false;
  for (;;) {
    if (s.pos == s.end) {
      if (s.eof) {
        if (line->empty()) return false;
        break;
      }
      // The buffer read into is the one hashed two blocks ago; that job finished before the last.
      std::vector<char>& buf = s.bufs[1 - s.current];
      if (s.plain != nullptr) {
        const size_t got = std::fread(buf.data(), 1, buf.size(), s.plain);
        RP_REQUIRE(got > 0 || !std::ferror(s.plain), StatusCode::kIoError, "cannot read '{}' after line {}: {}", path_,
                   line_, std::strerror(errno));
        s.data = buf.data();
        s.current = 1 - s.current;
        s.pos = 0;
        s.end = got;
        if (got == 0) s.eof = true;
        continue;
      }
      int n = gzread(s.file, buf.data(), static_cast<unsigned>(buf.size()));
      if (n < 0 || (n == 0 && !gzeof(s.file))) {
        int code = 0;
        const char* msg = gzerror(s.file, &code);
        RP_THROW(StatusCode::kDataError, "'{}' is corrupt or truncated after line {}: {}", path_, line_, msg);
      }
      if (n == 0) {
        // gzeof with a partial gzip member means truncation; zlib reports it through gzerror.
        int code = 0;
        const char* msg = gzerror(s.file, &code);
        RP_REQUIRE(code == Z_OK || code == Z_STREAM_END, StatusCode::kDataError,
                   "'{}' is corrupt or truncated after line {}: {}", path_, line_, msg);
        s.eof = true;
        continue;
      }
      s.WaitHashing();
      s.current = 1 - s.current;
      s.data = buf.data();
      const int64_t at = s.read_offset;
      s.read_offset += n;
      if (s.blocks) {
        s.hashing = std::async(std::launch::async, [&s, p = buf.data(), n, at] { s.blocks->Update(at, p, static_cast<size_t>(n)); });
      } else if (s.hash) {
        s.hashing = std::async(std::launch::async, [&s, p = buf.data(), n] { s.md5.Update(p, static_cast<size_t>(n)); });
      }
      s.pos = 0;
      s.end = static_cast<size_t>(n);
    }
    const char* start = s.data + s.pos;
    const void* nl = std::memchr(start, '\n', s.end - s.pos);
    if (nl == nullptr) {
      line->append(start, s.end - s.pos);
      offset_ += static_cast<int64_t>(s.end - s.pos);
      s.pos = s.end;
      continue;
    }
    size_t len = static_cast<const char*>(nl) - start;
    line->append(start, len);
    s.pos += len + 1;
    offset_ += static_cast<int64_t>(len) + 1;
    break;
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  // A UTF-8 byte-order mark (spreadsheet tools write one) is not part of the first field.
  if (line_ == 0 && line->compare(0, 3, "\xEF\xBB\xBF") == 0) line->erase(0, 3);
  ++line_;
  return true;
}

std::string LineReader::Md5Hex() {
  impl_->WaitHashing();
  if (impl_->digest.empty()) {
    Md5 copy = impl_->md5;
    impl_->digest = copy.HexDigest();
  }
  return impl_->digest;
}

namespace {

class PlainFile {
 public:
  explicit PlainFile(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")) {
    RP_REQUIRE(f_ != nullptr, StatusCode::kIoError, "cannot open '{}': {}", path, std::strerror(errno));
  }
  ~PlainFile() { std::fclose(f_); }
  PlainFile(const PlainFile&) = delete;
  PlainFile& operator=(const PlainFile&) = delete;
  // Reads up to n bytes at `offset`; returns how many.
  size_t ReadAt(int64_t offset, char* buf, size_t n) {
    RP_REQUIRE(fseeko(f_, offset, SEEK_SET) == 0, StatusCode::kIoError, "cannot seek to byte {} of '{}': {}", offset,
               path_, std::strerror(errno));
    const size_t got = std::fread(buf, 1, n, f_);
    RP_REQUIRE(got == n || !std::ferror(f_), StatusCode::kIoError, "cannot read '{}' at byte {}: {}", path_, offset,
               std::strerror(errno));
    return got;
  }
  int64_t Size() {
    RP_REQUIRE(fseeko(f_, 0, SEEK_END) == 0, StatusCode::kIoError, "cannot size '{}': {}", path_, std::strerror(errno));
    return ftello(f_);
  }
  // Position just past the first '\n' at or after `from`; `size` when there is none.
  int64_t LineStartAfter(int64_t from, int64_t size, std::vector<char>& buf) {
    for (int64_t at = from; at < size;) {
      const size_t got = ReadAt(at, buf.data(), static_cast<size_t>(std::min<int64_t>(size - at, buf.size())));
      if (got == 0) break;
      const void* nl = std::memchr(buf.data(), '\n', got);
      if (nl != nullptr) return at + (static_cast<const char*>(nl) - buf.data()) + 1;
      at += static_cast<int64_t>(got);
    }
    return size;
  }

 private:
  std::string path_;
  std::FILE* f_;
};

}  // namespace

LineRange ScanLineRange(const std::string& path, int64_t from, int64_t to, int64_t size) {
  PlainFile f(path);
  std::vector<char> buf(size_t{4} << 20);
  LineRange r;
  r.begin = f.LineStartAfter(from - 1, size, buf);
  r.end = std::max(r.begin, f.LineStartAfter(to - 1, size, buf));
  char last = '\n';
  for (int64_t at = r.begin; at < r.end;) {
    const size_t got = f.ReadAt(at, buf.data(), static_cast<size_t>(std::min<int64_t>(r.end - at, buf.size())));
    RP_REQUIRE(got > 0, StatusCode::kIoError, "'{}' ends at byte {}, before its expected {} bytes (changed while read?)",
               path, at, size);
    r.lines += std::count(buf.data(), buf.data() + got, '\n');
    r.quotes += std::count(buf.data(), buf.data() + got, '"');
    last = buf[got - 1];
    at += static_cast<int64_t>(got);
  }
  if (r.end > r.begin && last != '\n') ++r.lines;
  return r;
}

std::vector<std::pair<int64_t, std::string>> HashFileBlocks(const std::string& path, int64_t from, int64_t to,
                                                            int64_t size) {
  PlainFile f(path);
  std::vector<char> buf(size_t{4} << 20);
  BlockHasher hasher;
  const int64_t first = (from + BlockHasher::kBlock - 1) / BlockHasher::kBlock;
  for (int64_t k = first; k * BlockHasher::kBlock < to && k * BlockHasher::kBlock < size; ++k) {
    const int64_t b = k * BlockHasher::kBlock, e = std::min(size, b + BlockHasher::kBlock);
    for (int64_t at = b; at < e;) {
      const size_t got = f.ReadAt(at, buf.data(), static_cast<size_t>(std::min<int64_t>(e - at, buf.size())));
      RP_REQUIRE(got > 0, StatusCode::kIoError, "'{}' ends at byte {}, before its expected {} bytes (changed while read?)",
                 path, at, size);
      hasher.Update(at, buf.data(), got);
      at += static_cast<int64_t>(got);
    }
  }
  return hasher.Finish();
}

int64_t FileSize(const std::string& path) {
  PlainFile f(path);
  return f.Size();
}

bool IsGzipFile(const std::string& path) {
  PlainFile f(path);
  char magic[2] = {0, 0};
  return f.ReadAt(0, magic, 2) == 2 && static_cast<uint8_t>(magic[0]) == 0x1f && static_cast<uint8_t>(magic[1]) == 0x8b;
}

void SplitFields(std::string_view line, std::string_view separator, std::vector<std::string_view>* fields) {
  fields->clear();
  size_t start = 0;
  for (;;) {
    size_t p = line.find(separator, start);
    if (p == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return;
    }
    fields->push_back(line.substr(start, p - start));
    start = p + separator.size();
  }
}

void SplitFields(std::string_view line, char delimiter, std::vector<std::string_view>* fields) {
  SplitFields(line, std::string_view(&delimiter, 1), fields);
}

CsvSplitter::Result CsvSplitter::Split(std::string_view record, char delimiter, std::vector<std::string_view>* fields) {
  if (record.find('"') == std::string_view::npos) {
    SplitFields(record, delimiter, fields);
    return Result::kOk;
  }
  fields->clear();
  unquoted_.clear();
  // Unquoted text is never longer than the record: no reallocation moves the earlier fields.
  unquoted_.reserve(record.size());
  const size_t n = record.size();
  size_t i = 0;
  for (;;) {
    if (i < n && record[i] == '"') {
      const size_t start = unquoted_.size();
      ++i;
      for (;;) {
        if (i >= n) return Result::kOpenQuote;
        if (record[i] == '"') {
          if (i + 1 < n && record[i + 1] == '"') {
            unquoted_ += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        size_t q = record.find('"', i);
        if (q == std::string_view::npos) q = n;
        unquoted_.append(record.data() + i, q - i);
        i = q;
      }
      fields->emplace_back(unquoted_.data() + start, unquoted_.size() - start);
      if (i == n) return Result::kOk;
      if (record[i] != delimiter) return Result::kTextAfterQuote;
      ++i;
      continue;
    }
    const size_t p = record.find(delimiter, i);
    if (p == std::string_view::npos) {
      fields->push_back(record.substr(i));
      return Result::kOk;
    }
    fields->push_back(record.substr(i, p - i));
    i = p + 1;
  }
}

const char* CsvSplitter::Explain(Result r) {
  switch (r) {
    case Result::kOk:
      return "well-formed";
    case Result::kOpenQuote:
      return "a quoted field is not closed";
    case Result::kTextAfterQuote:
      return "a closing quote is followed by text before the delimiter (a quote inside a quoted field is written \"\")";
  }
  return "malformed";
}

bool QuoteOpenAtEnd(std::string_view record, char delimiter) {
  if (record.find('"') == std::string_view::npos) return false;
  const size_t n = record.size();
  size_t i = 0;
  bool field_start = true;
  while (i < n) {
    if (field_start && record[i] == '"') {
      // A quoted field: find its closing quote (a doubled quote is text).
      ++i;
      for (;;) {
        const size_t q = record.find('"', i);
        if (q == std::string_view::npos) return true;
        if (q + 1 < n && record[q + 1] == '"') {
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      field_start = false;
      continue;
    }
    field_start = record[i] == delimiter;
    ++i;
  }
  return false;
}

bool ReadCsvRecord(LineReader& in, char delimiter, std::string* record, int64_t* first_line) {
  do {
    if (!in.Next(record)) return false;
  } while (record->empty());
  *first_line = in.line_number();
  if (!QuoteOpenAtEnd(*record, delimiter)) return true;
  std::string more;
  for (;;) {
    RP_REQUIRE(in.Next(&more), StatusCode::kDataError,
               "{}:{}: a quoted field opened on this line is never closed (the file ends at line {}); a quote inside a "
               "quoted field is written \"\"",
               in.path(), *first_line, in.line_number());
    record->push_back('\n');
    record->append(more);
    if (!QuoteOpenAtEnd(*record, delimiter)) return true;
    RP_REQUIRE(record->size() <= kMaxCsvRecordBytes, StatusCode::kDataError,
               "{}:{}: a quoted field opened on this line is still open {} lines and {} MiB later: an unclosed quote? "
               "(a quote inside a quoted field is written \"\")",
               in.path(), *first_line, in.line_number() - *first_line, kMaxCsvRecordBytes >> 20);
  }
}

bool ParseInt64(std::string_view s, int64_t* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseFloat(std::string_view s, double* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // strtod's syntax, which from_chars lacks
  if (s.empty()) return false;
  // from_chars: no allocation, no locale, correctly rounded (as strtod).
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

namespace {
// Length of the valid UTF-8 sequence starting at s[i] (2 to 4 bytes), or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}
}  // namespace

std::string Excerpt(std::string_view line, size_t max) {
  const bool cut = line.size() > max;
  if (cut) line = line.substr(0, max);
  std::string out;
  out.reserve(line.size() + 3);
  for (size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if ((c >= 0x20 && c < 0x7F) || c == '\t') {  // printable ASCII, and tabs (TSV lines read naturally)
      out += static_cast<char>(c);
      ++i;
    } else if (const size_t n = c >= 0x80 ? Utf8Length(line, i) : 0) {
      out.append(line.substr(i, n));
      i += n;
    } else {
      // Control bytes and broken UTF-8 never reach the terminal raw.
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace recprism::data
