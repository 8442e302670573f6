// tokenizer.json benchmarks: loading the 17 MB Llama 3.2 file (SAX read + merge map) and
// encoding Moby-Dick (1.2 MB) on one core with each tokenizer of ../shared/data, so bytes/s
// of text. Each encode iteration starts from a fresh tokenizer copy's warm cache: the cache is
// part of the design (novels repeat their words), so it is measured as used.
#include <benchmark/benchmark.h>

#include <string>

#include "core/text/hf_tokenizer.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using hqq::hf::HfTokenizer;

fs::path tokenizer_json(const std::string& name) {
  return hqq::test::shared_data() / "tokenizers" / name / "tokenizer.json";
}

void BM_HfTokenizerLoad(benchmark::State& state, const std::string& name) {
  for (auto _ : state) benchmark::DoNotOptimize(HfTokenizer::load(tokenizer_json(name)));
}
BENCHMARK_CAPTURE(BM_HfTokenizerLoad, llama32, std::string("llama-3.2"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HfTokenizerLoad, qwen25, std::string("qwen2.5-1.5b-instruct"))
    ->Unit(benchmark::kMillisecond);

void BM_HfEncode(benchmark::State& state, const std::string& name) {
  auto tok = HfTokenizer::load(tokenizer_json(name));
  const std::string text =
      hqq::test::read_file(hqq::test::shared_data() / "corpora" / "moby-dick" / "moby-dick.txt");
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text, true, true);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK_CAPTURE(BM_HfEncode, llama32, std::string("llama-3.2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HfEncode, qwen25, std::string("qwen2.5-1.5b-instruct"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HfEncode, gpt2, std::string("gpt2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HfEncode, mixtral, std::string("mixtral-8x22b"))
    ->Unit(benchmark::kMillisecond);

// Streaming decode as generation does it: the whole reply decoded after every token.
void BM_HfDecodeIncremental(benchmark::State& state) {
  auto tok = HfTokenizer::load(tokenizer_json("llama-3.2"));
  const std::string text =
      hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt")
          .substr(0, 2000);
  auto ids32 = tok->encode(text, false, true);
  std::vector<int64_t> ids(ids32.begin(), ids32.end()), prefix;
  for (auto _ : state) {
    prefix.clear();
    for (int64_t id : ids) {
      prefix.push_back(id);
      benchmark::DoNotOptimize(tok->decode(prefix, true));
    }
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_HfDecodeIncremental)->Unit(benchmark::kMillisecond);

}  // namespace
