#include "ringgate/jose/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <cstring>

namespace ringgate::jwt {

namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kAlgNames[kAlgCount] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                                   "RS512", "PS256", "PS384", "PS512", "ES256",
                                                   "ES384", "ES512", "EdDSA"};

bool is_hmac(Alg a) {
  return a <= Alg::kHS512;
}
bool is_rsa(Alg a) {
  return a >= Alg::kRS256 && a <= Alg::kPS512;
}
bool is_pss(Alg a) {
  return a >= Alg::kPS256 && a <= Alg::kPS512;
}
bool is_ec(Alg a) {
  return a >= Alg::kES256 && a <= Alg::kES512;
}

const EVP_MD* digest_of(Alg a) {
  switch (a) {
    case Alg::kHS256:
    case Alg::kRS256:
    case Alg::kPS256:
    case Alg::kES256:
      return EVP_sha256();
    case Alg::kHS384:
    case Alg::kRS384:
    case Alg::kPS384:
    case Alg::kES384:
      return EVP_sha384();
    case Alg::kHS512:
    case Alg::kRS512:
    case Alg::kPS512:
    case Alg::kES512:
      return EVP_sha512();
    case Alg::kEdDSA:
      return nullptr;  // Ed25519 hashes internally
  }
  return nullptr;
}

// Bytes of one coordinate (and of r and of s) for the ES algorithms.
size_t ec_field_bytes(Alg a) {
  return a == Alg::kES256 ? 32 : a == Alg::kES384 ? 48 : 66;
}

int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '-') {
    return 62;
  }
  if (c == '_') {
    return 63;
  }
  return -1;
}

// A base64url member of a JWK, decoded.
bool b64_member(std::string_view text, std::string* out) {
  out->resize(text.size() * 3 / 4 + 3);
  const long n = base64url_decode(text, out->data());
  if (n < 0) {
    return false;
  }
  out->resize(static_cast<size_t>(n));
  return true;
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// A public key of `type` ("RSA", "EC") from the parameters in `bld` (freed here); null when
// OpenSSL refuses them.
EVP_PKEY* public_key_from(const char* type, OSSL_PARAM_BLD* bld) {
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

Bn bn_from(const std::string& bytes) {
  return Bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()), nullptr));
}

// The JWK's members we read; everything else (private parts included) is ignored.
struct JwkFields {
  std::string kty, alg, kid, use, crv, n, e, x, y, k;
  bool has_key_ops = false;
  bool key_ops_verify = false;
  bool has_use = false;
};

bool read_jwk(od::object obj, JwkFields* f, std::string* why) {
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      *why = "a member name is not valid JSON";
      return false;
    }
    auto v = field.value();
    std::string* target = key == "kty"   ? &f->kty
                          : key == "alg" ? &f->alg
                          : key == "kid" ? &f->kid
                          : key == "use" ? &f->use
                          : key == "crv" ? &f->crv
                          : key == "n"   ? &f->n
                          : key == "e"   ? &f->e
                          : key == "x"   ? &f->x
                          : key == "y"   ? &f->y
                          : key == "k"   ? &f->k
                                         : nullptr;
    if (target) {
      std::string_view s;
      if (v.get_string().get(s)) {
        *why = "member " + std::string(key) + " is not a string";
        return false;
      }
      target->assign(s);
      f->has_use = f->has_use || key == "use";
      continue;
    }
    if (key == "key_ops") {
      f->has_key_ops = true;
      od::array ops;
      if (v.get_array().get(ops)) {
        *why = "key_ops is not an array";
        return false;
      }
      for (auto op : ops) {
        std::string_view s;
        if (op.get_string().get(s)) {
          *why = "key_ops holds a non-string";
          return false;
        }
        f->key_ops_verify = f->key_ops_verify || s == "verify";
      }
    }
    // Other members are skipped by the iteration itself.
  }
  return true;
}

}  // namespace

std::optional<Alg> alg_by_name(std::string_view name) {
  for (int i = 0; i < kAlgCount; ++i) {
    if (kAlgNames[i] == name) {
      return static_cast<Alg>(i);
    }
  }
  return std::nullopt;
}

std::string_view alg_name(Alg alg) {
  return kAlgNames[static_cast<int>(alg)];
}

