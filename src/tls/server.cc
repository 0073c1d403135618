#include "ringgate/tls/server.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "openssl_error.h"
#include "ringgate/core/ascii.h"

namespace ringgate {

namespace {

// ECDHE with AEAD ciphers only, ECDSA first; TLS 1.3's suites are all AEAD.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// --- session-ticket keys ---
// One random secret per process; the key of rotation period E is derived from it (HMAC), so
// every shard computes the same keys without sharing any mutable state, and a ticket issued on
// one shard opens on any other. Tickets of the current and of the previous period are accepted.
struct TicketKey {
  unsigned char name[16];  // period number (8 bytes, big-endian), then 8 bytes of tag
  unsigned char aes[32];
  unsigned char mac[32];
};

// Written by the main thread only, before any shard runs (made at the first TLS listener's
// load, replaced by a predecessor's on a reload); read by the shards' ticket callbacks after.
unsigned char g_ticket_secret[32];

const unsigned char* ticket_secret() {
  static const bool ready = RAND_bytes(g_ticket_secret, sizeof g_ticket_secret) == 1;
  return ready ? g_ticket_secret : nullptr;
}

void derive(unsigned char label, uint64_t period_ms, uint64_t epoch, unsigned char out[32]) {
  unsigned char in[17];
  in[0] = label;
  for (int i = 0; i < 8; ++i) {
    in[1 + i] = static_cast<unsigned char>(epoch >> (56 - 8 * i));
    in[9 + i] = static_cast<unsigned char>(period_ms >> (56 - 8 * i));
  }
  unsigned int len = 32;
  HMAC(EVP_sha256(), ticket_secret(), 32, in, sizeof in, out, &len);
}

TicketKey make_key(uint64_t period_ms, uint64_t epoch) {
  TicketKey k;
  unsigned char tag[32];
  derive('n', period_ms, epoch, tag);
  for (int i = 0; i < 8; ++i) {
    k.name[i] = static_cast<unsigned char>(epoch >> (56 - 8 * i));
  }
  memcpy(k.name + 8, tag, 8);
  derive('a', period_ms, epoch, k.aes);
  derive('m', period_ms, epoch, k.mac);
  return k;
}

// The keys of one period, derived once per thread and period (HMAC fetches its digest under a
// lock in OpenSSL 3: never per handshake).
const TicketKey& ticket_key(uint64_t period_ms, uint64_t epoch) {
  struct Cached {
    uint64_t period_ms = 0;
    uint64_t epoch = UINT64_MAX;
    TicketKey key;
  };
  thread_local Cached cache[2];
  for (Cached& c : cache) {
    if (c.period_ms == period_ms && c.epoch == epoch) {
      return c.key;
    }
  }
  Cached& victim = cache[0].epoch < cache[1].epoch ? cache[0] : cache[1];
  victim.period_ms = period_ms;
  victim.epoch = epoch;
  victim.key = make_key(period_ms, epoch);
  return victim.key;
}

// Fetched once: an implicit fetch per ticket would take OpenSSL's process-wide locks.
EVP_CIPHER* ticket_cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

// One published set of contexts: the SSL_CTX of each certificate set and how SNI finds it.
class TlsContexts {
 public:
  ~TlsContexts() {
    for (SSL_CTX* ctx : owned) {
      SSL_CTX_free(ctx);
    }
  }

  SSL_CTX* for_name(const char* name) const {
    if (!name || !*name) {
      return default_ctx;
    }
    std::string host = ascii_lower(name);
    if (auto it = exact.find(host); it != exact.end()) {
      return it->second;
    }
    const size_t dot = host.find('.');
    if (dot != std::string::npos && dot > 0) {
      if (auto it = wildcard.find("*" + host.substr(dot)); it != wildcard.end()) {
        return it->second;
      }
    }
    return default_ctx;
  }

