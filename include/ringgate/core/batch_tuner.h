#pragma once
// server.batch_wait: auto. Whether a shard batches completions is decided by what batching
// costs it, measured under its own load: on one machine 50us of batching cut the CPU per proxied
// request by 11-23%, on another it raised it by 6-28% while cutting that of direct answers and
// aggregation; no fixed setting and no single machine figure (a syscall's cost) picks right
// for every machine and every load. So a busy shard tries the other setting now and then for a
// few short windows and keeps whichever cost less CPU per request.
//
// The tuner is the decision alone (no clock, no syscall): the shard feeds it one window at a
// time (its thread's CPU time and the requests it answered in that window, and whether it was
// busy enough for batching to engage) and runs the next window as batching() says.
//
// A probe is four windows, the other setting first and last (O C C O), so that a load rising or
// falling steadily through it weighs on both settings alike. The setting that cost less CPU
// per request over its two windows wins, the current one unless the other is cheaper by
// more than `margin`. Probes begin once the shard has been busy `first_probe` windows and
// follow every `hold` busy windows after it; a probe that keeps the setting doubles the hold
// (up to `max_hold`), one that changes it starts again from `hold`. A window without the load
// to tell (not busy, or under `min_requests`) cancels a probe under way and does not count
// toward the next. A load that changes its kind (aggregation after plain proxying, say) is
// measured again at once: `drift_windows` settled windows in a row whose CPU per request is
// off the last probe's figure for the setting by more than `drift` start a probe, and the holds
// start over. (Both are wide: on a noisy 2-CPU guest the CPU per request of 250 ms windows of
// one steady load moved by more than 25% often enough to start a probe every few seconds.)

#include <cstdint>

namespace ringgate {

class BatchTuner {
 public:
  struct Options {
    uint32_t window_ms = 250;     // the shard feeds a window this often
    uint64_t min_requests = 250;  // in a window, for it to count (1,000 a second)
    uint32_t first_probe = 8;     // busy windows before the first probe (2 s)
    uint32_t hold = 40;           // busy windows between probes (10 s) ...
    uint32_t max_hold = 240;      // ... doubling while probes keep the setting, up to 60 s
    double margin = 0.03;         // the other setting must be this much cheaper to take over
    double drift = 0.5;           // settled windows this far off the last probe, ...
    uint32_t drift_windows = 4;   // ... this many in a row (1 s): the load changed
  };
  // What the last finished probe measured: CPU ns per request with and without batching.
  struct Probe {
    double batched_ns = 0;
    double unbatched_ns = 0;
    bool switched = false;
  };

  BatchTuner(bool batching, const Options& options) : options_(options), batching_(batching) {
    wait_ = options_.first_probe > 0 ? options_.first_probe : 1;
  }
  explicit BatchTuner(bool batching) : BatchTuner(batching, Options{}) {}

  // A window ended: `cpu_ns` the shard's thread spent in it, `requests` it answered, `busy`
  // whether batching could engage (enough connections busy most of the window). Returns true
  // when a probe finished in it (last_probe() says what it found).
  bool window(uint64_t cpu_ns, uint64_t requests, bool busy);

  // Whether the next window batches.
  bool batching() const { return step_ == 1 || step_ == 4 ? !batching_ : batching_; }
  // The setting kept between probes.
  bool settled() const { return batching_; }
  bool probing() const { return step_ > 0; }
  const Probe& last_probe() const { return last_; }
  uint64_t probes() const { return probes_; }
  uint64_t switches() const { return switches_; }
  const Options& options() const { return options_; }

 private:
  Options options_;
  bool batching_;         // the settled setting
  uint32_t step_ = 0;     // 0: settled; 1..4: the probe window now running (O C C O)
  uint32_t wait_;         // busy windows until the next probe
  uint32_t hold_ = 0;     // the last hold (0: none yet)
  double reference_ = 0;  // the last probe's CPU ns per request for the settled setting
  uint32_t drifted_ = 0;  // settled windows in a row off reference_ by more than drift
  uint64_t cpu_[2] = {};  // the probe's CPU ns and requests, [0] other setting, [1] current;
                          // zeroed as a probe starts
  uint64_t requests_[2] = {};
  Probe last_;
  uint64_t probes_ = 0;
  uint64_t switches_ = 0;
};

}  // namespace ringgate
