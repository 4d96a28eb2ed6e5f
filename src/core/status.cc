#include "core/status.h"

namespace recprism {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kInvalidConfig: return "invalid config";
    case StatusCode::kDataError: return "data error";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kCommError: return "communication error";
    case StatusCode::kTimeout: return "timeout";
    case StatusCode::kAborted: return "aborted";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

int ExitCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kInvalidConfig: return 3;
    case StatusCode::kDataError:
    case StatusCode::kIoError: return 4;
    case StatusCode::kCommError:
    case StatusCode::kTimeout:
    case StatusCode::kAborted: return 5;
    case StatusCode::kUnavailable: return 6;
    case StatusCode::kInternal: return 1;
  }
  return 1;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace recprism
