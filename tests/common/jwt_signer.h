#pragma once
// Test and bench helpers: JWS tokens signed with OpenSSL for every JOSE algorithm, and each
// signer's public JWK, so tests and benches build the tokens they need (unit tests of the
// verifier, integration tests of the gateway, bench/run auth) without fixed key material.

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ringgate/jose/jwt.h"

namespace ringgate::test_jwt {

using jwt::Alg;
using jwt::alg_name;

inline std::string b64url(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) {
    out += kAlphabet[(acc << (6 - bits)) & 63];
  }
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline std::string bn_b64(const BIGNUM* bn, size_t size = 0) {
  std::string bytes(size ? size : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  return b64url(bytes);
}

inline std::string param_b64(EVP_PKEY* p, const char* name, size_t size = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(p, name, &bn) != 1) {
    fprintf(stderr, "jwt_signer: no key parameter %s\n", name);
    abort();
  }
  std::string s = bn_b64(bn, size);
  BN_free(bn);
  return s;
}

// A signer for one algorithm: its private key, its public JWK, and sign().
struct Signer {
  Alg alg;
  Pkey pkey;
  std::string secret;
  std::string jwk;

  std::string sign(const std::string& header_json, const std::string& payload) const {
    const std::string input = b64url(header_json) + "." + b64url(payload);
    return input + "." + b64url(raw_signature(input));
  }

  std::string raw_signature(const std::string& input) const {
    const EVP_MD* md = nullptr;
    switch (alg) {
      case Alg::kHS256:
      case Alg::kRS256:
      case Alg::kPS256:
      case Alg::kES256:
        md = EVP_sha256();
        break;
      case Alg::kHS384:
      case Alg::kRS384:
      case Alg::kPS384:
      case Alg::kES384:
        md = EVP_sha384();
        break;
      case Alg::kHS512:
      case Alg::kRS512:
      case Alg::kPS512:
      case Alg::kES512:
        md = EVP_sha512();
        break;
      case Alg::kEdDSA:
        break;
    }
    if (alg <= Alg::kHS512) {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      HMAC(md, secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
      return std::string(reinterpret_cast<char*>(mac), len);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey.get());
    if (alg >= Alg::kPS256 && alg <= Alg::kPS512) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg >= Alg::kES256 && alg <= Alg::kES512) {
      // DER to JWS's fixed-size r || s.
      const int half = alg == Alg::kES256 ? 32 : alg == Alg::kES384 ? 48 : 66;
      const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      std::string raw(2 * static_cast<size_t>(half), '\0');
      auto* out = reinterpret_cast<unsigned char*>(raw.data());
      BN_bn2binpad(ECDSA_SIG_get0_r(es), out, half);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), out + half, half);
      ECDSA_SIG_free(es);
      return raw;
    }
    return sig;
  }
};

inline Signer make_signer(Alg alg, const std::string& kid = "") {
  Signer s;
  s.alg = alg;
  const std::string name(alg_name(alg));
  const std::string kid_member = kid.empty() ? "" : ",\"kid\":\"" + kid + "\"";
  if (alg <= Alg::kHS512) {
    s.secret.assign(64, '\0');
    for (size_t i = 0; i < s.secret.size(); ++i) {
      s.secret[i] = static_cast<char>(i * 7 + static_cast<int>(alg));
    }
    s.jwk = "{\"kty\":\"oct\",\"alg\":\"" + name + "\",\"k\":\"" + b64url(s.secret) + "\"" +
            kid_member + "}";
  } else if (alg <= Alg::kPS512) {
    s.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    s.jwk = "{\"kty\":\"RSA\",\"alg\":\"" + name + "\",\"n\":\"" +
            param_b64(s.pkey.get(), OSSL_PKEY_PARAM_RSA_N) + "\",\"e\":\"" +
            param_b64(s.pkey.get(), OSSL_PKEY_PARAM_RSA_E) + "\"" + kid_member + "}";
  } else if (alg <= Alg::kES512) {
    const char* curve = alg == Alg::kES256 ? "P-256" : alg == Alg::kES384 ? "P-384" : "P-521";
    const size_t size = alg == Alg::kES256 ? 32 : alg == Alg::kES384 ? 48 : 66;
    s.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
    s.jwk = "{\"kty\":\"EC\",\"crv\":\"" + std::string(curve) + "\",\"x\":\"" +
            param_b64(s.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, size) + "\",\"y\":\"" +
            param_b64(s.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size) + "\"" + kid_member + "}";
  } else {
    s.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    unsigned char pub[32];
    size_t len = sizeof pub;
    EVP_PKEY_get_raw_public_key(s.pkey.get(), pub, &len);
    s.jwk = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" +
            b64url(std::string_view(reinterpret_cast<char*>(pub), len)) + "\"" + kid_member + "}";
  }
  return s;
}

inline std::string header_for(Alg alg, const std::string& extra = "") {
  return "{\"alg\":\"" + std::string(alg_name(alg)) + "\"" + extra + "}";
}

}  // namespace ringgate::test_jwt
