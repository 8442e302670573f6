#include "app/cli/cli_common.h"

#include "core/model/lora.h"

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

namespace hqq::cli {

CancelToken& interrupt_token() {
  static CancelToken token;  // the one process-wide token a signal handler can reach
  return token;
}

namespace {
volatile std::sig_atomic_t g_interrupts = 0;

void on_sigint(int) {
  // A second Ctrl-C exits at once, for a job that does not poll the token.
  g_interrupts = g_interrupts + 1;
  if (g_interrupts > 1) _exit(130);
  interrupt_token().cancel();  // an atomic store: async-signal-safe
}
}  // namespace

namespace {
std::optional<double> as_number(const std::string& s) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
}  // namespace

CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto v = as_number(s);
        return v && *v > 0 ? "" : "must be a positive number, not '" + s + "'";
      },
      "POSITIVE", "positive");
}

CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto v = as_number(s);
        return v && *v >= 0 ? "" : "must be zero or a positive number, not '" + s + "'";
      },
      "NONNEGATIVE", "non-negative");
}

CLI::Validator whole_range(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        auto v = as_number(s);
        if (v && *v >= double(lo) && *v <= double(hi) && *v == std::floor(*v)) return "";
        return "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
               ", not '" + s + "'";
      },
      "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]", "range");
}

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void reset_interrupts() {
  g_interrupts = 0;
  interrupt_token().reset();
}

ProgressFn stderr_progress(const GlobalOptions& g) {
  if (g.quiet) return {};
  const bool tty = isatty(STDERR_FILENO);
  return [tty](const ProgressEvent& e) {
    int pct = e.total > 0 ? static_cast<int>(100 * e.done / e.total) : 0;
    std::fprintf(stderr, "%s[%s] %3d%% %lld/%lld %s%s", tty ? "\r\033[K" : "", e.stage.c_str(), pct,
                 static_cast<long long>(e.done), static_cast<long long>(e.total), e.message.c_str(),
                 tty ? "" : "\n");
    std::fflush(stderr);
  };
}

void finish_progress_line(const GlobalOptions& g) {
  if (!g.quiet && isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2) << std::endl;
}

}  // namespace hqq::cli

namespace hqq::cli {

JobContext cli_job(const GlobalOptions& g) {
  return {stderr_progress(g), &interrupt_token(), nullptr};
}

LoadedModel load_for_inference(const std::string& dir, const GlobalOptions& g) {
  LoadedModel m = load_model(
      dir,
      {.dtype = g.dtype, .adapter = g.adapter, .device = g.device, .lm_head_bits = g.lm_head_bits},
      cli_job(g));
  finish_progress_line(g);
  return m;
}

}  // namespace hqq::cli
