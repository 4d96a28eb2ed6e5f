// The training step against its peers, and the dump the Python reference checks.
//
// usage:
//   recprism_train_bench dump  FILE.h5 OUT.h5 [model flags] [--batches K]
//       writes the model's initial weights (param.<name>), K train batches as model inputs
//       (batch<k>.<field>) and, for batch 0 with dropout off, the loss sums, logits and every
//       gradient (grad.<name>): what tools/bench/reference_torch.py check compares against.
//   recprism_train_bench speed FILE.h5 [model flags] [--seconds S] [--batches K]
//       trains on K train batches (held in memory, cycled) with the trainer's step at world 1 and
//       prints samples/s, the model's FLOPs per sample and the achieved GFLOP/s.
//   recprism_train_bench sgemm [--n 1024] [--seconds S]
//       single-thread matrix-product peak (GFLOP/s), the denominator of MFU.
// model flags: --interaction encode_once|bst --heads esmm|mmoe|shared_bottom --batch 256 --L 50
//              --objective multitask|next_item (next_item: causal, the trainer's loader and loss)
//              --d 64 --layers 2 --threads 1 --dropout 0.1
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>

#include "comm/local/local_comm.h"
#include "data/array_file.h"
#include "data/loader.h"
#include "data/prepared_file.h"
#include "model/checkpoint.h"
#include "model/recommender.h"
#include "train/trainer.h"

using Clock = std::chrono::steady_clock;
using namespace recprism;

