#include "model/per_sample.h"

#include <torch/torch.h>

#include <set>

#include "core/check.h"

namespace recprism::model {

namespace {
thread_local PerSampleNorms* g_active = nullptr;

// x [B, ..., k] -> [B, T, k]; or rows x [R, k] with their samples [R] -> [B, T, k], zero-padded,
// each sample's rows in their original order.
torch::Tensor BySample(const torch::Tensor& x, const torch::Tensor& sample, int64_t batch) {
  if (!sample.defined()) return x.reshape({batch, -1, x.size(-1)});
  const int64_t rows = x.size(0), k = x.size(-1);
  if (rows == 0) return torch::zeros({batch, 1, k}, x.options());
  auto order = std::get<1>(sample.sort(c10::optional<bool>(true), /*dim=*/0, /*descending=*/false));
  auto sorted = sample.index_select(0, order);
  auto counts = torch::bincount(sample, {}, batch);
  const int64_t width = std::max<int64_t>(1, counts.max().item<int64_t>());
  auto starts = counts.cumsum(0) - counts;
  auto slot = torch::arange(rows, sample.options()) - starts.index_select(0, sorted);
  return torch::zeros({batch * width, k}, x.options())
      .index_copy(0, sorted * width + slot, x.reshape({rows, k}).index_select(0, order))
      .view({batch, width, k});
}

torch::Tensor SumSquares(const torch::Tensor& x) { return x.reshape({x.size(0), -1}).pow(2).sum(1); }
}  // namespace

PerSampleNorms::PerSampleNorms(torch::nn::Module& model, int64_t batch) : batch_(batch) {
  for (const auto& p : model.named_parameters()) {
    if (p.value().requires_grad()) names_[p.value().unsafeGetTensorImpl()] = p.key();
  }
}

PerSampleNorms* PerSampleNorms::Active() { return g_active; }
PerSampleNorms::Scope::Scope(PerSampleNorms* norms) : previous_(g_active) { g_active = norms; }
PerSampleNorms::Scope::~Scope() { g_active = previous_; }

std::string PerSampleNorms::NameOf(const torch::Tensor& param) const {
  if (!param.defined()) return "";
  auto it = names_.find(param.unsafeGetTensorImpl());
  return it == names_.end() ? "" : it->second;
}

void PerSampleNorms::Linear(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& input,
                            const torch::Tensor& output, const torch::Tensor& sample) {
  if (!output.requires_grad()) return;
  if (auto name = NameOf(weight); !name.empty()) {
    uses_.push_back({Kind::kLinearWeight, name, input.detach(), output, sample});
  }
  if (auto name = NameOf(bias); !name.empty()) uses_.push_back({Kind::kLinearBias, name, {}, output, sample});
}

void PerSampleNorms::Embedding(const torch::Tensor& weight, const torch::Tensor& ids, const torch::Tensor& output,
                               int64_t padding_idx) {
  if (!output.requires_grad()) return;
  if (auto name = NameOf(weight); !name.empty()) {
    uses_.push_back({Kind::kEmbedding, name, ids, output, {}, padding_idx});
  }
}

void PerSampleNorms::LayerNorm(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& input,
                               const torch::Tensor& output, double eps, const torch::Tensor& sample) {
  if (!output.requires_grad()) return;
  if (auto name = NameOf(weight); !name.empty()) {
    uses_.push_back({Kind::kNormWeight, name, input.detach(), output, sample, -1, eps});
  }
  if (auto name = NameOf(bias); !name.empty()) uses_.push_back({Kind::kNormBias, name, {}, output, sample});
}

void PerSampleNorms::Broadcast(const torch::Tensor& param, const torch::Tensor& expanded) {
  if (!expanded.requires_grad()) return;
  if (auto name = NameOf(param); !name.empty()) uses_.push_back({Kind::kBroadcast, name, {}, expanded, {}});
}

std::vector<std::string> PerSampleNorms::Unrecorded() const {
  std::vector<std::string> out;
  for (const auto& [impl, name] : names_) {
    if (!squared_.count(name)) out.push_back(name);
  }
  return out;
}

torch::Tensor PerSampleNorms::Compute(const torch::Tensor& loss) {
  // One gradient per distinct output (a Linear's weight and bias share theirs).
  std::vector<torch::Tensor> outputs;
  std::map<const void*, size_t> slot;
  for (const auto& u : uses_) {
    if (slot.emplace(u.output.unsafeGetTensorImpl(), outputs.size()).second) outputs.push_back(u.output);
  }
  std::vector<torch::Tensor> grads;
  if (!outputs.empty()) {
    grads = torch::autograd::grad({loss}, outputs, {}, /*retain_graph=*/true, /*create_graph=*/false,
                                  /*allow_unused=*/true);
  }
  auto grad_of = [&](const Use& u) {
    auto g = grads[slot.at(u.output.unsafeGetTensorImpl())];
    return g.defined() ? g.detach() : torch::zeros_like(u.output);
  };
  // Per parameter: its embedding lookups (merged: ids [B, T], gradients [B, T, D]) and the
  // norms of its other uses.
  struct Lookups {
    std::vector<torch::Tensor> ids, grads;
  };
  std::map<std::string, Lookups> lookups;
  std::map<std::string, std::vector<torch::Tensor>> norms;  // name -> per-use norms [B]
  for (const auto& u : uses_) {
    auto g = grad_of(u);
    torch::Tensor sq;
    switch (u.kind) {
      case Kind::kLinearWeight: {
        auto a = BySample(u.input, u.sample, batch_), gb = BySample(g, u.sample, batch_);  // [B, T, in], [B, T, out]
        const int64_t t = a.size(1), in = a.size(2), out = gb.size(2);
        const bool ghost = linear_mode_ == "ghost" || (linear_mode_ == "auto" && t * (in + out) < in * out);
        if (t == 1) {
          sq = SumSquares(a) * SumSquares(gb);
        } else if (ghost) {
          sq = (torch::bmm(a, a.transpose(1, 2)) * torch::bmm(gb, gb.transpose(1, 2))).sum({1, 2});
        } else {
          sq = SumSquares(torch::bmm(gb.transpose(1, 2), a));
        }
        break;
      }
      case Kind::kLinearBias:
        sq = SumSquares(BySample(g, u.sample, batch_).sum(1));
        break;
      case Kind::kEmbedding: {
        auto& l = lookups[u.name];
        auto ids = u.input.reshape({batch_, -1});
        auto gb = g.reshape({batch_, ids.size(1), -1});
        if (u.padding_idx >= 0) gb = gb.masked_fill((ids == u.padding_idx).unsqueeze(-1), 0.0);
        l.ids.push_back(ids);
        l.grads.push_back(gb);
        continue;
      }
      case Kind::kNormWeight: {
        auto xhat = torch::layer_norm(u.input, {u.input.size(-1)}, {}, {}, u.eps);
        sq = SumSquares(BySample(g * xhat, u.sample, batch_).sum(1));
        break;
      }
      case Kind::kNormBias:
        sq = SumSquares(BySample(g, u.sample, batch_).sum(1));
        break;
      case Kind::kBroadcast:
        sq = SumSquares(g);
        break;
    }
    norms[u.name].push_back(sq.to(torch::kDouble).clamp_min(0).sqrt());
  }
  for (auto& [name, l] : lookups) {
    auto ids = torch::cat(l.ids, 1), g = torch::cat(l.grads, 1);  // [B, T], [B, T, D]
    auto same = ids.unsqueeze(2) == ids.unsqueeze(1);
    auto sq = (torch::bmm(g, g.transpose(1, 2)) * same).sum({1, 2});
    norms[name].push_back(sq.to(torch::kDouble).clamp_min(0).sqrt());
  }
  auto total = torch::zeros({batch_}, torch::kDouble);
  squared_.clear();
  for (auto& [name, list] : norms) {
    auto bound = list[0];
    for (size_t i = 1; i < list.size(); ++i) bound = bound + list[i];
    auto sq = bound.pow(2).to(torch::kCPU);
    squared_[name] = sq;
    total += sq;
  }
  uses_.clear();
  return total.sqrt();
}

}  // namespace recprism::model
