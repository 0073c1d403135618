#include "ringgate/upstream/balancer.h"

#include <algorithm>
#include <cstring>

#include "ringgate/core/hash.h"

namespace ringgate {

namespace {

uint64_t splitmix_finalise(uint64_t z) {
  // splitmix64's finaliser: full avalanche in three multiplies/shifts.
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool contains(std::span<const uint16_t> tried, size_t i) {
  return std::find(tried.begin(), tried.end(), static_cast<uint16_t>(i)) != tried.end();
}

bool candidate(std::span<const EndpointView> eps, std::span<const uint16_t> tried, bool allow_tried,
               size_t i) {
  return eps[i].available && (allow_tried || !contains(tried, i));
}

// Ring of virtual nodes: each endpoint owns points_per_weight × weight points; a key belongs to
// the first point clockwise from its hash.
class RingHash final : public HashTable {
 public:
  RingHash(const std::vector<std::string>& names, const std::vector<uint32_t>& weights,
           uint32_t points_per_weight)
      : endpoints_(names.size()) {
    for (size_t i = 0; i < names.size(); ++i) {
      const uint32_t n = points_per_weight * std::max<uint32_t>(1, weights[i]);
      for (uint32_t r = 0; r < n; ++r) {
        points_.push_back({hash_key(names[i] + "#" + std::to_string(r)), static_cast<uint32_t>(i)});
      }
    }
    std::sort(points_.begin(), points_.end(),
              [](const Point& a, const Point& b) { return a.hash < b.hash; });
  }

  int lookup(uint64_t hash, uint32_t attempt) const override {
    if (points_.empty() || attempt >= endpoints_) {
      return -1;
    }
    auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                               [](const Point& p, uint64_t h) { return p.hash < h; });
    size_t pos = static_cast<size_t>(it - points_.begin()) % points_.size();
    // Walk clockwise to the attempt-th distinct endpoint.
    std::vector<bool> seen(endpoints_, false);
    uint32_t distinct = 0;
    for (size_t step = 0; step < points_.size(); ++step) {
      const uint32_t e = points_[(pos + step) % points_.size()].endpoint;
      if (seen[e]) {
        continue;
      }
      seen[e] = true;
      if (distinct++ == attempt) {
        return static_cast<int>(e);
      }
    }
    return -1;
  }

 private:
  struct Point {
    uint64_t hash;
    uint32_t endpoint;
  };
  size_t endpoints_;
  std::vector<Point> points_;
};

// Maglev (Eisenbud et al., NSDI 2016): every endpoint fills the table following its own
// permutation, taking turns in proportion to its weight.
class Maglev final : public HashTable {
 public:
  Maglev(const std::vector<std::string>& names, const std::vector<uint32_t>& weights, uint32_t size)
      : endpoints_(names.size()), table_(size, -1) {
    const size_t n = names.size();
    if (n == 0) {
      return;
    }
    std::vector<uint64_t> offset(n);
    std::vector<uint64_t> skip(n);
    std::vector<uint64_t> next(n, 0);
    std::vector<uint64_t> credit(n, 0);
    uint32_t max_weight = 1;
    for (size_t i = 0; i < n; ++i) {
      offset[i] = hash_key(names[i], 0x6d61676c) % size;
      skip[i] = hash_key(names[i], 0x736b6970) % (size - 1) + 1;
      max_weight = std::max(max_weight, std::max<uint32_t>(1, weights[i]));
    }
    uint32_t filled = 0;
    while (filled < size) {
      for (size_t i = 0; i < n && filled < size; ++i) {
        credit[i] += std::max<uint32_t>(1, weights[i]);
        if (credit[i] < max_weight) {
          continue;
        }
        credit[i] -= max_weight;
        uint64_t slot;
        do {
          slot = (offset[i] + next[i] * skip[i]) % size;
          ++next[i];
        } while (table_[slot] >= 0);
        table_[slot] = static_cast<int32_t>(i);
        ++filled;
      }
    }
  }

  int lookup(uint64_t hash, uint32_t attempt) const override {
    if (endpoints_ == 0 || attempt >= endpoints_) {
      return -1;
    }
    const size_t size = table_.size();
    const size_t pos = hash % size;
    if (attempt == 0) {
      return table_[pos];
    }
    // Fallbacks: the next distinct endpoints in table order, stable for a given key.
    std::vector<bool> seen(endpoints_, false);
    uint32_t distinct = 0;
    for (size_t step = 0; step < size; ++step) {
      const int32_t e = table_[(pos + step) % size];
      if (seen[static_cast<size_t>(e)]) {
        continue;
      }
      seen[static_cast<size_t>(e)] = true;
      if (distinct++ == attempt) {
        return e;
      }
    }
    return -1;
  }

