// A chat template comes with a downloaded model: hostile ones must fail with a TemplateError
// that names the file and the limit, not crash or eat the machine (issue 10).
#include <gtest/gtest.h>

#include <fstream>

#include "core/text/chat_template.h"

namespace hqq {
namespace {

const char* kFile = "/models/evil/tokenizer_config.json";

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Parses and renders `tmpl`; returns the error message ("" if it rendered).
std::string error_of(const std::string& tmpl) {
  try {
    ChatTemplate(tmpl, kFile).render({{"messages", nlohmann::json::array()}});
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

void expect_limit(const std::string& tmpl, const std::string& what) {
  std::string msg = error_of(tmpl);
  ASSERT_FALSE(msg.empty()) << "rendered without error: " << tmpl.substr(0, 80);
  EXPECT_EQ(msg.rfind(std::string(kFile) + ": chat template", 0), 0u) << msg;
  EXPECT_NE(msg.find("limit"), std::string::npos) << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << msg;
}

TEST(ChatTemplateLimits, DeepParentheses) {
  expect_limit("{{ " + repeat("(", 8000) + "1" + repeat(")", 8000) + " }}", "nested more than 100");
  expect_limit("{{ " + repeat("[", 8000) + repeat("]", 8000) + " }}", "nested more than 100");
  expect_limit("{{ " + repeat("not ", 8000) + "x }}", "nested more than 100");
  expect_limit("{{ " + repeat("-", 8000) + "1 }}", "nested more than 100");
  EXPECT_EQ(error_of("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}"), "");
}

TEST(ChatTemplateLimits, DeepIfBlocks) {
  expect_limit(repeat("{% if true %}", 20000) + "x" + repeat("{% endif %}", 20000),
               "blocks nested more than 100");
  expect_limit(repeat("{% for x in [1] %}", 20000) + repeat("{% endfor %}", 20000),
               "blocks nested more than 100");
}

TEST(ChatTemplateLimits, LongOperatorChains) {
  expect_limit("{{ 1" + repeat(" + 1", 100000) + " }}", "500 operations deep");
  expect_limit("{{ 'a'" + repeat(" | trim", 100000) + " }}", "500 operations deep");
  EXPECT_EQ(error_of("{{ 1" + repeat(" + 1", 400) + " }}"), "");
}

TEST(ChatTemplateLimits, HugeRange) {
  expect_limit("{% for i in range(10**9) %}{% endfor %}", "a list of more than 100,000 items");
  expect_limit("{{ range(0, 2**62, 1) | length }}", "a list of more than 100,000 items");
  expect_limit("{{ [0] * 10**9 }}", "a list of more than 100,000 items");
}

TEST(ChatTemplateLimits, RunawayStringGrowth) {
  // Doubling: a gigabyte after 30 rounds.
  expect_limit(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
      "{% endfor %}",
      "a string longer than 16 MiB");
  expect_limit("{{ 'x' * 10**9 }}", "a string longer than 16 MiB");
  // Appending 64 bytes 100,000 times stays under the size of one string but copies ~300 GB.
  expect_limit("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ '" +
                   repeat("x", 64) + "' %}{% endfor %}",
               "bytes of strings and lists in total");
}

TEST(ChatTemplateLimits, OutputSize) {
  expect_limit("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
               "rendered more than 16 MiB");
}

TEST(ChatTemplateLimits, DeepMacroRecursion) {
  expect_limit("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
               "macro 'f' called more than 50 deep");
  // Mutual recursion through two macros.
  expect_limit(
      "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(1) }}",
      "called more than 50 deep");
  // Bounded recursion is fine.
  std::string ok = ChatTemplate(
                       "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}"
                       "{% endmacro %}{{ f(5) }}")
                       .render(nlohmann::json::object());
  EXPECT_EQ(ok, "54321");
}

TEST(ChatTemplateLimits, EndlessLoops) {
  expect_limit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
               "steps");
}

TEST(ChatTemplateLimits, DeeplyNestedValues) {
  expect_limit(
      "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}"
      "{% endfor %}{{ ns.l | tojson }}",
      "nested more than 100 deep");
}

TEST(ChatTemplateLimits, EveryErrorNamesTheFile) {
  for (const std::string tmpl :
       {"{{ x | nope }}", "{% if %}", "{{ 'open", "{% endfor %}", "{{ raise_exception('no') }}",
        "{{ 1 // 0 }}", "{{ f() }}", "{% for a, b in [1] %}{% endfor %}"}) {
    std::string msg = error_of(tmpl);
    EXPECT_EQ(msg.rfind(kFile, 0), 0u) << tmpl << " -> " << msg;
    EXPECT_NE(msg.find("line 1, column"), std::string::npos) << tmpl << " -> " << msg;
  }
}

// The limits leave room for real conversations: 2,000 messages through the Llama 3.2 template.
TEST(ChatTemplateLimits, LongRealConversationsFit) {
  std::ifstream in(std::string(HQQ_TEST_FIXTURES_DIR) + "/templates/llama-3.2.json");
  ASSERT_TRUE(in);
  auto fx = nlohmann::json::parse(in);
  std::vector<ChatMessage> msgs;
  for (int i = 0; i < 2000; ++i)
    msgs.push_back({i % 2 ? "assistant" : "user", "message number " + std::to_string(i)});
  std::string out = render_chat(fx["template"].get<std::string>(), msgs, true, "<|begin_of_text|>",
                                "<|eot_id|>", kFile);
  EXPECT_NE(out.find("message number 1999<|eot_id|>"), std::string::npos);
}

}  // namespace
}  // namespace hqq
