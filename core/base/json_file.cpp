#include "core/base/json_file.h"

#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {
// The deepest nesting of [ and { outside strings (an upper bound: syntax is not checked here).
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
      continue;
    }
    if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}
}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& where) {
  if (nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
    fail_input(where, "is not valid JSON here: nested more than " + std::to_string(kMaxJsonDepth) +
                          " levels deep");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 28: ..." without the tag.
    std::string what = e.what();
    if (what.rfind("[json.exception.", 0) == 0 && what.find("] ") != std::string::npos)
      what = what.substr(what.find("] ") + 2);
    fail_input(where, "is not valid JSON: " + what);
  }
}

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail_input(path.string(), "is a folder; a file is expected here");
  if (!fs::exists(path, ec)) fail_input(path.string(), "does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path.string(), "cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail_input(path.string(), "read error");
  return ss.str();
}

nlohmann::json read_json_file(const fs::path& path) {
  return parse_json_text(read_text_file(path), path.string());
}

nlohmann::json read_json_file_if_exists(const fs::path& path) {
  if (!fs::exists(path)) return nlohmann::json::object();
  return read_json_file(path);
}

namespace {
const nlohmann::json* find_key(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
[[noreturn]] void bad_type(const std::string& where, const std::string& key, const char* want) {
  fail_input(where, "\"" + key + "\" must be " + want);
}
}  // namespace

double json_number(const nlohmann::json& j, const std::string& key, double fallback,
                   const std::string& where) {
  const nlohmann::json* v = find_key(j, key);
  if (!v) return fallback;
  if (!v->is_number()) bad_type(where, key, "a number");
  return v->get<double>();
}

int64_t json_integer(const nlohmann::json& j, const std::string& key, int64_t fallback,
                     const std::string& where) {
  const nlohmann::json* v = find_key(j, key);
  if (!v) return fallback;
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
    bad_type(where, key, "an integer below 2^63");
  if (!v->is_number_integer()) bad_type(where, key, "an integer");
  return v->get<int64_t>();
}

std::string json_string(const nlohmann::json& j, const std::string& key,
                        const std::string& fallback, const std::string& where) {
  const nlohmann::json* v = find_key(j, key);
  if (!v) return fallback;
  if (!v->is_string()) bad_type(where, key, "a string");
  return v->get<std::string>();
}

bool json_bool(const nlohmann::json& j, const std::string& key, bool fallback,
               const std::string& where) {
  const nlohmann::json* v = find_key(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) bad_type(where, key, "true or false");
  return v->get<bool>();
}

}  // namespace hqq
