#pragma once
// An environment variable set (or unset) for a scope, and put back as it was after: the
// gateway's and the reactor's choices read the environment (RINGGATE_REACTOR), and a test that
// changes it must not leak the change into the next.

#include <cstdlib>
#include <string>

namespace ringgate::test {

class ScopedEnv {
 public:
  // `value` nullptr: unset for the scope.
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    had_ = old != nullptr;
    if (had_) {
      old_ = old;
    }
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace ringgate::test
