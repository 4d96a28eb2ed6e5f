#include "train/tensorboard_event.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/log.h"

namespace recprism::train {

namespace {
std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
template <typename T>
void Fixed(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts (x86-64, aarch64)
  out.append(b, sizeof(T));
}
void LengthDelimited(std::string& out, int field, const std::string& bytes) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  Varint(out, bytes.size());
  out += bytes;
}
double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

uint32_t Crc32c(std::string_view bytes) {
  static const auto table = MakeTable();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(std::string_view bytes) {
  const uint32_t c = Crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(WallTime())) + "." + host + "." +
          std::to_string(::getpid());
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) {
    RP_LOG_WARN("cannot write TensorBoard events to {}; scalars go to the JSONL log only", path_);
    return;
  }
  std::string event;
  Varint(event, (1 << 3) | 1);
  Fixed(event, WallTime());
  LengthDelimited(event, 3, "brain.Event:2");
  Record(event);
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventWriter::Scalar(const std::string& tag, int64_t step, double value) {
  if (file_ == nullptr) return;
  std::string v;
  LengthDelimited(v, 1, tag);
  Varint(v, (2 << 3) | 5);
  Fixed(v, static_cast<float>(value));
  std::string summary;
  LengthDelimited(summary, 1, v);
  std::string event;
  Varint(event, (1 << 3) | 1);
  Fixed(event, WallTime());
  Varint(event, 2 << 3);
  Varint(event, static_cast<uint64_t>(step));
  LengthDelimited(event, 5, summary);
  Record(event);
}

void EventWriter::Record(const std::string& payload) {
  std::string header;
  Fixed(header, static_cast<uint64_t>(payload.size()));
  std::string rec = header;
  Fixed(rec, MaskedCrc32c(header));
  rec += payload;
  Fixed(rec, MaskedCrc32c(payload));
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size() || std::fflush(file_) != 0) {
    RP_LOG_WARN("writing TensorBoard events to {} failed; further scalars go to the JSONL log only", path_);
    std::fclose(file_);
    file_ = nullptr;
  }
}

}  // namespace recprism::train
