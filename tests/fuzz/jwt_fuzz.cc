// libFuzzer target for the JWT code: compact JWS verification against fixed keys, and JWK and
// JWKS parsing, on arbitrary bytes. The input sits in an exact-size heap block and verify()'s
// buffer is exactly verify_buffer_size(), so AddressSanitizer catches any read or write past
// either.
//
// Input: byte 0 selects the mode (even: a token to verify; odd: a JWK or JWKS); the rest is
// the text. Invariants: a verified token's header and payload lie inside the buffer and its
// key has the token's algorithm.

#define FUZZ_TARGET "fuzz_jwt"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/jose/jwt.h"

namespace {

namespace jwt = ringgate::jwt;

const std::vector<jwt::Key>& keys() {
  static const std::vector<jwt::Key>* k = [] {
    auto* v = new std::vector<jwt::Key>();
    const char* jwks[] = {
        R"({"kty":"oct","alg":"HS256","kid":"h","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})",
        R"({"kty":"OKP","crv":"Ed25519","kid":"e","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
        R"({"kty":"EC","crv":"P-256","kid":"p","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"})",
    };
    for (const char* j : jwks) {
      jwt::Key key;
      std::string why;
      if (!jwt::parse_jwk(j, &key, &why)) {
        std::fprintf(stderr, "fuzz_jwt: fixed key refused: %s\n", why.c_str());
        std::abort();
      }
      v->push_back(std::move(key));
    }
    return v;
  }();
  return *k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const bool key_mode = data[0] & 1;
  const size_t n = size - 1;
  auto text = std::make_unique<char[]>(n ? n : 1);
  if (n) {
    std::memcpy(text.get(), data + 1, n);
  }
  const std::string_view in(text.get(), n);
  if (key_mode) {
    jwt::Key key;
    std::string why;
    if (jwt::parse_jwk(in, &key, &why)) {
      FUZZ_CHECK(why.empty());
    }
    std::vector<jwt::Key> list;
    std::vector<std::string> skipped;
    jwt::parse_jwks(in, &list, &skipped, &why);
    return 0;
  }
  const size_t cap = jwt::verify_buffer_size(n);
  auto buf = std::make_unique<char[]>(cap);
  jwt::Verified v;
  const jwt::Error e = jwt::verify(in, keys(), 0xffffffffu, buf.get(), &v);
  if (e == jwt::Error::kOk) {
    FUZZ_CHECK(v.key != nullptr && v.key->alg() == v.alg);
    FUZZ_CHECK(v.header.data() >= buf.get() &&
               v.header.data() + v.header.size() <= buf.get() + cap);
    FUZZ_CHECK(v.payload.data() >= buf.get() &&
               v.payload.data() + v.payload.size() <= buf.get() + cap);
  }
  return 0;
}
