#include "ringgate/core/log_writer.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ringgate {

namespace {

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, long timeout_ms) {
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr,
          0);
}

void futex_wake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Writes all of `data`; false on an error other than EINTR. A file writes at once; a pipe, socket
// or terminal (`piped`) is written PIPE_BUF bytes at a time once poll says there is room, so that
// a reader that stopped reading never holds the writer in write(2): while `give_up` is false it
// waits on, and once it is true (the gateway is stopping) it gives up within kStallMs.
// Once it has given up on an output, later buffers for it are dropped at once (`stalled`).
bool write_all(int fd, const char* data, size_t n, bool piped, const std::atomic<bool>& give_up,
               bool* stalled) {
  constexpr int kStallMs = 200;
  while (n > 0) {
    size_t chunk = n;
    if (piped) {
      if (*stalled) {
        return false;
      }
      pollfd p{fd, POLLOUT, 0};
      const int ready = poll(&p, 1, kStallMs);
      if (ready == 0) {
        if (give_up.load()) {
          *stalled = true;
          return false;
        }
        continue;
      }
      if (ready < 0) {
        if (errno == EINTR) {
          continue;
        }
        return false;
      }
      chunk = std::min<size_t>(n, PIPE_BUF);
    }
    const ssize_t w = ::write(fd, data, chunk);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A destination that can stall: not a regular file.
bool piped(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
}

}  // namespace

// --- LogStream (the shard's side) ----------------------------------------------------------------

LogStream::LogStream(LogWriter& writer, unsigned output, size_t buffers, size_t buffer_size)
    : writer_(writer),
      output_(output),
      size_(buffer_size),
      buffers_(new Buffer[buffers]),
      count_(buffers) {
  for (size_t i = 0; i < count_; ++i) {
    buffers_[i].data.reset(new char[size_]);
  }
}

LogStream::~LogStream() = default;

char* LogStream::reserve(size_t max) {
  if (max > size_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);  // never fits
    return nullptr;
  }
  Buffer* b = &buffers_[fill_];
  if (b->full.load(std::memory_order_acquire)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);  // every buffer is with the writer
    return nullptr;
  }
  if (size_ - b->used < max) {
    flush();
    b = &buffers_[fill_];
    if (b->full.load(std::memory_order_acquire)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
  }
  return b->data.get() + b->used;
}

bool LogStream::commit(size_t n) {
  Buffer& b = buffers_[fill_];
  const bool first = b.used == 0;
  b.used += n;
  lines_.fetch_add(1, std::memory_order_relaxed);
  return first;
}

void LogStream::flush() {
  Buffer& b = buffers_[fill_];
  // While full the buffer is the writer's, `used` included: ask first.
  if (b.full.load(std::memory_order_acquire) || b.used == 0) {
    return;
  }
  b.full.store(true, std::memory_order_release);
  fill_ = (fill_ + 1) % count_;
  writer_.wake();
}

bool LogStream::drain(int fd, bool piped, bool* stalled) {
  bool any = false;
  for (;;) {
    Buffer& b = buffers_[write_];
    if (!b.full.load(std::memory_order_acquire)) {
      return any;
    }
    if (fd >= 0 && !write_all(fd, b.data.get(), b.used, piped, writer_.stop_, stalled)) {
      writer_.write_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    b.used = 0;
    b.full.store(false, std::memory_order_release);
    write_ = (write_ + 1) % count_;
    any = true;
  }
}

// --- LogWriter (the writer thread) ---------------------------------------------------------------

LogWriter::~LogWriter() {
  stop();
  for (Output& o : outputs_) {
    if (o.owned && o.fd >= 0) {
      ::close(o.fd);
    }
  }
}

int LogWriter::open_file(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path + " cannot be opened for writing: " + std::strerror(errno);
  }
  return fd;
}

int LogWriter::open(const std::string& path, std::string& error) {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (outputs_[i].path == path) {
      return static_cast<int>(i);
    }
  }
  Output o;
  o.path = path;
  if (path == "stdout") {
    o.fd = STDOUT_FILENO;
  } else if (path == "stderr") {
    o.fd = STDERR_FILENO;
  } else {
    o.fd = open_file(path, error);
    if (o.fd < 0) {
      return -1;
    }
    o.owned = true;
  }
  o.piped = piped(o.fd);
  outputs_.push_back(std::move(o));
  return static_cast<int>(outputs_.size() - 1);
}

std::unique_ptr<LogStream> LogWriter::stream(unsigned output, size_t buffers, size_t buffer_size) {
  auto s = std::make_unique<LogStream>(*this, output, buffers, buffer_size);
  streams_.push_back(s.get());
  return s;
}

void LogWriter::start() {
  if (!thread_.joinable() && !streams_.empty()) {
    thread_ = std::thread([this] { run(); });
  }
}

void LogWriter::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stop_.store(true);
  seq_.fetch_add(1);
  futex_wake(&seq_);
  thread_.join();
}

void LogWriter::reopen() {
  reopen_.store(true);
  seq_.fetch_add(1);
  futex_wake(&seq_);
}

void LogWriter::wake() {
  seq_.fetch_add(1);
  if (waiting_.load() != 0) {
    futex_wake(&seq_);
  }
}

void LogWriter::reopen_files() {
  for (Output& o : outputs_) {
    // Files logrotate moves. A FIFO is not reopened: open(2) would wait for a reader.
    if (!o.owned || o.piped) {
      continue;
    }
    std::string error;
    const int fd = open_file(o.path, error);
    if (fd < 0) {
      // Keep writing to the old file rather than lose lines.
      const std::string line = "ringgate: log reopen: " + error + "; still writing to the old\n";
      bool unused = false;
      write_all(STDERR_FILENO, line.data(), line.size(), piped(STDERR_FILENO), stop_, &unused);
      continue;
    }
    ::close(o.fd);
    o.fd = fd;
    o.piped = piped(fd);
  }
  reopens_.fetch_add(1, std::memory_order_relaxed);
}

void LogWriter::run() {
  for (;;) {
    const uint32_t seen = seq_.load();
    // Read before draining: a stop that comes after this pass's drain gets another pass, so the
    // shards' last buffers (handed over before stop()) are always written.
    const bool stopping = stop_.load();
    if (reopen_.exchange(false)) {
      reopen_files();
    }
    bool any = false;
    for (LogStream* s : streams_) {
      Output& o = outputs_[s->output_];
      any |= s->drain(o.fd, o.piped, &o.stalled);
    }
    if (any) {
      continue;
    }
    if (stopping) {
      return;  // stop() comes after the shards' last flush: everything is written
    }
    waiting_.store(1);
    if (seq_.load() == seen) {
      futex_wait(&seq_, seen, 1000);
    }
    waiting_.store(0);
  }
}

}  // namespace ringgate
