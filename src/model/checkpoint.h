// Checkpoints: named tensors plus numbers and strings, in LibTorch's archive format (a zip that
// torch.jit can open), written atomically (temporary name, fsync, rename). Each records a CRC-32
// per tensor and one over its names, numbers and strings; LoadCheckpoint verifies them.
//
// Tensor names: "model.<parameter or buffer>", and whatever the trainer adds ("optim.m", ...).
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "data/array_file.h"
#include "model/recommender.h"

namespace recprism::model {

struct Checkpoint {
  std::map<std::string, torch::Tensor> tensors;  // CPU tensors
  std::map<std::string, double> numbers;         // step, epoch, best metric, ...
  std::map<std::string, std::string> strings;    // kind, config hash, ... (no newlines)
};

// Writes c to path atomically; the previous file at path stays intact until the rename.
// Fault injection for tests: RECPRISM_FAULT_KILL_IN_CHECKPOINT=N sends SIGKILL to this process
// halfway through writing its N-th checkpoint (the temporary file is half written).
void SaveCheckpoint(const std::string& path, const Checkpoint& c);
// Throws Error(kIoError) naming the file when it is missing or not a RecPrism checkpoint, and
// Error(kDataError) naming the file and the tensor when a checksum does not match (exit 4).
Checkpoint LoadCheckpoint(const std::string& path);

// The model's parameters and buffers as "model.<name>" tensors (CPU copies).
void AddModelState(torch::nn::Module& model, Checkpoint* c);
// Loads "model.<name>" tensors into the model. strict: every checkpoint tensor must exist in the
// model with the same shape and every model tensor must be in the checkpoint. Otherwise (fine-tuning
// from a pretraining checkpoint) every checkpoint tensor must exist with the same shape and every
// encoder parameter (IsEncoderParameter) must be present. A mismatch throws Error(kDataError)
// naming the file, the tensor and both shapes. Returns the number of tensors loaded.
int LoadModelState(torch::nn::Module& model, const Checkpoint& c, const std::string& path, bool strict);

}  // namespace recprism::model

namespace recprism::model {
// A tensor as a named array for data::WriteArrays (copied to the CPU; int64 stays int64, every
// other dtype becomes float32).
data::NamedArray ToNamedArray(const std::string& name, const torch::Tensor& tensor);

// Class probabilities of task logits, on the CPU in double: pCTR, pCVR and pCTCVR = pCTR x pCVR.
struct TaskProbabilities {
  torch::Tensor ctr, cvr, ctcvr;  // [B] float64, contiguous
};
TaskProbabilities Probabilities(const TaskLogits& logits);

// The model's options recorded in a checkpoint ("model.<key>" numbers and strings), so scoring a
// checkpoint needs no config. ModelOptionsFrom falls back to `fallback` for keys a checkpoint lacks.
void AddModelOptions(const ModelOptions& o, Checkpoint* c);
ModelOptions ModelOptionsFrom(const Checkpoint& c, const ModelOptions& fallback);
}  // namespace recprism::model
