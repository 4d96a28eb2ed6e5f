// Training progress on rank 0: a progress bar on a terminal (plain periodic log lines otherwise),
// train_log.jsonl with every step and validation, and TensorBoard event files with the scalars
// (tensorboard_event.h). Not thread-safe; rank 0 only.
#pragma once

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "eval/efficiency.h"
#include "train/trainer.h"

namespace recprism::train {

class EventWriter;

class Progress {
 public:
  // kind: "train" or "pretrain". resumed_step > 0 continues the JSONL log of a resumed run, dropping
  // the entries after that step (written by the interrupted run after its last checkpoint), so
  // the log holds every step once.
  Progress(const std::string& run_dir, const std::string& kind, int64_t resumed_step, int64_t log_every = 10);
  ~Progress();
  void StartEpoch(int epoch, int epochs, int64_t steps_per_epoch, int64_t total_steps);
  void Step(const StepResult& r, int epoch, int64_t steps_per_epoch);
  void Validation(int64_t step, int epoch, const train::Validation& v, const std::string& metric, double best,
                  bool improved);
  void Finish(int64_t steps, double samples, double seconds);
  // The scaling probe's result: one rank's samples/s alone.
  void Probe(int64_t steps, double samples_per_s, int world_size);

 private:
  std::string kind_;
  std::ofstream jsonl_;
  std::unique_ptr<EventWriter> events_;
  bool tty_;
  int64_t log_every_, total_steps_ = 0, window_steps_ = 0;
  int epochs_ = 1;
  double window_samples_ = 0, window_loss_ = 0, window_comm_ = 0, window_time_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Reads a train_log.jsonl that Progress wrote (kind "train"): the sums of its steps, its scaling
// probe and the steps right after it, and its last DP-SGD epsilon. A missing file gives an empty
// summary (path empty); a line that is not JSON (a run killed mid-write) is skipped.
eval::TrainLogSummary ReadTrainLog(const std::string& path);

}  // namespace recprism::train