 private:
  size_t endpoints_;
  std::vector<int32_t> table_;
};

}  // namespace

uint64_t hash_key(std::string_view key, uint64_t seed) {
  return hash_bytes_with(key, seed, splitmix_finalise);
}

std::unique_ptr<HashTable> build_ring_hash(const std::vector<std::string>& names,
                                           const std::vector<uint32_t>& weights,
                                           uint32_t points_per_weight) {
  return std::make_unique<RingHash>(names, weights, points_per_weight);
}

std::unique_ptr<HashTable> build_maglev(const std::vector<std::string>& names,
                                        const std::vector<uint32_t>& weights, uint32_t table_size) {
  return std::make_unique<Maglev>(names, weights, table_size);
}

Balancer::Balancer(BalancePolicy policy, size_t endpoints, const HashTable* table, uint64_t seed)
    : policy_(policy),
      table_(table),
      current_weight_(endpoints, 0),
      rng_(splitmix_finalise(seed) | 1) {}

uint64_t Balancer::next_random() {
  // xorshift64*: per-shard, no shared state.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dull;
}

int Balancer::pick(std::span<const EndpointView> endpoints, uint64_t key_hash,
                   std::span<const uint16_t> tried) {
  // First without the endpoints this request already tried; if that leaves nothing, allow them.
  for (bool allow_tried : {false, true}) {
    int chosen = -1;
    switch (policy_) {
      case BalancePolicy::kRoundRobin:
        chosen = pick_round_robin(endpoints, tried, allow_tried);
        break;
      case BalancePolicy::kLeastRequest:
        chosen = pick_least_request(endpoints, tried, allow_tried);
        break;
      case BalancePolicy::kP2C:
        chosen = pick_p2c(endpoints, tried, allow_tried);
        break;
      case BalancePolicy::kRingHash:
      case BalancePolicy::kMaglev:
        chosen = pick_hash(endpoints, key_hash, tried, allow_tried);
        break;
    }
    if (chosen >= 0 || tried.empty()) {
      return chosen;
    }
  }
  return -1;
}

int Balancer::pick_round_robin(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
                               bool allow_tried) {
  // Smooth weighted round robin: every candidate gains its weight, the richest is chosen and pays
  // the total. Weights 5,1,1 give a a b a c a a, not a a a a a b c.
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < eps.size(); ++i) {
    if (!candidate(eps, tried, allow_tried, i)) {
      continue;
    }
    current_weight_[i] += eps[i].weight;
    total += eps[i].weight;
    if (best < 0 || current_weight_[i] > current_weight_[static_cast<size_t>(best)]) {
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) {
    current_weight_[static_cast<size_t>(best)] -= total;
  }
  return best;
}

int Balancer::pick_least_request(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
                                 bool allow_tried) {
  const size_t n = eps.size();
  int best = -1;
  // Rotate the starting point so equally loaded endpoints share the work.
  const size_t start = n ? cursor_++ % n : 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (!candidate(eps, tried, allow_tried, i)) {
      continue;
    }
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const EndpointView& b = eps[static_cast<size_t>(best)];
    // in_flight / weight, compared without division.
    if (uint64_t{eps[i].in_flight} * b.weight < uint64_t{b.in_flight} * eps[i].weight) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

int Balancer::pick_p2c(std::span<const EndpointView> eps, std::span<const uint16_t> tried,
                       bool allow_tried) {
  uint16_t cands[256];
  size_t count = 0;
  for (size_t i = 0; i < eps.size() && count < 256; ++i) {
    if (candidate(eps, tried, allow_tried, i)) {
      cands[count++] = static_cast<uint16_t>(i);
    }
  }
  if (count == 0) {
    return -1;
  }
  if (count == 1) {
    return cands[0];
  }
  const size_t a = next_random() % count;
  size_t b = next_random() % (count - 1);
  if (b >= a) {
    ++b;  // two distinct choices
  }
  const EndpointView& x = eps[cands[a]];
  const EndpointView& y = eps[cands[b]];
  return uint64_t{y.in_flight} * x.weight < uint64_t{x.in_flight} * y.weight ? cands[b] : cands[a];
}

int Balancer::pick_hash(std::span<const EndpointView> eps, uint64_t key_hash,
                        std::span<const uint16_t> tried, bool allow_tried) {
  if (!table_) {
    return pick_round_robin(eps, tried, allow_tried);
  }
  for (uint32_t attempt = 0; attempt < eps.size(); ++attempt) {
    const int e = table_->lookup(key_hash, attempt);
    if (e < 0) {
      break;
    }
    if (candidate(eps, tried, allow_tried, static_cast<size_t>(e))) {
      return e;
    }
  }
  return -1;
}

}  // namespace ringgate