  uint64_t ticket_period_ms = 0;
  std::string alpn_wire;  // the protocols we offer, in preference order, ALPN-encoded
  SSL_CTX* default_ctx = nullptr;
  std::map<std::string, SSL_CTX*> exact;
  std::map<std::string, SSL_CTX*> wildcard;  // "*.example.com"
  std::vector<SSL_CTX*> owned;
  std::vector<TlsCertificateInfo> certificates;
};

namespace {

// A certificate file as read: its leaf's names and key type.
struct LoadedCert {
  std::vector<std::string> exact;
  std::vector<std::string> wildcard;
  int key_type = 0;
  int64_t not_after = 0;
};

bool read_leaf(const TlsCertificateConfig& c, LoadedCert& out, std::string& error) {
  FILE* f = fopen(c.cert.c_str(), "r");
  if (!f) {
    error = "cert " + c.cert + ": " + strerror(errno);
    return false;
  }
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (!x) {
    error = "cert " + c.cert + ": no PEM certificate (" + openssl_error() + ")";
    return false;
  }
  auto add = [&out](std::string name) {
    name = ascii_lower(name);
    if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
      out.wildcard.push_back(name);
    } else if (!name.empty()) {
      out.exact.push_back(name);
    }
  };
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      const ASN1_IA5STRING* s = g->d.dNSName;
      add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<size_t>(ASN1_STRING_length(s))));
    }
  }
  GENERAL_NAMES_free(names);
  if (out.exact.empty() && out.wildcard.empty()) {
    // No DNS subjectAltName: the subject's common name, as older certificates carry it.
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) {
      add(cn);
    }
  }
  out.key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &t) == 1) {
    out.not_after = static_cast<int64_t>(timegm(&t));
  }
  X509_free(x);
  return true;
}

// A session-ticket key callback: derived keys (see ticket_key), no shared state.
int on_ticket_key(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int encrypt) {
  const auto* set = static_cast<const TlsContexts*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!set || !ticket_secret() || !ticket_cipher()) {
    return -1;
  }
  const uint64_t period = set->ticket_period_ms;
  const uint64_t now = wall_ms() / period;
  uint64_t epoch = now;
  if (!encrypt) {
    epoch = 0;
    for (int i = 0; i < 8; ++i) {
      epoch = (epoch << 8) | name[i];
    }
    if (epoch != now && epoch + 1 != now) {
      return 0;  // expired or unknown: a full handshake
    }
  }
  const TicketKey& key = ticket_key(period, epoch);
  if (!encrypt && memcmp(key.name, name, sizeof key.name) != 0) {
    return 0;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.mac),
                                        sizeof key.mac),
      OSSL_PARAM_construct_end()};
  if (encrypt) {
    memcpy(name, key.name, sizeof key.name);
    if (RAND_bytes(iv, 16) != 1 ||
        EVP_EncryptInit_ex2(cipher, ticket_cipher(), key.aes, iv, nullptr) != 1) {
      return -1;
    }
  } else if (EVP_DecryptInit_ex2(cipher, ticket_cipher(), key.aes, iv, nullptr) != 1) {
    return -1;
  }
  if (EVP_MAC_CTX_set_params(mac, params) != 1) {
    return -1;
  }
  // 2: valid, and the client gets a new ticket: under the new key after a rotation, and always
  // in TLS 1.3, where clients use a ticket once (RFC 8446 C.4): without a fresh one, every other
  // reconnect would be a full handshake.
  return encrypt || (epoch == now && SSL_version(ssl) != TLS1_3_VERSION) ? 1 : 2;
}

