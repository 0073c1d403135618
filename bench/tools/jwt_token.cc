// bench/run auth's key and token maker: `jwt_token ALG JWKS_FILE` writes a fresh key's public
// JWKS to JWKS_FILE and prints one token signed by it (sub "bench", scope "bench", valid for a
// day), for wrk's Authorization header.

#include <cstdio>
#include <ctime>
#include <string>

#include "jwt_signer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: jwt_token ALG JWKS_FILE\n");
    return 2;
  }
  const auto alg = ringgate::jwt::alg_by_name(argv[1]);
  if (!alg) {
    std::fprintf(stderr, "jwt_token: unknown algorithm %s\n", argv[1]);
    return 2;
  }
  const ringgate::test_jwt::Signer s = ringgate::test_jwt::make_signer(*alg, "bench");
  FILE* f = std::fopen(argv[2], "w");
  if (!f) {
    std::perror(argv[2]);
    return 1;
  }
  std::fprintf(f, "{\"keys\":[%s]}\n", s.jwk.c_str());
  std::fclose(f);
  const std::string claims = "{\"sub\":\"bench\",\"scope\":\"bench\",\"exp\":" +
                             std::to_string(static_cast<long long>(time(nullptr)) + 86400) + "}";
  std::printf("%s\n",
              s.sign(ringgate::test_jwt::header_for(*alg, ",\"kid\":\"bench\""), claims).c_str());
  return 0;
}
