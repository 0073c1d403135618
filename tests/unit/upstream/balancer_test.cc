#include "ringgate/upstream/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace ringgate {
namespace {

std::vector<EndpointView> views(std::vector<uint32_t> weights) {
  std::vector<EndpointView> v;
  for (uint32_t w : weights) {
    v.push_back(EndpointView{w, 0, true});
  }
  return v;
}

TEST(RoundRobin, SmoothWeightedSequence) {
  auto eps = views({5, 1, 1});
  Balancer b(BalancePolicy::kRoundRobin, eps.size(), nullptr, 1);
  std::string seq;
  for (int i = 0; i < 7; ++i) {
    seq += static_cast<char>('a' + b.pick(eps, 0));
  }
  // nginx's smooth weighted round robin: the heavy endpoint is interleaved, not bunched.
  EXPECT_EQ(seq, "aabacaa");
}

TEST(RoundRobin, SkipsUnavailableAndReturnsMinusOneWhenNoneLeft) {
  auto eps = views({1, 1, 1});
  eps[1].available = false;
  Balancer b(BalancePolicy::kRoundRobin, eps.size(), nullptr, 1);
  std::map<int, int> count;
  for (int i = 0; i < 100; ++i) {
    ++count[b.pick(eps, 0)];
  }
  EXPECT_EQ(count[0], 50);
  EXPECT_EQ(count[2], 50);
  EXPECT_EQ(count.count(1), 0u);
  for (auto& e : eps) {
    e.available = false;
  }
  EXPECT_EQ(b.pick(eps, 0), -1);
}

TEST(EveryPolicy, RetryAvoidsTriedEndpointsWhileAnotherExists) {
  for (BalancePolicy p : {BalancePolicy::kRoundRobin, BalancePolicy::kLeastRequest,
                          BalancePolicy::kP2C, BalancePolicy::kRingHash, BalancePolicy::kMaglev}) {
    auto eps = views({1, 1, 1});
    std::vector<std::string> names = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"};
    auto table = p == BalancePolicy::kRingHash ? build_ring_hash(names, {1, 1, 1})
                                               : build_maglev(names, {1, 1, 1}, 257);
    Balancer b(p, eps.size(), table.get(), 7);
    for (uint64_t key = 0; key < 50; ++key) {
      const uint64_t h = hash_key(std::to_string(key));
      int first = b.pick(eps, h);
      ASSERT_GE(first, 0);
      uint16_t tried1[] = {static_cast<uint16_t>(first)};
      int second = b.pick(eps, h, tried1);
      ASSERT_GE(second, 0);
      EXPECT_NE(second, first) << static_cast<int>(p);
      uint16_t tried2[] = {static_cast<uint16_t>(first), static_cast<uint16_t>(second)};
      int third = b.pick(eps, h, tried2);
      EXPECT_NE(third, first);
      EXPECT_NE(third, second);
      // Everything tried: a tried endpoint is better than failing the request.
      uint16_t all[] = {0, 1, 2};
      EXPECT_GE(b.pick(eps, h, all), 0);
    }
  }
}

TEST(LeastRequest, PrefersFewestInFlightPerWeight) {
  auto eps = views({1, 2, 1});
  eps[0].in_flight = 3;
  eps[1].in_flight = 4;  // 2 per unit of weight
  eps[2].in_flight = 5;
  Balancer b(BalancePolicy::kLeastRequest, eps.size(), nullptr, 1);
  EXPECT_EQ(b.pick(eps, 0), 1);
  eps[1].in_flight = 8;  // 4 per unit
  EXPECT_EQ(b.pick(eps, 0), 0);
}

TEST(LeastRequest, TiesAreSpread) {
  auto eps = views({1, 1, 1, 1});
  Balancer b(BalancePolicy::kLeastRequest, eps.size(), nullptr, 1);
  std::map<int, int> count;
  for (int i = 0; i < 400; ++i) {
    ++count[b.pick(eps, 0)];
  }
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(count[e], 100) << e;
  }
}

TEST(P2C, NeverPicksTheBusiestWhileTwoOrMoreOthersExist) {
  auto eps = views({1, 1, 1, 1});
  eps[2].in_flight = 1000;
  Balancer b(BalancePolicy::kP2C, eps.size(), nullptr, 42);
  std::map<int, int> count;
  for (int i = 0; i < 3000; ++i) {
    ++count[b.pick(eps, 0)];
  }
  // The busiest wins a comparison only against itself, which two distinct choices rule out.
  EXPECT_EQ(count[2], 0);
  for (int e : {0, 1, 3}) {
    EXPECT_GT(count[e], 600) << e;
  }
}

