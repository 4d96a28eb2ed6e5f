#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "train/tensorboard_event.h"

namespace recprism::train {

namespace {
std::string Num(double x) {
  if (!std::isfinite(x)) return "null";
  return fmt::format("{:.9g}", x);
}
std::string Duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60) : fmt::format("{}m{:02d}s", t / 60, t % 60);
}
}  // namespace

Progress::Progress(const std::string& run_dir, const std::string& kind, int64_t resumed_step, int64_t log_every)
    : kind_(kind), tty_(::isatty(STDERR_FILENO) == 1), log_every_(std::max<int64_t>(1, log_every)),
      start_(std::chrono::steady_clock::now()) {
  std::filesystem::create_directories(run_dir);
  const std::string path = run_dir + "/" + kind + "_log.jsonl";
  if (resumed_step > 0) {
    std::ifstream in(path);
    std::string kept, line;
    while (std::getline(in, line)) {
      const auto at = line.find("\"step\":");
      if (at != std::string::npos && std::atoll(line.c_str() + at + 7) > resumed_step) continue;
      kept += line + "\n";
    }
    WriteFileAtomic(path, kept);
  }
  jsonl_.open(path, resumed_step > 0 ? std::ios::app : std::ios::trunc);
  RP_REQUIRE(jsonl_.good(), StatusCode::kIoError, "cannot write {}", path);
  events_ = std::make_unique<EventWriter>(run_dir + "/tensorboard/" + kind);
}

Progress::~Progress() = default;

void Progress::StartEpoch(int, int epochs, int64_t, int64_t total_steps) {
  epochs_ = epochs;
  total_steps_ = total_steps;
}

void Progress::Step(const StepResult& r, int epoch, int64_t steps_per_epoch) {
  jsonl_ << fmt::format(
      "{{\"type\":\"step\",\"kind\":\"{}\",\"step\":{},\"epoch\":{},\"samples\":{},\"loss\":{},\"ctr_loss\":{},"
      "\"ctcvr_loss\":{},\"lr\":{},\"grad_norm\":{},\"sparse_item_grad\":{},\"comm_bytes\":{},\"comm_s\":{},"
      "\"step_s\":{}{}}}\n",
      kind_, r.step, epoch, Num(r.global_samples), Num(r.loss), Num(r.ctr_loss), Num(r.ctcvr_loss), Num(r.lr),
      Num(r.grad_norm), r.sparse ? "true" : "false", Num(r.comm_bytes), Num(r.comm_seconds), Num(r.step_seconds),
      std::isnan(r.dp_epsilon) ? std::string()
                               : fmt::format(",\"dp_epsilon\":{},\"dp_clipped\":{}", Num(r.dp_epsilon), Num(r.dp_clipped)));
  jsonl_.flush();
  events_->Scalar(kind_ + "/loss", r.step, r.loss);
  events_->Scalar(kind_ + "/lr", r.step, r.lr);
  events_->Scalar(kind_ + "/grad_norm", r.step, r.grad_norm);
  if (!std::isnan(r.dp_epsilon)) {
    events_->Scalar(kind_ + "/dp_epsilon", r.step, r.dp_epsilon);
    events_->Scalar(kind_ + "/dp_clipped", r.step, r.dp_clipped);
  }
  if (kind_ == "train") {
    events_->Scalar("train/ctr_loss", r.step, r.ctr_loss);
    events_->Scalar("train/ctcvr_loss", r.step, r.ctcvr_loss);
  }
  window_samples_ += r.global_samples;
  window_loss_ += r.loss * r.global_samples;
  window_comm_ += r.comm_bytes;
  window_time_ += r.step_seconds;
  ++window_steps_;
  const double rate = window_time_ > 0 ? window_samples_ / window_time_ : 0;
  const double eta = rate > 0 && total_steps_ > 0 ? (total_steps_ - r.step) * window_time_ / window_steps_ : NAN;
  if (tty_) {
    const int width = 24;
    const double frac = total_steps_ > 0 ? std::min(1.0, static_cast<double>(r.step) / total_steps_) : 0;
    const int filled = static_cast<int>(frac * width);
    std::fprintf(stderr, "\r%s epoch %d/%d step %lld/%lld [%s%s] %.0f samples/s loss %.4f ETA %s   ", kind_.c_str(),
                 std::min(epoch + 1, epochs_), epochs_, static_cast<long long>(r.step),
                 static_cast<long long>(total_steps_), std::string(filled, '=').c_str(),
                 std::string(width - filled, ' ').c_str(), rate, r.loss, Duration(eta).c_str());
    std::fflush(stderr);
  }
  if (r.step % log_every_ == 0 || r.step == total_steps_) {
    if (!tty_) {
      RP_LOG_INFO("{} step {}/{} epoch {} | loss {:.5f} | {:.0f} samples/s | {:.2f} MB communicated/step | lr {:.3g} | "
                  "ETA {}{}", kind_, r.step, total_steps_, epoch, window_loss_ / std::max(window_samples_, 1.0), rate,
                  window_comm_ / window_steps_ / 1e6, r.lr, Duration(eta),
                  std::isnan(r.dp_epsilon) ? std::string() : fmt::format(" | DP epsilon {:.3g}, {:.0f}% clipped", r.dp_epsilon, 100 * r.dp_clipped));
    }
    window_samples_ = window_loss_ = window_comm_ = window_time_ = 0;
    window_steps_ = 0;
  }
  (void)steps_per_epoch;
}

