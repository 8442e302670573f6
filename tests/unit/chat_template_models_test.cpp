// Published chat templates render exactly as transformers renders them: the expected strings
// were written by tests/fixtures/make_template_fixtures.py with jinja2 set up as transformers
// sets it up (see tests/fixtures/templates/SOURCE.md).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/text/chat_template.h"

namespace hqq {
namespace {

nlohmann::ordered_json load_fixture(const std::string& name) {
  std::ifstream in(std::string(HQQ_TEST_FIXTURES_DIR) + "/templates/" + name + ".json");
  EXPECT_TRUE(in) << name;
  return nlohmann::ordered_json::parse(in);
}

// The fixture's "now" (2026-01-15T10:30:00), as strftime_now sees it.
std::tm fixture_time(const std::string& iso) {
  std::tm tm{};
  EXPECT_TRUE(strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) << iso;
  std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);  // fills in the weekday and day of the year
  return tm;
}

void expect_fixture_renders(const std::string& name) {
  auto fx = load_fixture(name);
  ChatTemplate t(fx["template"].get<std::string>(), name + ".json");
  std::tm now = fixture_time(fx["now"].get<std::string>());
  t.set_clock([now] { return now; });
  ASSERT_GE(fx["cases"].size(), 6u);
  for (const auto& c : fx["cases"]) {
    SCOPED_TRACE(name + " / " + c["name"].get<std::string>());
    if (c.contains("expected")) {
      EXPECT_EQ(t.render_ordered(c["context"]), c["expected"].get<std::string>());
    } else {
      try {
        t.render_ordered(c["context"]);
        ADD_FAILURE() << "rendered, but jinja2 raised: " << c["error"];
      } catch (const TemplateError& e) {
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(name + ".json"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(ChatTemplateModels, Llama32) {
  expect_fixture_renders("llama-3.2");
}
TEST(ChatTemplateModels, Qwen25) {
  expect_fixture_renders("qwen2.5");
}
TEST(ChatTemplateModels, Qwen3) {
  expect_fixture_renders("qwen3");
}

// The fixtures carry the templates of the shared tokenizer_config.json files: check they are
// still the same text, so the fixtures cannot silently drift from the files models ship.
TEST(ChatTemplateModels, FixturesMatchSharedTokenizerConfigs) {
  for (const auto& [fixture, folder] :
       {std::pair<std::string, std::string>{"llama-3.2", "llama-3.2"},
        {"qwen2.5", "qwen2.5-1.5b-instruct"}}) {
    std::ifstream in(std::string(HQQ_TEST_SHARED_DATA_DIR) + "/tokenizers/" + folder +
                     "/tokenizer_config.json");
    if (!in) GTEST_SKIP() << "shared data not present";
    auto cfg = nlohmann::json::parse(in);
    EXPECT_EQ(cfg["chat_template"].get<std::string>(),
              load_fixture(fixture)["template"].get<std::string>())
        << folder;
  }
}

// strftime_now is defined and formats the given clock (Llama 3.2 prints "Today Date").
TEST(ChatTemplateModels, StrftimeNowUsesTheClock) {
  ChatTemplate t("{{ strftime_now('%d %b %Y') }}|{{ strftime_now is defined }}");
  t.set_clock([] { return fixture_time("2026-01-15T10:30:00"); });
  EXPECT_EQ(t.render(nlohmann::json::object()), "15 Jan 2026|True");
}

}  // namespace
}  // namespace hqq

namespace hqq {
namespace {

// Generation must stop where the template ends a turn: Llama 3.2 ends one with <|eot_id|>
// (128009) and Qwen2.5 with <|im_end|> (151645), also when generation_config.json lists only the
// base model's end-of-text id.
TEST(ChatTemplateModels, StopTokensIncludeTheTemplatesEndOfTurn) {
  struct Case {
    const char* folder;
    const char* generation_config;
    std::vector<int64_t> want;
  };
  for (const Case& c : {
           Case{"llama-3.2",
                R"({"eos_token_id": [128001, 128008, 128009]})",
                {128001, 128008, 128009}},
           Case{"llama-3.2", R"({"eos_token_id": 128001})", {128001, 128009}},
           Case{"llama-3.2", nullptr, {128009}},
           Case{"qwen2.5-1.5b-instruct", R"({"eos_token_id": 151643})", {151643, 151645}},
       }) {
    std::filesystem::path src =
        std::filesystem::path(HQQ_TEST_SHARED_DATA_DIR) / "tokenizers" / c.folder;
    if (!std::filesystem::exists(src)) GTEST_SKIP() << "shared data not present";
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("hqq_stop_tokens_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::filesystem::copy(src / "tokenizer_config.json", dir / "tokenizer_config.json");
    if (c.generation_config) std::ofstream(dir / "generation_config.json") << c.generation_config;
    TokenizerConfig tc = load_tokenizer_config(dir);
    std::filesystem::remove_all(dir);
    EXPECT_EQ(tc.eos_token_ids, c.want)
        << c.folder << " " << (c.generation_config ? c.generation_config : "");
    EXPECT_EQ(tc.chat_template_file, (dir / "tokenizer_config.json").string());
  }
}

}  // namespace
}  // namespace hqq

namespace hqq {
namespace {

// The language itself, case by case, against jinja2 (tests/fixtures/templates/engine.json).
TEST(ChatTemplateModels, SmallTemplatesMatchJinja2) {
  auto fx = load_fixture("engine");
  std::tm now = fixture_time(fx["now"].get<std::string>());
  ASSERT_GE(fx["cases"].size(), 60u);
  for (const auto& c : fx["cases"]) {
    std::string tmpl = c["template"].get<std::string>();
    SCOPED_TRACE(tmpl);
    try {
      ChatTemplate t(tmpl, "engine.json");
      t.set_clock([now] { return now; });
      std::string out = t.render_ordered(c["context"]);
      if (c.contains("expected"))
        EXPECT_EQ(out, c["expected"].get<std::string>());
      else
        ADD_FAILURE() << "rendered '" << out << "', jinja2 raised " << c["error"];
    } catch (const TemplateError& e) {
      EXPECT_TRUE(c.contains("error")) << e.what();
    }
  }
}

}  // namespace
}  // namespace hqq
