#pragma once
// Reading JSON files with errors that name the file and the position of a syntax error.
#include <filesystem>
#include <nlohmann/json.hpp>

namespace hqq {

nlohmann::json read_json_file(const std::filesystem::path& path);
// Like read_json_file but returns an empty object when the file does not exist.
nlohmann::json read_json_file_if_exists(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);

}  // namespace hqq
