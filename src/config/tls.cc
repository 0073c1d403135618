// A listener's `tls:` map. The certificates are loaded here, into the contexts the shards will
// share, so that a missing file, a key that does not match its certificate or an unknown cipher
// is a config error with the line that named it, and `ringgate -t` catches it before a start.

#include <unistd.h>

#include "config/sections.h"
#include "ringgate/tls/client.h"
#include "ringgate/tls/server.h"

namespace ringgate::config_detail {
namespace {

constexpr Duration kMinHandshakeTimeout{100};
constexpr Duration kMaxHandshakeTimeout{10 * 60 * 1000};
constexpr Duration kMinTicketRotation{60 * 1000};
constexpr Duration kMaxTicketRotation{7 * 24 * 3600 * 1000};
constexpr uint32_t kMaxHandshakesPerShard = 1 << 20;

class TlsLoader : public Loader {
 public:
  explicit TlsLoader(const Loader& loader) : Loader(loader) {}

  std::shared_ptr<const TlsListenConfig> load(const Field& f) const;
  std::shared_ptr<const TlsUpstreamConfig> load_upstream(const Field& f, bool h2) const;

 private:
  std::string read_file_path(const Field& f) const;
  void load_certificates(const Field& f, TlsListenConfig& tls) const;
  void load_protocols(const Field& f, TlsListenConfig& tls) const;
  void load_alpn(const Field& f, TlsListenConfig& tls) const;
};

std::string TlsLoader::read_file_path(const Field& f) const {
  const std::string given = read_string(f);
  const std::string path = resolve_path(given);
  if (path.empty() || access(path.c_str(), R_OK) != 0) {
    fail(f, describe_path(given, path) + " cannot be read");
  }
  return path;
}

void TlsLoader::load_certificates(const Field& f, TlsListenConfig& tls) const {
  for (const Field& item : list_or_one(f, "at least one {cert: ..., key: ...} is required")) {
    if (!item.node.IsMap()) {
      fail(item, "expected a {cert: FILE, key: FILE} map, got " + describe(item.node));
    }
    const Section s(*this, item, {"cert", "key"});
    const Field* cert = s.find("cert");
    const Field* key = s.find("key");
    if (!cert || !key) {
      fail(item, std::string("missing '") + (cert ? "key" : "cert") + "'");
    }
    TlsCertificateConfig c;
    c.cert = read_file_path(*cert);
    c.key = read_file_path(*key);
    // Each pair on its own first, so that a problem points at the entry that has it.
    TlsListenConfig alone;
    alone.certificates.push_back(c);
    std::string why;
    if (!TlsServer::create(alone, why)) {
      fail(item, why);
    }
    tls.certificates.push_back(std::move(c));
  }
}

void TlsLoader::load_protocols(const Field& f, TlsListenConfig& tls) const {
  uint16_t lo = 0xffff;
  uint16_t hi = 0;
  for (const Field& item : list_or_one(f, "at least one protocol is required: TLSv1.2, TLSv1.3")) {
    const std::string v = read_string(item);
    uint16_t version = 0;
    if (v == "TLSv1.2") {
      version = 0x0303;
    } else if (v == "TLSv1.3") {
      version = 0x0304;
    } else if (v == "SSLv3" || v == "TLSv1" || v == "TLSv1.0" || v == "TLSv1.1") {
      fail(item, v + " cannot be enabled (broken; RFC 8996): use TLSv1.2 and TLSv1.3");
    } else {
      fail(item, "unknown protocol \"" + v + "\": expected TLSv1.2 or TLSv1.3");
    }
    lo = std::min(lo, version);
    hi = std::max(hi, version);
  }
  tls.min_version = lo;
  tls.max_version = hi;
}

void TlsLoader::load_alpn(const Field& f, TlsListenConfig& tls) const {
  tls.alpn.clear();
  for (const Field& item : list_or_one(f, "at least one protocol is required, e.g. [http/1.1]")) {
    const std::string v = read_string(item);
    if (v != "h2" && v != "http/1.1") {
      fail(item, "unknown application protocol \"" + v + "\": expected h2 or http/1.1");
    }
    if (std::find(tls.alpn.begin(), tls.alpn.end(), v) != tls.alpn.end()) {
      fail(item, "\"" + v + "\" is listed twice");
    }
    tls.alpn.push_back(v);
  }
}

std::shared_ptr<const TlsListenConfig> TlsLoader::load(const Field& f) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a map with certificates: [{cert: FILE, key: FILE}], got " + describe(f.node));
  }
  const Section s(*this, f,
                  {"certificates", "protocols", "ciphers", "alpn", "session_tickets",
                   "ticket_key_rotation", "client_ca", "handshake_timeout", "max_handshakes"});
  auto tls = std::make_shared<TlsListenConfig>();
  const Field* certificates = s.find("certificates");
  if (!certificates) {
    fail(f, "missing 'certificates' (a list of {cert: FILE, key: FILE})");
  }
  load_certificates(*certificates, *tls);
  if (const Field* v = s.find("protocols")) {
    load_protocols(*v, *tls);
  }
  const Field* ciphers = s.find("ciphers");
  if (ciphers) {
    tls->ciphers = read_string(*ciphers);
  }
  if (const Field* v = s.find("alpn")) {
    load_alpn(*v, *tls);
  }
  if (const Field* v = s.find("session_tickets")) {
    tls->session_tickets = read_bool(*v);
  }
  if (const Field* v = s.find("ticket_key_rotation")) {
    tls->ticket_key_rotation = read_duration(*v, kMinTicketRotation, kMaxTicketRotation);
  }
  const Field* client_ca = s.find("client_ca");
  if (client_ca) {
    tls->client_ca = read_file_path(*client_ca);
  }
  if (const Field* v = s.find("handshake_timeout")) {
    tls->handshake_timeout = read_duration(*v, kMinHandshakeTimeout, kMaxHandshakeTimeout);
  }
  if (const Field* v = s.find("max_handshakes")) {
    tls->max_handshakes = static_cast<uint32_t>(read_number(*v, 1, kMaxHandshakesPerShard));
  }
  std::string why;
  tls->server = TlsServer::create(*tls, why);
  if (!tls->server) {
    // The certificates loaded one by one: what fails now is a listener-wide setting.
    const Field* blame = why.rfind("ciphers", 0) == 0     ? ciphers
                         : why.rfind("client_ca", 0) == 0 ? client_ca
                                                          : nullptr;
    fail(blame ? *blame : f, why);
  }
  return tls;
}

