#pragma once
// A client-side SSL over two memory BIOs, for tests that carry the ciphertext themselves (over a
// socket they control, or straight into a server session): `in` takes what arrives, `out` holds
// what the client wrote. Both BIOs belong to the SSL.

#include <openssl/ssl.h>

inline SSL* new_memory_client(SSL_CTX* ctx, BIO** in, BIO** out) {
  SSL* ssl = SSL_new(ctx);
  *in = BIO_new(BIO_s_mem());
  *out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(*in, -1);  // empty means "more to come", not EOF
  SSL_set_bio(ssl, *in, *out);
  SSL_set_connect_state(ssl);
  return ssl;
}
