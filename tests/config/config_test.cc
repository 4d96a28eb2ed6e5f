#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/loader.h"
#include "config/schema.h"
#include "core/status.h"

namespace recprism::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("recprism_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  // The error message of a config that must be rejected.
  std::string Rejected(const std::string& path, const std::vector<std::string>& overrides = {}) {
    try {
      LoadConfig(path, overrides);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::kInvalidConfig);
      return e.what();
    }
    ADD_FAILURE() << "config was accepted: " << path;
    return "";
  }

  fs::path dir_;
};

constexpr const char* kMinimal = "data:\n  dataset: ml-100k\n";

TEST_F(ConfigTest, DefaultsComeFromTheOptionsStructs) {
  LoadedConfig c = LoadConfig(Write("a.yaml", kMinimal), {});
  RunOptions defaults;
  EXPECT_EQ(c.options.train.lr, defaults.train.lr);
  EXPECT_EQ(c.options.comm.backend, "auto");
  EXPECT_EQ(c.options.data.dataset, "ml-100k");
  EXPECT_EQ(c.origins.count("data.dataset"), 1u);
  EXPECT_EQ(c.origins.at("data.dataset").line, 2);
  EXPECT_EQ(c.origins.count("train.lr"), 0u);
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineKeyAndSuggestion) {
  std::string f = Write("bad.yaml", "data:\n  dataset: ml-100k\ntrain:\n  lr: 0.01\n  lrr: 0.02\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(f + ":5:3: train.lrr: unknown key (did you mean 'train.lr'?)"), std::string::npos) << m;
}

TEST_F(ConfigTest, UnknownSectionIsReportedWithSuggestion) {
  std::string m = Rejected(Write("bad.yaml", "data:\n  dataset: x\ntrian:\n  lr: 0.1\n"));
  EXPECT_NE(m.find(":3:1: trian: unknown key"), std::string::npos) << m;
}

TEST_F(ConfigTest, WrongTypeNamesExpectedAndFound) {
  std::string f = Write("bad.yaml", "data:\n  dataset: ml-100k\ntrain:\n  lr: fast\n  batch_size: 3.5\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(f + ":4:7: train.lr: expected a number, found 'fast' (float)"), std::string::npos) << m;
  EXPECT_NE(m.find(f + ":5:15: train.batch_size: expected an integer, found '3.5' (int)"), std::string::npos) << m;
  EXPECT_NE(m.find("2 problems"), std::string::npos) << m;
}

TEST_F(ConfigTest, OutOfRangeAndBadChoiceAreRejected) {
  std::string f = Write("bad.yaml", "data:\n  dataset: ml-100k\ntrain:\n  lr: -1\ncomm:\n  backend: gloo\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(":4:7: train.lr: value -1.0 is out of range [0.0, 10.0]"), std::string::npos) << m;
  EXPECT_NE(m.find(":6:12: comm.backend: 'gloo' is not one of: auto, local, mpi, nccl"), std::string::npos) << m;
}

TEST_F(ConfigTest, MissingRequiredKeyIsNamed) {
  std::string f = Write("bad.yaml", "train:\n  lr: 0.1\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(f + ": data.dataset: required key is missing"), std::string::npos) << m;
  EXPECT_NO_THROW(LoadConfig(f, {}, /*check_required=*/false));
}

TEST_F(ConfigTest, SplitRatiosMustBeThreeFractionsSummingToOne) {
  std::string f = Write("a.yaml", kMinimal);
  std::string m = Rejected(f, {"data.split_ratios=[0.5, 0.2]", "data.shard=random"});
  EXPECT_NE(m.find("data.split_ratios: expected 3 fractions (train, valid, test), found 2"), std::string::npos) << m;
  EXPECT_NE(m.find("data.shard: 'random' is not one of: contiguous, hash"), std::string::npos) << m;
  m = Rejected(f, {"data.split_ratios=[0.5, 0.2, 0.2]"});
  EXPECT_NE(m.find("fractions sum to 0.9"), std::string::npos) << m;
}

TEST_F(ConfigTest, NestedSectionsReportTheFullKeyPath) {
  std::string f = Write("a.yaml", "data:\n  dataset: generic\n  generic:\n    usr: uid\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(":4:5: data.generic.usr: unknown key (did you mean 'data.generic.user'?)"), std::string::npos) << m;
}

TEST_F(ConfigTest, SectionGivenAScalarIsAnError) {
  std::string m = Rejected(Write("bad.yaml", "data:\n  dataset: x\ntrain: 3\n"));
  EXPECT_NE(m.find(":3:8: train: expected a mapping (section 'train'), found '3'"), std::string::npos) << m;
}

TEST_F(ConfigTest, YamlSyntaxErrorHasLocation) {
  std::string f = Write("bad.yaml", "data:\n  dataset: [unclosed\n");
  std::string m = Rejected(f);
  EXPECT_NE(m.find(f + ":"), std::string::npos) << m;
  EXPECT_NE(m.find("YAML syntax error"), std::string::npos) << m;
}

TEST_F(ConfigTest, OverlaysApplyInOrderAndTheFileWins) {
  Write("base/base.yaml", "data:\n  dataset: ml-100k\ntrain:\n  lr: 0.1\n  epochs: 3\n");
  Write("base/big.yaml", "model:\n  d_model: 128\ntrain:\n  epochs: 5\n");
  std::string exp = Write("exp.yaml", "defaults: [base/base.yaml, base/big.yaml]\ntrain:\n  lr: 0.5\n");
  LoadedConfig c = LoadConfig(exp, {});
  EXPECT_EQ(c.options.train.lr, 0.5);
  EXPECT_EQ(c.options.train.epochs, 5);
  EXPECT_EQ(c.options.model.d_model, 128);
  EXPECT_EQ(c.options.data.dataset, "ml-100k");
  ASSERT_EQ(c.files.size(), 3u);
  EXPECT_NE(c.origins.at("train.epochs").file.find("big.yaml"), std::string::npos);
}

TEST_F(ConfigTest, OverlayErrorsNameTheOverlayFile) {
  Write("base.yaml", "data:\n  dataset: ml-100k\nmodel:\n  d_modle: 3\n");
  std::string m = Rejected(Write("exp.yaml", "defaults: [base.yaml]\n"));
  EXPECT_NE(m.find("base.yaml:4:3: model.d_modle: unknown key (did you mean 'model.d_model'?)"), std::string::npos) << m;
}

TEST_F(ConfigTest, MissingOverlayAndCyclesAreErrors) {
  std::string m = Rejected(Write("exp.yaml", "defaults: [nope.yaml]\ndata:\n  dataset: x\n"));
  EXPECT_NE(m.find("exp.yaml:1:12: defaults: config file"), std::string::npos) << m;
  EXPECT_NE(m.find("nope.yaml' does not exist"), std::string::npos) << m;
  Write("a.yaml", "defaults: [b.yaml]\n");
  Write("b.yaml", "defaults: [a.yaml]\n");
  std::string c = Rejected((dir_ / "a.yaml").string());
  EXPECT_NE(c.find("includes itself"), std::string::npos) << c;
}

TEST_F(ConfigTest, OverridesWinOverFilesAndAreTyped) {
  std::string f = Write("a.yaml", "data:\n  dataset: ml-100k\ntrain:\n  lr: 0.1\n");
  LoadedConfig c = LoadConfig(f, {"train.lr=3e-4", "eval.top_k=[5, 50]", "comm.backend=mpi", "log.all_ranks=true"});
  EXPECT_DOUBLE_EQ(c.options.train.lr, 3e-4);
  EXPECT_EQ(c.options.eval.top_k, (std::vector<int64_t>{5, 50}));
  EXPECT_EQ(c.options.comm.backend, "mpi");
  EXPECT_TRUE(c.options.log.all_ranks);
  EXPECT_EQ(c.origins.at("train.lr").file, "--set train.lr=3e-4");
}

TEST_F(ConfigTest, BadOverridesAreNamed) {
  std::string f = Write("a.yaml", kMinimal);
  std::string m = Rejected(f, {"train.l=1", "train.epochs=many", "nonsense"});
  EXPECT_NE(m.find("--set train.l=1: train.l: unknown key (did you mean 'train.lr'?)"), std::string::npos) << m;
  EXPECT_NE(m.find("--set train.epochs=many: train.epochs: expected an integer, found 'many'"), std::string::npos) << m;
  EXPECT_NE(m.find("--set nonsense: expected --set key=value"), std::string::npos) << m;
}

TEST_F(ConfigTest, CrossKeyRuleNamesBothKeys) {
  std::string m = Rejected(Write("a.yaml", "data:\n  dataset: ml-100k\nmodel:\n  d_model: 10\n  num_heads: 3\n"));
  EXPECT_NE(m.find("model.num_heads (3) must divide model.d_model (10)"), std::string::npos) << m;
}

TEST_F(ConfigTest, ObjectiveValidationAndProtocolRulesNameTheirKeys) {
  std::string f = Write("a.yaml", kMinimal);
  std::string m = Rejected(f, {"train.objective=next_item"});
  EXPECT_NE(m.find("train.objective: next_item needs model.causal: true"), std::string::npos) << m;
  m = Rejected(f, {"train.objective=next_item", "model.causal=true", "train.validation=sums"});
  EXPECT_NE(m.find("train.validation: sums measures the task heads"), std::string::npos) << m;
  m = Rejected(f, {"train.validation=heldout"});
  EXPECT_NE(m.find("train.early_stop_metric must be ctr_ndcg or ctr_hit_rate, found ctr_auc"), std::string::npos) << m;
  m = Rejected(f, {"train.validation=sums", "train.early_stop_metric=ctr_ndcg"});
  EXPECT_NE(m.find("train.early_stop_metric: ctr_ndcg needs train.validation: evaluator or heldout"), std::string::npos) << m;
  m = Rejected(f, {"eval.candidates_file=c.txt"});
  EXPECT_NE(m.find("eval.candidates_file is set (c.txt) but eval.protocol is rows"), std::string::npos) << m;
  m = Rejected(f, {"eval.protocol=sampled", "eval.candidates_file=c.txt", "eval.write_candidates=d.txt"});
  EXPECT_NE(m.find("eval.write_candidates and eval.candidates_file are both set"), std::string::npos) << m;
}

TEST_F(ConfigTest, EffectiveConfigRoundTripsWithTheSameHash) {
  std::string f = Write("a.yaml", "data:\n  dataset: jd\n  generic:\n    user: \"user id: special\"\ntrain:\n  lr: 0.0003\n");
  LoadedConfig c = LoadConfig(f, {"eval.top_k=[1,2,3]", "run.name=123", "data.split_ratios=[0.8,0.1,0.1]"});
  std::string emitted = EmitEffectiveConfig(c);
  EXPECT_NE(emitted.find("hash " + c.hash), std::string::npos);
  LoadedConfig again = LoadConfig(Write("effective.yaml", emitted), {});
  EXPECT_EQ(again.hash, c.hash);
  EXPECT_EQ(again.options.data.generic.user, "user id: special");
  EXPECT_EQ(again.options.data.split_ratios, (std::vector<double>{0.8, 0.1, 0.1}));
  EXPECT_EQ(again.options.run.name, "123");
  // The hash changes when any value changes.
  EXPECT_NE(LoadConfig(f, {"train.lr=0.0004"}).hash, c.hash);
}

TEST(Schema, EveryKeyHasDocAndSectionAndNoDuplicates) {
  std::set<std::string> seen;
  for (const auto& spec : Schema()) {
    EXPECT_TRUE(seen.insert(spec.key).second) << "duplicate key " << spec.key;
    EXPECT_NE(spec.key.find('.'), std::string::npos) << spec.key;
    EXPECT_FALSE(spec.doc.empty()) << spec.key;
    // Every default satisfies its own validator (a required key has no usable default).
    if (!spec.required) {
      EXPECT_EQ(Validate(spec, spec.get(RunOptions{})), "") << spec.key;
    }
  }
}

TEST(Schema, DocsFileIsCurrent) {
  std::ifstream in(std::string(RECPRISM_SOURCE_DIR) + "/docs/config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), GenerateConfigDocs())
      << "docs/config.md is stale: regenerate with build/recprism config docs > docs/config.md";
}

}  // namespace
}  // namespace recprism::config
