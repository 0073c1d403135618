#pragma once
// SHA-256 of a string as lower-case hex: how API-key files store a key's digest.

#include <openssl/sha.h>

#include <string>

namespace ringgate::it {

inline std::string sha256_hex(const std::string& s) {
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace ringgate::it
