#pragma once
// The reason of the first error in this thread's OpenSSL queue, for load-time messages; the
// queue is left empty (SSL_get_error on a shard must not see a stale entry).

#include <openssl/err.h>

#include <string>

namespace ringgate {

inline std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return "unknown OpenSSL error";
  }
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : "OpenSSL error " + std::to_string(e);
}

}  // namespace ringgate
