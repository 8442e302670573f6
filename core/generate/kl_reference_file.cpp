#include "core/generate/kl_reference_file.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/io/output_folder.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "hqq-kl-reference";
constexpr double kRangeNats = 40.0;

std::string fnv1a(const std::vector<int64_t>& tokens) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t t : tokens)
    for (int i = 0; i < 8; ++i) {
      h ^= static_cast<uint64_t>(t >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  return fmt::format("{:016x}", h);
}

std::map<std::string, std::string> to_metadata(const ReferenceKey& k) {
  return {{"format", kFormat},
          {"version", "2"},
          {"tokens_hash", k.tokens_hash},
          {"text_tokens", std::to_string(k.text_tokens)},
          {"ctx", std::to_string(k.ctx)},
          {"method", k.method},
          {"vocab", std::to_string(k.vocab)},
          {"windows", std::to_string(k.windows)}};
}
}  // namespace

ReferenceKey reference_key(const std::vector<int64_t>& tokens, const PerplexityOptions& opts,
                           int64_t vocab) {
  ReferenceKey k;
  const int64_t windows = static_cast<int64_t>(tokens.size()) / std::max<int64_t>(opts.ctx, 1);
  // Only the tokens that fill whole windows are read; the hash covers exactly those.
  std::vector<int64_t> used(tokens.begin(), tokens.begin() + windows * opts.ctx);
  k.tokens_hash = fnv1a(used);
  k.text_tokens = static_cast<int64_t>(used.size());
  k.ctx = opts.ctx;
  k.method = ppl_method_name(opts.method);
  k.vocab = vocab;
  k.windows = windows;
  return k;
}

EncodedRows encode_logprob_rows(const at::Tensor& logp) {
  at::Tensor lp = logp.to(at::kFloat).reshape({-1, logp.size(-1)});
  at::Tensor hi = std::get<0>(lp.max(-1));
  at::Tensor lo = at::maximum(std::get<0>(lp.min(-1)), hi - kRangeNats);
  at::Tensor step = (hi - lo) / 65535.0;
  at::Tensor safe = at::where(step > 0, step, at::ones_like(step));
  at::Tensor q = at::round((at::maximum(lp, lo.unsqueeze(1)) - lo.unsqueeze(1)) / safe.unsqueeze(1))
                     .clamp(0, 65535);
  EncodedRows e;
  e.codes = (q - 32768.0).to(at::kShort).contiguous();
  e.lo = lo.contiguous();
  e.step = step.contiguous();
  return e;
}

at::Tensor decode_logprob_rows(const EncodedRows& e) {
  return e.lo.unsqueeze(1) + e.step.unsqueeze(1) * (e.codes.to(at::kFloat) + 32768.0f);
}

PerplexityResult save_reference(const LlamaModel& model, const std::vector<int64_t>& tokens,
                                PerplexityOptions opts, const OutputFile& out,
                                const JobContext& job) {
  refuse_output_file(out.path, out.overwrite, out.sources);
  const fs::path& path = out.path;
  const int64_t V = model.config().vocab_size;
  ReferenceKey key = reference_key(tokens, opts, V);
  const int64_t n = opts.ctx - 1 - first_scored_position(opts);
  // A window count of 0 is refused by perplexity() below with its own message.
  at::NoGradGuard no_grad;
  SafetensorsWriter writer(path.string(), to_metadata(key));
  for (int64_t w = 0; w < key.windows; ++w) {
    writer.declare("codes." + std::to_string(w), DType::I16, {n, V});
    writer.declare("lo." + std::to_string(w), DType::F32, {n});
    writer.declare("step." + std::to_string(w), DType::F32, {n});
    writer.declare("target." + std::to_string(w), DType::F32, {n});
  }
  auto chained = opts.on_window;
  opts.on_window = [&](int64_t first, const at::Tensor& input, const at::Tensor& logp,
                       const at::Tensor& target) {
    if (chained) chained(first, input, logp, target);
    for (int64_t b = 0; b < logp.size(0); ++b) {
      EncodedRows e = encode_logprob_rows(logp[b]);
      const std::string w = std::to_string(first + b);
      writer.write("codes." + w, e.codes);
      writer.write("lo." + w, e.lo);
      writer.write("step." + w, e.step);
      // The scored token's own log-probability exactly: the reference perplexity then does not
      // depend on the grid (a token far below the row's top would be clamped on it).
      writer.write(
          "target." + w,
          logp[b].to(at::kFloat).gather(-1, target[b].unsqueeze(-1)).squeeze(-1).contiguous());
    }
  };
  PerplexityResult r = perplexity(model, tokens, opts, job);
  writer.finish();
  return r;
}

std::unique_ptr<ReferenceFile> ReferenceFile::open(const fs::path& path,
                                                   const ReferenceKey& expected) {
  auto f = SafetensorsFile::open(path.string());
  auto get = [&](const char* k) { return f->header().meta(k); };
  if (get("format") != kFormat)
    throw InputError(path.string() +
                     ": not a reference file written by `hqq ppl --save-reference`");
  auto mismatch = [&](const std::string& what, const std::string& file_value,
                      const std::string& run_value) {
    throw InputError(path.string() + ": the reference was computed with " + what + " " +
                     file_value + ", this run has " + run_value);
  };
  const std::map<std::string, std::string> want = to_metadata(expected);
  if (get("vocab") != want.at("vocab")) mismatch("a vocabulary of", get("vocab"), want.at("vocab"));
  if (get("method") != want.at("method")) mismatch("method", get("method"), want.at("method"));
  if (get("ctx") != want.at("ctx")) mismatch("ctx", get("ctx"), want.at("ctx"));
  if (get("tokens_hash") != want.at("tokens_hash") || get("text_tokens") != want.at("text_tokens"))
    throw InputError(path.string() + ": the reference was computed on another text (token hash " +
                     get("tokens_hash") + ", " + get("text_tokens") + " tokens); this run has " +
                     want.at("tokens_hash") + ", " + want.at("text_tokens") + " tokens");
  if (get("windows") != want.at("windows")) mismatch("windows", get("windows"), want.at("windows"));
  std::unique_ptr<ReferenceFile> r(new ReferenceFile());
  r->file_ = std::move(f);
  r->first_ = expected.method == ppl_method_name(PplMethod::LlamaCpp) ? expected.ctx / 2 : 0;
  return r;
}

at::Tensor ReferenceFile::logprobs(int64_t first_window, const at::Tensor& input) {
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < input.size(0); ++b) {
    const std::string w = std::to_string(first_window + b);
    EncodedRows e{file_->tensor("codes." + w), file_->tensor("lo." + w),
                  file_->tensor("step." + w)};
    at::Tensor r = decode_logprob_rows(e);
    // The scored tokens' own log-probabilities exactly (files of version 1 do not have them).
    if (file_->header().find("target." + w)) {
      at::Tensor target = input[b].narrow(0, first_ + 1, r.size(0)).unsqueeze(-1);
      r.scatter_(-1, target, file_->tensor("target." + w).to(at::kFloat).unsqueeze(-1));
    }
    rows.push_back(r);
  }
  return at::stack(rows);
}

}  // namespace hqq
