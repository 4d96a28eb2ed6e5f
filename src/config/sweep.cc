#include "config/sweep.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "core/check.h"
#include "core/hash.h"

namespace recprism::config {

namespace {
namespace fs = std::filesystem;

[[noreturn]] void Bad(const std::string& file, const YAML::Node& node, const std::string& what) {
  const auto m = node.Mark();
  RP_THROW(StatusCode::kInvalidConfig, "{}:{}:{}: {}", file, m.line + 1, m.column + 1, what);
}

std::string Scalar(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::string Num(double x) {
  std::string s = fmt::format("{:.6g}", x);
  return s;
}

using Axis = std::pair<std::string, std::vector<std::string>>;
}  // namespace

Sweep LoadSweep(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    RP_THROW(StatusCode::kIoError, "cannot read sweep file {}", path);
  } catch (const YAML::Exception& e) {
    RP_THROW(StatusCode::kInvalidConfig, "{}:{}:{}: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (!root.IsMap()) Bad(path, root, "a sweep file is a mapping (name, base, grid, random, seeds, metric)");
  Sweep s;
  s.file = path;
  static const std::vector<std::string> kKnown = {"name", "base", "output_dir", "set", "grid", "random", "seeds", "metric",
                                                  "pipeline"};
  for (const auto& kv : root) {
    const auto key = kv.first.as<std::string>();
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      Bad(path, kv.first, fmt::format("unknown sweep key '{}' (expected one of name, base, output_dir, set, grid, "
                                      "random, seeds, metric, pipeline)", key));
    }
  }
  if (!root["name"] || !root["name"].IsScalar()) Bad(path, root, "missing 'name' (the sweep directory's name)");
  s.name = root["name"].as<std::string>();
  if (s.name.empty() || s.name.find('/') != std::string::npos) Bad(path, root["name"], "'name' must be a plain directory name");
  if (!root["base"] || !root["base"].IsScalar()) Bad(path, root, "missing 'base' (the config every run starts from)");
  fs::path base = root["base"].as<std::string>();
  if (base.is_relative()) base = fs::path(path).parent_path() / base;
  s.base = base.lexically_normal().string();
  if (root["output_dir"]) s.output_dir = root["output_dir"].as<std::string>();
  std::vector<std::string> fixed;
  if (const auto set = root["set"]) {
    if (!set.IsMap()) Bad(path, set, "'set' is a mapping of config keys to values");
    for (const auto& kv : set) fixed.push_back(kv.first.as<std::string>() + "=" + Scalar(kv.second));
  }
  // Grid axes: the cross product, in file order (the last axis varies fastest).
  std::vector<Axis> grid;
  if (const auto g = root["grid"]) {
    if (!g.IsMap()) Bad(path, g, "'grid' is a mapping of config keys to lists of values");
    for (const auto& kv : g) {
      const auto key = kv.first.as<std::string>();
      if (!kv.second.IsSequence() || kv.second.size() == 0) Bad(path, kv.second, fmt::format("grid.{}: expected a non-empty list", key));
      Axis a{key, {}};
      for (const auto& v : kv.second) a.second.push_back(Scalar(v));
      grid.push_back(a);
      s.swept_keys.push_back(key);
    }
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> points{{}};
  for (const auto& [key, values] : grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& p : points) {
      for (const auto& v : values) {
        auto q = p;
        q.emplace_back(key, v);
        next.push_back(q);
      }
    }
    points.swap(next);
  }
  // Random axes: `samples` draws from a seeded generator, crossed with the grid.
  if (const auto r = root["random"]) {
    if (!r.IsMap() || !r["samples"] || !r["axes"] || !r["axes"].IsMap()) {
      Bad(path, r, "'random' needs 'samples' (a count) and 'axes' (a mapping of keys to distributions)");
    }
    const int samples = r["samples"].as<int>();
    if (samples < 1) Bad(path, r["samples"], "random.samples must be at least 1");
    std::mt19937_64 rng(r["seed"] ? r["seed"].as<uint64_t>() : 0);
    std::vector<std::vector<std::pair<std::string, std::string>>> draws(samples);
    for (const auto& kv : r["axes"]) {
      const auto key = kv.first.as<std::string>();
      const auto& d = kv.second;
      s.swept_keys.push_back(key);
      if (!d.IsMap() || d.size() != 1) {
        Bad(path, d, fmt::format("random.axes.{}: expected one of {{uniform: [lo, hi]}}, {{log_uniform: [lo, hi]}}, "
                                 "{{int_range: [lo, hi]}}, {{choice: [...]}}", key));
      }
      const auto kind = d.begin()->first.as<std::string>();
      const YAML::Node args = d.begin()->second;
      if (!args.IsSequence() || args.size() == 0) Bad(path, args, fmt::format("random.axes.{}.{}: expected a list", key, kind));
      for (int i = 0; i < samples; ++i) {
        std::string v;
        if (kind == "choice") {
          v = Scalar(args[std::uniform_int_distribution<size_t>(0, args.size() - 1)(rng)]);
        } else {
          if (args.size() != 2) Bad(path, args, fmt::format("random.axes.{}.{}: expected [lo, hi]", key, kind));
          const double lo = args[0].as<double>(), hi = args[1].as<double>();
          if (!(lo <= hi)) Bad(path, args, fmt::format("random.axes.{}.{}: lo {} is above hi {}", key, kind, lo, hi));
          if (kind == "uniform") {
            v = Num(std::uniform_real_distribution<double>(lo, hi)(rng));
          } else if (kind == "log_uniform") {
            if (lo <= 0) Bad(path, args, fmt::format("random.axes.{}.log_uniform: bounds must be positive", key));
            v = Num(std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng)));
          } else if (kind == "int_range") {
            v = std::to_string(std::uniform_int_distribution<int64_t>(static_cast<int64_t>(lo), static_cast<int64_t>(hi))(rng));
          } else {
            Bad(path, d, fmt::format("random.axes.{}: unknown distribution '{}' (uniform, log_uniform, int_range, choice)",
                                     key, kind));
          }
        }
        draws[i].emplace_back(key, v);
      }
    }
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& p : points) {
      for (const auto& dr : draws) {
        auto q = p;
        q.insert(q.end(), dr.begin(), dr.end());
        next.push_back(q);
      }
    }
    points.swap(next);
  }
  std::vector<std::string> seeds;
  if (const auto sd = root["seeds"]) {
    if (!sd.IsSequence() || sd.size() == 0) Bad(path, sd, "'seeds' is a non-empty list of run.seed values");
    for (const auto& v : sd) seeds.push_back(Scalar(v));
    s.swept_keys.push_back("run.seed");
  }
  if (const auto m = root["metric"]) {
    if (!m.IsMap()) Bad(path, m, "'metric' is {task: ctr, name: auc, mode: max}");
    if (m["task"]) s.metric_task = m["task"].as<std::string>();
    if (m["name"]) s.metric_name = m["name"].as<std::string>();
    if (m["mode"]) s.metric_mode = m["mode"].as<std::string>();
    if (s.metric_mode != "max" && s.metric_mode != "min") Bad(path, m, "metric.mode: expected max or min");
  }
  if (const auto pl = root["pipeline"]) {
    if (!pl.IsMap()) Bad(path, pl, "'pipeline' is {pretrain: false, split: valid, protocols: [rows]}");
    for (const auto& kv : pl) {
      const auto key = kv.first.as<std::string>();
      if (key != "pretrain" && key != "split" && key != "protocols") {
        Bad(path, kv.first, fmt::format("unknown pipeline key '{}' (expected pretrain, split, protocols)", key));
      }
    }
    if (pl["pretrain"]) {
      const auto v = Scalar(pl["pretrain"]);
      if (v != "true" && v != "false") Bad(path, pl["pretrain"], fmt::format("pipeline.pretrain: expected true or false, found '{}'", v));
      s.pretrain = v == "true";
    }
    if (pl["split"]) {
      s.eval_split = Scalar(pl["split"]);
      if (s.eval_split != "valid" && s.eval_split != "test") {
        Bad(path, pl["split"], fmt::format("pipeline.split: expected valid or test, found '{}'", s.eval_split));
      }
    }
    if (const auto pr = pl["protocols"]) {
      if (!pr.IsSequence() || pr.size() == 0) Bad(path, pr, "pipeline.protocols is a non-empty list of rows, full, sampled");
      s.protocols.clear();
      for (const auto& v : pr) {
        const auto x = Scalar(v);
        if (x != "rows" && x != "full" && x != "sampled") {
          Bad(path, v, fmt::format("pipeline.protocols: expected rows, full or sampled, found '{}'", x));
        }
        s.protocols.push_back(x);
      }
    }
  }
  int index = 0;
  for (const auto& p : points) {
    for (size_t k = 0; k < std::max<size_t>(seeds.size(), 1); ++k) {
      SweepRun run;
      run.index = index++;
      run.assignment = p;
      if (!seeds.empty()) run.assignment.emplace_back("run.seed", seeds[k]);
      std::string text;
      for (const auto& [key, v] : run.assignment) text += key + "=" + v + "\n";
      run.id = fmt::format("r{:03d}-{:08x}", run.index, static_cast<uint32_t>(Mix64(Fnv1a64(text))));
      run.overrides = fixed;
      for (const auto& [key, v] : run.assignment) run.overrides.push_back(key + "=" + v);
      s.runs.push_back(std::move(run));
    }
  }
  return s;
}

std::vector<std::string> ValidateSweep(const Sweep& sweep) {
  std::vector<std::string> problems;
  for (const auto& run : sweep.runs) {
    try {
      LoadConfig(sweep.base, run.overrides, /*check_required=*/true);
    } catch (const Error& e) {
      std::string msg = e.what();
      for (size_t pos = 0; (pos = msg.find('\n', pos)) != std::string::npos; pos += 3) msg.replace(pos, 1, "\n  ");
      problems.push_back(fmt::format("run {} ({}): {}", run.id, run.index, msg));
    }
  }
  return problems;
}

}  // namespace recprism::config
