#pragma once
// Reads a tokenizer.json (9-17 MB for current models) in one streaming pass: the vocabulary and
// merges go straight into flat vectors, everything else into a small JSON document. A full
// nlohmann DOM of such a file takes seconds (a std::map per object); this takes a fraction.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hqq::hf {

struct TokenizerJson {
  nlohmann::json doc;  // the file without model.vocab and model.merges
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// Throws InputError naming the file when it is missing or malformed. With tables false the
// vocabulary and merges are skipped (a model card needs only the components).
TokenizerJson read_tokenizer_json(const std::filesystem::path& path, bool tables = true);

}  // namespace hqq::hf