long base64url_decode(std::string_view in, char* out) {
  if (in.size() % 4 == 1) {
    return -1;
  }
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (const char ch : in) {
    const int v = b64_value(static_cast<unsigned char>(ch));
    if (v < 0) {
      return -1;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // The bits left over (2 or 4) must be zero: otherwise two encodings decode alike.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return -1;
  }
  return static_cast<long>(o);
}

struct Key::Pkey {
  EVP_PKEY* pkey = nullptr;
  ~Pkey() { EVP_PKEY_free(pkey); }
};

Key::Key() = default;
Key::~Key() = default;
Key::Key(Key&& other) noexcept = default;
Key& Key::operator=(Key&& other) noexcept = default;

bool Key::verify(std::string_view signing_input, std::string_view signature) const {
  const auto* msg = reinterpret_cast<const unsigned char*>(signing_input.data());
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  if (is_hmac(alg_)) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(digest_of(alg_), secret_.data(), static_cast<int>(secret_.size()), msg,
              signing_input.size(), mac, &mac_len)) {
      return false;
    }
    return signature.size() == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
  }
  if (!pkey_ || !pkey_->pkey) {
    return false;
  }
  // ES*: JWS carries r and s as fixed-size big-endian halves; EVP wants DER.
  unsigned char der[160];
  size_t der_len = 0;
  if (is_ec(alg_)) {
    const size_t half = ec_field_bytes(alg_);
    if (signature.size() != 2 * half) {
      return false;
    }
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(sig, static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(sig + half, static_cast<int>(half), nullptr);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(es);
      return false;
    }
    unsigned char* p = der;
    const int n = i2d_ECDSA_SIG(es, nullptr);
    if (n <= 0 || static_cast<size_t>(n) > sizeof der) {
      ECDSA_SIG_free(es);
      return false;
    }
    der_len = static_cast<size_t>(i2d_ECDSA_SIG(es, &p));
    ECDSA_SIG_free(es);
    sig = der;
    signature = std::string_view(reinterpret_cast<const char*>(der), der_len);
  } else if (is_rsa(alg_) &&
             signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_->pkey))) {
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) {
    return false;
  }
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, digest_of(alg_), nullptr, pkey_->pkey) == 1;
  if (ok && is_pss(alg_)) {
    // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest_of(alg_)) == 1;
  } else if (ok && is_rsa(alg_)) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, sig, signature.size(), msg, signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

namespace {

// The public key of an RSA JWK (`alg` must be RS* or PS*); nullptr with `why` otherwise.
EVP_PKEY* rsa_public_key(const JwkFields& f, const std::optional<Alg>& alg, std::string* why) {
  if (!alg || !is_rsa(*alg)) {
    *why = "an RSA key needs alg RS256, RS384, RS512, PS256, PS384 or PS512";
    return nullptr;
  }
  std::string n;
  std::string e;
  if (!b64_member(f.n, &n) || !b64_member(f.e, &e) || n.empty() || e.empty()) {
    *why = "n or e is missing or not base64url";
    return nullptr;
  }
  Bn bn_n = bn_from(n);
  Bn bn_e = bn_from(e);
  if (BN_num_bits(bn_n.get()) < 2048) {
    *why = "the RSA modulus has fewer than 2048 bits";
    return nullptr;
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get());
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  return public_key_from("RSA", bld);
}

// The public key of an EC JWK; `alg` becomes its curve's (a different one given is refused).
EVP_PKEY* ec_public_key(const JwkFields& f, std::optional<Alg>& alg, std::string* why) {
  const Alg by_curve = f.crv == "P-256"   ? Alg::kES256
                       : f.crv == "P-384" ? Alg::kES384
                       : f.crv == "P-521" ? Alg::kES512
                                          : Alg::kEdDSA;
  if (by_curve == Alg::kEdDSA) {
    *why = "curve \"" + f.crv + "\" is not supported (P-256, P-384, P-521)";
    return nullptr;
  }
  if (alg && *alg != by_curve) {
    *why = "alg " + f.alg + " does not go with curve " + f.crv;
    return nullptr;
  }
  alg = by_curve;
  std::string x;
  std::string y;
  const size_t size = ec_field_bytes(by_curve);
  if (!b64_member(f.x, &x) || !b64_member(f.y, &y) || x.size() != size || y.size() != size) {
    *why = "x or y is missing, not base64url or not " + std::to_string(size) + " bytes";
    return nullptr;
  }
  const std::string point = '\x04' + x + y;
  const char* group = by_curve == Alg::kES256   ? "prime256v1"
                      : by_curve == Alg::kES384 ? "secp384r1"
                                                : "secp521r1";
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  EVP_PKEY* pkey = public_key_from("EC", bld);
  if (pkey) {
    // fromdata does not check that the point is on the curve; a public-key check does.
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new(pkey, nullptr);
    if (!check || EVP_PKEY_public_check(check) != 1) {
      EVP_PKEY_free(pkey);
      pkey = nullptr;
    }
    EVP_PKEY_CTX_free(check);
  }
  return pkey;
}

// The public key of an Ed25519 (OKP) JWK; `alg` becomes EdDSA.
EVP_PKEY* okp_public_key(const JwkFields& f, std::optional<Alg>& alg, std::string* why) {
  if (f.crv != "Ed25519") {
    *why = "OKP curve \"" + f.crv + "\" is not supported (Ed25519)";
    return nullptr;
  }
  if (alg && *alg != Alg::kEdDSA) {
    *why = "alg " + f.alg + " does not go with an Ed25519 key";
    return nullptr;
  }
  alg = Alg::kEdDSA;
  std::string x;
  if (!b64_member(f.x, &x) || x.size() != 32) {
    *why = "x is missing, not base64url or not 32 bytes";
    return nullptr;
  }
  return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                     reinterpret_cast<const unsigned char*>(x.data()), x.size());
}

}  // namespace

