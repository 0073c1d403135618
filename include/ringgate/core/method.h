#pragma once
// HTTP methods as llhttp numbers them, so the router can test a method with one bit. In core:
// config, router and http all name methods, and none of them may depend on another for it.

#include <cstdint>
#include <string_view>

namespace ringgate {

constexpr int kMaxMethods = 64;

// llhttp method number for an upper-case name, or -1 if unknown.
int method_from_name(std::string_view name);
// Name for an llhttp method number ("GET"); "" if out of range.
std::string_view method_name(int method);

inline uint64_t method_bit(int method) {
  return uint64_t{1} << static_cast<unsigned>(method);
}

}  // namespace ringgate
