#pragma once
// Choosing an endpoint of a cluster. A balancer instance belongs to one shard (its counters and
// round-robin position are that shard's), while hash tables (ring, Maglev) are built once per
// cluster and shared read-only. Every policy skips endpoints that are unavailable (unhealthy,
// ejected) and, for a retry, those already tried — as long as another candidate exists.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ringgate {

enum class BalancePolicy : uint8_t {
  kRoundRobin,    // smooth weighted round robin
  kLeastRequest,  // fewest in-flight requests per unit of weight
  kP2C,           // power of two choices: the less loaded of two random picks
  kRingHash,      // consistent hashing on a ring of virtual nodes (ketama style)
  kMaglev,        // Maglev lookup table: O(1) lookup, minimal disruption
};

// What a balancer needs to know about one endpoint at pick time.
struct EndpointView {
  uint32_t weight = 1;     // ≥ 1
  uint32_t in_flight = 0;  // this shard's in-flight requests to the endpoint
  bool available = true;   // healthy and not ejected
};

// A cluster's shared hash table (ring or Maglev), built from endpoint names and weights.
class HashTable {
 public:
  virtual ~HashTable() = default;
  // Endpoint for `hash`, or the next distinct endpoints in table order as `attempt` grows
  // (attempt 0 = the owner of the key). Returns -1 past the last distinct endpoint.
  virtual int lookup(uint64_t hash, uint32_t attempt) const = 0;
};

std::unique_ptr<HashTable> build_ring_hash(const std::vector<std::string>& names,
                                           const std::vector<uint32_t>& weights,
                                           uint32_t points_per_weight = 100);
// `table_size` must be prime and much larger than the endpoint count (65537 by default).
std::unique_ptr<HashTable> build_maglev(const std::vector<std::string>& names,
                                        const std::vector<uint32_t>& weights,
                                        uint32_t table_size = 65537);

// 64-bit hash for keys (header values, cookies, client addresses) and endpoint names.
uint64_t hash_key(std::string_view key, uint64_t seed = 0);

class Balancer {
 public:
  // `table` is needed (and only used) for the hash policies; it must outlive the balancer.
  Balancer(BalancePolicy policy, size_t endpoints, const HashTable* table, uint64_t seed);

  // Index of the endpoint to use, or -1 if none is available. `tried` lists endpoints already
  // used by this request; they are picked again only when nothing else is available.
  int pick(std::span<const EndpointView> endpoints, uint64_t key_hash,
           std::span<const uint16_t> tried = {});

 private:
  int pick_round_robin(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
                       bool allow_tried);
  int pick_least_request(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
                         bool allow_tried);
  int pick_p2c(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
               bool allow_tried);
  int pick_hash(std::span<const EndpointView> eps, uint64_t key_hash,
                std::span<const uint16_t> tried, bool allow_tried);
  uint64_t next_random();

  BalancePolicy policy_;
  const HashTable* table_;
  std::vector<int64_t> current_weight_;  // smooth weighted round robin state
  uint64_t rng_;
  uint32_t cursor_ = 0;  // tie-break rotation for least request
};

}  // namespace ringgate
