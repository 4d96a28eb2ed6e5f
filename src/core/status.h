// Status, StatusOr and the exception that carries a Status across module boundaries.
//
// Two tiers of errors (STYLE.md §3): broken internal invariants abort through RP_CHECK
// (core/check.h); everything a user can cause (config, data, paths, peers, devices) is a
// Status, thrown as recprism::Error where unwinding is the natural path. The CLI's single
// top-level handler maps the code to the process exit code (ExitCodeFor).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace recprism {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad command line or API argument
  kInvalidConfig,    // config file, overlay or override rejected
  kDataError,        // malformed or inconsistent input data
  kIoError,          // file missing, unreadable or unwritable
  kCommError,        // a collective failed or a peer died
  kTimeout,          // a collective did not complete within comm.timeout_s
  kAborted,          // another rank aborted the job
  kUnavailable,      // a requested resource (CUDA device, backend) is not present
  kInternal,         // a bug in RecPrism
};

std::string_view StatusCodeName(StatusCode code);

// Process exit code for an error of this kind (documented in README.md, "Exit codes").
int ExitCodeFor(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "ok".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Exception form of a non-ok Status. what() returns the message alone.
class Error : public std::runtime_error {
 public:
  explicit Error(Status status) : std::runtime_error(status.message()), status_(std::move(status)) {}
  Error(StatusCode code, std::string message) : Error(Status(code, std::move(message))) {}
  const Status& status() const { return status_; }
  StatusCode code() const { return status_.code(); }

 private:
  Status status_;
};

// Either a value or a non-ok Status. value() on an error throws the Error.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}                       // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {                 // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "StatusOr built from an ok Status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & {
    if (!ok()) throw Error(std::get<Status>(v_));
    return std::get<T>(v_);
  }
  T&& value() && {
    if (!ok()) throw Error(std::get<Status>(v_));
    return std::move(std::get<T>(v_));
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace recprism