bool parse_jwk(std::string_view json, Key* out, std::string* why) {
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) {
    *why = "not a JSON object";
    return false;
  }
  JwkFields f;
  if (!read_jwk(obj, &f, why)) {
    return false;
  }
  if (f.has_use && f.use != "sig") {
    *why = "use is \"" + f.use + "\", not \"sig\"";
    return false;
  }
  if (f.has_key_ops && !f.key_ops_verify) {
    *why = "key_ops does not include \"verify\"";
    return false;
  }
  std::optional<Alg> alg;
  if (!f.alg.empty()) {
    alg = alg_by_name(f.alg);
    if (!alg) {
      *why = "alg \"" + f.alg + "\" is not supported";
      return false;
    }
  }
  Key key;
  key.kid_ = f.kid;
  if (f.kty == "oct") {
    if (!alg || !is_hmac(*alg)) {
      *why = "a symmetric key needs alg HS256, HS384 or HS512";
      return false;
    }
    if (!b64_member(f.k, &key.secret_)) {
      *why = "k is not base64url";
      return false;
    }
    if (key.secret_.size() < static_cast<size_t>(EVP_MD_get_size(digest_of(*alg)))) {
      *why = "the secret is shorter than the hash of " + f.alg;
      return false;
    }
    key.alg_ = *alg;
    *out = std::move(key);
    return true;
  }
  EVP_PKEY* pkey = nullptr;
  std::string problem;  // what the key's own checks refused, if anything
  if (f.kty == "RSA") {
    pkey = rsa_public_key(f, alg, &problem);
  } else if (f.kty == "EC") {
    pkey = ec_public_key(f, alg, &problem);
  } else if (f.kty == "OKP") {
    pkey = okp_public_key(f, alg, &problem);
  } else {
    *why = f.kty.empty() ? "kty is missing" : "kty \"" + f.kty + "\" is not supported";
    return false;
  }
  if (!pkey) {
    *why = problem.empty() ? "OpenSSL refused the key material" : problem;
    return false;
  }
  key.alg_ = *alg;
  key.pkey_ = std::make_unique<Key::Pkey>();
  key.pkey_->pkey = pkey;
  *out = std::move(key);
  return true;
}

bool parse_jwks(std::string_view json, std::vector<Key>* keys, std::vector<std::string>* skipped,
                std::string* why) {
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) {
    *why = "not a JSON object";
    return false;
  }
  od::array list;
  if (obj.find_field_unordered("keys").get_array().get(list)) {
    *why = "no \"keys\" array";
    return false;
  }
  size_t index = 0;
  for (auto item : list) {
    std::string_view raw;
    od::object key_obj;
    if (item.get_object().get(key_obj) || key_obj.raw_json().get(raw)) {
      *why = "keys[" + std::to_string(index) + "] is not a JSON object";
      return false;
    }
    Key k;
    std::string reason;
    if (parse_jwk(raw, &k, &reason)) {
      keys->push_back(std::move(k));
    } else {
      skipped->push_back("keys[" + std::to_string(index) + "]: " + reason);
    }
    ++index;
  }
  return true;
}

