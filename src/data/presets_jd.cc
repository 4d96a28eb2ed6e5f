#include "data/presets_parsers.h"

#include <algorithm>
#include <map>
#include <set>

#include "data/presets_util.h"

namespace recprism::data::preset {
namespace {

}  // namespace

// ---------------------------------------------------------------- JD multi-behaviour
RawLog ParseJd(const DataOptions& o, const std::string& spill_dir, uint64_t seed) {
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  log.implicit = true;
  log.has_source_split = true;
  log.default_split = "source";
  log.time_semantics = "order";
  log.source = "JD multi-behaviour benchmark (VCGAE): train pv/fav/buy pairs, held-out valid and test purchases";
  const KnownFile files[5] = {{"jd-multibehavior", "trn_pv.tsv", "0958aca3d19290dc08162be7bfaf6e68", "", "", ""},
                              {"jd-multibehavior", "trn_fav.tsv", "efee9cd87fe3f03f54c702ea0543e2ec", "", "", ""},
                              {"jd-multibehavior", "trn_buy.tsv", "b22034d82e03f6f925e3ebbec8d5dee9", "", "", ""},
                              {"jd-multibehavior", "vld_buy.tsv", "a30dc0c5f33cfde0946b4057b77f4f52", "", "", ""},
                              {"jd-multibehavior", "tst_buy.tsv", "63b513ebd74366d95f6d24d6fa4c6270", "", "", ""}};
  // Train pairs keep first-seen order; flags: 1 pv, 2 fav, 4 buy.
  std::vector<std::pair<int64_t, int64_t>> order;
  std::map<std::pair<int64_t, int64_t>, int> flags;
  std::vector<std::string_view> f;
  auto read_pairs = [&](const KnownFile& kf, auto&& on_pair) {
    bool header = true;
    ForEachLine(o, kf, log, [&](const LineReader& r, const std::string& line) {
      if (header) {
        header = false;
        if (line.rfind("user_id", 0) == 0) return;
      }
      SplitFields(line, '\t', &f);
      int64_t a, b;
      if (f.size() != 2) return bad.Report(r, line, fmt::format("expected 2 tab-separated fields, found {}", f.size()));
      if (!ParseInt64(f[0], &a) || !ParseInt64(f[1], &b)) return bad.Report(r, line, "user and item must be integers");
      on_pair(log.users.Intern(Trim(f[0])), log.items.Intern(Trim(f[1])));
    });
  };
  for (int k = 0; k < 3; ++k) {
    const int bit = k == 0 ? 1 : k == 1 ? 2 : 4;
    read_pairs(files[k], [&](int64_t u, int64_t i) {
      auto key = std::make_pair(u, i);
      auto [it, inserted] = flags.emplace(key, 0);
      if (inserted) order.push_back(key);
      it->second |= bit;
    });
  }
  // The files list each user's pairs sorted by item id, so the file order is not time. The
  // shuffled control gives each user's train pairs a random order.
  const bool shuffled = o.history_order == "shuffled";
  if (shuffled) {
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t b = 0; b < order.size();) {
      size_t e = b;
      while (e < order.size() && order[e].first == order[b].first) ++e;
      ShuffleUserHistory(log.users.key(order[b].first), seed, order.data() + b, e - b);
      b = e;
    }
  }
  int64_t fav_only = 0;
  std::map<int64_t, int64_t> pos;  // per-user position
  for (const auto& key : order) {
    int fl = flags[key];
    if ((fl & 5) == 0) {
      ++fav_only;
      log.touched_only.push_back(key);
      continue;
    }
    Event ev = (fl & 4) ? Event::kPurchase : (fl & 2) ? Event::kFavorite : Event::kClick;
    log.Add(key.first, key.second, pos[key.first]++, ev, 1, (fl & 4) ? 1 : 0, 0.0f,
            static_cast<int8_t>(Split::kTrain));
    log.MaybeSpill();
  }
  for (int k = 3; k < 5; ++k) {
    const int8_t split = static_cast<int8_t>(k == 3 ? Split::kValid : Split::kTest);
    read_pairs(files[k], [&](int64_t u, int64_t i) { log.Add(u, i, pos[u]++, Event::kPurchase, 1, 1, 0.0f, split); });
  }
  // Keep held-out rows after every train row of the user: positions are per-user counters, and
  // valid/test files are read after the train files, so this already holds.
  log.notes.push_back(fmt::format(
      "jd: the space is pv ∪ buy pairs (click = pv or buy, conversion = buy); {} favourite-only pairs are outside "
      "it and were dropped as rows (a sampled negative is never one of them). No timestamps: time is the position ({}, "
      "then valid, then test purchases). Splits come from the source files.",
      fav_only,
      shuffled ? fmt::format("train pairs in a random order per user, data.history_order: shuffled, seed {}", seed)
               : "train pairs in file order, which lists each user's items by item id"));
  return log;
}


}  // namespace recprism::data::preset
