#pragma once
// Reading JSON with errors that name the file and the position of a syntax error. Every JSON the
// product reads (config files, safetensors headers, JSONL records) goes through parse_json_text,
// which bounds the nesting depth first: nlohmann's parser and json's copy and comparison recurse
// once per level, so a small file of 200,000 '[' would otherwise overflow the stack.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

namespace hqq {

// Deeper documents are refused; real configs nest fewer than 10 levels.
inline constexpr int kMaxJsonDepth = 256;

// Parses `text`; `where` names it in errors (a file, "file:line"). Throws InputError on a syntax
// error or a document nested deeper than kMaxJsonDepth.
nlohmann::json parse_json_text(std::string_view text, const std::string& where);

nlohmann::json read_json_file(const std::filesystem::path& path);
// Like read_json_file but returns an empty object when the file does not exist.
nlohmann::json read_json_file_if_exists(const std::filesystem::path& path);
// The whole file; a folder or a missing file is an InputError that says so.
std::string read_text_file(const std::filesystem::path& path);

// Typed access to an object's key with errors naming the file and the key (instead of
// nlohmann's "[json.exception.type_error.302] type must be number, but is string").
double json_number(const nlohmann::json& j, const std::string& key, double fallback,
                   const std::string& where);
int64_t json_integer(const nlohmann::json& j, const std::string& key, int64_t fallback,
                     const std::string& where);
std::string json_string(const nlohmann::json& j, const std::string& key,
                        const std::string& fallback, const std::string& where);
bool json_bool(const nlohmann::json& j, const std::string& key, bool fallback,
               const std::string& where);

}  // namespace hqq
