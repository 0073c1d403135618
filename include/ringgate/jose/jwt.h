#pragma once
// JSON Web Tokens: keys from JWKs, compact JWS verification through OpenSSL EVP, and the claims
// of a verified token.
//
// Every key is pinned to one algorithm (the JWK's `alg`, or the only one its curve allows), and
// a token is verified only by a key of exactly its `alg`: there is no way for an RS256 key to be
// used as an HS256 secret, and `none` does not exist here. Header members that name other keys
// (`jku`, `x5u`, `jwk`, `x5c`) are never looked at; a `crit` header is refused, as no extension
// is understood. Base64url is decoded strictly (no padding, no stray characters, zero unused
// bits).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::jwt {

enum class Alg : uint8_t {
  kHS256,
  kHS384,
  kHS512,
  kRS256,
  kRS384,
  kRS512,
  kPS256,
  kPS384,
  kPS512,
  kES256,
  kES384,
  kES512,
  kEdDSA,  // Ed25519 (RFC 8037)
};
constexpr int kAlgCount = 13;

// "RS256" → kRS256; nullopt for "none" and anything else.
std::optional<Alg> alg_by_name(std::string_view name);
std::string_view alg_name(Alg alg);
constexpr uint32_t alg_bit(Alg alg) {
  return 1u << static_cast<int>(alg);
}

// A verification key. Immutable once built; shared read-only by every shard.
class Key {
 public:
  Key();
  ~Key();
  Key(Key&& other) noexcept;
  Key& operator=(Key&& other) noexcept;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  const std::string& kid() const { return kid_; }
  Alg alg() const { return alg_; }
  // Whether `signature` (raw bytes, as decoded from the token) signs `signing_input` with this
  // key under its algorithm.
  bool verify(std::string_view signing_input, std::string_view signature) const;

 private:
  friend bool parse_jwk(std::string_view json, Key* out, std::string* why);
  struct Pkey;
  std::string kid_;
  Alg alg_ = Alg::kRS256;
  std::string secret_;          // HS*: the shared secret
  std::unique_ptr<Pkey> pkey_;  // everything else: the public key
};

// One JWK (a JSON object) into a verification key; false with `why`. A key whose `use` is not
// "sig" or whose `key_ops` lacks "verify" is refused, and so are RSA keys under 2048 bits, HMAC
// secrets shorter than their hash and RSA or symmetric keys without `alg`. Private members
// (`d`, `p`, ...) are ignored.
bool parse_jwk(std::string_view json, Key* out, std::string* why);

// A JWKS document ({"keys": [...]}). Keys that cannot be used are left out, each with its reason
// in `skipped`; false with `why` when the document itself is not a JWKS.
bool parse_jwks(std::string_view json, std::vector<Key>* keys, std::vector<std::string>* skipped,
                std::string* why);

enum class Error : uint8_t {
  kOk,
  kMalformed,      // not three base64url parts, or the header is not a JSON object
  kAlgNotAllowed,  // `alg` missing, `none`, unknown or not allowed here
  kCrit,           // a `crit` header: an extension this verifier does not understand
  kNoKey,          // no key of this `alg` (and `kid`)
  kBadSignature,
};
std::string_view error_text(Error e);

// The parts of a verified token. Views into the `buf` given to verify() (decoded) or the token.
struct Verified {
  std::string_view header;   // JSON
  std::string_view payload;  // bytes (JSON for a JWT)
  Alg alg = Alg::kRS256;
  const Key* key = nullptr;
};

// Bytes verify() needs in `buf` for a token of `token_size` bytes (decoded parts plus the
// padding the JSON reader needs after each).
size_t verify_buffer_size(size_t token_size);

// Verifies a compact JWS against `keys`: `alg` must be in `allowed` (alg_bit mask); the key is
// the one with the token's `kid` (or, without a kid, any of that alg) and exactly that alg.
Error verify(std::string_view token, const std::vector<Key>& keys, uint32_t allowed, char* buf,
             Verified* out);

// Strict base64url without padding into `out` (room for in.size() * 3 / 4 bytes); the decoded
// size, or -1 on a character outside the alphabet, a length of 4n+1 or non-zero unused bits.
long base64url_decode(std::string_view in, char* out);

}  // namespace ringgate::jwt
