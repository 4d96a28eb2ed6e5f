// Loader throughput against what training consumes, both on one core, in the same run.
//
// usage: recprism_loader_bench FILE.h5 [--seconds S] [--L 50] [--batch 256]
// Loader: samples/s building train batches (history of L behaviours) from the prepared file.
// Training peer: a LibTorch step of the sequence model this project trains (item + category
// embeddings, 2-layer transformer encoder, d_model 64, 2 heads, CTR/CVR heads, AdamW) on batches
// of the same shape. Prints both and the ratio; the loader must be >= 10x.
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "comm/local/local_comm.h"
#include "data/loader.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: recprism_loader_bench FILE.h5 [--seconds S] [--L 50] [--batch 256]\n";
    return 2;
  }
  std::string path = argv[1];
  double seconds = 10;
  int L = 50, batch = 256;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--L") L = std::atoi(argv[i + 1]);
    if (a == "--batch") batch = std::atoi(argv[i + 1]);
  }
  torch::set_num_threads(1);
  recprism::CommOptions co;
  auto comm = recprism::CreateLocalCommunicator(co);
  recprism::data::LoaderOptions lo;
  lo.max_seq_len = L;
  lo.batch_size = batch;
  recprism::data::ShardLoader loader(path, *comm, lo);
  const int64_t num_items = loader.reader().items().num_items;
  const int64_t num_cats = loader.reader().items().num_categories;

  // Loader: epochs until the time is up (the prefetch thread does the work; the consumer only
  // takes batches, so this is the producer's rate on one core).
  int64_t samples = 0;
  auto t0 = Clock::now();
  recprism::data::Batch b;
  for (int epoch = 0; std::chrono::duration<double>(Clock::now() - t0).count() < seconds; ++epoch) {
    loader.StartEpoch(epoch);
    while (loader.Next(&b)) {
      samples += b.size;
      if (std::chrono::duration<double>(Clock::now() - t0).count() >= seconds) break;
    }
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double loader_rate = samples / load_s;

  // Training peer.
  const int64_t d = 64;
  torch::nn::Embedding item_emb(num_items + 1, d), cat_emb(num_cats + 1, d), pos_emb(L + 1, d);
  torch::nn::TransformerEncoder encoder(torch::nn::TransformerEncoderOptions(
      torch::nn::TransformerEncoderLayerOptions(d, 2).dim_feedforward(4 * d).dropout(0.1), 2));
  torch::nn::Linear ctr(2 * d, 1), cvr(2 * d, 1);
  std::vector<torch::Tensor> params;
  for (auto* m : std::initializer_list<torch::nn::Module*>{item_emb.get(), cat_emb.get(), pos_emb.get(), encoder.get(), ctr.get(), cvr.get()}) {
    for (auto& p : m->parameters()) params.push_back(p);
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3));
  auto hist = torch::randint(1, num_items + 1, {batch, L}, torch::kLong);
  auto hist_cat = torch::randint(1, num_cats, {batch, L}, torch::kLong);
  auto target = torch::randint(1, num_items + 1, {batch}, torch::kLong);
  auto click = torch::randint(0, 2, {batch}, torch::kFloat);
  auto positions = torch::arange(L, torch::kLong).unsqueeze(0).expand({batch, L});
  int64_t steps = 0;
  t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    auto x = item_emb(hist) + cat_emb(hist_cat) + pos_emb(positions);
    auto h = encoder(x.transpose(0, 1)).mean(0);
    auto z = torch::cat({h, item_emb(target)}, 1);
    auto p_ctr = torch::sigmoid(ctr(z).squeeze(1));
    auto p_ctcvr = p_ctr * torch::sigmoid(cvr(z).squeeze(1));
    auto loss = torch::binary_cross_entropy(p_ctr, click) + torch::binary_cross_entropy(p_ctcvr, click * 0);
    opt.zero_grad();
    loss.backward();
    opt.step();
    ++steps;
  }
  const double train_rate = steps * batch / std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "file " << path << "\n";
  std::cout << "L " << L << ", batch " << batch << ", 1 core each\n";
  std::cout << "loader_samples_per_s " << loader_rate << "\n";
  std::cout << "train_samples_per_s " << train_rate << "\n";
  std::cout << "ratio " << loader_rate / train_rate << "\n";
  return loader_rate >= 10 * train_rate ? 0 : 1;
}
