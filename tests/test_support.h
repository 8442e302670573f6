#pragma once
// Paths and small helpers shared by the test programs.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace hqq::test {

inline std::filesystem::path fixtures() {
  return HQQ_TEST_FIXTURES_DIR;
}
inline std::filesystem::path shared_data() {
  return HQQ_TEST_SHARED_DATA_DIR;
}

// A fresh directory removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("hqq-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace hqq::test
