#include "model/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <unistd.h>
#include <zlib.h>

#include "core/check.h"
#include "core/log.h"

#include <fmt/ranges.h>
#include "core/file_util.h"

namespace recprism::model {

namespace {
constexpr const char* kMagic = "recprism.checkpoint.v1";

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}
std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}
std::string ShapeText(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

int checkpoint_writes = 0;

// CRC-32 (zlib's, the IEEE polynomial) of a CPU tensor's bytes. Cheap (GB/s), catches every
// burst of up to 32 flipped bits and, as a per-tensor value, says which tensor is damaged.
uint32_t TensorCrc(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.data_ptr());
  size_t n = static_cast<size_t>(c.numel()) * c.element_size();
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const auto take = static_cast<uInt>(std::min<size_t>(n, size_t{1} << 30));
    crc = crc32(crc, p, take);
    p += take;
    n -= take;
  }
  return static_cast<uint32_t>(crc);
}

uint32_t TextCrc(const std::string& s) {
  return static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(s.data()),
                                     static_cast<uInt>(s.size())));
}

// The checksum lines: "<tensor name>\t<crc32 hex>" per tensor, then "#meta\t<crc32 hex>" over the
// names, numbers and strings.
std::string MetaText(const std::string& names, const std::vector<double>& numbers, const std::string& number_names,
                     const std::string& strings) {
  std::string s = names + "|" + number_names + "|" + strings + "|";
  for (double v : numbers) s += fmt::format("{:a},", v);
  return s;
}
}  // namespace

void SaveCheckpoint(const std::string& path, const Checkpoint& c) {
  torch::serialize::OutputArchive archive;
  std::vector<std::string> names, number_names, string_lines;
  c10::List<at::Tensor> tensors;
  for (const auto& [name, t] : c.tensors) {
    names.push_back(name);
    tensors.push_back(t.detach().to(torch::kCPU).contiguous());
  }
  std::vector<double> numbers;
  for (const auto& [name, v] : c.numbers) {
    number_names.push_back(name);
    numbers.push_back(v);
  }
  for (const auto& [k, v] : c.strings) {
    RP_CHECK(v.find('\n') == std::string::npos, "checkpoint string {} holds a newline", k);
    string_lines.push_back(k + "=" + v);
  }
  archive.write("magic", c10::IValue(std::string(kMagic)));
  archive.write("names", c10::IValue(Join(names)));
  archive.write("tensors", c10::IValue(tensors));
  archive.write("number_names", c10::IValue(Join(number_names)));
  archive.write("numbers", torch::tensor(numbers, torch::kDouble));
  archive.write("strings", c10::IValue(Join(string_lines)));
  std::string sums;
  for (size_t i = 0; i < names.size(); ++i) sums += fmt::format("{}\t{:08x}\n", names[i], TensorCrc(tensors.get(i)));
  sums += fmt::format("#meta\t{:08x}\n", TextCrc(MetaText(Join(names), numbers, Join(number_names), Join(string_lines))));
  archive.write("checksums", c10::IValue(sums));
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string content = bytes.str();

  ++checkpoint_writes;
  if (const char* fault = std::getenv("RECPRISM_FAULT_KILL_IN_CHECKPOINT");
      fault != nullptr && std::atoi(fault) == checkpoint_writes) {
    const std::string tmp = TempPathFor(path);
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f != nullptr) {
      std::fwrite(content.data(), 1, content.size() / 2, f);
      std::fflush(f);
    }
    std::raise(SIGKILL);
  }
  WriteFileAtomic(path, content);
}

