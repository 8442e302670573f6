#include <gtest/gtest.h>

#include "core/text/chat_template.h"

namespace hqq {
namespace {

// The chat_template strings as published in the models' tokenizer_config.json files.
const char* kLlama2Chat =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = "
    "false %}{% "
    "endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % "
    "2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% "
    "endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message "
    "+ "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% "
    "endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
    "endfor %}";

const char* kMistralV01 =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 "
    "% 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% "
    "endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
    "message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and "
    "assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";

// Mistral-7B-Instruct-v0.3's template (tool-call branches shortened), multi-line with '-' trims.
const char* kMistralV03 = R"({%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {{- "[/AVAILABLE_TOOLS]" }}
        {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
)";

// Zephyr / TinyLlama-Chat: relies on trim_blocks and lstrip_blocks.
const char* kZephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + "
    "message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] "
    "+ eos_token "
    "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + "
    "eos_token }}\n{% "
    "endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif "
    "%}\n{% endfor %}";

const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::vector<ChatMessage> conversation(bool with_system) {
  std::vector<ChatMessage> m;
  if (with_system) m.push_back({"system", "You are helpful."});
  m.push_back({"user", "Hi"});
  m.push_back({"assistant", "Hello!"});
  m.push_back({"user", "How are you?"});
  return m;
}

std::string render(const char* tmpl, const std::vector<ChatMessage>& m, bool gen = true) {
  return render_chat(tmpl, m, gen, "<s>", "</s>");
}

TEST(ChatTemplate, Llama2Chat) {
  EXPECT_EQ(render(kLlama2Chat, conversation(true)),
            "<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How "
            "are you? [/INST]");
  EXPECT_EQ(render(kLlama2Chat, conversation(false)),
            "<s>[INST] Hi [/INST] Hello! </s><s>[INST] How are you? [/INST]");
}

TEST(ChatTemplate, Llama2RejectsNonAlternatingRoles) {
  std::vector<ChatMessage> m = {{"user", "a"}, {"user", "b"}};
  try {
    render(kLlama2Chat, m);
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("must alternate"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, MistralInstructV01) {
  EXPECT_EQ(render(kMistralV01, conversation(false)),
            "<s>[INST] Hi [/INST]Hello!</s>[INST] How are you? [/INST]");
}

TEST(ChatTemplate, MistralInstructV03) {
  EXPECT_EQ(render(kMistralV03, conversation(true)),
            "<s>[INST] Hi[/INST] Hello!</s>[INST] You are helpful.\n\nHow are you?[/INST]");
  EXPECT_EQ(render(kMistralV03, conversation(false)),
            "<s>[INST] Hi[/INST] Hello!</s>[INST] How are you?[/INST]");
}

TEST(ChatTemplate, ZephyrTinyLlama) {
  std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(render(kZephyr, m), "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
  EXPECT_EQ(render(kZephyr, m, false), "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n");
}

TEST(ChatTemplate, ChatML) {
  std::vector<ChatMessage> m = {{"system", "S"}, {"user", "Hi"}};
  EXPECT_EQ(
      render(kChatML, m),
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, PlainFallbackWithoutTemplate) {
  std::vector<ChatMessage> m = {{"user", "Hi"}};
  EXPECT_EQ(render("", m), "user: Hi\nassistant:");
}

TEST(ChatTemplate, Expressions) {
  auto r = [](const std::string& t, nlohmann::json ctx = nlohmann::json::object()) {
    return ChatTemplate(t).render(ctx);
  };
  EXPECT_EQ(r("{{ 7 // 2 }},{{ -7 % 3 }},{{ 2 ** 3 }},{{ 1 + 2 * 3 }}"), "3,2,8,7");
  EXPECT_EQ(r("{{ 'a' ~ 1 ~ none }}"), "a1None");
  EXPECT_EQ(r("{{ [1,2,3][1:] | length }}{{ 'abc'[::-1] }}{{ 'x' if 0 else 'y' }}"), "2cbay");
  EXPECT_EQ(
      r("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"a", 1}, {"b", 2}}}}),
      "a=1;b=2;");
  EXPECT_EQ(r("{% for x in xs if x is odd %}{{ loop.index }}:{{ x }} {% else %}none{% endfor %}",
              {{"xs", {1, 2, 3}}}),
            "1:1 2:3 ");
  EXPECT_EQ(r("{% for x in xs %}{% else %}none{% endfor %}", {{"xs", nlohmann::json::array()}}),
            "none");
  EXPECT_EQ(
      r("{{ ' a b '.strip().split(' ') | join('-') }}|{{ 'Hi' | upper }}|{{ x | default('d') }}"),
      "a-b|HI|d");
  EXPECT_EQ(r("{{ y is defined }} {{ y is not defined }} {{ 3 in [1, 3] }} {{ 'b' not in 'abc' }}"),
            "False True True False");
  EXPECT_EQ(r("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% "
              "endfor %}{{ ns.n }}"),
            "6");
  // A plain set inside a loop does not leak out of it (Jinja scoping).
  EXPECT_EQ(r("{% set n = 1 %}{% for i in range(2) %}{% set n = 5 %}{% endfor %}{{ n }}"), "1");
  // transformers' tojson is json.dumps: ", " and ": " separators.
  EXPECT_EQ(r("{{ {'a': [1, 'x']} | tojson }}"), "{\"a\": [1, \"x\"]}");
  EXPECT_EQ(r("  {%- if true -%}  A  {%- endif -%}  "), "A");
  EXPECT_EQ(r("{# comment #}B"), "B");
}

TEST(ChatTemplate, ErrorsNameLineAndColumn) {
  try {
    ChatTemplate("line one\n{{ messages | frobnicate }}")
        .render({{"messages", nlohmann::json::array()}});
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("frobnicate"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ChatTemplate("{% if x %}unclosed"), TemplateError);
  EXPECT_THROW(ChatTemplate("{{ 'unterminated }}"), TemplateError);
  EXPECT_THROW(ChatTemplate("{% extends 'base.jinja' %}"), TemplateError);  // no loader
  EXPECT_THROW(ChatTemplate("{% macro m( %}{% endmacro %}"), TemplateError);
  EXPECT_THROW(ChatTemplate("{{ a + }}"), TemplateError);
}

}  // namespace
}  // namespace hqq
