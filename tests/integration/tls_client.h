#pragma once
// A TLS client for the integration tests, over memory BIOs so that every ciphertext byte on the
// wire is under the test's control: a ClientHello sent one byte at a time, a record split over
// several writes. Its conn() reads decrypted bytes, so the harness's read_response works on it.
// Certificates for the tests are made with the openssl command (make_certificate).

#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <vector>

#include "harness.h"

namespace ringgate::it {

// A self-signed certificate (or one signed by `ca_*` when given) with these DNS names, written
// as dir/NAME.pem and dir/NAME.key. `type`: "ec" (P-256) or "rsa" (2048). Empty on success, else
// what the openssl command said.
struct CertificateSpec {
  std::string name = {};                // file names
  std::vector<std::string> names = {};  // subjectAltName DNS entries; the first is also the CN
  std::string type = "ec";
  bool ca = false;           // a CA certificate (basicConstraints CA:TRUE)
  std::string ca_name = {};  // sign with dir/CA_NAME.pem / .key instead of self-signing
  bool client = false;       // extendedKeyUsage clientAuth
};
std::string make_certificate(const std::string& dir, const CertificateSpec& spec);
// SHA-256 fingerprint of a PEM certificate file, or "".
std::string pem_fingerprint(const std::string& file);

struct TlsClientOptions {
  std::string ca_file = {};  // verify the server's chain against it; empty: no verification
  std::string sni = {};      // server_name; empty: none sent
  std::vector<std::string> alpn = {};
  int max_version = 0;  // TLS1_2_VERSION...; 0: any
  size_t chunk = 0;     // ciphertext sent in pieces of this many bytes (0: as produced)
  Millis chunk_pause{0};
  std::string cert_file = {};  // client certificate (mTLS)
  std::string key_file = {};
  SSL_SESSION* session = nullptr;  // offered for resumption (not owned)
};

class TlsClient {
 public:
  TlsClient(uint16_t port, TlsClientOptions options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Runs the handshake to its end; false with `why`.
  bool handshake(std::string* why, Millis timeout = 5s);
  // From now on, ciphertext goes out in pieces of `chunk` bytes with `pause` between them.
  void set_chunking(size_t chunk, Millis pause) {
    options_.chunk = chunk;
    options_.chunk_pause = pause;
  }
  // Encrypts and sends `plaintext` (one SSL_write: records of up to 16 KiB).
  bool send(std::string_view plaintext);
  // Reads the decrypted stream: read_response(client.conn()).
  Conn& conn() { return conn_; }
  // Exactly `n` decrypted bytes (fewer on timeout or close), taken from conn().pending first.
  std::string read_exact(size_t n, Millis timeout = 5s);
  SSL* ssl() { return ssl_; }
  // The server certificate's fingerprint (pem_fingerprint's format), or "".
  std::string peer_fingerprint() const;
  // The session to resume with later (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* take_session() const { return SSL_get1_session(ssl_); }

 private:
  // Sends what OpenSSL wrote, in chunks when asked.
  bool flush();
  // Receives ciphertext into OpenSSL: 1 got bytes, 0 closed, -1 timeout.
  int pump(int timeout_ms);
  int read_plain(Conn& c, int timeout_ms);

  TlsClientOptions options_;
  Conn conn_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

}  // namespace ringgate::it
