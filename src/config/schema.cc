#include "config/schema.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace recprism::config {
namespace {

template <typename T>
constexpr ValueKind KindOf() {
  if constexpr (std::is_enum_v<T>) return ValueKind::kString;  // by name (core/enum_names.h)
  else if constexpr (std::is_same_v<T, bool>) return ValueKind::kBool;
  else if constexpr (std::is_integral_v<T>) return ValueKind::kInt;
  else if constexpr (std::is_floating_point_v<T>) return ValueKind::kDouble;
  else if constexpr (std::is_same_v<T, std::string>) return ValueKind::kString;
  else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return ValueKind::kIntList;
  else if constexpr (std::is_same_v<T, std::vector<double>>) return ValueKind::kDoubleList;
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return ValueKind::kStringList;
  else static_assert(sizeof(T) == 0, "unsupported option type");
}

// One table row bound to a struct member: Field(key, &RunOptions::train, &TrainOptions::lr, doc).
template <typename Section, typename T>
KeySpec Field(std::string key, Section RunOptions::*section, T Section::*member, std::string doc) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.kind = KindOf<T>();
  spec.doc = std::move(doc);
  spec.get = [section, member](const RunOptions& o) -> Value {
    const T& v = o.*section.*member;
    if constexpr (std::is_enum_v<T>) return std::string(NameOf(v));
    else if constexpr (std::is_same_v<T, bool>) return v;
    else if constexpr (std::is_integral_v<T>) return static_cast<int64_t>(v);
    else if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
    else return v;
  };
  spec.set = [section, member](RunOptions& o, const Value& value) {
    T& v = o.*section.*member;
    if constexpr (std::is_enum_v<T>) ParseEnum(std::get<std::string>(value), &v);  // validated against the names first
    else if constexpr (std::is_same_v<T, bool>) v = std::get<bool>(value);
    else if constexpr (std::is_integral_v<T>) v = static_cast<T>(std::get<int64_t>(value));
    else if constexpr (std::is_floating_point_v<T>) v = static_cast<T>(std::get<double>(value));
    else v = std::get<T>(value);
  };
  return spec;
}

// A row bound to a member of a nested struct: Nested(key, &RunOptions::data, &DataOptions::generic,
// &GenericMapping::user, doc).
template <typename Section, typename Sub, typename T>
KeySpec Nested(std::string key, Section RunOptions::*section, Sub Section::*sub, T Sub::*member, std::string doc) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.kind = KindOf<T>();
  spec.doc = std::move(doc);
  spec.get = [section, sub, member](const RunOptions& o) -> Value {
    const T& v = o.*section.*sub.*member;
    if constexpr (std::is_enum_v<T>) return std::string(NameOf(v));
    else if constexpr (std::is_same_v<T, bool>) return v;
    else if constexpr (std::is_integral_v<T>) return static_cast<int64_t>(v);
    else if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
    else return v;
  };
  spec.set = [section, sub, member](RunOptions& o, const Value& value) {
    T& v = o.*section.*sub.*member;
    if constexpr (std::is_enum_v<T>) ParseEnum(std::get<std::string>(value), &v);
    else if constexpr (std::is_same_v<T, bool>) v = std::get<bool>(value);
    else if constexpr (std::is_integral_v<T>) v = static_cast<T>(std::get<int64_t>(value));
    else if constexpr (std::is_floating_point_v<T>) v = static_cast<T>(std::get<double>(value));
    else v = std::get<T>(value);
  };
  return spec;
}

// An enum-valued row: its allowed values are the enum's names (core/enum_names.h), written once.
template <typename Section, typename E>
KeySpec EnumField(std::string key, Section RunOptions::*section, E Section::*member, std::string doc) {
  KeySpec spec = Field(std::move(key), section, member, std::move(doc));
  spec.choices = NamesOf<E>();
  return spec;
}

KeySpec Check(KeySpec spec, std::function<std::string(const Value&)> check) {
  spec.check = std::move(check);
  return spec;
}

KeySpec Range(KeySpec spec, std::optional<double> min, std::optional<double> max) {
  spec.min = min;
  spec.max = max;
  return spec;
}
KeySpec OneOf(KeySpec spec, std::vector<std::string> choices) {
  spec.choices = std::move(choices);
  return spec;
}
KeySpec Required(KeySpec spec) {
  spec.required = true;
  return spec;
}

