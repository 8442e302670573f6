#pragma once
// Training data as fixed-length token windows with a loss mask.
//  - plain text: tokenized once (BOS at the start), packed into one stream;
//  - JSONL with a "text" field: each record is BOS + text + EOS, packed into the stream;
//  - chat JSONL with "messages": each conversation rendered by the chat template, one window per
//    conversation (padded), loss only on the assistant tokens.
// Malformed input fails with the file and line number.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/base/job.h"
#include "core/text/tokenizer.h"

namespace hqq {

enum class DataFormat { Auto, Text, JsonlText, JsonlChat };

struct TokenWindows {
  // Packed formats: one token stream, windows sampled anywhere in it.
  std::vector<int32_t> stream;
  // Chat: one sequence per conversation with its loss mask (1 on assistant tokens).
  std::vector<std::vector<int32_t>> sequences;
  std::vector<std::vector<uint8_t>> masks;
  int64_t window = 0;  // tokens per training example (inputs; targets are shifted by one)
  int64_t pad_id = 0;

  bool packed() const { return sequences.empty(); }
  int64_t examples() const;  // distinct windows (packed: non-overlapping count)
  int64_t tokens() const;
  // A batch [B, window] of inputs and targets (-100 where no loss), drawn with `rng`.
  std::pair<at::Tensor, at::Tensor> batch(int64_t batch_size, std::mt19937_64& rng) const;
};

// Reads one or more files in `format` (Auto: by extension and content). Throws InputError naming
// the file (and line) on malformed records, empty data or data shorter than one window.
// Long texts are tokenized in pieces (bounded memory); `job` is checked between pieces and
// records.
TokenWindows load_training_data(const std::vector<std::filesystem::path>& files,
                                const Tokenizer& tok, int64_t window,
                                DataFormat format = DataFormat::Auto, const JobContext& job = {});

DataFormat data_format_from_name(const std::string& name);  // "auto", "text", "jsonl", "chat"

}  // namespace hqq
