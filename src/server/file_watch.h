#pragma once
// File watching: API-key files and TLS certificates re-read when they change (by a thread of the
// gateway's, never on a shard), each new table or context set published to the shards through an
// atomic pointer.

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "ringgate/config/config.h"

namespace ringgate {

// One API-key set as it is now: the table in use, the ones kept for shards that may still read
// them, and what the file looked like when it was last read.
struct ApiKeySource {
  const ApiKeyConfig* config = nullptr;
  std::atomic<const ApiKeyTable*> current{nullptr};
  std::deque<std::shared_ptr<const ApiKeyTable>> kept;  // newest last; at most 3
  struct timespec mtime {};
  off_t size = 0;
  uint64_t next_ms = 0;
};

}  // namespace ringgate
