#include "core/base/json_file.h"

#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace hqq {

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path.string(), "cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail_input(path.string(), "read error");
  return ss.str();
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input(path.string(), std::string("invalid JSON: ") + e.what());
  }
}

nlohmann::json read_json_file_if_exists(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return nlohmann::json::object();
  return read_json_file(path);
}

}  // namespace hqq
