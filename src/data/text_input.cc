#include "data/text_input.h"

#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/check.h"
#include "core/md5.h"

namespace recprism::data {

struct LineReader::Impl {
  gzFile file = nullptr;
  Md5 md5;
  std::vector<char> buf = std::vector<char>(1 << 16);
  size_t pos = 0, end = 0;
  bool eof = false;
  std::string digest;
};

LineReader::LineReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->file = gzopen(path.c_str(), "rb");
  RP_REQUIRE(impl_->file != nullptr, StatusCode::kIoError, "cannot open '{}': {}", path,
             errno != 0 ? std::strerror(errno) : "zlib could not allocate a reader");
  gzbuffer(impl_->file, 1 << 17);
}

LineReader::~LineReader() {
  if (impl_->file != nullptr) gzclose(impl_->file);
}

bool LineReader::Next(std::string* line) {
  Impl& s = *impl_;
  line->clear();
  for (;;) {
    if (s.pos == s.end) {
      if (s.eof) {
        if (line->empty()) return false;
        break;
      }
      int n = gzread(s.file, s.buf.data(), static_cast<unsigned>(s.buf.size()));
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
      s.md5.Update(s.buf.data(), static_cast<size_t>(n));
      s.pos = 0;
      s.end = static_cast<size_t>(n);
    }
    const char* start = s.buf.data() + s.pos;
    const void* nl = std::memchr(start, '\n', s.end - s.pos);
    if (nl == nullptr) {
      line->append(start, s.end - s.pos);
      s.pos = s.end;
      continue;
    }
    size_t len = static_cast<const char*>(nl) - start;
    line->append(start, len);
    s.pos += len + 1;
    break;
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  ++line_;
  return true;
}

std::string LineReader::Md5Hex() {
  if (impl_->digest.empty()) {
    Md5 copy = impl_->md5;
    impl_->digest = copy.HexDigest();
  }
  return impl_->digest;
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

std::string Excerpt(std::string_view line, size_t max) {
  if (line.size() <= max) return std::string(line);
  return std::string(line.substr(0, max)) + "...";
}

}  // namespace recprism::data