Checkpoint LoadCheckpoint(const std::string& path) {
  RP_REQUIRE(std::filesystem::is_regular_file(path), StatusCode::kIoError, "checkpoint '{}' does not exist", path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    RP_THROW(StatusCode::kIoError, "'{}' is not a readable checkpoint (truncated or not written by RecPrism): {}",
             path, e.what_without_backtrace());
  }
  c10::IValue magic, names, tensors, number_names, strings;
  torch::Tensor numbers;
  RP_REQUIRE(archive.try_read("magic", magic) && magic.isString() && magic.toStringRef() == kMagic,
             StatusCode::kDataError, "'{}' is not a RecPrism checkpoint (expected magic '{}')", path, kMagic);
  archive.read("names", names);
  archive.read("tensors", tensors);
  archive.read("number_names", number_names);
  archive.read("numbers", numbers);
  archive.read("strings", strings);
  Checkpoint c;
  auto n = Lines(names.toStringRef());
  auto list = tensors.toTensorList();
  RP_REQUIRE(n.size() == list.size(), StatusCode::kDataError, "checkpoint '{}': {} names for {} tensors", path,
             n.size(), list.size());
  // Every tensor and the metadata against the CRC-32s written with them (checkpoints written before
  // checksums existed have none: they load with a warning).
  c10::IValue sums;
  if (archive.try_read("checksums", sums) && sums.isString()) {
    std::map<std::string, std::string> want;
    for (const auto& line : Lines(sums.toStringRef())) {
      const auto tab = line.find('\t');
      if (tab != std::string::npos) want[line.substr(0, tab)] = line.substr(tab + 1);
    }
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string got = fmt::format("{:08x}", TensorCrc(list.get(i)));
      RP_REQUIRE(want.count(n[i]) && want[n[i]] == got, StatusCode::kDataError,
                 "checkpoint '{}' is corrupt: tensor '{}' fails its checksum (CRC-32 {} recorded, {} read); the file "
                 "was damaged after it was written",
                 path, n[i], want.count(n[i]) ? want[n[i]] : "none", got);
    }
    std::vector<double> nums(numbers.data_ptr<double>(), numbers.data_ptr<double>() + numbers.numel());
    const std::string meta = fmt::format(
        "{:08x}", TextCrc(MetaText(names.toStringRef(), nums, number_names.toStringRef(), strings.toStringRef())));
    RP_REQUIRE(want["#meta"] == meta, StatusCode::kDataError,
               "checkpoint '{}' is corrupt: its names, numbers or strings fail their checksum (CRC-32 {} recorded, {} "
               "read)",
               path, want["#meta"], meta);
  } else {
    RP_LOG_WARN("checkpoint '{}' has no checksums (written before they were recorded): loaded unverified", path);
  }
  for (size_t i = 0; i < n.size(); ++i) c.tensors[n[i]] = list.get(i);
  auto nn = Lines(number_names.toStringRef());
  RP_REQUIRE(static_cast<int64_t>(nn.size()) == numbers.numel(), StatusCode::kDataError,
             "checkpoint '{}': {} number names for {} numbers", path, nn.size(), numbers.numel());
  for (size_t i = 0; i < nn.size(); ++i) c.numbers[nn[i]] = numbers[static_cast<int64_t>(i)].item<double>();
  for (const auto& line : Lines(strings.toStringRef())) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) c.strings[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return c;
}

void AddModelState(torch::nn::Module& model, Checkpoint* c) {
  for (const auto& p : model.named_parameters()) c->tensors["model." + p.key()] = p.value().detach().to(torch::kCPU).clone();
  for (const auto& b : model.named_buffers()) c->tensors["model." + b.key()] = b.value().detach().to(torch::kCPU).clone();
}