std::vector<KeySpec> BuildSchema() {
  using R = RunOptions;
  std::vector<KeySpec> s;
  // run
  s.push_back(Field("run.name", &R::run, &RunMeta::name, "Run name; outputs go to <run.output_dir>/<run.name>."));
  s.push_back(Field("run.output_dir", &R::run, &RunMeta::output_dir, "Parent directory of run directories."));
  s.push_back(Range(Field("run.seed", &R::run, &RunMeta::seed, "Global seed: data order, initialisation, sampling."),
                    0, std::nullopt));
  // comm
  s.push_back(OneOf(Field("comm.backend", &R::comm, &CommOptions::backend,
                          "Collective backend: auto (local for one process; nccl for several when train.device "
                          "resolves to CUDA; mpi otherwise), local (world of one), mpi (CPU, Open MPI), nccl (GPU)."),
                    {"auto", "local", "mpi", "nccl"}));
  s.push_back(Range(Field("comm.timeout_s", &R::comm, &CommOptions::timeout_s,
                          "Seconds any blocking collective may take before the whole job aborts."),
                    0.001, 86400));
  // log
  s.push_back(OneOf(Field("log.level", &R::log, &LogOptions::level, "Lowest level logged."),
                    {"trace", "debug", "info", "warn", "error", "off"}));
  s.push_back(Field("log.all_ranks", &R::log, &LogOptions::all_ranks,
                    "Print INFO lines from every rank, not rank 0 alone (warnings always print)."));
  s.push_back(Field("log.rank_files", &R::log, &LogOptions::rank_files,
                    "Write <run dir>/logs/rank-<r>.log for every rank."));
  // runtime
  s.push_back(Range(Field("runtime.threads_per_rank", &R::runtime, &RuntimeOptions::threads_per_rank,
                          "Intra-op and BLAS threads per rank; 0 = cores per node / ranks per node."),
                    0, 1024));
  // data
  using D = DataOptions;
  s.push_back(Required(OneOf(Field("data.dataset", &R::data, &D::dataset, "Dataset preset (docs/datasets.md)."),
                             {"ml-100k", "ml-1m", "amazon-beauty", "jd", "ali-ccp", "aliexpress", "synthetic",
                              "generic"})));
  s.push_back(Field("data.data_dir", &R::data, &D::data_dir,
                    "Local mirror of the official downloads; empty = $RECPRISM_DATA_DIR."));
  s.push_back(Field("data.cache_dir", &R::data, &D::cache_dir, "Where downloaded and prepared files are kept."));
  s.push_back(Field("data.prepared", &R::data, &D::prepared,
                    "Prepared HDF5 file (written by prepare, read by the loader); empty = "
                    "<data.cache_dir>/prepared/<data.dataset>.h5."));
  s.push_back(Field("data.download", &R::data, &D::download,
                    "Fetch a missing source file from its official address (checksum verified)."));
  s.push_back(OneOf(Field("data.layout", &R::data, &D::layout,
                          "Source layout for ali-ccp: csv (torch-rechub), feasign (PaddleRec field:feasign) or auto."),
                    {"auto", "csv", "feasign"}));
  s.push_back(OneOf(Field("data.split", &R::data, &D::split,
                          "Split protocol; auto = the preset's default (docs/datasets.md)."),
                    {"auto", "leave_one_out", "temporal", "random", "source"}));
  s.push_back(Check(Range(Field("data.split_ratios", &R::data, &D::split_ratios,
                                "Train/valid/test fractions for the temporal and random splits."),
                          0, 1),
                    [](const Value& v) -> std::string {
                      const auto& r = std::get<std::vector<double>>(v);
                      if (r.size() != 3) return fmt::format("expected 3 fractions (train, valid, test), found {}", r.size());
                      double sum = r[0] + r[1] + r[2];
                      if (std::fabs(sum - 1.0) > 1e-6) return fmt::format("fractions sum to {:.6g}, expected 1", sum);
                      return {};
                    }));
  s.push_back(Range(Field("data.negatives_per_positive", &R::data, &D::negatives_per_positive,
                          "Sampled exposures per positive for implicit data (never an item the user interacted "
                          "with); 0 = none."),
                    0, 1000));
  s.push_back(Range(Field("data.eval_negatives_per_positive", &R::data, &D::eval_negatives_per_positive,
                          "Sampled exposures per valid and test positive; -1 = data.negatives_per_positive. 99 "
                          "gives the sampled ranking protocol of the SASRec/BERT4Rec/S3-Rec papers (with "
                          "data.negative_pool: catalogue, as they draw from every item the user never touched)."),
                    -1, 100000));
  s.push_back(OneOf(Field("data.negative_sampler", &R::data, &D::negative_sampler,
                          "Negative sampler: uniform over items, or popularity (train positives)."),
                    {"uniform", "popularity"}));
  s.push_back(OneOf(Field("data.negative_pool", &R::data, &D::negative_pool,
                          "Items negatives are drawn from: train (items with at least one train row; catalogue "
                          "items nobody interacted with are easy negatives that inflate offline metrics) or "
                          "catalogue (every item)."),
                    {"train", "catalogue"}));
  s.push_back(Range(Field("data.min_user_interactions", &R::data, &D::min_user_interactions,
                          "Drop users with fewer positive interactions."),
                    0, 1000000));
  s.push_back(OneOf(Field("data.history_order", &R::data, &D::history_order,
                          "Order of each user's rows where the source has no timestamps (jd; ml-1m from the "
                          "mirror's ratings_no_timestamp.csv): source (the files' order, which lists a user's items "
                          "by item id, not by time) or shuffled (a per-user random order seeded by run.seed at "
                          "prepare, the control for what a sequence model learns from that order). jd shuffles the "
                          "train rows, ml-1m all of them, so its leave-one-out holds out random items. Recorded in "
                          "the prepared file."),
                    {"source", "shuffled"}));
  s.push_back(OneOf(Field("data.on_bad_row", &R::data, &D::on_bad_row,
                          "Malformed source rows: fail (error naming file and line) or skip (counted)."),
                    {"fail", "skip"}));
  s.push_back(Range(Field("data.max_seq_len", &R::data, &D::max_seq_len, "Behaviours kept in a sample's history (L)."),
                    1, 4096));
  s.push_back(OneOf(Field("data.shard", &R::data, &D::shard,
                          "User sharding: contiguous (balanced user ranges by rows) or hash."),
                    {"contiguous", "hash"}));
  s.push_back(Range(Field("data.memory_budget_mb", &R::data, &D::memory_budget_mb,
                          "Memory for rows held at once: the loader's blocks per rank, and in prepare of a generic log the "
                          "rows kept in memory (beyond half of it they spill to disk beside the output and are "
                          "sorted in partitions of at most half of it)."),
                    1, 1 << 22));
  s.push_back(Range(Field("data.prefetch_batches", &R::data, &D::prefetch_batches,
                          "Depth of the loader's bounded prefetch queue."),
                    1, 1024));
  using G = GenericMapping;
  auto generic = [&](const char* key, auto member, const char* doc) {
    s.push_back(Nested(std::string("data.generic.") + key, &R::data, &D::generic, member, doc));
  };
  generic("path", &G::path,
          "generic: the log file (CSV/TSV as RFC 4180: quoted fields may hold the delimiter, \"\" and newlines; "
          "plain or .gz); a relative path is tried from the working directory first, then under data.data_dir.");
  s.push_back(OneOf(Nested("data.generic.layout", &R::data, &D::generic, &G::layout,
                           "generic: rows (one interaction per line, columns mapped below) or sequences (one user "
                           "per line, `user item item ...` in chronological order, no header; leave-one-out by "
                           "default)."),
                    {"rows", "sequences"}));
  generic("item_attributes", &G::item_attributes,
          "generic, sequences layout: a JSON map item -> list of attribute ids, used as item categories.");
  s.push_back(OneOf(Nested("data.generic.delimiter", &R::data, &D::generic, &G::delimiter,
                           "generic: field delimiter: auto (detects tab, comma, semicolon or pipe), tab, comma, "
                           "semicolon, pipe or space."),
                    {"auto", "tab", "comma", "semicolon", "pipe", "space"}));
  generic("header", &G::header, "generic: the first line names the columns (else columns are 0-based indices).");
  generic("user", &G::user, "generic: user id column (required for the rows layout).");
  generic("item", &G::item, "generic: item id column (required for the rows layout).");
  generic("time", &G::time, "generic: unix-seconds timestamp column; empty = file order.");
  generic("event", &G::event, "generic: event-type column, matched against click_events/conversion_events.");
  generic("click_events", &G::click_events, "generic: event values that count as a click.");
  generic("conversion_events", &G::conversion_events, "generic: event values that count as a conversion.");
  generic("click", &G::click, "generic: 0/1 click label column (rows with 0 are logged exposures; see data.generic.exposures).");
  generic("conversion", &G::conversion, "generic: 0/1 conversion label column.");
  s.push_back(OneOf(Nested("data.generic.exposures", &R::data, &D::generic, &G::exposures,
                           "generic, rows layout with an event or click column: where the non-click exposures come "
                           "from: logged (the rows with click 0; nothing sampled), sampled (data.negatives_per_positive "
                           "drawn per click), or auto (sampled when no row is a non-click exposure, else logged)."),
                    {"auto", "logged", "sampled"}));
  generic("value", &G::value, "generic: price or revenue column.");
  generic("category", &G::category, "generic: item category column ('|'-separated lists allowed).");
  generic("categorical", &G::categorical, "generic: extra categorical feature columns.");
  generic("numeric", &G::numeric, "generic: extra numeric feature columns.");
  using S = SyntheticOptions;
  s.push_back(Range(Nested("data.synthetic.rows", &R::data, &D::synthetic, &S::rows,
                           "synthetic: rows to generate (exposures included)."),
                    1, 1e12));
  s.push_back(Range(Nested("data.synthetic.users", &R::data, &D::synthetic, &S::users, "synthetic: users; 0 = rows / 50."),
                    0, 1e11));
  s.push_back(Range(Nested("data.synthetic.items", &R::data, &D::synthetic, &S::items,
                           "synthetic: items; 0 = max(1000, rows / 200)."),
                    0, 1e11));
  s.push_back(Range(Nested("data.synthetic.categories", &R::data, &D::synthetic, &S::categories,
                           "synthetic: item categories."),
                    1, 1e6));
  s.push_back(Range(Nested("data.synthetic.clusters", &R::data, &D::synthetic, &S::clusters,
                           "synthetic: user interest clusters over categories."),
                    1, 1e6));
  s.push_back(Range(Nested("data.synthetic.zipf", &R::data, &D::synthetic, &S::zipf,
                           "synthetic: exponent of the power-law item popularity."),
                    0, 5));
  // model
  using M = ModelOptions;
  s.push_back(Range(Field("model.d_model", &R::model, &M::d_model, "Embedding and transformer width."), 1, 65536));
  s.push_back(Range(Field("model.num_heads", &R::model, &M::num_heads, "Attention heads; must divide model.d_model."),
                    1, 1024));
  s.push_back(Range(Field("model.num_layers", &R::model, &M::num_layers, "Transformer encoder layers (pre-LayerNorm)."),
                    0, 256));
  s.push_back(Range(Field("model.ffn_multiplier", &R::model, &M::ffn_multiplier,
                          "Feed-forward width = ffn_multiplier x d_model."), 1, 64));
  s.push_back(Range(Field("model.dropout", &R::model, &M::dropout, "Dropout probability."), 0, 0.99));
  s.push_back(Field("model.causal", &R::model, &M::causal, "History tokens attend only to earlier ones (SASRec-style)."));
  s.push_back(Range(Field("model.time_gap_buckets", &R::model, &M::time_gap_buckets,
                          "log2 buckets of (target time - behaviour time); the last bucket is open."), 1, 64));
  s.push_back(EnumField("model.interaction", &R::model, &M::interaction,
                        "How the target meets the history: encode_once (history encoded once per distinct history, "
                        "target attends over it) or bst (target is a token in the encoder, once per sample)."));
  s.push_back(EnumField("model.heads", &R::model, &M::heads,
                        "Task heads: esmm (pCTCVR = pCTR x pCVR, both losses on impressions), mmoe or shared_bottom."));
  s.push_back(Range(Field("model.num_experts", &R::model, &M::num_experts, "mmoe: experts."), 1, 256));
  s.push_back(Range(Field("model.tower_hidden", &R::model, &M::tower_hidden,
                          "Hidden width of each task tower, the shared bottom and each expert."), 1, 65536));
  s.push_back(Range(Field("model.ctr_loss_weight", &R::model, &M::ctr_loss_weight, "Weight of the CTR loss."), 0, 1e6));
  s.push_back(Range(Field("model.ctcvr_loss_weight", &R::model, &M::ctcvr_loss_weight,
                          "Weight of the CTCVR loss (pCTR x pCVR against conversions, on impressions)."), 0, 1e6));
  // train
  using T = TrainOptions;
  s.push_back(OneOf(Field("train.device", &R::train, &T::device, "auto (CUDA when present), cpu or cuda."),
                    {"auto", "cpu", "cuda"}));
  s.push_back(Field("train.bf16", &R::train, &T::bf16, "bf16 autocast of the forward pass (CUDA only)."));
  s.push_back(OneOf(Field("train.optimizer", &R::train, &T::optimizer,
                          "adamw (decoupled weight decay) or adam (L2 through the gradient)."), {"adamw", "adam"}));
  s.push_back(Range(Field("train.lr", &R::train, &T::lr, "Peak learning rate."), 0, 10));
  s.push_back(Range(Field("train.encoder_lr_scale", &R::train, &T::encoder_lr_scale,
                          "Encoder and embedding lr = lr x this when fine-tuning; 0 freezes them."), 0, 100));
  s.push_back(Range(Field("train.weight_decay", &R::train, &T::weight_decay,
                          "Weight decay; never applied to embeddings, norms and biases."), 0, 10));
  s.push_back(Range(Field("train.beta1", &R::train, &T::beta1, "Adam first-moment decay."), 0, 0.999999));
  s.push_back(Range(Field("train.beta2", &R::train, &T::beta2, "Adam second-moment decay."), 0, 0.999999));
  s.push_back(Range(Field("train.eps", &R::train, &T::eps, "Adam epsilon."), 0, 1));
  s.push_back(Range(Field("train.warmup_steps", &R::train, &T::warmup_steps, "Linear warm-up steps."), 0, 1e12));
  s.push_back(OneOf(Field("train.schedule", &R::train, &T::schedule,
                          "Decay after warm-up: cosine, linear (both to min_lr_ratio x lr) or constant."),
                    {"cosine", "linear", "constant"}));
  s.push_back(Range(Field("train.min_lr_ratio", &R::train, &T::min_lr_ratio, "Final lr / peak lr."), 0, 1));
  s.push_back(Range(Field("train.grad_clip", &R::train, &T::grad_clip, "Global gradient-norm clip; 0 = off."), 0, 1e9));
  s.push_back(Range(Field("train.batch_size", &R::train, &T::batch_size, "Samples per rank per step."), 1, 1 << 24));
  s.push_back(Range(Field("train.epochs", &R::train, &T::epochs, "Passes over the training split."), 0, 100000));
  s.push_back(Range(Field("train.max_steps", &R::train, &T::max_steps, "Stop after this many steps; 0 = epochs decide."),
                    0, 1e15));
  s.push_back(Range(Field("train.log_every", &R::train, &T::log_every,
                          "Steps between log lines (train_log.jsonl gets every step)."), 1, 1e12));
  s.push_back(Range(Field("train.validate_every", &R::train, &T::validate_every,
                          "Steps between validations on the valid split; 0 = once per epoch."), 0, 1e12));
  s.push_back(OneOf(Field("train.early_stop_metric", &R::train, &T::early_stop_metric,
                          "Validation metric for best.pt and early stopping (ctr_ndcg and ctr_hit_rate: at eval.top_k's "
                          "first K, train.validation: evaluator only)."),
                    {"ctr_auc", "ctr_gauc", "ctr_ndcg", "ctr_hit_rate", "ctcvr_auc", "ctr_logloss", "loss"}));
  s.push_back(EnumField("train.validation", &R::train, &T::validation,
                        "evaluator: the sharded evaluator on the valid split (exact AUC, GAUC, NDCG); sums: "
                        "histogram AUC and logloss from merged sums (cheaper on very large valid splits); "
                        "heldout: hit rate and NDCG at eval.top_k's first K of the valid positives under "
                        "eval.protocol (full when it is rows; eval/heldout_ranking.h), for ctr_ndcg or ctr_hit_rate."));
  s.push_back(Range(Field("train.patience", &R::train, &T::patience,
                          "Validations without improvement before stopping; 0 = never stop early."), 0, 1e9));
  s.push_back(Range(Field("train.checkpoint_every", &R::train, &T::checkpoint_every,
                          "Steps between checkpoints; 0 = at each epoch end (and always at the end)."), 0, 1e12));
  s.push_back(Range(Field("train.keep_checkpoints", &R::train, &T::keep_checkpoints,
                          "Most recent step checkpoints kept (best.pt is kept apart)."), 1, 1e6));
  s.push_back(Range(Field("train.check_replicas_every", &R::train, &T::check_replicas_every,
                          "Debug: all-reduce a parameter checksum every N steps and abort on divergence; 0 = off."),
                    0, 1e12));
  s.push_back(Range(Field("train.bucket_mb", &R::train, &T::bucket_mb, "Gradient all-reduce bucket size (MiB)."), 1,
                    1 << 16));
  s.push_back(OneOf(Field("train.sparse_embeddings", &R::train, &T::sparse_embeddings,
                          "Item-table gradients: auto (row exchange when it moves fewer bytes), dense or sparse."),
                    {"auto", "dense", "sparse"}));
  s.push_back(EnumField("train.objective", &R::train, &T::objective,
                        "multitask: the CTR/CVR task heads on every train row; next_item: SASRec-style causal "
                        "next-item prediction over each user's train sequence (needs model.causal: true; "
                        "validation and evaluation score items by the user vector's dot product)."));
  s.push_back(Range(Field("train.full_softmax_max_items", &R::train, &T::full_softmax_max_items,
                          "next_item: catalogues up to this size use the full softmax; larger ones sampled softmax."),
                    0, 1e12));
  s.push_back(Range(Field("train.num_sampled", &R::train, &T::num_sampled,
                          "next_item sampled softmax: negatives per step, drawn by popularity, log-Q corrected."),
                    1, 1 << 24));
  s.push_back(Range(Field("train.scaling_probe_steps", &R::train, &T::scaling_probe_steps,
                          "Steps each rank first trains alone (timed, then undone) so the report's efficiency section "
                          "gives the scaling efficiency: the samples/s of the run's next as many steps / (world size "
                          "x one rank's samples/s), at more than one rank; 0 = no probe."),
                    0, 1e9));
  s.push_back(Nested("train.privacy.dp_sgd", &R::train, &T::privacy, &PrivacyOptions::dp_sgd,
                     "Differentially private training (DP-SGD): per-sample gradient clipping and Gaussian noise added "
                     "once across ranks; epsilon at train.privacy.delta from a Renyi-DP accountant goes to the log, "
                     "the checkpoints and the report's provenance. Histories are not shared between samples."));
  s.push_back(Range(Nested("train.privacy.noise_multiplier", &R::train, &T::privacy, &PrivacyOptions::noise_multiplier,
                           "DP-SGD: noise standard deviation / max_grad_norm (sigma)."),
                    1e-3, 1e4));
  s.push_back(Range(Nested("train.privacy.max_grad_norm", &R::train, &T::privacy, &PrivacyOptions::max_grad_norm,
                           "DP-SGD: each sample's gradient is clipped to this L2 norm (C)."),
                    1e-9, 1e9));
  s.push_back(Range(Nested("train.privacy.delta", &R::train, &T::privacy, &PrivacyOptions::delta,
                           "DP-SGD: the delta of the (epsilon, delta) guarantee reported (keep it below 1 / train samples)."),
                    1e-30, 0.5));
  // pretrain
  using P = PretrainOptions;
  s.push_back(Range(Field("pretrain.epochs", &R::pretrain, &P::epochs, "Passes over the train histories."), 0, 100000));
  s.push_back(Range(Field("pretrain.max_steps", &R::pretrain, &P::max_steps, "0 = epochs decide."), 0, 1e15));
  s.push_back(Range(Field("pretrain.lr", &R::pretrain, &P::lr,
                          "Peak learning rate (warm-up, schedule and clipping from train.*)."), 0, 10));
  s.push_back(Range(Field("pretrain.mask_prob", &R::pretrain, &P::mask_prob,
                          "Share of history items replaced by [MASK] (at least one per history)."), 0, 1));
  s.push_back(Range(Field("pretrain.full_softmax_max_items", &R::pretrain, &P::full_softmax_max_items,
                          "Catalogues up to this size use the full softmax; larger ones sampled softmax."), 0, 1e12));
  s.push_back(Range(Field("pretrain.num_sampled", &R::pretrain, &P::num_sampled,
                          "Sampled softmax: negatives per step, drawn by popularity, log-Q corrected."), 1, 1 << 24));
  s.push_back(OneOf(Field("pretrain.histories", &R::pretrain, &P::histories,
                          "every_row: the history of every train row; last_per_user: the history of each user's last "
                          "train positive only (each sequence once per epoch)."),
                    {"every_row", "last_per_user"}));
  s.push_back(OneOf(Field("pretrain.attention", &R::pretrain, &P::attention,
                          "model: model.causal's attention; bidirectional: every position sees the whole history while "
                          "pretraining (fine-tuning a causal model from it then uses model.causal)."),
                    {"model", "bidirectional"}));
  // eval
  s.push_back(Range(Field("eval.top_k", &R::eval, &EvalOptions::top_k,
                          "Cut-offs for ranking metrics (precision@k, recall@k, NDCG@k)."),
                    1, 100000));
  s.push_back(Range(Field("eval.batch_size", &R::eval, &EvalOptions::batch_size,
                          "Samples per rank per model-scoring step (the predictions-file path has no steps)."),
                    1, 1 << 24));
  s.push_back(Field("eval.slices", &R::eval, &EvalOptions::slices,
                    "Extra predictions-file columns to slice every metric by (user_activity and item_popularity "
                    "are always sliced)."));
  s.push_back(Range(Field("eval.min_slice_size", &R::eval, &EvalOptions::min_slice_size,
                          "Slice groups with fewer rows are listed without metrics."),
                    1, 1e15));
  s.push_back(Range(Field("eval.bootstrap_replicates", &R::eval, &EvalOptions::bootstrap_replicates,
                          "Poisson bootstrap replicates (clustered on users) behind every interval; 0 = no intervals."),
                    0, 100000));
  s.push_back(Range(Field("eval.ci_level", &R::eval, &EvalOptions::ci_level, "Confidence level of every interval."),
                    0.5, 0.999));
  s.push_back(Range(Field("eval.histogram_bins", &R::eval, &EvalOptions::histogram_bins,
                          "Logit-spaced score histogram of the overall curves (AUC itself is exact)."),
                    2, 1 << 20));
  s.push_back(Range(Field("eval.replicate_bins", &R::eval, &EvalOptions::replicate_bins,
                          "Score histogram of slices and bootstrap replicates; their AUC error bound is reported."),
                    2, 1 << 20));
  s.push_back(Range(Field("eval.calibration_bins", &R::eval, &EvalOptions::calibration_bins,
                          "Equal-width bins of the reliability diagram and the expected calibration error."),
                    1, 100000));
  s.push_back(Field("eval.baselines", &R::eval, &EvalOptions::baselines,
                    "Also score popularity and random recommenders on the same users and candidates."));
  s.push_back(Field("eval.feature_importance", &R::eval, &EvalOptions::feature_importance,
                    "evaluate --checkpoint (protocol rows): permutation importance of each feature group (history, "
                    "target item, time gaps, events, user and row features): the drop in AUC and the rise in logloss "
                    "when the group is shuffled across samples, with paired bootstrap intervals (explainability). "
                    "Costs one more scoring pass of the split per group."));
  s.push_back(Range(Field("eval.max_exposure_cells", &R::eval, &EvalOptions::max_exposure_cells,
                          "Largest items x replicates exposure array; above it exposure metrics get no interval."),
                    0, 1e12));
  s.push_back(EnumField("eval.protocol", &R::eval, &EvalOptions::protocol,
                        "evaluate --checkpoint: rows (the split's rows and their sampled negatives), full (each "
                        "held-out positive against the whole catalogue, the user's other positives excluded) or "
                        "sampled (against eval.sampled_negatives never-interacted items, or eval.candidates_file)."));
  s.push_back(Range(Field("eval.sampled_negatives", &R::eval, &EvalOptions::sampled_negatives,
                          "protocol sampled: negatives per held-out positive, uniform over the items the user never "
                          "interacted with, seeded by run.seed."), 1, 1 << 20));
  s.push_back(Field("eval.candidates_file", &R::eval, &EvalOptions::candidates_file,
                    "protocol sampled: a `user neg neg ...` file (source ids, one line per user) giving each user's "
                    "negatives instead of drawing them."));
  s.push_back(Field("eval.write_candidates", &R::eval, &EvalOptions::write_candidates,
                    "protocol sampled: also write the negatives used, in the candidates-file layout, to this path."));
  s.push_back(EnumField("eval.heldout_queries", &R::eval, &EvalOptions::heldout_queries,
                        "protocols full and sampled, and train.validation heldout (protocol rows ignores it): item "
                        "(each held-out positive is ranked alone, one relevant "
                        "item per list) or user (one list per user with all of the user's held-out positives "
                        "relevant: hit_rate, recall, precision and ndcg over the set)."));
  s.push_back(EnumField("eval.rank_by", &R::eval, &EvalOptions::rank_by,
                        "protocols full and sampled with a task-heads checkpoint: rank candidates by pCTR (ctr) "
                        "or by pCTCVR = pCTR x pCVR (ctcvr, for purchase top-K). Next-item checkpoints rank by "
                        "their item scores."));
  s.push_back(EnumField("eval.exclude_seen", &R::eval, &EvalOptions::exclude_seen,
                        "protocol full: which of the user's items leave the candidates (relevant ones never do): "
                        "all (positives in any split), train (train-split positives), train_conversions "
                        "(converted train rows, e.g. purchases) or none. Sampled negatives are always drawn "
                        "from items the user never interacted with."));
  auto column = [&](const char* key, std::string EvalColumns::*member, const char* doc) {
    s.push_back(Nested(std::string("eval.columns.") + key, &R::eval, &EvalOptions::columns, member, doc));
  };
  column("user", &EvalColumns::user, "Predictions file: user id column.");
  column("item", &EvalColumns::item, "Predictions file: item id column.");
  column("click", &EvalColumns::click, "Predictions file: 0/1 click label column.");
  column("conversion", &EvalColumns::conversion, "Predictions file: 0/1 conversion label column (optional).");
  column("p_ctr", &EvalColumns::p_ctr, "Predictions file: predicted click probability column.");
  column("p_cvr", &EvalColumns::p_cvr, "Predictions file: predicted conversion-given-click probability column.");
  column("p_ctcvr", &EvalColumns::p_ctcvr,
         "Predictions file: predicted click-and-convert probability column (default p_ctr x p_cvr).");
  column("value", &EvalColumns::value, "Predictions file: revenue of a conversion (optional).");
  column("category", &EvalColumns::category, "Predictions file: item categories, '|'-separated (optional).");
  return s;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string FormatNumber(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return fmt::format("{:.1f}", d);
  return fmt::format("{}", d);  // shortest round-trip form
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::string kSpecial = ":#{}[],&*!|>'\"%@`";
  if (s.find_first_of(kSpecial) != std::string::npos) return true;
  if (s.front() == ' ' || s.back() == ' ' || s.front() == '-' || s.front() == '?') return true;
  static constexpr const char* kWords[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "True", "False", "Null"};
  for (const char* w : kWords) if (s == w) return true;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end != s.c_str() && *end == '\0';  // would read back as a number
}

std::string Quote(const std::string& s) {
  if (!NeedsQuotes(s)) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> kSchema = BuildSchema();
  return kSchema;
}

const KeySpec* FindKey(std::string_view key) {
  for (const auto& spec : Schema()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

std::string SuggestKey(std::string_view unknown) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& spec : Schema()) {
    size_t d = EditDistance(unknown, spec.key);
    // Also match a misplaced leaf: "lr" or "trainer.lr" against "train.lr".
    auto dot = spec.key.rfind('.');
    auto leaf = std::string_view(spec.key).substr(dot + 1);
    auto udot = unknown.rfind('.');
    auto uleaf = udot == std::string_view::npos ? unknown : unknown.substr(udot + 1);
    if (uleaf == leaf) d = std::min(d, size_t{1});
    if (d < best_d) {
      best_d = d;
      best = spec.key;
    }
  }
  size_t limit = std::max<size_t>(2, unknown.size() / 3);
  return best_d <= limit ? best : std::string();
}

std::string_view KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBool: return "bool";
    case ValueKind::kInt: return "int";
    case ValueKind::kDouble: return "float";
    case ValueKind::kString: return "string";
    case ValueKind::kIntList: return "list of int";
    case ValueKind::kDoubleList: return "list of float";
    case ValueKind::kStringList: return "list of string";
  }
  return "?";
}