std::string_view error_text(Error e) {
  switch (e) {
    case Error::kOk:
      return "ok";
    case Error::kMalformed:
      return "the token is malformed";
    case Error::kAlgNotAllowed:
      return "the token's algorithm is not allowed";
    case Error::kCrit:
      return "the token has critical header extensions";
    case Error::kNoKey:
      return "no key matches the token";
    case Error::kBadSignature:
      return "the signature is invalid";
  }
  return "invalid token";
}

size_t verify_buffer_size(size_t token_size) {
  return token_size + 2 * simdjson::SIMDJSON_PADDING;
}

Error verify(std::string_view token, const std::vector<Key>& keys, uint32_t allowed, char* buf,
             Verified* out) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
      dot1 == 0 || dot2 + 1 == token.size()) {
    return Error::kMalformed;  // header, payload (may be empty) and signature; no fourth part
  }
  const std::string_view header64 = token.substr(0, dot1);
  const std::string_view payload64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig64 = token.substr(dot2 + 1);
  // Layout in buf: header + padding, payload + padding, signature.
  char* header = buf;
  const long header_len = base64url_decode(header64, header);
  if (header_len <= 0) {
    return Error::kMalformed;
  }
  char* payload = header + header_len + simdjson::SIMDJSON_PADDING;
  const long payload_len = base64url_decode(payload64, payload);
  if (payload_len < 0) {
    return Error::kMalformed;
  }
  char* sig = payload + payload_len + simdjson::SIMDJSON_PADDING;
  const long sig_len = base64url_decode(sig64, sig);
  if (sig_len <= 0) {
    return Error::kMalformed;
  }
  std::memset(header + header_len, 0, simdjson::SIMDJSON_PADDING);
  std::memset(payload + payload_len, 0, simdjson::SIMDJSON_PADDING);

  // One parser per thread (per shard): its buffers are kept, so a header costs no allocation.
  thread_local od::parser parser;
  od::document doc;
  od::object obj;
  if (parser
          .iterate(header, static_cast<size_t>(header_len),
                   static_cast<size_t>(header_len) + simdjson::SIMDJSON_PADDING)
          .get(doc) ||
      doc.get_object().get(obj)) {
    return Error::kMalformed;
  }
  std::string_view alg_text;
  std::string_view kid;
  int algs = 0;
  int kids = 0;
  bool crit = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return Error::kMalformed;
    }
    if (key == "alg") {
      ++algs;
      if (field.value().get_string().get(alg_text)) {
        return Error::kAlgNotAllowed;
      }
    } else if (key == "kid") {
      ++kids;
      if (field.value().get_string().get(kid)) {
        return Error::kMalformed;
      }
    } else if (key == "crit") {
      crit = true;
    }
  }
  // A member given twice is read differently by different parsers: refuse it.
  if (algs != 1 || kids > 1) {
    return algs == 0 ? Error::kAlgNotAllowed : Error::kMalformed;
  }
  if (crit) {
    return Error::kCrit;
  }
  const std::optional<Alg> alg = alg_by_name(alg_text);
  if (!alg || !(allowed & alg_bit(*alg))) {
    return Error::kAlgNotAllowed;
  }
  const std::string_view signing_input = token.substr(0, dot2);
  const std::string_view signature(sig, static_cast<size_t>(sig_len));
  bool any = false;
  for (const Key& k : keys) {
    if (k.alg() != *alg || (kids && k.kid() != kid)) {
      continue;
    }
    any = true;
    if (k.verify(signing_input, signature)) {
      out->header = std::string_view(header, static_cast<size_t>(header_len));
      out->payload = std::string_view(payload, static_cast<size_t>(payload_len));
      out->alg = *alg;
      out->key = &k;
      return Error::kOk;
    }
  }
  return any ? Error::kBadSignature : Error::kNoKey;
}

}  // namespace ringgate::jwt
