#pragma once
// The shard's event reactor: it owns the shard's kernel event queue, the receive buffers lent to
// multishot recv, and the dispatch of completions. Two backends, private to src/core: io_uring
// (src/core/uring_backend.h; nothing else sees liburing), and epoll (src/core/epoll_backend.h)
// for hosts that block io_uring. Everything above sees submit_* calls and Completion callbacks,
// whichever runs.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringgate {

// Anything with operations in flight. An operation is tagged with the object pointer and the
// operation kind in its low bits (io_uring: the CQE's user_data), so dispatch is one virtual call
// and no lookup.
class Completion {
 public:
  // `flags` are completion flags: test them with cqe_more / cqe_has_buffer / cqe_buffer_id.
  virtual void complete(unsigned op, int res, uint32_t flags) = 0;

 protected:
  ~Completion() = default;
};

constexpr unsigned kOpBits = 3;
constexpr uint64_t kOpMask = (1u << kOpBits) - 1;

// Completion flags. They have the values of io_uring's CQE flags (static_assert-ed in
// src/core/uring_backend.cc), so the io_uring backend passes the kernel's flags on untouched;
// another backend builds them from these.
constexpr uint32_t kCompletionBuffer = 1u << 0;  // a receive buffer was used; its id is above
constexpr uint32_t kCompletionMore = 1u << 1;    // the multishot operation stays armed
constexpr unsigned kCompletionBufferShift = 16;  // the buffer id's place in the flags

// Completion-flag helpers; inline, as they run once per completion.
inline bool cqe_more(uint32_t flags) {
  return flags & kCompletionMore;
}
inline bool cqe_has_buffer(uint32_t flags) {
  return flags & kCompletionBuffer;
}
inline uint16_t cqe_buffer_id(uint32_t flags) {
  return static_cast<uint16_t>(flags >> kCompletionBufferShift);
}

// server.batch_wait: auto. Completion batching saves a shard kernel entries and costs its peers
// wake-ups, so whether it pays depends on what entering the kernel costs: measured with
// `bench/run compare`, 50us cut the CPU per request by 11-23% (proxy at wrk -c50 and -c200,
// direct answers, aggregation) on a guest whose syscall costs ~0.95 us (page-table isolation
// without PCID), and raised it by 6-28% on one whose user time showed no such cost. Auto
// waits kAutoBatchWaitUs when it batches, and starts batching where a syscall costs at least
// kCostlySyscallNs; each shard's BatchTuner (core/batch_tuner.h) then keeps or drops batching
// by what it measures under load.
constexpr uint32_t kAutoBatchWaitUs = 50;
constexpr uint32_t kCostlySyscallNs = 500;
constexpr uint32_t auto_batch_wait_us(uint32_t syscall_ns) {
  return syscall_ns >= kCostlySyscallNs ? kAutoBatchWaitUs : 0;
}
// What one syscall costs on this machine, in ns: the least of a few timed batches of getppid(),
// measured on the first call (512 calls: half a millisecond at 1 us each) and kept for the
// process.
uint32_t syscall_cost_ns();

struct ReactorOptions {
  uint32_t entries = 4096;
  uint32_t buffer_size = 16 * 1024;
  uint32_t buffer_count = 4096;
  uint32_t batch_wait_us = 0;    // see ServerConfig::batch_wait_us
  bool batch_wait_auto = false;  // kAutoBatchWaitUs, batching from the start as
                                 // auto_batch_wait_us(syscall_cost_ns()) says
  // Slots of the registered file table (register_fd); 0: none, every socket goes by descriptor.
  uint32_t file_slots = 0;
};

// The kernel-facing state of each backend; defined in src/core/uring_backend.h and
// src/core/epoll_backend.h.
class UringBackend;
class EpollBackend;

class Reactor {
 public:
  Reactor();
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Must be called on the thread that will run the loop (SINGLE_ISSUER). Picks the backend:
  // RINGGATE_REACTOR=io_uring or =epoll in the environment forces one; otherwise (auto) io_uring,
  // and epoll when the host refuses io_uring (setup_note says why). Returns false with a
  // readable error: io_uring forced and refused, an unknown RINGGATE_REACTOR, no epoll.
  bool init(const ReactorOptions& options, std::string& error);
  // Which backend init() chose: "io_uring" or "epoll".
  const char* backend_name() const { return uring_ ? "io_uring" : "epoll"; }
  // A line describing the set-up actually obtained (flags, fallbacks), for the start-up log.
  const std::string& setup_note() const { return setup_note_; }

