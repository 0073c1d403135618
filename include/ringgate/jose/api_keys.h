#pragma once
// API keys: a file of SHA-256 digests of the keys, each with its consumer's name, so the file
// never holds a usable key. Lookup hashes the presented key and binary-searches the digests.
//
// File format, one key per line (blank lines and `#` comments ignored):
//   <64 hex digits: SHA-256 of the key> <consumer name>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate {

class ApiKeyTable {
 public:
  // False with `why` ("line N: ...") on a malformed line or a digest given twice.
  static bool parse(std::string_view text, ApiKeyTable* out, std::string* why);

  // The consumer whose key is `key`, or nullptr.
  const std::string* find(std::string_view key) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    std::string consumer;
  };
  std::vector<Entry> entries_;  // sorted by digest
};

}  // namespace ringgate
