#include "ringgate/core/reactor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "epoll_backend.h"
#include "ringgate/core/syscall_cost.h"
#include "uring_backend.h"

namespace ringgate {

uint32_t syscall_cost_ns() {
  static const uint32_t cost = static_cast<uint32_t>(std::max(1.0, least_syscall_ns(8, 64)));
  return cost;
}

// The backend-neutral half of the Reactor: the choice of backend, the receive-buffer memory and
// the counters the inline accessors read. Everything kernel-facing is forwarded to the backend;
// the io_uring backend's hot calls are inline in uring_backend.h, so a submission costs a pointer
// test and load more than a direct call.

// Calls `call` on the backend init() chose (uring_ first: the default, and the one that runs
// wherever io_uring is allowed).
#define RG_BACKEND(call) (uring_ ? uring_->call : epoll_->call)

Reactor::Reactor() = default;

Reactor::~Reactor() {
  // The backend goes first: the kernel must have let go of the buffers before they are unmapped.
  uring_.reset();
  epoll_.reset();
  if (buffers_) {
    munmap(buffers_, buffers_bytes_);
  }
}

bool Reactor::init(const ReactorOptions& options, std::string& error) {
  buffer_size_ = options.buffer_size;
  buffer_count_ = options.buffer_count;
  lends_.assign(buffer_count_, 0);
  const char* env = getenv("RINGGATE_REACTOR");
  const std::string want = env && *env ? env : "auto";
  if (want != "auto" && want != "io_uring" && want != "epoll") {
    error = "RINGGATE_REACTOR=" + want + ": expected auto, io_uring or epoll";
    return false;
  }
  std::string why;
  if (want != "epoll") {
    auto uring = std::make_unique<UringBackend>();
    std::string uring_error;
    if (uring->init(options, setup_note_, uring_error)) {
      uring_ = std::move(uring);
    } else if (want == "io_uring") {
      error = uring_error + " (RINGGATE_REACTOR=io_uring)";
      return false;
    } else {
      why = "io_uring unavailable: " + uring_error;
    }
  } else {
    why = "RINGGATE_REACTOR=epoll";
  }
  if (!uring_) {
    auto epoll = std::make_unique<EpollBackend>();
    if (!epoll->init(options, error)) {
      error += why.empty() ? "" : " (" + why + ")";
      return false;
    }
    epoll_ = std::move(epoll);
    setup_note_ = "epoll (" + why + ")";
  }
  // Buffer memory is touched on first use only, so an idle shard's RSS stays small.
  buffers_bytes_ = size_t{buffer_size_} * buffer_count_;
  void* mem =
      mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    error = std::string("buffers: mmap failed: ") + strerror(errno);
    return false;
  }
  buffers_ = static_cast<char*>(mem);
  RG_BACKEND(provide_buffers(buffers_));
  return true;
}

void Reactor::submit_accept_multishot(int fd, Completion* c, unsigned op) {
  RG_BACKEND(submit_accept_multishot(fd, c, op));
}

void Reactor::submit_recv_multishot(int fd, Completion* c, unsigned op) {
  RG_BACKEND(submit_recv_multishot(fd, c, op));
}

void Reactor::submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  RG_BACKEND(submit_recv(fd, buf, len, c, op));
}

void Reactor::submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op) {
  RG_BACKEND(submit_send(fd, buf, len, c, op));
}

void Reactor::submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c,
                             unsigned op) {
  RG_BACKEND(submit_connect(fd, addr, len, c, op));
}

void Reactor::submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op) {
  RG_BACKEND(submit_sendmsg(fd, msg, c, op));
}

void Reactor::submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  RG_BACKEND(submit_read(fd, buf, len, c, op));
}

void Reactor::submit_cancel(Completion* c, unsigned op) {
  RG_BACKEND(submit_cancel(c, op));
}

void Reactor::submit_shutdown(int fd, int how, Completion* c, unsigned op) {
  RG_BACKEND(submit_shutdown(fd, how, c, op));
}

void Reactor::trim_buffers() {
  RG_BACKEND(trim_buffers());
}

uint64_t Reactor::buffer_bytes_resident() const {
  return RG_BACKEND(buffer_bytes_resident());
}

uint32_t Reactor::buffers_in_ring() const {
  return uring_ ? uring_->buffers_in_ring() : 0;  // epoll: buffers are taken at receive time
}

void Reactor::register_fd(int fd) {
  if (uring_) {
    uring_->register_fd(fd);  // epoll has no file table: every call names the descriptor
  }
}

uint32_t Reactor::registered_fds() const {
  return uring_ ? uring_->registered_fds() : 0;
}

uint64_t Reactor::unregistered_fds() const {
  return uring_ ? uring_->unregistered_fds() : 0;
}

void Reactor::submit_close(int fd) {
  RG_BACKEND(submit_close(fd));
}

void Reactor::wait(int timeout_ms) {
  if (!uring_) {
    epoll_->wait(timeout_ms);
  } else if (uring_->wait(timeout_ms, batch_target_)) {
    ++batched_waits_;
  }
}

uint32_t Reactor::batch_wait_us() const {
  return uring_ ? uring_->batch_wait_us() : 0;
}

bool Reactor::batch_first() const {
  return uring_ && uring_->batch_first();
}

unsigned Reactor::dispatch() {
  return RG_BACKEND(dispatch());
}

void Reactor::flush() {
  RG_BACKEND(flush());
}

bool Reactor::take_buffer(uint16_t& bid) {
  if (!RG_BACKEND(take(bid))) {
    return false;
  }
  ++buffers_out_;
  return true;
}

void Reactor::give_to_kernel(uint16_t bid) {
  RG_BACKEND(recycle(bid));
  --buffers_out_;
}

#undef RG_BACKEND

}  // namespace ringgate
