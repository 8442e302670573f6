#pragma once
// Errors that cross module borders. Every message names the file (or tensor, or argument) and the
// problem, so that a user can act on it without a debugger.
#include <stdexcept>
#include <string>

namespace hqq {

// Anything the engine cannot do.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The input is at fault: a malformed file, a config the engine does not support, a bad argument.
// The CLI exits with code 2 on these.
class InputError : public Error {
 public:
  using Error::Error;
};

// A job stopped because its CancelToken was triggered.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// "FILE: PROBLEM", the one message format used for input errors.
[[noreturn]] inline void fail_input(const std::string& where, const std::string& problem) {
  throw InputError(where + ": " + problem);
}

}  // namespace hqq
