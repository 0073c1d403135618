#pragma once
// The epoll backend of the Reactor, for hosts where io_uring is blocked (Docker's default
// seccomp profile, kernel.io_uring_disabled, some sandboxes) or where RINGGATE_REACTOR=epoll asks
// for it. Private to src/core, like the io_uring backend.
//
// It keeps io_uring's contract, so nothing above src/core knows which backend runs:
// - every operation ends in one Completion::complete() call (several for the multishot ones,
//   kCompletionMore on all but the last), delivered by dispatch(), never inside a submit_* call;
// - sends, connects and shutdowns are tried at submission (the common case completes there and
//   costs no readiness round trip); what the socket cannot take yet waits for EPOLLOUT;
// - accepts and receives wait for EPOLLIN (level-triggered), then run until the socket is empty
//   or a per-event bound is reached, so one busy socket cannot starve the others;
// - multishot receives take the Reactor's buffers from a free stack (most recently used on top,
//   as the io_uring ring's working set), end with -ENOBUFS when none is free, and name the buffer
//   in the flags as io_uring does;
// - a cancel ends the matching operations with -ECANCELED; a close drops what is left on the fd
//   (the caller closes only quiet sockets) and takes the fd out of the epoll set.

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "buffer_stack.h"
#include "ringgate/core/reactor.h"

namespace ringgate {

class EpollBackend {
 public:
  EpollBackend() = default;
  ~EpollBackend();
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  bool init(const ReactorOptions& options, std::string& error);
  void provide_buffers(char* base);

  void submit_accept_multishot(int fd, Completion* c, unsigned op);
  void submit_recv_multishot(int fd, Completion* c, unsigned op);
  void submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op);
  void submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op);
  void submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c, unsigned op);
  void submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op);
  void submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op);
  void submit_cancel(Completion* c, unsigned op);
  void submit_shutdown(int fd, int how, Completion* c, unsigned op);
  void submit_close(int fd);

  void recycle(uint16_t bid) { free_.push(bid); }
  bool take(uint16_t& bid) { return free_.take(bid); }
  void trim_buffers();
  uint64_t buffer_bytes_resident() const { return free_.resident_bytes(); }

  void flush() { sync_interest(); }
  void wait(int timeout_ms);
  unsigned dispatch();

 private:
  enum class Kind : uint8_t { kAccept, kRecvMultishot, kRecv, kRead, kSend, kSendmsg, kConnect };
  static bool reads(Kind k) { return k <= Kind::kRead; }

  // One operation waiting for its socket. Pooled: a steady state allocates none.
  struct Op {
    Op* next = nullptr;      // the fd's operations, in submission order
    Op* tag_next = nullptr;  // the cancel index's chain
    Completion* c = nullptr;
    unsigned op = 0;
    Kind kind = Kind::kRecv;
    int fd = -1;
    void* buf = nullptr;
    size_t len = 0;
    const msghdr* msg = nullptr;
  };
  struct FdState {
    Op* head = nullptr;
    uint32_t registered = 0;  // the events the epoll set has for this fd; 0: not in the set
    bool dirty = false;       // its operations changed since the set was last told
    bool nonblocking = false;
  };
  struct Ready {
    Completion* c;
    unsigned op;
    int res;
    uint32_t flags;
  };

  FdState& state(int fd);
  FdState& fresh(int fd);  // the state of a socket just made (accepted, or about to connect)
  Op* new_op(int fd, Completion* c, unsigned op, Kind kind);
  void free_op(Op* o);
  // Queues the operation on its fd (and in the cancel index) to wait for readiness.
  void park(Op* o);
  // Takes `o` off its fd's list and the cancel index; `prev` is its predecessor on the list.
  void unlink(Op* o, Op* prev);
  void finish(Op* o, Op* prev, int res) {
    post(o->c, o->op, res, 0);
    unlink(o, prev);
    free_op(o);
  }
  void post(Completion* c, unsigned op, int res, uint32_t flags) {
    ready_.push_back(Ready{c, op, res, flags});
  }
  void mark_dirty(int fd);
  void sync_interest();
  void set_nonblocking(int fd);
  bool has_write_waiting(int fd);
  // Runs the fd's operations of one direction after epoll reported it ready.
  void run_reads(int fd);
  void run_writes(int fd);
  // A send or sendmsg: tried now, parked when the socket has no room (or a send waits).
  void submit_write(Op* o);
  // One attempt; false when the socket would block (the operation stays parked).
  bool try_write(Op* o, int& res);
  // A multishot receive's round: false when the operation ended.
  bool receive(Op* o);
  bool accept(Op* o);

  size_t bucket(uint64_t tag) const {
    return static_cast<size_t>((tag * 0x9E3779B97F4A7C15ull) >> 40) & (index_.size() - 1);
  }
  static uint64_t tag(Completion* c, unsigned op) {
    return reinterpret_cast<uintptr_t>(c) | static_cast<uint64_t>(op);
  }
  void grow_index();

  int epoll_fd_ = -1;
  std::vector<FdState> fds_;  // by descriptor number
  std::vector<int> dirty_;
  std::vector<Op*> index_;  // pending operations by (completion, op), chained
  size_t pending_ = 0;
  std::vector<std::unique_ptr<Op[]>> op_chunks_;
  Op* free_ops_ = nullptr;
  std::vector<Ready> ready_;
  std::vector<Ready> dispatching_;
  std::vector<epoll_event> events_;

  // The receive buffers: taken off the free stack as data arrives. An eighth stays for take()
  // (TLS decrypts into them), as the io_uring ring keeps off its ring.
  char* buffer_base_ = nullptr;
  uint32_t buffer_size_ = 0;
  uint32_t buffer_count_ = 0;
  uint32_t reserve_ = 0;
  BufferStack free_;
  uint32_t taken_ = 0;       // buffers received into since the last wait
  uint32_t peak_taken_ = 0;  // most taken between two waits since the last trim
};

}  // namespace ringgate
