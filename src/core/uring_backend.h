#pragma once
// The io_uring backend of the Reactor: the ring, the provided-buffer ring and every liburing call.
// Private to src/core (STYLE rule 2: only src/core talks to liburing). The Reactor holds one by
// pointer and forwards to it; the submissions are inline here, so each out-of-line
// Reactor::submit_* compiles to what it was before the backend moved out of the public header,
// plus one pointer load, and no virtual call.

#include <liburing.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "buffer_stack.h"
#include "ringgate/core/reactor.h"

namespace ringgate {

class UringBackend {
 public:
  UringBackend() = default;
  ~UringBackend();
  UringBackend(const UringBackend&) = delete;
  UringBackend& operator=(const UringBackend&) = delete;

  // Sets up the ring, probes the opcodes we need and registers an empty buffer ring of
  // options.buffer_count entries. `note` gets the set-up line (Reactor::setup_note).
  bool init(const ReactorOptions& options, std::string& note, std::string& error);
  // The receive buffers, options.buffer_count of options.buffer_size bytes at `base` (after init
  // succeeded): the first working set goes into the ring, the rest wait on the free stack.
  void provide_buffers(char* base);

  void submit_accept_multishot(int fd, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_recv_multishot(int fd, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    target(sqe, fd);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    target(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    target(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_connect(sqe, fd, addr, len);
    target(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    target(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), 0);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_cancel(Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tag(c, op), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, 0);
  }
  void submit_shutdown(int fd, int how, Completion* c, unsigned op) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_shutdown(sqe, fd, how);
    target(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag(c, op));
  }
  void submit_close(int fd) {
    unregister_fd(fd);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, 0);
  }

  // Registered descriptors (Reactor::register_fd).
  void register_fd(int fd);
  uint32_t registered_fds() const {
    return file_slots_ - static_cast<uint32_t>(free_slots_.size() + retired_slots_.size());
  }
  uint64_t unregistered_fds() const { return unregistered_; }

  // Buffer `bid` is free again: straight back into the ring while the ring is below its working
  // set (the steady state: one ring entry, published at the next wait), else on top of the free
  // stack.
  void recycle(uint16_t bid) {
    if (in_ring_ + static_cast<uint32_t>(pending_) < ring_target_) {
      ring_add(bid);
    } else {
      free_.push(bid);
    }
  }
  // A free buffer for user space to fill (decrypted input): the most recently used one, off the
  // free stack. False when every buffer is in the ring or out.
  bool take(uint16_t& bid) { return free_.take(bid); }
  // Once a second: the ring's working set follows the last second's peak demand, and free
  // buffers beyond what the ring will need soon give their memory back to the system.
  void trim_buffers();
  // Receive-buffer memory that may be resident: the buffers the kernel wrote since they were
  // last given back.
  uint64_t buffer_bytes_resident() const { return free_.resident_bytes(); }
  uint32_t buffers_in_ring() const { return in_ring_; }

  void flush();
  // True when it held out for a batch (a min-wait enter).
  bool wait(int timeout_ms, unsigned batch_target);
  unsigned dispatch();
  uint32_t batch_wait_us() const { return batch_wait_us_; }
  bool batch_first() const { return batch_first_ && batch_wait_us_ > 0; }

 private:
  // A socket with a slot in the ring's file table is named by its slot: the kernel skips the
  // file lookup (and its reference count) for the operation.
  void target(io_uring_sqe* sqe, int fd) const {
    const auto i = static_cast<size_t>(fd);
    if (i < slot_of_.size() && slot_of_[i] >= 0) {
      sqe->fd = slot_of_[i];
      sqe->flags |= IOSQE_FIXED_FILE;
    }
  }
  void unregister_fd(int fd) {
    const auto i = static_cast<size_t>(fd);
    if (i < slot_of_.size() && slot_of_[i] >= 0) {
      unregister_slot(fd);
    }
  }
  void unregister_slot(int fd);
  // Slots freed in this batch become free once it is submitted: an operation still queued for
  // the old socket must not find a new socket in its slot.
  void release_retired_slots() {
    free_slots_.insert(free_slots_.end(), retired_slots_.begin(), retired_slots_.end());
    retired_slots_.clear();
  }

  static uint64_t tag(Completion* c, unsigned op) {
    return reinterpret_cast<uintptr_t>(c) | static_cast<uint64_t>(op);
  }

  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {
      // SQ full: flush what we have and retry (as Seastar's reactor does).
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void ring_add(uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, buffer_base_ + size_t{bid} * buffer_size_, buffer_size_, bid,
                          buffer_mask_, pending_);
    ring_bids_[(buf_ring_->tail + static_cast<uint32_t>(pending_)) & ring_mask()] = bid;
    ++pending_;
  }
  void give_back_idle_ring_entries();
  void publish_buffers();
  void follow_demand();
  unsigned flush_sq();
  void enter_and_wait(unsigned wait_nr, int timeout_ms, uint32_t min_wait_us);

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t buffer_count_ = 0;
  int buffer_mask_ = 0;  // io_uring_buf_ring_mask(buffer_count)
  char* buffer_base_ = nullptr;
  // The receive buffers' working set. The ring holds about ring_target_ buffers, not all of
  // them: a FIFO ring lent every buffer cycles through all of them and makes every page
  // resident, however few are in use at once. Free buffers wait in free_ (BufferStack: most
  // recently used on top, the least recently used give their pages back). ring_target_ grows at
  // once with demand (twice the buffers taken in one loop iteration; doubled when the ring ran dry)
  // and shrinks once a second towards twice the last second's peak, by half at most.
  BufferStack free_;
  // Which buffer each ring entry holds (by ring position), so that entries the kernel has not
  // used yet can be named: after a burst, a quiet shard gives their memory back too.
  std::vector<uint16_t> ring_bids_;
  uint32_t ring_mask() const { return static_cast<uint32_t>(buffer_mask_); }
  // The most buffers the ring may hold: an eighth stays off it (at least one of two or more),
  // for take(): TLS decrypts a record larger than the buffer it came in into more buffers, and
  // with every free buffer lent to the kernel none would be left for that.
  uint32_t ring_cap() const {
    return buffer_count_ - (buffer_count_ >= 8 ? buffer_count_ / 8 : buffer_count_ >= 2 ? 1 : 0);
  }
  uint32_t in_ring_ = 0;
  int pending_ = 0;  // ring entries added but not yet published
  uint32_t ring_target_ = 0;
  uint32_t taken_ = 0;       // buffers the kernel filled since the last wait
  uint32_t peak_taken_ = 0;  // most taken between two waits since the last trim
  bool ran_dry_ = false;     // a receive ended with ENOBUFS since the last wait
  uint32_t used_features_ = 0;
  bool min_timeout_supported_ = false;
  uint32_t batch_wait_us_ = 0;
  bool batch_first_ = false;  // batch at start (auto: as the syscall's cost suggests)
  bool ring_fd_registered_ = false;

  // The file table: file_slots_ slots; slot_of_[fd] is the fd's slot or -1 (indexed by
  // descriptor number, grown to the largest registered one); slot_fd_[slot] is the descriptor a
  // queued FILES_UPDATE reads at submission, so it lives here, not on a stack.
  uint32_t file_slots_ = 0;
  bool file_updates_failed_ = false;
  uint64_t unregistered_ = 0;  // sockets that found no free slot
  std::vector<int32_t> slot_of_;
  std::vector<int32_t> slot_fd_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> retired_slots_;
};

// user_data of the FILES_UPDATE submissions: below any Completion pointer, and not 0 (ignored).
constexpr uint64_t kFileUpdateTag = 1;

// The least the ring's working set shrinks to (or all buffers, when there are fewer): 64 of
// 16 KiB, 1 MiB per shard.
constexpr uint32_t kMinRingBuffers = 64;

}  // namespace ringgate