class HashTables : public ::testing::TestWithParam<BalancePolicy> {
 protected:
  std::unique_ptr<HashTable> build(const std::vector<std::string>& names,
                                   const std::vector<uint32_t>& weights) {
    return GetParam() == BalancePolicy::kRingHash ? build_ring_hash(names, weights)
                                                  : build_maglev(names, weights);
  }
};

TEST_P(HashTables, SameKeySameEndpointAndEvenSpread) {
  std::vector<std::string> names = {"a:1", "b:1", "c:1", "d:1"};
  auto table = build(names, {1, 1, 1, 1});
  auto eps = views({1, 1, 1, 1});
  Balancer b(GetParam(), eps.size(), table.get(), 1);
  std::map<int, int> count;
  for (int k = 0; k < 20000; ++k) {
    const uint64_t h = hash_key("user-" + std::to_string(k));
    const int e = b.pick(eps, h);
    ASSERT_EQ(e, b.pick(eps, h));
    ++count[e];
  }
  for (int e = 0; e < 4; ++e) {
    EXPECT_NEAR(count[e], 5000, 1000) << e;
  }
}

TEST_P(HashTables, WeightsShiftTheShare) {
  auto table = build({"a:1", "b:1"}, {3, 1});
  auto eps = views({3, 1});
  Balancer b(GetParam(), eps.size(), table.get(), 1);
  int a = 0;
  for (int k = 0; k < 20000; ++k) {
    a += b.pick(eps, hash_key(std::to_string(k))) == 0;
  }
  EXPECT_NEAR(a / 20000.0, 0.75, 0.06);
}

TEST_P(HashTables, AnUnavailableEndpointMovesOnlyItsOwnKeys) {
  std::vector<std::string> names = {"a:1", "b:1", "c:1", "d:1", "e:1"};
  auto table = build(names, {1, 1, 1, 1, 1});
  auto eps = views({1, 1, 1, 1, 1});
  Balancer b(GetParam(), eps.size(), table.get(), 1);
  std::vector<int> before;
  for (int k = 0; k < 5000; ++k) {
    before.push_back(b.pick(eps, hash_key(std::to_string(k))));
  }
  eps[3].available = false;
  for (int k = 0; k < 5000; ++k) {
    const int now = b.pick(eps, hash_key(std::to_string(k)));
    EXPECT_NE(now, 3);
    if (before[static_cast<size_t>(k)] != 3) {
      EXPECT_EQ(now, before[static_cast<size_t>(k)]) << k;
    }
  }
}

TEST(Maglev, RebuildWithoutAnEndpointDisruptsLittle) {
  std::vector<std::string> names = {"a:1", "b:1", "c:1", "d:1", "e:1", "f:1"};
  auto full = build_maglev(names, std::vector<uint32_t>(6, 1));
  std::vector<std::string> fewer = {"a:1", "b:1", "c:1", "d:1", "e:1"};
  auto reduced = build_maglev(fewer, std::vector<uint32_t>(5, 1));
  int moved = 0;
  int kept_owner_f = 0;
  for (int k = 0; k < 20000; ++k) {
    const uint64_t h = hash_key(std::to_string(k));
    const int a = full->lookup(h, 0);
    const int b = reduced->lookup(h, 0);
    if (a == 5) {
      ++kept_owner_f;
    } else if (a != b) {
      ++moved;
    }
  }
  // Keys of the removed endpoint must move; others should mostly stay (Maglev: a few percent).
  EXPECT_GT(kept_owner_f, 0);
  EXPECT_LT(moved, 20000 * 6 / 100);
}

INSTANTIATE_TEST_SUITE_P(Policies, HashTables,
                         ::testing::Values(BalancePolicy::kRingHash, BalancePolicy::kMaglev),
                         [](const ::testing::TestParamInfo<BalancePolicy>& p) {
                           return p.param == BalancePolicy::kRingHash ? std::string("Ring")
                                                                      : std::string("Maglev");
                         });

TEST(HashKey, StableAndSeeded) {
  EXPECT_EQ(hash_key("abc"), hash_key("abc"));
  EXPECT_NE(hash_key("abc"), hash_key("abd"));
  EXPECT_NE(hash_key("abc", 1), hash_key("abc", 2));
  EXPECT_NE(hash_key(""), hash_key(std::string_view("\0", 1)));
}

}  // namespace
}  // namespace ringgate
