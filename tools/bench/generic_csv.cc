// Writes a synthetic-shaped interaction log as CSV for the generic-ingest benchmark
// (tools/bench/run_ingest_bench.sh): user, item, time, click, conversion, value. rows / 50 users,
// rows / 200 items with Zipf(1.3) popularity, rows in time order with users interleaved, as a
// real log is. Ids are integers, or strings ("user_..." / "sku-...") with --string-ids.
// usage: recprism_generic_csv ROWS OUT.csv [--string-ids] [--seed N]
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ROWS OUT.csv [--string-ids] [--seed N]\n", argv[0]);
    return 2;
  }
  const int64_t rows = std::stoll(argv[1]);
  bool string_ids = false;
  uint64_t seed = 1;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--string-ids") == 0) string_ids = true;
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = std::stoull(argv[++i]);
  }
  std::FILE* out = std::fopen(argv[2], "wb");
  if (out == nullptr) {
    std::perror(argv[2]);
    return 1;
  }
  const int64_t users = std::max<int64_t>(1, rows / 50), items = std::max<int64_t>(1000, rows / 200);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::lognormal_distribution<double> price(3.0, 0.8);
  // Zipf(1.3) over item ranks by inversion of the continuous approximation, capped at `items`.
  const double s = 1.3;
  auto zipf = [&] {
    const double x = std::pow(1.0 - u01(rng), -1.0 / (s - 1.0));
    return std::min<int64_t>(items, static_cast<int64_t>(x));
  };
  std::vector<char> buf(1 << 22);
  size_t used = 0;
  auto flush = [&] {
    std::fwrite(buf.data(), 1, used, out);
    used = 0;
  };
  auto put = [&](const char* p, size_t n) {
    if (used + n > buf.size()) flush();
    std::memcpy(buf.data() + used, p, n);
    used += n;
  };
  auto num = [&](int64_t v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
    put(tmp, static_cast<size_t>(r.ptr - tmp));
  };
  const char* header = "user,item,time,click,conversion,value\n";
  put(header, std::strlen(header));
  int64_t t = 1'600'000'000;
  for (int64_t r = 0; r < rows; ++r) {
    t += u01(rng) < 0.3 ? 1 : 0;
    const int64_t u = static_cast<int64_t>(rng() % static_cast<uint64_t>(users)) * 7919 % 1'000'000'007 + 1000;
    const int64_t i = zipf() * 104729 % 10'000'019 + 10;
    const int click = u01(rng) < 0.2 ? 1 : 0, conv = click && u01(rng) < 0.25 ? 1 : 0;
    const int64_t cents = std::llround(price(rng) * 100);
    if (string_ids) put("user_", 5);
    num(u);
    put(",", 1);
    if (string_ids) put("sku-", 4);
    num(i);
    put(",", 1);
    num(t);
    put(click ? ",1" : ",0", 2);
    put(conv ? ",1," : ",0,", 3);
    num(cents / 100);
    put(".", 1);
    const int64_t c = cents % 100;
    put(c < 10 ? "0" : "", c < 10 ? 1 : 0);
    num(c);
    put("\n", 1);
  }
  flush();
  return std::fclose(out) == 0 ? 0 : 1;
}
