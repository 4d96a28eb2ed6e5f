// TensorBoard event files written without TensorFlow: TFRecord framing (length, masked CRC-32C of
// the length, payload, masked CRC-32C of the payload) around hand-encoded `Event` protocol
// buffers (tensorboard/compat/proto/event.proto: wall_time = 1, step = 2, file_version = 3,
// summary = 5; Summary.value = 1; Value.tag = 1, Value.simple_value = 2).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace recprism::train {

// CRC-32C (Castagnoli) of bytes, and TFRecord's mask of it.
uint32_t Crc32c(std::string_view bytes);
uint32_t MaskedCrc32c(std::string_view bytes);

class EventWriter {
 public:
  // Creates dir and events.out.tfevents.<unix time>.<host>.<pid> in it; the first record is the
  // file_version event. Write errors are logged once and further scalars dropped (never fatal).
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  // One scalar summary event; flushed so a crash keeps what was written.
  void Scalar(const std::string& tag, int64_t step, double value);
  const std::string& path() const { return path_; }

 private:
  void Record(const std::string& payload);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace recprism::train
