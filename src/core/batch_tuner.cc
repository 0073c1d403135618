#include "ringgate/core/batch_tuner.h"

#include <algorithm>

namespace ringgate {

bool BatchTuner::window(uint64_t cpu_ns, uint64_t requests, bool busy) {
  const bool counts = busy && requests >= options_.min_requests;
  if (step_ == 0) {
    if (!counts) {
      return false;
    }
    if (reference_ > 0) {
      const double cost = static_cast<double>(cpu_ns) / static_cast<double>(requests);
      const bool off =
          cost > reference_ * (1 + options_.drift) || cost < reference_ * (1 - options_.drift);
      drifted_ = off ? drifted_ + 1 : 0;
      if (drifted_ >= options_.drift_windows) {
        // Not the load the last probe measured: measure again now.
        reference_ = 0;
        drifted_ = 0;
        hold_ = 0;
        wait_ = 1;
      }
    }
    if (--wait_ == 0) {
      step_ = 1;  // the next window runs the other setting
      cpu_[0] = cpu_[1] = requests_[0] = requests_[1] = 0;
    }
    return false;
  }
  if (!counts) {  // the load went: what this probe measured no longer compares
    step_ = 0;
    wait_ = std::max<uint32_t>(options_.first_probe, 1);
    return false;
  }
  const int slot = step_ == 1 || step_ == 4 ? 0 : 1;
  cpu_[slot] += cpu_ns;
  requests_[slot] += requests;
  if (step_ < 4) {
    ++step_;
    return false;
  }
  const double other = static_cast<double>(cpu_[0]) / static_cast<double>(requests_[0]);
  const double current = static_cast<double>(cpu_[1]) / static_cast<double>(requests_[1]);
  ++probes_;
  last_.batched_ns = batching_ ? current : other;
  last_.unbatched_ns = batching_ ? other : current;
  last_.switched = other < current * (1.0 - options_.margin);
  if (last_.switched) {
    batching_ = !batching_;
    ++switches_;
    hold_ = options_.hold;
  } else {
    hold_ = hold_ == 0 ? options_.hold : std::min(hold_ * 2, options_.max_hold);
  }
  wait_ = std::max<uint32_t>(hold_, 1);
  reference_ = batching_ ? last_.batched_ns : last_.unbatched_ns;
  drifted_ = 0;
  step_ = 0;
  return true;
}

}  // namespace ringgate
