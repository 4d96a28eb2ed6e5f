#include "train/trainer.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/array_file.h"
#include "eval/evaluator.h"
#include "eval/fused_sum.h"
#include "eval/heldout_ranking.h"
#include "eval/model_scoring.h"
#include "metrics/binary.h"
#include "model/checkpoint.h"
#include "model/per_sample.h"
#include "model/recommender.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "train/privacy.h"
#include "model/objectives.h"
#include "train/dp_sgd.h"
#include "train/progress.h"
#include "train/tensor_collectives.h"
#include "train/trainer_state.h"

namespace recprism::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Validation::Metric(const std::string& name) const {
  if (name == "ctr_auc") return ctr_auc;
  if (name == "ctcvr_auc") return ctcvr_auc;
  if (name == "ctr_logloss") return ctr_logloss;
  if (name == "ctr_gauc") return ctr_gauc;
  if (name == "ctr_ndcg") return ctr_ndcg;
  if (name == "ctr_hit_rate") return ctr_hit_rate;
  if (name == "loss") return loss;
  RP_THROW(StatusCode::kInvalidConfig, "train.early_stop_metric: expected ctr_auc, ctr_gauc, ctr_ndcg, ctr_hit_rate, ctcvr_auc, ctr_logloss or loss, "
           "found '{}'", name);
}