int LoadModelState(torch::nn::Module& model, const Checkpoint& c, const std::string& path, bool strict) {
  std::map<std::string, torch::Tensor> mine;
  for (const auto& p : model.named_parameters()) mine[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) mine[b.key()] = b.value();
  int loaded = 0;
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : c.tensors) {
    if (key.rfind("model.", 0) != 0) continue;
    const std::string name = key.substr(6);
    auto it = mine.find(name);
    RP_REQUIRE(it != mine.end(), StatusCode::kDataError,
               "checkpoint '{}' holds tensor '{}' {} that this model does not have (model.* options or the dataset "
               "differ from the run that wrote it)", path, name, ShapeText(t));
    RP_REQUIRE(it->second.sizes() == t.sizes(), StatusCode::kDataError,
               "checkpoint '{}': tensor '{}' has shape {} in the checkpoint but {} in this model", path, name,
               ShapeText(t), ShapeText(it->second));
    it->second.copy_(t);
    ++loaded;
  }
  for (const auto& [name, t] : mine) {
    const bool required = strict || IsEncoderParameter(name);
    RP_REQUIRE(!required || c.tensors.count("model." + name), StatusCode::kDataError,
               "checkpoint '{}' lacks tensor '{}' {} of this model", path, name, ShapeText(t));
  }
  return loaded;
}

}  // namespace recprism::model

namespace recprism::model {
data::NamedArray ToNamedArray(const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  data::NamedArray a;
  a.name = name;
  a.shape = t.sizes().vec();
  if (t.scalar_type() == torch::kLong) {
    a.i64.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  } else {
    t = t.to(torch::kFloat);
    a.f32.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  return a;
}

TaskProbabilities Probabilities(const TaskLogits& l) {
  auto cpu = [](const torch::Tensor& t) { return t.to(torch::kCPU, torch::kDouble).contiguous(); };
  return {cpu(torch::sigmoid(l.ctr)), cpu(torch::sigmoid(l.cvr)), cpu(LogCtcvr(l).first.exp())};
}

void AddModelOptions(const ModelOptions& o, Checkpoint* c) {
  c->numbers["model.d_model"] = o.d_model;
  c->numbers["model.num_heads"] = o.num_heads;
  c->numbers["model.num_layers"] = o.num_layers;
  c->numbers["model.ffn_multiplier"] = o.ffn_multiplier;
  c->numbers["model.dropout"] = o.dropout;
  c->numbers["model.causal"] = o.causal ? 1 : 0;
  c->numbers["model.time_gap_buckets"] = o.time_gap_buckets;
  c->numbers["model.num_experts"] = o.num_experts;
  c->numbers["model.tower_hidden"] = o.tower_hidden;
  c->numbers["model.ctr_loss_weight"] = o.ctr_loss_weight;
  c->numbers["model.ctcvr_loss_weight"] = o.ctcvr_loss_weight;
  c->strings["model.interaction"] = NameOf(o.interaction);
  c->strings["model.heads"] = NameOf(o.heads);
}

ModelOptions ModelOptionsFrom(const Checkpoint& c, const ModelOptions& fallback) {
  ModelOptions o = fallback;
  auto num = [&](const char* k, auto* field) {
    auto it = c.numbers.find(k);
    if (it != c.numbers.end()) *field = static_cast<std::remove_pointer_t<decltype(field)>>(it->second);
  };
  num("model.d_model", &o.d_model);
  num("model.num_heads", &o.num_heads);
  num("model.num_layers", &o.num_layers);
  num("model.ffn_multiplier", &o.ffn_multiplier);
  num("model.dropout", &o.dropout);
  num("model.time_gap_buckets", &o.time_gap_buckets);
  num("model.num_experts", &o.num_experts);
  num("model.tower_hidden", &o.tower_hidden);
  num("model.ctr_loss_weight", &o.ctr_loss_weight);
  num("model.ctcvr_loss_weight", &o.ctcvr_loss_weight);
  if (auto it = c.numbers.find("model.causal"); it != c.numbers.end()) o.causal = it->second != 0;
  auto name = [&](const char* k, auto* field) {
    auto it = c.strings.find(k);
    if (it == c.strings.end()) return;
    using E = std::remove_pointer_t<decltype(field)>;
    RP_REQUIRE(ParseEnum(it->second, field), StatusCode::kDataError,
               "the checkpoint records {} '{}': expected one of {}", k, it->second, fmt::join(NamesOf<E>(), ", "));
  };
  name("model.interaction", &o.interaction);
  name("model.heads", &o.heads);
  return o;
}
}  // namespace recprism::model
