#pragma once
// Helpers of the CLI end-to-end tests: run hqq as a process, copy and hash model folders, write
// small safetensors files by hand (the tests link no core code).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_support.h"

namespace hqq::test {

// The hqq under test: $HQQ_CLI when set (e.g. to run these tests against another build), else
// the one built with the tests.
inline std::string cli_path() {
  const char* env = std::getenv("HQQ_CLI");
  return env && *env ? env : HQQ_CLI_PATH;
}

struct Result {
  int code = -1;
  std::string out, err;
};

inline Result hqq(const std::string& args, const std::string& stdin_text = "") {
  TempDir tmp;
  std::string cmd = cli_path() + " " + args + " > " + (tmp / "out").string() +
                    " 2> " + (tmp / "err").string();
  if (!stdin_text.empty()) {
    write_file(tmp / "in", stdin_text);
    cmd += " < " + (tmp / "in").string();
  } else {
    cmd += " < /dev/null";
  }
  int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(tmp / "out");
  r.err = read_file(tmp / "err");
  return r;
}

inline std::string model(const std::string& name) {
  return (fixtures() / "models" / name).string();
}

// Every file under dir (relative name -> bytes): equal maps mean an untouched folder.
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[std::filesystem::relative(e.path(), dir).string()] = read_file(e);
  return m;
}

inline void copy_folder(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

// A safetensors file from named fp32 tensors (shape, values).
struct F32 {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
inline void write_safetensors_f32(const std::filesystem::path& p,
                                  const std::map<std::string, F32>& tensors) {
  nlohmann::json h = nlohmann::json::object();
  size_t off = 0;
  std::string data;
  for (const auto& [name, t] : tensors) {
    const size_t n = t.values.size() * 4;
    h[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
    data.append(reinterpret_cast<const char*>(t.values.data()), n);
    off += n;
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  uint64_t len = hs.size();
  std::string bytes(reinterpret_cast<const char*>(&len), 8);
  write_file(p, bytes + hs + data);
}

// Reads one tensor of a safetensors file as floats (F32, BF16 or F16 is not needed here).
inline std::vector<float> read_tensor_f32(const std::filesystem::path& p, const std::string& name,
                                          std::vector<int64_t>* shape = nullptr) {
  std::string bytes = read_file(p);
  uint64_t len = 0;
  std::memcpy(&len, bytes.data(), 8);
  auto h = nlohmann::json::parse(bytes.substr(8, len));
  if (!h.contains(name)) return {};
  const auto& e = h[name];
  if (shape) *shape = e["shape"].get<std::vector<int64_t>>();
  const size_t b = e["data_offsets"][0].get<size_t>(), end = e["data_offsets"][1].get<size_t>();
  const char* d = bytes.data() + 8 + len + b;
  std::vector<float> out;
  const std::string dt = e["dtype"];
  if (dt == "F32") {
    out.resize((end - b) / 4);
    std::memcpy(out.data(), d, end - b);
  } else if (dt == "BF16") {
    for (size_t i = 0; i < (end - b) / 2; ++i) {
      uint32_t u = 0;
      std::memcpy(reinterpret_cast<char*>(&u) + 2, d + 2 * i, 2);
      float f;
      std::memcpy(&f, &u, 4);
      out.push_back(f);
    }
  }
  return out;
}

// Starts hqq in the background (output to files in `logs`), returns its pid.
inline pid_t spawn_hqq(const std::vector<std::string>& args, const std::filesystem::path& logs) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    FILE* o = std::freopen((logs / "out").c_str(), "w", stdout);
    FILE* e = std::freopen((logs / "err").c_str(), "w", stderr);
    (void)o, (void)e;
    std::vector<char*> argv;
    std::string exe = cli_path();
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `limit` for pid; returns its wait status, or -1 (and kills it) on a timeout.
inline int wait_for(pid_t pid, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace hqq::test