namespace {

std::map<std::string, std::string> Flags(int argc, char** argv, int first) {
  std::map<std::string, std::string> f;
  for (int i = first; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}
std::string Get(const std::map<std::string, std::string>& f, const std::string& k, const std::string& d) {
  auto it = f.find(k);
  return it == f.end() ? d : it->second;
}

train::TrainJob Job(const std::string& file, const std::map<std::string, std::string>& f) {
  train::TrainJob j;
  j.prepared_path = file;
  j.run_dir = "/tmp/recprism_train_bench";
  j.data.max_seq_len = std::stoi(Get(f, "--L", "50"));
  j.model.interaction = EnumOf<Interaction>(Get(f, "--interaction", "encode_once"));
  j.model.heads = EnumOf<Heads>(Get(f, "--heads", "esmm"));
  j.train.objective = EnumOf<Objective>(Get(f, "--objective", "multitask"));
  j.model.causal = j.train.objective == Objective::kNextItem;
  j.model.d_model = std::stoi(Get(f, "--d", "64"));
  j.model.num_layers = std::stoi(Get(f, "--layers", "2"));
  j.model.dropout = std::stod(Get(f, "--dropout", "0.1"));
  j.train.batch_size = std::stoi(Get(f, "--batch", "256"));
  j.train.device = "cpu";
  j.train.log_every = 1000000;
  return j;
}

std::vector<data::Batch> Batches(Communicator& comm, const train::TrainJob& j, int k) {
  data::ShardLoader loader(j.prepared_path, comm,
                           data::MakeLoaderOptions(j.data, data::Split::kTrain, j.train.batch_size, 42, true));
  loader.StartEpoch(0);
  std::vector<data::Batch> out;
  data::Batch b;
  while (static_cast<int>(out.size()) < k && loader.Next(&b)) {
    if (b.size == j.train.batch_size) out.push_back(b);
  }
  return out;
}

void AddTensor(std::vector<data::NamedArray>* out, const std::string& name, const torch::Tensor& t) {
  out->push_back(model::ToNamedArray(name, t));
}

void AddInput(std::vector<data::NamedArray>* out, const std::string& p, const model::ModelInput& in) {
  AddTensor(out, p + "group", in.group);
  AddTensor(out, p + "hist_item", in.hist_item);
  AddTensor(out, p + "hist_category", in.hist_category);
  AddTensor(out, p + "hist_event", in.hist_event);
  AddTensor(out, p + "hist_gap_bucket", in.hist_gap_bucket);
  AddTensor(out, p + "hist_pad", in.hist_pad.to(torch::kLong));
  AddTensor(out, p + "target_item", in.target_item);
  AddTensor(out, p + "target_category", in.target_category);
  AddTensor(out, p + "user_features", in.user_features);
  AddTensor(out, p + "cat_features", in.cat_features);
  AddTensor(out, p + "num_features", in.num_features);
  AddTensor(out, p + "click", in.click);
  AddTensor(out, p + "conversion", in.conversion);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: recprism_train_bench dump|speed|sgemm ... (see the source's header)\n";
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "sgemm") {
    auto f = Flags(argc, argv, 2);
    torch::set_num_threads(std::stoi(Get(f, "--threads", "1")));
    const int64_t n = std::stoll(Get(f, "--n", "1024"));
    const double seconds = std::stod(Get(f, "--seconds", "3"));
    auto a = torch::randn({n, n}), b = torch::randn({n, n});
    int64_t reps = 0;
    auto t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
      auto c = torch::mm(a, b);
      ++reps;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << "sgemm_n " << n << "\nsgemm_gflops " << 2.0 * n * n * n * reps / s / 1e9 << "\n";
    return 0;
  }
  if (argc < 3) return 2;
  const std::string file = argv[2];
  auto f = Flags(argc, argv, mode == "dump" ? 4 : 3);
  torch::set_num_threads(std::stoi(Get(f, "--threads", "1")));
  auto comm = CreateLocalCommunicator(CommOptions{});
  auto job = Job(file, f);
  if (mode == "dump") {
    job.model.dropout = 0;
    const int k = std::stoi(Get(f, "--batches", "1"));
    auto batches = Batches(*comm, job, k);
    train::Trainer t(*comm, job);
    auto& m = t.model();
    std::vector<data::NamedArray> arrays;
    for (const auto& p : m.named_parameters()) AddTensor(&arrays, "param." + p.key(), p.value());
    for (const auto& b : m.named_buffers()) AddTensor(&arrays, "buffer." + b.key(), b.value());
    for (size_t i = 0; i < batches.size(); ++i) {
      AddInput(&arrays, "batch" + std::to_string(i) + ".", model::MakeModelInput(batches[i], job.model.time_gap_buckets));
    }
    auto in = model::MakeModelInput(batches[0], job.model.time_gap_buckets);
    m.train();
    if (job.train.objective == Objective::kNextItem) {
      // The trainer's next-item positions with the full softmax, summed, then / M.
      const auto next = model::NextItemTargets(m, in);
      const auto& h = next.h;
      const auto& target = next.target;
      auto total = torch::cross_entropy_loss(m.ScoreItems(h), target - 1, {}, at::Reduction::Sum);
      (total / static_cast<double>(target.numel())).backward();
      AddTensor(&arrays, "out.loss_total", total.view({1}));
      AddTensor(&arrays, "out.next_item_target", target);
    } else {
      auto logits = m.forward(in);
      auto loss = model::TaskLoss(logits, in.click, in.conversion, job.model);
      auto mean = loss.total / static_cast<double>(in.size);
      mean.backward();
      AddTensor(&arrays, "out.loss_total", loss.total.view({1}));
      AddTensor(&arrays, "out.loss_ctr", loss.ctr.view({1}));
      AddTensor(&arrays, "out.loss_ctcvr", loss.ctcvr.view({1}));
      AddTensor(&arrays, "out.ctr_logit", logits.ctr);
      AddTensor(&arrays, "out.cvr_logit", logits.cvr);
    }
    for (const auto& p : m.named_parameters()) {
      if (p.value().grad().defined()) AddTensor(&arrays, "grad." + p.key(), p.value().grad());
    }
    data::WriteArrays(argv[3], arrays,
                      {{"interaction", NameOf(job.model.interaction)}, {"heads", NameOf(job.model.heads)},
                       {"d_model", std::to_string(job.model.d_model)}, {"num_heads", std::to_string(job.model.num_heads)},
                       {"num_layers", std::to_string(job.model.num_layers)},
                       {"tower_hidden", std::to_string(job.model.tower_hidden)},
                       {"num_experts", std::to_string(job.model.num_experts)},
                       {"ffn_multiplier", std::to_string(job.model.ffn_multiplier)},
                       {"batches", std::to_string(batches.size())}, {"objective", NameOf(job.train.objective)},
                       {"causal", job.model.causal ? "1" : "0"}});
    std::cout << "dumped " << batches.size() << " batches of " << job.train.batch_size << " to " << argv[3] << "\n";
    return 0;
  }
  if (mode == "speed") {
    const int k = std::stoi(Get(f, "--batches", "20"));
    const double seconds = std::stod(Get(f, "--seconds", "10"));
    auto batches = Batches(*comm, job, k);
    train::Trainer t(*comm, job);
    t.set_total_steps(1000000);
    for (int i = 0; i < 2; ++i) t.Step(batches[i % batches.size()]);  // warm-up
    int64_t samples = 0, steps = 0, histories = 0;
    auto t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
      const auto& b = batches[steps % batches.size()];
      t.Step(b);
      samples += b.size;
      ++steps;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    for (const auto& b : batches) histories += model::MakeModelInput(b, job.model.time_gap_buckets).histories;
    double hps = 0;
    int64_t total = 0;
    for (const auto& b : batches) total += b.size;
    hps = static_cast<double>(histories) / total;
    model::Recommender holder(job.model, model::ShapeOf(data::PreparedReader(file, false), job.data.max_seq_len));
    auto cost = model::EstimateCost(holder, job.model.interaction == Interaction::kEncodeOnce ? hps : 1.0);
    std::cout << "interaction " << NameOf(job.model.interaction) << "\nheads " << NameOf(job.model.heads) << "\nbatch "
              << job.train.batch_size << "\nL " << job.data.max_seq_len << "\nthreads " << torch::get_num_threads()
              << "\nhistories_per_sample " << hps << "\nsamples_per_s " << samples / s << "\nparameters "
              << cost.parameters << "\ntrain_mflop_per_sample " << cost.train_flops_per_sample / 1e6
              << "\nachieved_gflops " << samples / s * cost.train_flops_per_sample / 1e9 << "\n";
    return 0;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
