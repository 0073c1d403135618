#pragma once
// The processes a gateway started to take over from it (reload, upgrade): children of the test
// process once their predecessor exits (it is made a subreaper), stopped and reaped at the end
// whatever happened, so that the log pipe they share with the first process closes.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::it {

class Successors {
 public:
  Successors() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~Successors() {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
  // Waits for "generation N (pid P) serves" in the log; P, or -1 after `timeout`.
  pid_t wait_serving(GatewayProcess& gw, uint64_t generation, Millis timeout = 10s) {
    const std::string head = "ringgate: generation " + std::to_string(generation) + " (pid ";
    if (!gw.wait_output(head, timeout)) {
      return -1;
    }
    const std::string log = gw.log();
    const pid_t pid = static_cast<pid_t>(std::stol(log.substr(log.find(head) + head.size())));
    pids_.push_back(pid);
    return pid;
  }
  // The newest one (-1: none yet).
  pid_t last() const { return pids_.empty() ? -1 : pids_.back(); }
  // Waits for `pid` (one of these, replaced by a newer one) to exit; its exit status, or -1.
  int wait_exit(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      return -1;
    }
    std::erase(pids_, pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // SIGTERM to the last one; its exit status, or -1.
  int stop_last() {
    if (pids_.empty()) {
      return -1;
    }
    const pid_t pid = pids_.back();
    pids_.pop_back();
    kill(pid, SIGTERM);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace ringgate::it
