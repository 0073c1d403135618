#pragma once
// Hashing helpers for the shards' own tables (not for anything a client could rely on).

#include <sys/random.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

namespace ringgate {

// A 64-bit finaliser (murmur3's fmix64): every input bit reaches every output bit.
inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

// A 64-bit hash of `key`, 8 bytes at a time through the finaliser `mix`, seeded.
template <typename Mix>
inline uint64_t hash_bytes_with(std::string_view key, uint64_t seed, Mix mix) {
  uint64_t h = mix(seed ^ (key.size() * 0x9e3779b97f4a7c15ull));
  const char* p = key.data();
  size_t n = key.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h ^ v);
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  if (n > 0) {
    std::memcpy(&tail, p, n);
  }
  return mix(h ^ tail ^ (static_cast<uint64_t>(n) << 56));
}

inline uint64_t hash_bytes(std::string_view key, uint64_t seed) {
  return hash_bytes_with(key, seed, mix64);
}

// A random value drawn once per process, to seed table hashes so that clients cannot aim keys at
// one slot.
inline uint64_t process_seed() {
  static const uint64_t seed = [] {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
      v = static_cast<uint64_t>(getpid()) * 0x9e3779b97f4a7c15ull ^
          static_cast<uint64_t>(time(nullptr));
    }
    return v;
  }();
  return seed;
}

}  // namespace ringgate
