#pragma once
// Log lines from the shards reach their files without a syscall per line on a shard (a handed-over
// buffer wakes a sleeping writer with one futex call). Each shard formats
// its lines into buffers of its own (a LogStream) and hands a buffer to the one writer thread
// when it is full, or when its first line has waited long enough (the shard's timer); the
// writer writes each stream's buffers in order and hands them back. When all of a stream's
// buffers are out, a new line is dropped and counted, never waited for: a log storm or a slow
// disk costs lines, not latency. A pipe whose reader stopped never holds the writer past the
// gateway's stop: what it cannot take then is dropped (ringgate_log_write_errors_total).
//
//   shard:  reserve ─► format ─► commit ─┬─ full ──────────► hand over ─► writer: write(2)
//                                        └─ timer (first line) ─┘                │
//           next buffer ◄─────────────────────────── free again ◄────────────────┘

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ringgate {

class LogWriter;

// One shard's lines for one output. Written by its shard only; the writer reads the buffers
// handed over.
class LogStream {
 public:
  LogStream(LogWriter& writer, unsigned output, size_t buffers, size_t buffer_size);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Room for one line of at most `max` bytes (max ≤ the buffer size), or nullptr when every
  // buffer is with the writer (the line is counted as dropped).
  char* reserve(size_t max);
  // The line reserved is `n` bytes long (its '\n' included). True when it is the first line of
  // its buffer: the caller arms its flush timer then.
  bool commit(size_t n);
  // Hands the buffer being filled to the writer, if it has lines.
  void flush();

  uint64_t lines() const { return lines_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  friend class LogWriter;

  struct Buffer {
    std::unique_ptr<char[]> data;
    size_t used = 0;  // bytes of lines (the shard's while free, the writer's when full)
    std::atomic<bool> full{false};  // handed to the writer
  };

  // Called by the writer: writes the stream's handed-over buffers, in order. False when none.
  bool drain(int fd, bool piped, bool* stalled);

  LogWriter& writer_;
  unsigned output_;
  size_t size_;
  std::unique_ptr<Buffer[]> buffers_;
  size_t count_;
  size_t fill_ = 0;   // the shard's: the buffer being filled
  size_t write_ = 0;  // the writer's: the next buffer to write
  std::atomic<uint64_t> lines_{0};
  std::atomic<uint64_t> dropped_{0};
};

// The writer thread and the outputs it writes to.
class LogWriter {
 public:
  friend class LogStream;

  LogWriter() = default;
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // An output: "stdout", "stderr" or a file path (created, appended to). Its index, or -1 with
  // `error` set. Before start().
  int open(const std::string& path, std::string& error);
  // A stream for a shard on output `output`. Before start(); the writer keeps a pointer to it,
  // so it must live until stop().
  std::unique_ptr<LogStream> stream(unsigned output, size_t buffers, size_t buffer_size);
  void start();
  // Writes what was handed over and ends the thread (the shards have stopped writing).
  void stop();
  // Files are opened again by their paths before the next write (logrotate's SIGUSR1).
  void reopen();
  // Write errors (the output is gone, or stalled at the stop): buffers of lines lost that way.
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

  // A stream handed a buffer over.
  void wake();

 private:
  struct Output {
    std::string path;
    int fd = -1;
    bool owned = false;    // a file we opened (not stdout or stderr)
    bool piped = false;    // a pipe, socket or terminal: its reader may stall
    bool stalled = false;  // stopping, it took nothing in time: the rest is dropped
  };

  void run();
  void reopen_files();
  static int open_file(const std::string& path, std::string& error);

  std::vector<Output> outputs_;
  std::vector<LogStream*> streams_;
  std::thread thread_;
  std::atomic<uint32_t> seq_{0};      // bumped by every hand-over (the futex word)
  std::atomic<uint32_t> waiting_{0};  // the writer is (about to be) asleep on seq_
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> reopens_{0};
};

}  // namespace ringgate
