#pragma once
// Cache-Control of an aggregated response under `cache_control: most_restrictive`: what the
// responses it was built from allow together. Each part's Cache-Control is added in turn, then
// the result is written as one header line. No allocation: directives are read in place.
//
// The rule, per directive (names case-insensitive, RFC 9111 §5.2.2):
//   no-store                    any part has it: the response is "no-store" and nothing else
//   private, no-cache,          any part has it (the qualified forms `private="..."` and
//   no-transform,               `no-cache="..."` count as the unqualified ones): it is kept
//   must-revalidate, proxy-revalidate
//   public                      every part has it and none is private: kept
//   max-age=N                   every part states one: the smallest N
//   s-maxage=N                  every part states a shared lifetime (s-maxage, else max-age):
//                               the smallest, written when below the max-age written
//   anything else               dropped: a permission one part gives (stale-while-revalidate,
//                               immutable, ...) is not the other parts' to give
// A part without Cache-Control states no lifetime: the response gets no max-age (nor
// s-maxage), and the other directives still apply. No parts, or nothing kept: no header.

#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate::aggregate {

class CacheControlMerge {
 public:
  // One part: its Cache-Control value (all its Cache-Control fields joined with ", "), or
  // `present` false when it sent none.
  void add(bool present, std::string_view value);
  // Appends "Cache-Control: ...\r\n", or nothing when no directive is left.
  void write(std::string& out) const;

 private:
  // RFC 9111 §1.2.2: a lifetime too large to represent counts as 2^31 seconds.
  static constexpr int64_t kMaxSeconds = 2147483648;

  uint32_t parts_ = 0;
  bool no_store_ = false;
  bool private_ = false;
  bool no_cache_ = false;
  bool no_transform_ = false;
  bool must_revalidate_ = false;
  bool proxy_revalidate_ = false;
  bool all_public_ = true;
  bool all_max_age_ = true;
  bool all_shared_ = true;
  int64_t max_age_ = kMaxSeconds;
  int64_t shared_age_ = kMaxSeconds;
};

}  // namespace ringgate::aggregate
