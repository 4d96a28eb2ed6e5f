#include "eval/report.h"

#include <limits>
#include <utility>

namespace recprism::eval {

MetricValue MakeMetric(std::string dimension, std::string task, std::string name, std::string protocol, double value,
                       double n, std::string method, std::string model) {
  MetricValue m;
  m.dimension = std::move(dimension);
  m.task = std::move(task);
  m.name = std::move(name);
  m.model = std::move(model);
  m.protocol = std::move(protocol);
  m.value = value;
  m.n = n;
  m.method = std::move(method);
  m.lo = m.hi = std::numeric_limits<double>::quiet_NaN();
  return m;
}

std::string MetricValue::Key() const {
  return model + "/" + dimension + "/" + task + "/" + name + "/" + protocol + "/" + slice + "/" + group;
}

const MetricValue* Report::Find(const std::string& model, const std::string& task, const std::string& name,
                                const std::string& slice, const std::string& group) const {
  for (const auto& m : metrics) {
    if (m.model == model && m.task == task && m.name == name && m.slice == slice && m.group == group) return &m;
  }
  return nullptr;
}

}  // namespace recprism::eval