  // --- submissions (queued; flushed by wait()) ---
  void submit_accept_multishot(int fd, Completion* c, unsigned op);
  // Multishot recv into the provided-buffer ring.
  void submit_recv_multishot(int fd, Completion* c, unsigned op);
  void submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op);
  void submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op);
  // `addr` must stay valid until the completion (the kernel may read it late).
  void submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c, unsigned op);
  void submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op);
  void submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op);
  // Cancels every operation of (c, op). The cancel's own completion is ignored.
  void submit_cancel(Completion* c, unsigned op);
  void submit_shutdown(int fd, int how, Completion* c, unsigned op);
  // Registers a socket in the ring's file table, so that its operations skip the kernel's file
  // lookup; call it before the socket's first operation. Costs one queued submission, no system
  // call. Optional: with the table full (or refused), the socket goes by descriptor as before.
  // submit_close() takes the socket out again.
  void register_fd(int fd);
  // Sockets registered now, and those that found the table full (counted since start).
  uint32_t registered_fds() const;
  uint64_t unregistered_fds() const;
  // Close without a completion callback. Must be the fd's last operation: io_uring may resolve an
  // fd number late (in a worker thread), after accept has reused it.
  void submit_close(int fd);

  // Flushes submissions and waits for at least one completion or `timeout_ms` (< 0: no limit).
  void wait(int timeout_ms);
  // Dispatches every available completion, in batches. Returns completions dispatched.
  unsigned dispatch();
  // Submits what is queued without waiting (before the loop exits).
  void flush();

  // Adaptive batching: while busy, wait for up to `target` completions but at most the batch
  // wait (server.batch_wait) once one has arrived. 0/1 disables it.
  void set_batch_target(unsigned target) { batch_target_ = target; }
  // Waits so far that held out for a batch (a target above 1, and a batch wait the kernel takes).
  uint64_t batched_waits() const { return batched_waits_; }
  // The batch wait in force (0: none: off, the epoll backend, or a kernel without min-wait),
  // and whether to batch from the start (auto: as the syscall's cost suggests; BatchTuner
  // decides after that).
  uint32_t batch_wait_us() const;
  bool batch_first() const;

  // --- provided-buffer ring: buffer_count buffers of buffer_size bytes, lent to the kernel and
  // named by id in the completion flags ---
  char* buffer(uint16_t bid) const { return buffers_ + size_t{bid} * buffer_size_; }
  uint32_t buffer_size() const { return buffer_size_; }
  uint32_t buffer_count() const { return buffer_count_; }
  // Gives a buffer back to the kernel; published at the next wait (one tail store per batch).
  // A buffer on loan (lend) goes back once the last loan is given back.
  void recycle(uint16_t bid) {
    if (lends_[bid] > 0) {
      lends_[bid] |= kRecycleDue;
      return;
    }
    give_to_kernel(bid);
  }
  // A buffer's bytes are read where they are by someone else than its holder (a client send
  // that carries a proxied body): it stays out of the ring until given back, whatever its
  // holder does meanwhile.
  void lend(uint16_t bid) { ++lends_[bid]; }
  void give_back(uint16_t bid) {
    if (--lends_[bid] == kRecycleDue) {
      lends_[bid] = 0;
      give_to_kernel(bid);
    }
  }
  // Lends a free buffer (not one in the ring) to user space, to be filled there (TLS writes
  // decrypted input into one) and recycled like any other; false when none is free.
  bool take_buffer(uint16_t& bid);
  uint32_t buffers_out() const { return buffers_out_; }  // held by user space right now
  void note_buffer_taken() { ++buffers_out_; }
  // Not every buffer is lent to the kernel at once: the ring holds a working set that follows
  // demand (the buffers a loop iteration takes, twice over; more when the ring runs dry), so
  // only the buffers actually used become resident. Once a second: the working set follows the
  // last second's peak (shrinking by half at most) and free buffers beyond it give their memory
  // back (madvise).
  void trim_buffers();
  // Receive-buffer bytes that may be resident (all but those given back or never used).
  uint64_t buffer_bytes_resident() const;
  uint32_t buffers_in_ring() const;

 private:
  // Pointers, not members, so that this header needs no io_uring type. After init() exactly one
  // is set; each call tests uring_ first (one predictable branch, no virtual call).
  std::unique_ptr<UringBackend> uring_;
  std::unique_ptr<EpollBackend> epoll_;
  std::string setup_note_;
  char* buffers_ = nullptr;  // the buffer memory; the backend lends it to the kernel
  size_t buffers_bytes_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t buffer_count_ = 0;
  uint32_t buffers_out_ = 0;
  // Per buffer: its loans, and kRecycleDue once its holder recycled it meanwhile.
  static constexpr uint16_t kRecycleDue = 0x8000;
  std::vector<uint16_t> lends_;
  void give_to_kernel(uint16_t bid);
  unsigned batch_target_ = 0;
  uint64_t batched_waits_ = 0;
};

// The buffer group the receive buffers are registered as (io_uring: the buffer ring's bgid).
constexpr int kBufferGroup = 0;

}  // namespace ringgate