int on_servername(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* set = static_cast<const TlsContexts*>(arg);
  SSL_CTX* ctx = set->for_name(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  if (ctx != SSL_get_SSL_CTX(ssl)) {
    SSL_set_SSL_CTX(ssl, ctx);
  }
  return SSL_TLSEXT_ERR_OK;
}

int on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void* arg) {
  const auto* set = static_cast<const TlsContexts*>(arg);
  const auto* ours = reinterpret_cast<const unsigned char*>(set->alpn_wire.data());
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, static_cast<unsigned>(set->alpn_wire.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    // RFC 7301 3.2: a client that offers only protocols we do not speak gets
    // no_application_protocol rather than a connection it cannot use.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// One SSL_CTX serving `certs` (indexes into the config), with every listener-wide setting.
SSL_CTX* make_ctx(const TlsListenConfig& config, const std::vector<size_t>& certs, TlsContexts& set,
                  std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  set.owned.push_back(ctx);
  SSL_CTX_set_app_data(ctx, &set);
  SSL_CTX_set_min_proto_version(ctx, config.min_version);
  SSL_CTX_set_max_proto_version(ctx, config.max_version);
  const std::string& ciphers = config.ciphers == "default" ? kDefaultCiphers : config.ciphers;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
    error = "ciphers \"" + config.ciphers + "\": " + openssl_error();
    return nullptr;
  }
  // No renegotiation (a CPU-exhaustion lever for clients); the server's cipher order; no
  // stateful session cache (it would be per process and lock-guarded): resumption is by
  // tickets, whose keys every shard shares.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION |
                               (config.session_tickets ? 0 : SSL_OP_NO_TICKET));
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, config.session_tickets ? 1 : 0);
  // Idle connections give their record buffers back (about 34 KiB each).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char kSidContext[] = "ringgate";
  SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
  if (config.session_tickets) {
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
  }
  SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
  SSL_CTX_set_tlsext_servername_arg(ctx, &set);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, &set);
  for (size_t i : certs) {
    const TlsCertificateConfig& c = config.certificates[i];
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert.c_str()) != 1) {
      error = "cert " + c.cert + ": " + openssl_error();
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = "key " + c.key + ": " + openssl_error();
      return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      error = "key " + c.key + " does not match cert " + c.cert;
      ERR_clear_error();
      return nullptr;
    }
  }
  if (!config.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca.c_str(), nullptr) != 1) {
      error = "client_ca " + config.client_ca + ": " + openssl_error();
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca.c_str());
    if (!names) {
      error = "client_ca " + config.client_ca + ": no certificate in it";
      ERR_clear_error();
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

// At most one certificate per key type in a set: OpenSSL keeps one per type and picks among
// them by what the client offers.
std::vector<size_t> one_per_type(const std::vector<size_t>& certs,
                                 const std::vector<LoadedCert>& loaded) {
  std::vector<size_t> out;
  for (size_t i : certs) {
    const bool seen = std::any_of(
        out.begin(), out.end(), [&](size_t j) { return loaded[j].key_type == loaded[i].key_type; });
    if (!seen) {
      out.push_back(i);
    }
  }
  return out;
}

std::unique_ptr<TlsContexts> build(const TlsListenConfig& config, std::string& error) {
  auto set = std::make_unique<TlsContexts>();
  set->ticket_period_ms =
      std::max<uint64_t>(1000, static_cast<uint64_t>(config.ticket_key_rotation.count()));
  for (const std::string& p : config.alpn) {
    set->alpn_wire.push_back(static_cast<char>(p.size()));
    set->alpn_wire += p;
  }
  std::vector<LoadedCert> loaded(config.certificates.size());
  for (size_t i = 0; i < config.certificates.size(); ++i) {
    if (!read_leaf(config.certificates[i], loaded[i], error)) {
      return nullptr;
    }
    set->certificates.push_back({config.certificates[i].cert, loaded[i].not_after});
  }
  // The sets: for each name, the certificates that carry it (exact names and wildcards apart);
  // the default is the first certificate with those of other key types that carry its names.
  std::map<std::vector<size_t>, SSL_CTX*> made;
  auto ctx_for = [&](const std::vector<size_t>& certs) -> SSL_CTX* {
    const std::vector<size_t> key = one_per_type(certs, loaded);
    if (auto it = made.find(key); it != made.end()) {
      return it->second;
    }
    SSL_CTX* ctx = make_ctx(config, key, *set, error);
    made.emplace(key, ctx);
    return ctx;
  };
  std::vector<size_t> defaults{0};
  for (size_t i = 1; i < loaded.size(); ++i) {
    if (loaded[i].exact == loaded[0].exact && loaded[i].wildcard == loaded[0].wildcard) {
      defaults.push_back(i);
    }
  }
  set->default_ctx = ctx_for(defaults);
  if (!set->default_ctx) {
    return nullptr;
  }
  std::map<std::string, std::vector<size_t>> exact;
  std::map<std::string, std::vector<size_t>> wildcard;
  for (size_t i = 0; i < loaded.size(); ++i) {
    for (const std::string& n : loaded[i].exact) {
      exact[n].push_back(i);
    }
    for (const std::string& n : loaded[i].wildcard) {
      wildcard[n].push_back(i);
    }
  }
  for (const auto& [name, certs] : exact) {
    if (!(set->exact[name] = ctx_for(certs))) {
      return nullptr;
    }
  }
  for (const auto& [name, certs] : wildcard) {
    if (!(set->wildcard[name] = ctx_for(certs))) {
      return nullptr;
    }
  }
  return set;
}

}  // namespace

