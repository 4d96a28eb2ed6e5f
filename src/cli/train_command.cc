// `recprism pretrain` and `recprism train`.
#include <filesystem>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/check.h"
#include "core/log.h"
#include "data/prepare.h"
#include "train/trainer.h"

namespace recprism::cli {
namespace {

constexpr const char* kTrainHelp = R"(usage: recprism train [--config FILE] [--set key=value]... [--init-from CKPT] [--resume | --resume-from CKPT]

Data-parallel multi-task training (CTR and CVR heads, ESMM, MMoE or shared bottom) of the
behaviour-sequence transformer on the prepared file of data.dataset (run `recprism prepare` first).
Launch on N ranks with `mpirun -n N recprism train --set comm.backend=mpi` (CPU) or nccl (GPU);
every rank reads its own users' rows.

Writes under <run.output_dir>/<run.name>/: checkpoints/step-<N>.pt (the last train.keep_checkpoints)
and best.pt (best validation by train.early_stop_metric), train_log.jsonl (every step and
validation), tensorboard/train/ (event files), weights.h5 (final weights, h5py-readable) and
logs/rank-<r>.log.

options:
  --init-from CKPT    initialise from a checkpoint (pretraining's encoder.pt or a train checkpoint):
                      every tensor in it must exist in this model with the same shape, and every
                      encoder tensor must be in it; train.encoder_lr_scale 0 freezes them
  --resume            continue from the run directory's newest checkpoints/step-<N>.pt
  --resume-from CKPT  continue from this checkpoint (same world size; bit-identical on CPU)
  --config FILE       run config; --set key=value overrides one key (repeatable)
)";

constexpr const char* kPretrainHelp = R"(usage: recprism pretrain [--config FILE] [--set key=value]...

Masked-item (Cloze) pretraining of the embeddings and the encoder over the users' train histories:
a share pretrain.mask_prob of each history's items is replaced by [MASK] and predicted with a full
softmax over the catalogue (up to pretrain.full_softmax_max_items items) or a sampled softmax with
log-Q correction. Data-parallel like train. Writes <run dir>/pretrain/encoder.pt, the checkpoint
that `recprism train --init-from` takes, plus pretrain_log.jsonl and tensorboard/pretrain/.
)";

train::TrainJob MakeTrainJob(const Job& job) {
  const RunOptions& o = job.config.options;
  train::TrainJob t;
  t.prepared_path = data::PreparedPath(o.data);
  RP_REQUIRE(std::filesystem::is_regular_file(t.prepared_path), StatusCode::kIoError,
             "prepared file {} for data.dataset '{}' does not exist: run `recprism prepare` with the same config first "
             "(or set data.prepared)", t.prepared_path, o.data.dataset);
  data::CheckPreparedMatches(o.data, t.prepared_path);
  t.run_dir = job.run_dir;
  t.config_hash = job.config.hash;
  t.seed = static_cast<uint64_t>(o.run.seed);
  t.data = o.data;
  t.model = o.model;
  t.train = o.train;
  t.pretrain = o.pretrain;
  t.eval = o.eval;
  return t;
}

}  // namespace

int RunTrainCommand(JobContext& ctx, const std::vector<std::string>& args, bool pretraining) {
  ParsedArgs a = pretraining ? ParseArgs(args, {"--config", "--set"}, {}, "recprism pretrain")
                             : ParseArgs(args, {"--config", "--set", "--init-from", "--resume-from"}, {"--resume"},
                                         "recprism train");
  if (a.help) {
    std::cout << (pretraining ? kPretrainHelp : kTrainHelp);
    return 0;
  }
  RP_REQUIRE(!(a.Has("--resume") && a.Has("--resume-from")), StatusCode::kInvalidArgument,
             "recprism train: give --resume or --resume-from CKPT, not both");
  Job job = StartJob(ctx, a.Get("--config"), a.GetAll("--set"), /*require_all_keys=*/true);
  train::TrainJob t = MakeTrainJob(job);
  if (!pretraining) {
    t.init_from = a.Get("--init-from");
    if (a.Has("--resume")) t.resume = "latest";
    if (a.Has("--resume-from")) t.resume = a.Get("--resume-from");
    if (!t.resume.empty() && !t.init_from.empty()) {
      RP_LOG_WARN("--init-from {} is ignored: resuming restores every tensor from the checkpoint", t.init_from);
    }
  }
  train::Trainer trainer(*job.comm, t, pretraining);
  const auto summary = trainer.Run();
  if (job.comm->Rank() == 0) {
    std::cout << fmt::format("{}: {} steps, {:.0f} samples in {:.1f} s ({:.0f} samples/s)\n",
                             pretraining ? "pretrain" : "train", summary.steps, summary.samples, summary.seconds,
                             summary.seconds > 0 ? summary.samples / summary.seconds : 0.0);
    if (!pretraining && summary.last_validation.samples > 0) {
      const auto& v = summary.last_validation;
      std::cout << fmt::format("  last validation: ctr auc {:.4f}, ctr logloss {:.4f}, ctcvr auc {:.4f} ({:.0f} samples)\n",
                               v.ctr_auc, v.ctr_logloss, v.ctcvr_auc, v.samples);
      std::cout << fmt::format("  best {} {:.4f} at step {}: {}\n", t.train.early_stop_metric, summary.best_metric,
                               summary.best_step, summary.best_checkpoint);
    }
    if (summary.early_stopped) std::cout << "  stopped early (train.patience)\n";
    std::cout << fmt::format("  checkpoint: {}\n  weights:    {}\n  logs:       {}/{}_log.jsonl, {}/tensorboard/, {}/logs/\n",
                             summary.last_checkpoint, summary.weights, t.run_dir, pretraining ? "pretrain" : "train",
                             t.run_dir, t.run_dir);
  }
  return 0;
}

}  // namespace recprism::cli
