#include "ringgate/core/reactor.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "uring_backend.h"

namespace ringgate {

// The backend-neutral half of the Reactor: the receive-buffer memory and the counters the inline
// accessors read. Everything kernel-facing is forwarded to the backend; its hot calls are inline
// in uring_backend.h, so a submission costs one pointer load more than before the split.

Reactor::Reactor() : backend_(std::make_unique<UringBackend>()) {}

Reactor::~Reactor() {
  // The ring goes first: the kernel must have let go of the buffers before they are unmapped.
  backend_.reset();
  if (buffers_) {
    munmap(buffers_, buffers_bytes_);
  }
}

bool Reactor::init(const ReactorOptions& options, std::string& error) {
  buffer_size_ = options.buffer_size;
  buffer_count_ = options.buffer_count;
  if (!backend_->init(options, setup_note_, error)) {
    return false;
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
  backend_->provide_buffers(buffers_);
  return true;
}

void Reactor::submit_accept_multishot(int fd, Completion* c, unsigned op) {
  backend_->submit_accept_multishot(fd, c, op);
}

void Reactor::submit_recv_multishot(int fd, Completion* c, unsigned op) {
  backend_->submit_recv_multishot(fd, c, op);
}

void Reactor::submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  backend_->submit_recv(fd, buf, len, c, op);
}

void Reactor::submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op) {
  backend_->submit_send(fd, buf, len, c, op);
}

void Reactor::submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c,
                             unsigned op) {
  backend_->submit_connect(fd, addr, len, c, op);
}

void Reactor::submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op) {
  backend_->submit_sendmsg(fd, msg, c, op);
}

void Reactor::submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  backend_->submit_read(fd, buf, len, c, op);
}

void Reactor::submit_cancel(Completion* c, unsigned op) {
  backend_->submit_cancel(c, op);
}

void Reactor::submit_shutdown(int fd, int how, Completion* c, unsigned op) {
  backend_->submit_shutdown(fd, how, c, op);
}

void Reactor::trim_buffers() {
  backend_->trim_buffers();
}

uint64_t Reactor::buffer_bytes_resident() const {
  return backend_->buffer_bytes_resident();
}

uint32_t Reactor::buffers_in_ring() const {
  return backend_->buffers_in_ring();
}

void Reactor::register_fd(int fd) {
  backend_->register_fd(fd);
}

uint32_t Reactor::registered_fds() const {
  return backend_->registered_fds();
}

uint64_t Reactor::unregistered_fds() const {
  return backend_->unregistered_fds();
}

void Reactor::submit_close(int fd) {
  backend_->submit_close(fd);
}

void Reactor::wait(int timeout_ms) {
  if (backend_->wait(timeout_ms, batch_target_)) {
    ++batched_waits_;
  }
}

unsigned Reactor::dispatch() {
  return backend_->dispatch();
}

void Reactor::flush() {
  backend_->flush();
}

bool Reactor::take_buffer(uint16_t& bid) {
  if (!backend_->take(bid)) {
    return false;
  }
  ++buffers_out_;
  return true;
}

void Reactor::recycle(uint16_t bid) {
  backend_->recycle(bid);
  --buffers_out_;
}

}  // namespace ringgate
