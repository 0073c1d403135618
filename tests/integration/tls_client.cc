#include "tls_client.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "tls_memory_client.h"

namespace ringgate::it {

namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string fingerprint(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1) {
    return "";
  }
  return hex(md, n);
}

}  // namespace

std::string make_certificate(const std::string& dir, const CertificateSpec& spec) {
  const std::string key = dir + "/" + spec.name + ".key";
  const std::string pem = dir + "/" + spec.name + ".pem";
  std::vector<std::string> keygen =
      spec.type == "rsa"
          ? std::vector<std::string>{"openssl", "genpkey",  "-algorithm",
                                     "RSA",     "-pkeyopt", "rsa_keygen_bits:2048",
                                     "-out",    key}
          : std::vector<std::string>{"openssl", "genpkey",  "-algorithm",
                                     "EC",      "-pkeyopt", "ec_paramgen_curve:P-256",
                                     "-out",    key};
  CommandResult r = run_command(keygen, 30s);
  if (r.exit_code != 0) {
    return "genpkey: " + r.err;
  }
  std::string san = "subjectAltName=";
  for (size_t i = 0; i < spec.names.size(); ++i) {
    san += (i ? ",DNS:" : "DNS:") + spec.names[i];
  }
  const std::string cn = "/CN=" + (spec.names.empty() ? spec.name : spec.names[0]);
  std::vector<std::string> ext = {"-addext", san};
  if (spec.ca) {
    ext = {"-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"};
  }
  if (spec.ca_name.empty()) {
    std::vector<std::string> req = {"openssl", "req", "-x509", "-new", "-key",  key,
                                    "-out",    pem,   "-days", "2",    "-subj", cn};
    req.insert(req.end(), ext.begin(), ext.end());
    r = run_command(req, 30s);
    return r.exit_code == 0 ? "" : "req -x509: " + r.err;
  }
  // Signed by the CA: a request, then the CA's signature with the extensions in a file.
  const std::string csr = dir + "/" + spec.name + ".csr";
  const std::string extfile = dir + "/" + spec.name + ".ext";
  FILE* f = fopen(extfile.c_str(), "w");
  if (!f) {
    return "cannot write " + extfile;
  }
  fprintf(f, "%s\n%s\n", san.c_str(),
          spec.client ? "extendedKeyUsage=clientAuth" : "extendedKeyUsage=serverAuth");
  fclose(f);
  r = run_command({"openssl", "req", "-new", "-key", key, "-out", csr, "-subj", cn}, 30s);
  if (r.exit_code != 0) {
    return "req -new: " + r.err;
  }
  const std::string ca = dir + "/" + spec.ca_name;
  r = run_command({"openssl", "x509", "-req", "-in", csr, "-CA", ca + ".pem", "-CAkey", ca + ".key",
                   "-CAcreateserial", "-out", pem, "-days", "2", "-extfile", extfile},
                  30s);
  return r.exit_code == 0 ? "" : "x509 -req: " + r.err;
}

std::string pem_fingerprint(const std::string& file) {
  FILE* f = fopen(file.c_str(), "r");
  if (!f) {
    return "";
  }
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  std::string out = fingerprint(x);
  X509_free(x);
  return out;
}

TlsClient::TlsClient(uint16_t port, TlsClientOptions options) : options_(std::move(options)) {
  conn_ = connect_to(port);
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!options_.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx_, options_.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (options_.max_version) {
    SSL_CTX_set_max_proto_version(ctx_, options_.max_version);
  }
  if (!options_.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx_, options_.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, options_.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  ssl_ = new_memory_client(ctx_, &in_, &out_);
  if (!options_.sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, options_.sni.c_str());
  }
  if (!options_.alpn.empty()) {
    std::string wire;
    for (const std::string& p : options_.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (options_.session) {
    SSL_set_session(ssl_, options_.session);
  }
  conn_.source = [this](Conn& c, int timeout_ms) { return read_plain(c, timeout_ms); };
}

TlsClient::~TlsClient() {
  conn_.source = nullptr;
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

bool TlsClient::flush() {
  char buf[65536];
  int n;
  while ((n = BIO_read(out_, buf, sizeof buf)) > 0) {
    std::string_view data(buf, static_cast<size_t>(n));
    if (options_.chunk == 0) {
      if (!send_all(conn_, data)) {
        return false;
      }
      continue;
    }
    while (!data.empty()) {
      const size_t k = std::min(options_.chunk, data.size());
      if (!send_all(conn_, data.substr(0, k))) {
        return false;
      }
      data.remove_prefix(k);
      std::this_thread::sleep_for(options_.chunk_pause);
    }
  }
  return true;
}

int TlsClient::pump(int timeout_ms) {
  std::string got;
  const int r = recv_some(conn_.fd(), got, timeout_ms);
  if (r > 0) {
    BIO_write(in_, got.data(), static_cast<int>(got.size()));
  }
  return r;
}

bool TlsClient::handshake(std::string* why, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int rc = SSL_do_handshake(ssl_);
    if (!flush()) {
      *why = "send failed";
      return false;
    }
    if (rc == 1) {
      return true;
    }
    if (SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) {
      const unsigned long e = ERR_get_error();
      char text[256];
      ERR_error_string_n(e, text, sizeof text);
      *why = std::string("handshake failed: ") + text;
      ERR_clear_error();
      return false;
    }
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    const int r = pump(static_cast<int>(std::max<int64_t>(0, left.count())));
    if (r <= 0) {
      *why = r == 0 ? "closed during the handshake" : "handshake timed out";
      return false;
    }
  }
}

bool TlsClient::send(std::string_view plaintext) {
  size_t n = 0;
  if (!plaintext.empty() && SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &n) != 1) {
    ERR_clear_error();
    return false;
  }
  return flush();
}

int TlsClient::read_plain(Conn& c, int timeout_ms) {
  for (;;) {
    char buf[16384];
    size_t n = 0;
    const int rc = SSL_read_ex(ssl_, buf, sizeof buf, &n);
    flush();  // a KeyUpdate reply, if any
    if (rc == 1) {
      c.pending.append(buf, n);
      return 1;
    }
    const int e = SSL_get_error(ssl_, rc);
    ERR_clear_error();
    if (e != SSL_ERROR_WANT_READ) {
      return 0;  // close_notify, an alert or a broken stream: the connection is over
    }
    const int r = pump(timeout_ms);
    if (r <= 0) {
      return r;
    }
  }
}

std::string TlsClient::read_exact(size_t n, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (conn_.pending.size() < n) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || read_plain(conn_, static_cast<int>(left.count())) <= 0) {
      break;
    }
  }
  std::string out = conn_.pending.substr(0, n);
  conn_.pending.erase(0, out.size());
  return out;
}

std::string TlsClient::peer_fingerprint() const {
  X509* x = SSL_get1_peer_certificate(ssl_);
  std::string out = fingerprint(x);
  X509_free(x);
  return out;
}

}  // namespace ringgate::it