void Progress::Probe(int64_t steps, double samples_per_s, int world_size) {
  jsonl_ << fmt::format("{{\"type\":\"probe\",\"kind\":\"{}\",\"steps\":{},\"single_rank_samples_per_s\":{},"
                        "\"world_size\":{}}}\n",
                        kind_, steps, Num(samples_per_s), world_size);
  jsonl_.flush();
}

void Progress::Validation(int64_t step, int epoch, const train::Validation& v, const std::string& metric, double best,
                          bool improved) {
  jsonl_ << fmt::format(
      "{{\"type\":\"valid\",\"step\":{},\"epoch\":{},\"samples\":{},\"loss\":{},\"ctr_auc\":{},\"ctr_gauc\":{},"
      "\"ctr_ndcg\":{},\"ctr_hit_rate\":{},\"ctr_logloss\":{},"
      "\"cvr_auc\":{},\"ctcvr_auc\":{},\"ctcvr_logloss\":{},\"auc_error_bound\":{},\"best\":{},\"improved\":{}}}\n",
      step, epoch, Num(v.samples), Num(v.loss), Num(v.ctr_auc), Num(v.ctr_gauc), Num(v.ctr_ndcg), Num(v.ctr_hit_rate), Num(v.ctr_logloss), Num(v.cvr_auc), Num(v.ctcvr_auc),
      Num(v.ctcvr_logloss), Num(v.auc_error_bound), Num(best), improved ? "true" : "false");
  jsonl_.flush();
  // Only the metrics this objective produces: a next-item run has no click labels to score with
  // AUC or logloss, a single-task run no CVR.
  std::string line;
  auto add = [&](const char* sep, const char* label, const char* tag, double value) {
    if (!std::isfinite(value)) return;
    events_->Scalar(tag, step, value);
    line += fmt::format("{}{} {:.4f}", line.empty() ? "" : sep, label, value);
  };
  add(" ", "ctr auc", "valid/ctr_auc", v.ctr_auc);
  add(" ", "gauc", "valid/ctr_gauc", v.ctr_gauc);
  add(" ", "ndcg", "valid/ctr_ndcg", v.ctr_ndcg);
  add(" ", "hit rate", "valid/ctr_hit_rate", v.ctr_hit_rate);
  add(" ", "logloss", "valid/ctr_logloss", v.ctr_logloss);
  add(" | ", "ctcvr auc", "valid/ctcvr_auc", v.ctcvr_auc);
  add(" | ", "cvr auc", "valid/cvr_auc", v.cvr_auc);
  add(" | ", "loss", "valid/loss", v.loss);
  if (tty_) std::fprintf(stderr, "\n");
  RP_LOG_INFO("validation at step {}: {} ({} samples){}", step, line.empty() ? "no finite metric" : line, v.samples,
              improved ? fmt::format(" | new best {}", metric) : "");
}

void Progress::Finish(int64_t steps, double samples, double seconds) {
  if (tty_) std::fprintf(stderr, "\n");
  RP_LOG_INFO("{}: {} steps, {:.0f} samples in {:.1f} s ({:.0f} samples/s)", kind_, steps, samples, seconds,
              seconds > 0 ? samples / seconds : 0.0);
}

eval::TrainLogSummary ReadTrainLog(const std::string& path) {
  eval::TrainLogSummary out;
  std::ifstream in(path);
  if (!in.good()) return out;
  out.path = path;
  auto num = [](const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
  };
  double window_left = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("kind", "") != "train") continue;
    const std::string type = j.value("type", "");
    if (type == "probe") {
      out.single_rank_samples_per_s = num(j, "single_rank_samples_per_s");
      window_left = num(j, "steps");
      out.window_samples = out.window_s = out.window_steps = 0;
      continue;
    }
    if (type != "step") continue;
    if (const double e = num(j, "dp_epsilon"); std::isfinite(e)) {
      out.dp_epsilon = e;
      out.dp_epsilon_step = num(j, "step");
    }
    const double samples = num(j, "samples"), step_s = num(j, "step_s"), comm_s = num(j, "comm_s");
    if (!std::isfinite(samples) || !std::isfinite(step_s)) continue;
    out.samples += samples;
    out.step_s += step_s;
    out.comm_s += std::isfinite(comm_s) ? comm_s : 0;
    out.steps += 1;
    if (window_left > 0) {
      out.window_samples += samples;
      out.window_s += step_s;
      out.window_steps += 1;
      window_left -= 1;
    }
  }
  return out;
}

}  // namespace recprism::train