std::string FormatValue(const Value& value) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return FormatNumber(d); }
    std::string operator()(const std::string& s) const { return Quote(s); }
    std::string operator()(const std::vector<int64_t>& v) const { return "[" + fmt::format("{}", fmt::join(v, ", ")) + "]"; }
    std::string operator()(const std::vector<double>& v) const {
      std::vector<std::string> q;
      for (double d : v) q.push_back(FormatNumber(d));
      return "[" + fmt::format("{}", fmt::join(q, ", ")) + "]";
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::vector<std::string> q;
      for (const auto& s : v) q.push_back(Quote(s));
      return "[" + fmt::format("{}", fmt::join(q, ", ")) + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

std::string Validate(const KeySpec& spec, const Value& value) {
  auto check_number = [&](double x) -> std::string {
    if ((spec.min && x < *spec.min) || (spec.max && x > *spec.max)) {
      return fmt::format("value {} is out of range [{}, {}]", FormatNumber(x),
                         spec.min ? FormatNumber(*spec.min) : "-inf", spec.max ? FormatNumber(*spec.max) : "inf");
    }
    return {};
  };
  if (const auto* i = std::get_if<int64_t>(&value)) return check_number(static_cast<double>(*i));
  if (const auto* d = std::get_if<double>(&value)) {
    if (!std::isfinite(*d)) return fmt::format("value {} is not a finite number", *d);
    return check_number(*d);
  }
  if (const auto* list = std::get_if<std::vector<int64_t>>(&value)) {
    for (int64_t x : *list) {
      if (auto m = check_number(static_cast<double>(x)); !m.empty()) return "element " + m;
    }
  }
  if (const auto* list = std::get_if<std::vector<double>>(&value)) {
    for (double x : *list) {
      if (auto m = check_number(x); !m.empty()) return "element " + m;
    }
  }
  if (spec.check) {
    if (std::string m = spec.check(value); !m.empty()) return m;
  }
  if (const auto* s = std::get_if<std::string>(&value)) {
    if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), *s) == spec.choices.end()) {
      return fmt::format("'{}' is not one of: {}", *s, fmt::join(spec.choices, ", "));
    }
  }
  return {};
}