std::shared_ptr<const TlsUpstreamConfig> TlsLoader::load_upstream(const Field& f, bool h2) const {
  if (!f.node.IsMap()) {
    fail(f,
         "expected a map such as {sni: api.internal, ca: certs/ca.pem}, got " + describe(f.node));
  }
  const Section s(*this, f, {"sni", "ca", "verify", "client_cert", "client_key"});
  auto tls = std::make_shared<TlsUpstreamConfig>();
  if (const Field* v = s.find("sni")) {
    tls->sni = read_string(*v);
  }
  const Field* ca = s.find("ca");
  if (ca) {
    tls->ca = read_file_path(*ca);
  }
  if (const Field* v = s.find("verify")) {
    tls->verify = read_bool(*v);
  }
  const Field* cert = s.find("client_cert");
  const Field* key = s.find("client_key");
  if ((cert == nullptr) != (key == nullptr)) {
    fail(f, std::string("client_cert and client_key go together: '") +
                (cert ? "client_key" : "client_cert") + "' is missing");
  }
  if (cert) {
    tls->client_cert = read_file_path(*cert);
    tls->client_key = read_file_path(*key);
  }
  tls->h2 = h2;
  std::string why;
  tls->client = TlsClient::create(*tls, why);
  if (!tls->client) {
    const Field* blame = why.rfind("ca", 0) == 0           ? ca
                         : why.rfind("client_key", 0) == 0 ? key
                                                           : cert;
    fail(blame ? *blame : f, why);
  }
  return tls;
}

}  // namespace

std::shared_ptr<const TlsListenConfig> load_listener_tls(const Loader& loader, const Field& f) {
  return TlsLoader(loader).load(f);
}

std::shared_ptr<const TlsUpstreamConfig> load_upstream_tls(const Loader& loader, const Field& f,
                                                           bool h2) {
  return TlsLoader(loader).load_upstream(f, h2);
}

std::shared_ptr<const TlsUpstreamConfig> default_upstream_tls(const Loader& loader,
                                                              const Field& f) {
  auto tls = std::make_shared<TlsUpstreamConfig>();
  std::string why;
  tls->client = TlsClient::create(*tls, why);
  if (!tls->client) {
    loader.fail(f, why);
  }
  return tls;
}

}  // namespace ringgate::config_detail