std::string session_ticket_secret() {
  const unsigned char* secret = ticket_secret();
  return secret ? std::string(reinterpret_cast<const char*>(secret), sizeof g_ticket_secret) : "";
}

bool adopt_session_ticket_secret(std::string_view secret) {
  if (secret.size() != sizeof g_ticket_secret || !ticket_secret()) {
    return false;
  }
  memcpy(g_ticket_secret, secret.data(), sizeof g_ticket_secret);
  return true;
}

std::shared_ptr<TlsServer> TlsServer::create(const TlsListenConfig& config, std::string& error) {
  if (config.certificates.empty()) {
    error = "at least one certificate is required";
    return nullptr;
  }
  if (!ticket_secret() || !ticket_cipher()) {
    error = "session tickets: " + openssl_error();
    return nullptr;
  }
  std::shared_ptr<TlsServer> server(new TlsServer(config));
  server->stamps_ = server->stamp_files();
  std::unique_ptr<TlsContexts> set = build(config, error);
  if (!set) {
    return nullptr;
  }
  server->current_.store(set.get(), std::memory_order_release);
  server->kept_.push_back(std::move(set));
  return server;
}

TlsServer::TlsServer(const TlsListenConfig& config) : config_(config) {}

TlsServer::~TlsServer() = default;

SSL* TlsServer::new_ssl() const {
  return SSL_new(current_.load(std::memory_order_acquire)->default_ctx);
}

std::vector<TlsServer::FileStamp> TlsServer::stamp_files() const {
  std::vector<FileStamp> out;
  auto add = [&out](const std::string& path) {
    FileStamp s;
    s.path = path;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
      s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      s.size = st.st_size;
      s.inode = st.st_ino;
    }
    out.push_back(s);
  };
  for (const TlsCertificateConfig& c : config_.certificates) {
    add(c.cert);
    add(c.key);
  }
  if (!config_.client_ca.empty()) {
    add(config_.client_ca);
  }
  return out;
}

bool TlsServer::reload_if_changed(std::string& error) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  error.clear();
  std::vector<FileStamp> now = stamp_files();
  const bool changed =
      !std::equal(now.begin(), now.end(), stamps_.begin(), stamps_.end(),
                  [](const FileStamp& a, const FileStamp& b) {
                    return a.mtime_ns == b.mtime_ns && a.size == b.size && a.inode == b.inode;
                  });
  if (!changed) {
    return false;
  }
  stamps_ = std::move(now);  // a bad file is reported once, and read again when it changes
  std::unique_ptr<TlsContexts> set = build(config_, error);
  if (!set) {
    return false;
  }
  current_.store(set.get(), std::memory_order_release);
  kept_.push_back(std::move(set));
  reloads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::vector<TlsCertificateInfo> TlsServer::certificates() const {
  return current_.load(std::memory_order_acquire)->certificates;
}

}  // namespace ringgate