std::vector<std::string> ValidateCrossKeys(const RunOptions& o) {
  std::vector<std::string> errors;
  if (o.model.num_heads > 0 && o.model.d_model % o.model.num_heads != 0) {
    errors.push_back(fmt::format("model.num_heads ({}) must divide model.d_model ({})", o.model.num_heads,
                                 o.model.d_model));
  }
  if (o.train.objective == Objective::kNextItem && !o.model.causal) {
    errors.push_back("train.objective: next_item needs model.causal: true (every position predicts the item after it, "
                     "so it may not see that item); found model.causal: false");
  }
  if (o.train.objective == Objective::kNextItem && o.train.validation == ValidationMode::kSums) {
    errors.push_back("train.validation: sums measures the task heads, which train.objective: next_item does not train; "
                     "use train.validation: heldout (or evaluator)");
  }
  if (o.train.privacy.dp_sgd && o.train.sparse_embeddings == "sparse") {
    errors.push_back("train.privacy.dp_sgd adds noise to every row of the item table, so its gradient is dense; "
                     "train.sparse_embeddings must be auto or dense, found sparse");
  }
  const std::string& esm = o.train.early_stop_metric;
  if (o.train.validation == ValidationMode::kHeldOut && esm != "ctr_ndcg" && esm != "ctr_hit_rate") {
    errors.push_back(fmt::format("train.validation: heldout measures ranking only; train.early_stop_metric must be "
                                 "ctr_ndcg or ctr_hit_rate, found {}", esm));
  }
  if (o.train.validation == ValidationMode::kSums && (esm == "ctr_ndcg" || esm == "ctr_hit_rate" || esm == "ctr_gauc")) {
    errors.push_back(fmt::format("train.early_stop_metric: {} needs train.validation: evaluator or heldout (sums has "
                                 "no per-user metrics)", esm));
  }
  if (!o.eval.candidates_file.empty() && o.eval.protocol != Protocol::kSampled) {
    errors.push_back(fmt::format("eval.candidates_file is set ({}) but eval.protocol is {}; candidates files belong to "
                                 "protocol sampled", o.eval.candidates_file, NameOf(o.eval.protocol)));
  }
  if (!o.eval.write_candidates.empty() && !o.eval.candidates_file.empty()) {
    errors.push_back("eval.write_candidates and eval.candidates_file are both set: write_candidates records drawn "
                     "negatives, so it needs candidates_file empty");
  }
  return errors;
}

}  // namespace recprism::config