namespace {
bool HigherIsBetter(const std::string& metric) { return metric != "ctr_logloss" && metric != "loss"; }

torch::Device ResolveDevice(const std::string& device, Communicator& comm) {
  if (device == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (device == "auto") {
    if (!cuda) return torch::kCPU;
  } else {
    RP_REQUIRE(device == "cuda", StatusCode::kInvalidConfig, "train.device: expected auto, cpu or cuda, found '{}'",
               device);
    RP_REQUIRE(cuda, StatusCode::kUnavailable,
               "train.device is cuda but LibTorch sees no CUDA device (this build's LibTorch: CUDA {}); use "
               "train.device: cpu or auto", torch::cuda::is_available() ? "present" : "absent");
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(comm.LocalRank() % std::max(count, 1)));
}

int64_t StepOf(const fs::path& p) {
  static const std::regex re("step-(\\d+)\\.pt");
  std::smatch m;
  const std::string name = p.filename().string();
  return std::regex_match(name, m, re) ? std::stoll(m[1]) : -1;
}
}  // namespace


Trainer::Trainer(Communicator& comm, const TrainJob& job, bool pretraining)
    : s_(std::make_unique<State>(comm, job, pretraining)) {
  auto& s = *s_;
  const auto& o = job.train;
  s.device = ResolveDevice(o.device, comm);
  const int batch = o.batch_size;
  s.next_item = !pretraining && o.objective == Objective::kNextItem;
  RP_REQUIRE(!s.next_item || job.model.causal, StatusCode::kInvalidConfig,
             "train.objective: next_item needs model.causal: true (found false)");
  s.dp = !pretraining && o.privacy.dp_sgd;
  RP_REQUIRE(!pretraining || !o.privacy.dp_sgd, StatusCode::kInvalidConfig,
             "train.privacy.dp_sgd is set, but recprism pretrain does not train privately: a model pretrained on the "
             "private data without DP-SGD voids the guarantee of its fine-tuning. Pretrain on public data with a "
             "config without train.privacy.dp_sgd, or train from scratch");
  auto loader_options = data::MakeLoaderOptions(job.data, data::Split::kTrain, batch, job.seed, true);
  loader_options.last_positive_per_user = s.next_item || (pretraining && job.pretrain.histories == "last_per_user");
  s.loader = std::make_unique<data::ShardLoader>(job.prepared_path, comm, loader_options);
  const auto shape = model::ShapeOf(s.loader->reader(), job.data.max_seq_len);
  // The same seed on every rank, and rank 0's values broadcast below all the same.
  torch::manual_seed(job.seed);
  // Bidirectional pretraining of an encoder that fine-tunes causally (BERT4Rec/S3-Rec-style):
  // attention masks carry no parameters, so the encoder transfers as is.
  if (pretraining && job.pretrain.attention == "bidirectional") s.job.model.causal = false;
  s.model = model::Recommender(s.job.model, shape);
  if (!job.init_from.empty() && job.resume.empty()) {
    auto c = model::LoadCheckpoint(job.init_from);
    const int n = model::LoadModelState(*s.model, c, job.init_from, /*strict=*/false);
    RP_LOG_INFO("initialised {} tensors from {} ({})", n, job.init_from, c.strings["kind"]);
  }
  const double enc_scale = pretraining ? 1.0 : o.encoder_lr_scale;
  if (enc_scale == 0) {
    for (auto& p : s.model->named_parameters()) {
      if (model::IsEncoderParameter(p.key())) p.value().set_requires_grad(false);
    }
  }
  s.model->to(s.device);
  s.flat = std::make_unique<FlatParameters>(
      *s.model, [&](const std::string& n) { return model::IsEncoderParameter(n) ? enc_scale : 1.0; },
      [&](const std::string& n) { return !model::IsNoDecayParameter(n); });
  comm.Broadcast(s.flat->params().data_ptr(), static_cast<size_t>(s.flat->size()), DType::kFloat32, 0,
                 s.device.is_cuda() ? BufferPlace{DeviceType::kCUDA, s.device.index()} : BufferPlace{});
  s.adam = std::make_unique<FlatAdam>(*s.flat, o);
  // DP-SGD's noise makes the item table's gradient dense: no row exchange.
  s.sync = std::make_unique<GradientSync>(comm, *s.flat, "embed.item.weight", s.dp ? "dense" : o.sparse_embeddings,
                                          o.bucket_mb);
  const int64_t softmax_max = pretraining ? job.pretrain.full_softmax_max_items : o.full_softmax_max_items;
  if ((pretraining || s.next_item) && shape.num_items > softmax_max) {
    const auto& pop = s.loader->reader().items().popularity;
    std::vector<double> q(pop.begin() + 1, pop.end());
    for (auto& x : q) x += 1;  // unseen items keep a little mass
    s.popularity_q = torch::tensor(q, torch::kDouble);
    s.popularity_q /= s.popularity_q.sum();
  }
  if (s.dp) SetUpDpSgd(shape.num_items);
  // Resume: every rank reads the same checkpoint.
  if (!job.resume.empty()) Resume(job.resume);
  const auto cost = model::EstimateCost(s.model, job.model.interaction == Interaction::kEncodeOnce
                                                     ? 1.0 / (1 + std::max(0, job.data.negatives_per_positive))
                                                     : 1.0);
  RP_LOG_INFO("model: {} parameters, {:.3g} MFLOP/sample forward, {:.3g} MFLOP/sample forward+backward ({} heads, "
              "{}, d_model {}, {} layers, L {}); device {}", cost.parameters, cost.forward_flops_per_sample / 1e6,
              cost.train_flops_per_sample / 1e6, NameOf(job.model.heads), NameOf(job.model.interaction), job.model.d_model,
              job.model.num_layers, job.data.max_seq_len, s.device.str());
  if (comm.Rank() == 0) s.progress = std::make_unique<Progress>(job.run_dir, pretraining ? "pretrain" : "train", s.step, o.log_every);
}

// DP-SGD: the full softmax is required, and the sample rate q = global batch / train samples.
void Trainer::SetUpDpSgd(int64_t num_items) {
  auto& s = *s_;
  const auto& o = s.job.train;
  Communicator& comm = s.comm;
  const int batch = o.batch_size;
  RP_REQUIRE(!s.popularity_q.defined(), StatusCode::kInvalidConfig,
             "train.privacy.dp_sgd with train.objective: next_item needs the full softmax (its negatives are shared "
             "across the batch, so per-sample gradients of a sampled softmax are not separable): the catalogue has {} "
             "items, above train.full_softmax_max_items ({})", num_items, o.full_softmax_max_items);
  const auto samples = AllReduceScalar<int64_t>(comm, s.loader->local_samples(), ReduceOp::kSum);
  RP_REQUIRE(samples > 0, StatusCode::kDataError, "train.privacy.dp_sgd: the train split of {} has no samples",
             s.job.prepared_path);
  s.dp_sample_rate = std::min(1.0, static_cast<double>(batch) * comm.WorldSize() / static_cast<double>(samples));
  RP_LOG_INFO("DP-SGD: noise multiplier {}, max grad norm {}, sample rate {:.4g} ({} x {} of {} samples), delta {:g}{}",
              o.privacy.noise_multiplier, o.privacy.max_grad_norm, s.dp_sample_rate, batch, comm.WorldSize(),
              samples, o.privacy.delta,
              o.privacy.delta * static_cast<double>(samples) >= 1
                  ? fmt::format(" (warning: delta >= 1 / {} samples; choose delta well below it)", samples)
                  : "");
}

// Restores the model, the optimizer's moments and the data position from a step-<N>.pt or best.pt
// ("latest": the newest step-<N>.pt); every rank reads the same checkpoint.
void Trainer::Resume(const std::string& resume) {
  auto& s = *s_;
  Communicator& comm = s.comm;
  const auto& job = s.job;
  const bool pretraining = s.pretraining;
  std::string path = resume;
  model::Checkpoint c;
  if (path == "latest") {
    // The newest step-<N>.pt that loads intact: a damaged newest one (a failed disk, a copy cut
    // short) is skipped with a warning, and the run resumes from the one before it.
    std::vector<std::pair<int64_t, std::string>> found;
    if (fs::is_directory(s.CheckpointDir())) {
      for (const auto& e : fs::directory_iterator(s.CheckpointDir())) {
        const int64_t st = StepOf(e.path());
        if (st >= 0) found.emplace_back(st, e.path().string());
      }
    }
    RP_REQUIRE(!found.empty(), StatusCode::kIoError, "--resume: no checkpoint step-<N>.pt in {}",
               s.CheckpointDir().string());
    std::sort(found.rbegin(), found.rend());
    for (size_t i = 0; i < found.size(); ++i) {
      path = found[i].second;
      try {
        c = model::LoadCheckpoint(path);
        break;
      } catch (const Error& e) {
        if (i + 1 == found.size() || (e.code() != StatusCode::kDataError && e.code() != StatusCode::kIoError)) throw;
        RP_LOG_WARN("--resume: skipping {}: {}; trying {}", path, e.what(), found[i + 1].second);
      }
    }
  } else {
    c = model::LoadCheckpoint(path);
  }
  const std::string want = pretraining ? "pretrain" : "train";
  RP_REQUIRE(c.strings["kind"] == want && c.tensors.count("optim.exp_avg") && c.tensors.count("optim.exp_avg_sq"),
             StatusCode::kInvalidArgument,
             "--resume {}: not a resumable {} checkpoint (kind '{}'; resume takes a checkpoints/step-<N>.pt or best.pt "
             "written by recprism {}; to start from an encoder use --init-from)", path, want, c.strings["kind"], want, want);
  RP_REQUIRE(static_cast<int>(c.numbers["world_size"]) == comm.WorldSize(), StatusCode::kInvalidArgument,
             "--resume {}: the checkpoint was written by {} ranks but this launch has {}; the data position is "
             "only defined for the same world size", path, c.numbers["world_size"], comm.WorldSize());
  model::LoadModelState(*s.model, c, path, /*strict=*/true);
  s.adam->exp_avg().copy_(c.tensors.at("optim.exp_avg"));
  s.adam->exp_avg_sq().copy_(c.tensors.at("optim.exp_avg_sq"));
  s.adam->set_steps(static_cast<int64_t>(c.numbers["optim.t"]));
  s.step = static_cast<int64_t>(c.numbers["step"]);
  s.epoch = static_cast<int>(c.numbers["epoch"]);
  s.batch_in_epoch = static_cast<int64_t>(c.numbers["batch_in_epoch"]);
  s.resumed_skip = s.batch_in_epoch;
  s.best = c.numbers.count("best") ? c.numbers["best"] : std::nan("");
  s.best_step = static_cast<int64_t>(c.numbers["best_step"]);
  s.since_best = static_cast<int>(c.numbers["since_best"]);
  s.last_checkpoint = path;
  if (c.strings["config_hash"] != job.config_hash) {
    RP_LOG_WARN("resuming {} written under config {} with config {}", path, c.strings["config_hash"], job.config_hash);
  }
  RP_LOG_INFO("resumed from {}: step {}, epoch {}, batch {} of the epoch", path, s.step, s.epoch, s.batch_in_epoch);
}

Trainer::~Trainer() = default;

model::RecommenderImpl& Trainer::model() { return *s_->model; }

std::vector<float> Trainer::Parameters() const {
  auto p = s_->flat->params().to(torch::kCPU).contiguous();
  return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
}

void Trainer::set_total_steps(int64_t steps) { s_->total_steps = steps; }

void Trainer::ScalingProbe() {
  auto& s = *s_;
  const int64_t n = s.job.train.scaling_probe_steps;
  // Its own loader (another shuffle of this rank's shard), so training's data order is untouched;
  // parameters, optimizer state and the step counter are restored after.
  auto lo = data::MakeLoaderOptions(s.job.data, data::Split::kTrain, s.job.train.batch_size, Mix64(s.job.seed ^ 0x9e0b),
                                    true);
  lo.last_positive_per_user = s.next_item;
  data::ShardLoader loader(s.job.prepared_path, s.comm, lo);
  loader.StartEpoch(0);
  const auto params = s.flat->params().clone(), m = s.adam->exp_avg().clone(), v = s.adam->exp_avg_sq().clone();
  const int64_t step = s.step, t = s.adam->steps();
  s.probing = true;
  s.comm.Barrier();
  data::Batch b;
  double samples = 0, seconds = 0;
  for (int64_t i = 0; i < n + 1 && loader.Next(&b); ++i) {
    const auto t0 = Clock::now();
    auto r = Step(b);
    // The first step warms up allocators and caches: not counted.
    if (i > 0) {
      samples += r.global_samples;
      seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  }
  s.probing = false;
  s.flat->params().copy_(params);
  s.adam->exp_avg().copy_(m);
  s.adam->exp_avg_sq().copy_(v);
  s.adam->set_steps(t);
  s.step = step;
  std::vector<double> rate{seconds > 0 ? samples / seconds : 0.0, seconds > 0 ? 1.0 : 0.0};
  AllReduce(s.comm, rate, ReduceOp::kSum);
  const double single = rate[1] > 0 ? rate[0] / rate[1] : std::nan("");
  RP_LOG_INFO("scaling probe: {} steps on each rank alone (no gradient exchange): {:.0f} samples/s per rank", n, single);
  if (s.progress) s.progress->Probe(n, single, s.comm.WorldSize());
}

double Trainer::PrivacyEpsilon() const {
  const auto& s = *s_;
  if (!s.dp) return std::nan("");
  const auto& p = s.job.train.privacy;
  return DpSgdEpsilon(s.dp_sample_rate, p.noise_multiplier, s.step, p.delta).epsilon;
}

// The sums one step all-reduces, in one buffer: named slots.
struct Trainer::StepSums {
  double count = 0;    // samples (or predicted positions) the losses are summed over
  double loss = 0;     // the objective's loss sum
  double ctr = 0;      // what the log calls the CTR loss sum
  double ctcvr = 0;    // and the CTCVR loss sum
  double touched = 0;  // distinct item rows the step touched (this rank's; summed: an upper bound)
  double clipped = 0;  // DP-SGD: samples whose gradient was clipped
  std::vector<double> Pack() const { return {count, loss, ctr, ctcvr, touched, clipped}; }
  static StepSums Unpack(const std::vector<double>& v) { return {v[0], v[1], v[2], v[3], v[4], v[5]}; }
};

namespace {

// Every rank's parameters must be bit-identical: the sum and an index-weighted sum of the flat
// parameters, compared as max and -min across ranks. Throws Error(kCommError) naming the step.
void CheckReplicas(Communicator& comm, FlatParameters& flat, int64_t step) {
  auto p = flat.params().to(torch::kCPU, torch::kDouble);
  const double sum = p.sum().item<double>(), weighted = (p * torch::arange(p.numel(), p.options())).sum().item<double>();
  std::vector<double> hi{sum, weighted}, lo{-sum, -weighted};
  AllReduce(comm, hi, ReduceOp::kMax);
  AllReduce(comm, lo, ReduceOp::kMax);
  RP_REQUIRE(hi[0] == -lo[0] && hi[1] == -lo[1], StatusCode::kCommError,
             "replicas diverged at step {}: parameter checksum ranges over [{}, {}] across ranks (this rank: {})", step,
             -lo[0], hi[0], sum);
}

}  // namespace

// This rank's forward and backward of one batch: the objective's loss sums, the touched item
// rows (s.touched), and the gradients (clipped per sample under DP-SGD) in the flat buffer.
Trainer::StepSums Trainer::LocalBackward(const data::Batch& batch) {
  auto& s = *s_;
  const int rank = s.comm.Rank();
  // DP-SGD: every sample encodes its own history, so each output row belongs to one sample.
  auto in = model::MakeModelInput(batch, s.job.model.time_gap_buckets, /*dedupe_histories=*/!s.dp).To(s.device);
  std::unique_ptr<model::PerSampleNorms> norms;
  std::optional<model::PerSampleNorms::Scope> recording;
  if (s.dp) {
    norms = std::make_unique<model::PerSampleNorms>(*s.model, batch.size);
    recording.emplace(norms.get());
  }
  const bool bf16 = s.job.train.bf16 && s.device.is_cuda();
  if (bf16) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  }
  model::ObjectiveLoss loss;
  if (s.pretraining) {
    loss = model::MaskedItemLoss(*s.model, in, s.job.pretrain.mask_prob, s.popularity_q, s.job.pretrain.num_sampled,
                                 s.device);
  } else if (s.next_item) {
    loss = model::NextItemLoss(*s.model, in, s.popularity_q, s.job.train.num_sampled, s.dp, batch.size);
  } else {
    loss = model::TaskHeadsLoss(*s.model, in, s.job.model, bf16);
  }
  if (bf16) at::autocast::set_enabled(false);
  if (const char* fault = std::getenv("RECPRISM_FAULT_NAN_AT_STEP");
      fault != nullptr && std::atoll(fault) == s.step + 1 && rank == 0) {
    loss.total = loss.total * std::nan("");
  }
  recording.reset();
  StepSums sums;
  if (s.dp) {
    sums.clipped = ClippedBackward(*norms, loss.per_sample, s.job.train.privacy.max_grad_norm, *s.flat);
  } else {
    loss.total.backward();
  }
  sums.count = loss.count;
  sums.loss = loss.total.item<double>();
  sums.ctr = loss.ctr.item<double>();
  sums.ctcvr = loss.ctcvr.item<double>();
  s.touched = std::get<0>(at::_unique(torch::cat(loss.ids).to(torch::kCPU), false, false));
  sums.touched = static_cast<double>(s.touched.numel());
  if (!std::isfinite(sums.loss)) {
    std::string users;
    for (int64_t i = 0; i < std::min<int64_t>(batch.size, 20); ++i) users += (i ? "," : "") + std::to_string(batch.user[i]);
    RP_LOG_ERROR("non-finite loss {} on rank {} at step {}; users of the batch (first 20 dense ids): {}", sums.loss,
                 rank, s.step + 1, users);
  }
  return sums;
}

StepResult Trainer::Step(const data::Batch& batch) {
  auto& s = *s_;
  const auto t0 = Clock::now();
  const int rank = s.comm.Rank();
  // Dropout and masking depend on (seed, step, rank) only: a resumed run repeats the same draws.
  torch::manual_seed(Mix64(s.job.seed ^ Mix64(static_cast<uint64_t>(s.step) * 1000003ULL + rank)));
  s.model->train();
  s.flat->ZeroGrad();
  s.touched = torch::empty({0}, torch::kLong);
  StepSums sums;
  if (batch.size > 0) sums = LocalBackward(batch);
  if (!s.probing) {
    std::vector<double> packed = sums.Pack();
    AllReduce(s.comm, packed, ReduceOp::kSum);
    sums = StepSums::Unpack(packed);
  }
  StepResult r;
  r.global_samples = sums.count;
  if (!std::isfinite(sums.loss)) {
    RP_THROW(StatusCode::kDataError,
             "training stopped: the loss is {} at step {} (epoch {}); the batch's users are logged by the rank that "
             "produced it. Nothing was written after the last good checkpoint: {}. Lower train.lr, check the "
             "inputs, or resume from that checkpoint", sums.loss, s.step + 1, s.epoch,
             s.last_checkpoint.empty() ? std::string("(none yet)") : s.last_checkpoint);
  }
  if (sums.count > 0) {
    if (s.dp && (rank == 0 || s.probing)) {
      AddGaussianNoise(*s.flat, s.job.train.privacy.noise_multiplier, s.job.train.privacy.max_grad_norm);
    }
    if (s.probing) {
      s.flat->grads().div_(sums.count);  // what a one-rank job's sync does
    } else {
      const auto sync = s.sync->Synchronize(sums.count, s.touched, static_cast<int64_t>(sums.touched));
      r.sparse = sync.sparse;
      r.comm_bytes = sync.payload_bytes + 6 * 8;
      r.comm_seconds = sync.seconds;
    }
    r.grad_norm = ClipGradNorm(s.flat->grads(), s.job.train.grad_clip);
    const double peak = s.pretraining ? s.job.pretrain.lr : s.job.train.lr;
    r.lr = ScheduledLr(s.job.train, peak, s.step, std::max<int64_t>(s.total_steps, s.step + 1));
    s.adam->Step(r.lr);
    r.loss = sums.loss / sums.count;
    r.ctr_loss = sums.ctr / sums.count;
    r.ctcvr_loss = sums.ctcvr / sums.count;
    if (s.dp) r.dp_clipped = sums.clipped / sums.count;
  }
  ++s.step;
  r.step = s.step;
  if (s.dp) r.dp_epsilon = PrivacyEpsilon();
  const int64_t every = s.job.train.check_replicas_every;
  if (every > 0 && s.step % every == 0 && !s.probing) CheckReplicas(s.comm, *s.flat, s.step);
  r.step_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}


std::string Trainer::SaveCheckpoint(const std::string& name) {
  auto& s = *s_;
  const std::string path = (s.CheckpointDir() / name).string();
  if (s.comm.Rank() != 0) return path;
  model::Checkpoint c;
  if (s.pretraining && name == "encoder.pt") {
    model::Checkpoint all;
    model::AddModelState(*s.model, &all);
    for (auto& [k, t] : all.tensors) {
      if (model::IsEncoderParameter(k.substr(6))) c.tensors[k] = t;
    }
  } else {
    model::AddModelState(*s.model, &c);
    c.tensors["optim.exp_avg"] = s.adam->exp_avg().to(torch::kCPU).clone();
    c.tensors["optim.exp_avg_sq"] = s.adam->exp_avg_sq().to(torch::kCPU).clone();
  }
  c.numbers = {{"step", static_cast<double>(s.step)},
               {"epoch", static_cast<double>(s.epoch)},
               {"batch_in_epoch", static_cast<double>(s.batch_in_epoch)},
               {"optim.t", static_cast<double>(s.adam->steps())},
               {"best_step", static_cast<double>(s.best_step)},
               {"since_best", static_cast<double>(s.since_best)},
               {"world_size", static_cast<double>(s.comm.WorldSize())},
               {"total_steps", static_cast<double>(s.total_steps)}};
  if (!std::isnan(s.best)) c.numbers["best"] = s.best;
  c.numbers["data.max_seq_len"] = s.job.data.max_seq_len;
  if (s.dp) {
    // What the report's provenance states: the guarantee of the weights after s.step steps.
    const auto& p = s.job.train.privacy;
    c.numbers["dp.epsilon"] = PrivacyEpsilon();
    c.numbers["dp.delta"] = p.delta;
    c.numbers["dp.noise_multiplier"] = p.noise_multiplier;
    c.numbers["dp.max_grad_norm"] = p.max_grad_norm;
    c.numbers["dp.sample_rate"] = s.dp_sample_rate;
    c.numbers["dp.steps"] = static_cast<double>(s.step);
  }
  model::AddModelOptions(s.job.model, &c);
  c.strings = {{"kind", s.pretraining ? "pretrain" : "train"},
               {"config_hash", s.job.config_hash},
               {"model", std::string(NameOf(s.job.model.heads)) + "/" + NameOf(s.job.model.interaction)},
               {"objective", s.pretraining ? "cloze" : NameOf(s.job.train.objective)}};
  model::SaveCheckpoint(path, c);
  return path;
}

void Trainer::ExportWeights(const std::string& path) {
  auto& s = *s_;
  if (s.comm.Rank() != 0) return;
  std::vector<data::NamedArray> arrays;
  for (const auto& p : s.model->named_parameters()) arrays.push_back(model::ToNamedArray(p.key(), p.value()));
  for (const auto& b : s.model->named_buffers()) arrays.push_back(model::ToNamedArray(b.key(), b.value()));
  data::WriteArrays(path, arrays, {{"recprism.model.heads", NameOf(s.job.model.heads)},
                                   {"recprism.model.interaction", NameOf(s.job.model.interaction)},
                                   {"recprism.step", std::to_string(s.step)}});
}

TrainSummary Trainer::Run() {
  auto& s = *s_;
  const auto& o = s.job.train;
  const int epochs = s.pretraining ? s.job.pretrain.epochs : o.epochs;
  const int64_t max_steps = s.pretraining ? s.job.pretrain.max_steps : o.max_steps;
  TrainSummary sum;
  const auto t0 = Clock::now();
  const int64_t start_step = s.step;
  bool stop = s.step >= max_steps && max_steps > 0;
  auto keep_last = [&]() {
    if (s.comm.Rank() != 0) return;
    std::vector<std::pair<int64_t, fs::path>> all;
    for (const auto& e : fs::directory_iterator(s.CheckpointDir())) {
      const int64_t st = StepOf(e.path());
      if (st >= 0) all.emplace_back(st, e.path());
    }
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + static_cast<size_t>(std::max(o.keep_checkpoints, 1)) < all.size(); ++i) fs::remove(all[i].second);
  };
  auto checkpoint = [&]() {
    s.last_checkpoint = SaveCheckpoint(fmt::format("step-{:08d}.pt", s.step));
    keep_last();
  };
  int64_t validated_at = -1;
  auto validate = [&]() {
    if (s.pretraining) return;
    validated_at = s.step;
    auto v = Validate();
    sum.last_validation = v;
    const double m = v.Metric(o.early_stop_metric);
    const bool better = std::isnan(s.best) || (HigherIsBetter(o.early_stop_metric) ? m > s.best : m < s.best);
    if (better) {
      s.best = m;
      s.best_step = s.step;
      s.since_best = 0;
      s.best_checkpoint = SaveCheckpoint("best.pt");
    } else {
      ++s.since_best;
    }
    if (s.progress) s.progress->Validation(s.step, s.epoch, v, o.early_stop_metric, s.best, better);
    if (o.patience > 0 && s.since_best >= o.patience) {
      RP_LOG_INFO("early stop at step {}: {} has not improved on {:.5f} (step {}) for {} validations", s.step,
                  o.early_stop_metric, s.best, s.best_step, s.since_best);
      sum.early_stopped = true;
      stop = true;
    }
  };
  if (o.scaling_probe_steps > 0 && !s.pretraining && start_step == 0) ScalingProbe();
  const char* kill_env = std::getenv("RECPRISM_FAULT_KILL_AFTER_STEP");
  const int64_t kill_after = kill_env ? std::atoll(kill_env) : -1;
  data::Batch b;
  while (s.epoch < epochs && !stop) {
    const int64_t steps = s.loader->StartEpoch(s.epoch);
    RP_REQUIRE(steps > 0, StatusCode::kDataError, "{}: the train split has no samples on any rank",
               s.job.prepared_path);
    if (s.total_steps == 0) {
      s.total_steps = steps * epochs;
      if (max_steps > 0) s.total_steps = std::min(s.total_steps, max_steps);
    }
    if (s.progress) s.progress->StartEpoch(s.epoch, epochs, steps, s.total_steps);
    // Resuming mid-epoch: the loader's order is a function of (seed, epoch, rank), so skipping the
    // batches already trained on puts every rank where it stopped.
    for (int64_t i = 0; i < s.resumed_skip && s.loader->Next(&b); ++i) {
    }
    s.resumed_skip = 0;
    while (!stop && s.batch_in_epoch < steps && s.loader->Next(&b)) {
      auto r = Step(b);
      ++s.batch_in_epoch;
      sum.samples += r.global_samples;
      if (s.batch_in_epoch == steps) {
        // The epoch is done: the position moves to the next one before anything is written.
        s.batch_in_epoch = 0;
        ++s.epoch;
      }
      if (s.progress) s.progress->Step(r, s.epoch, steps);
      const bool epoch_end = s.batch_in_epoch == 0;
      if ((o.validate_every > 0 && s.step % o.validate_every == 0) || (o.validate_every == 0 && epoch_end)) validate();
      if ((o.checkpoint_every > 0 && s.step % o.checkpoint_every == 0) || (o.checkpoint_every == 0 && epoch_end)) {
        checkpoint();
      }
      if (max_steps > 0 && s.step >= max_steps) stop = true;
      if (kill_after == s.step) {
        s.comm.Barrier();  // the checkpoint of this step is on disk
        std::raise(SIGKILL);
      }
      if (epoch_end) break;
    }
  }
  // The last steps are always validated, so best.pt considers the final model too.
  if (!s.pretraining && validated_at != s.step && s.step > start_step && !sum.early_stopped) validate();
  if (s.pretraining) {
    s.last_checkpoint = SaveCheckpoint("encoder.pt");
  } else if (StepOf(s.last_checkpoint) != s.step) {
    checkpoint();
  }
  sum.steps = s.step - start_step;
  sum.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  sum.best_metric = s.best;
  sum.best_step = s.best_step;
  sum.last_checkpoint = s.last_checkpoint;
  sum.best_checkpoint = s.best_checkpoint;
  sum.weights = (fs::path(s.job.run_dir) / (s.pretraining ? "pretrain_weights.h5" : "weights.h5")).string();
  ExportWeights(sum.weights);
  if (s.progress) s.progress->Finish(sum.steps, sum.samples, sum.seconds);
  s.comm.Barrier();
  return sum;
}

}  // namespace recprism::train
