// The `auth:` section (JWT issuers and API-key sets) and a route's `auth:` that names them. Keys
// and key files are loaded with the config, so a bad one stops the gateway at start-up rather
// than failing every request. An issuer's jwks_url cluster, the scopes and claims routes ask of
// an issuer and the headers a route drops depend on the routes too; validate() derives them.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

// The whole file at `path`; false (errno set) when it cannot be opened or read.
bool read_whole_file(const std::string& path, std::string* out) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) {
    return false;
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    out->append(buf, n);
  }
  const bool ok = !ferror(f);
  fclose(f);
  return ok;
}

class AuthLoader : public Loader {
 public:
  explicit AuthLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, std::vector<JwtIssuerConfig>& issuers,
            std::vector<ApiKeyConfig>& api_keys, References& refs) const;
  void load_route_auth(const Field& f, RouteConfig& route, RouteRefs& refs) const;

 private:
  void load_key_sets(const Field& keys, std::vector<ApiKeyConfig>& api_keys,
                     References& refs) const;
  void load_issuers(const Field& jwt, std::vector<JwtIssuerConfig>& issuers,
                    References& refs) const;
  ApiKeyConfig load_api_keys(const Field& f, std::string name, const YAML::Mark& key) const;
  // `jwks` gets the issuer's jwks_url when it has one.
  JwtIssuerConfig load_jwt_issuer(const Field& f, std::string name, const YAML::Mark& key,
                                  std::optional<References::JwksSource>& jwks) const;
  void load_jwks_url(const Field& url, const Field* tls, JwtIssuerConfig& j,
                     std::optional<References::JwksSource>& jwks) const;
  void load_jwks_file(const Field& file, bool has_url, JwtIssuerConfig& j) const;
  void load_algorithms(const Field& v, bool has_url, JwtIssuerConfig& j) const;
  // `from`: where a request carries the token.
  void load_token_source(const Field& v, JwtIssuerConfig& j) const;
  // `forward_claims`: claim name → header sent upstream.
  void load_forward_claims(const Field& v, JwtIssuerConfig& j) const;
};

// A key set or an issuer with a problem is left out and the next one read.
void AuthLoader::load(const Field& f, std::vector<JwtIssuerConfig>& issuers,
                      std::vector<ApiKeyConfig>& api_keys, References& refs) const {
  std::optional<Section> s;
  if (!recover([&] { s.emplace(*this, f, std::vector<std::string_view>{"jwt", "api_keys"}); })) {
    refs.key_sets.all = true;
    refs.issuers.all = true;
    refs.clusters.all = true;  // a jwks.NAME cluster may be among them
    return;
  }
  if (const Field* keys = s->find("api_keys"); keys && !keys->node.IsNull()) {
    load_key_sets(*keys, api_keys, refs);
  }
  if (const Field* jwt = s->find("jwt"); jwt && !jwt->node.IsNull()) {
    load_issuers(*jwt, issuers, refs);
  }
}

void AuthLoader::load_key_sets(const Field& keys, std::vector<ApiKeyConfig>& api_keys,
                               References& refs) const {
  if (!keys.node.IsMap()) {
    refs.key_sets.all = true;
    recover([&] {
      fail(keys, "expected a map of key-set names to key sets, got " + describe(keys.node));
    });
    return;
  }
  for (auto it = keys.node.begin(); it != keys.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const bool loaded = recover([&] {
      if (!is_cluster_name(name)) {
        fail_at(key.Mark(), keys.path + ": key-set name " + quote(name) + " must be 1 to " +
                                std::to_string(kMaxClusterName) +
                                " characters: letters, digits, '_', '.' and '-'");
      }
      for (const ApiKeyConfig& earlier : api_keys) {
        if (earlier.name == name) {
          fail_at(key.Mark(), keys.path + ": duplicate key set " + quote(name));
        }
      }
      api_keys.push_back(load_api_keys(child(keys, name, key, it->second), name, key.Mark()));
    });
    if (!loaded) {
      refs.key_sets.names.push_back(name);
    }
  }
}

void AuthLoader::load_issuers(const Field& jwt, std::vector<JwtIssuerConfig>& issuers,
                              References& refs) const {
  if (!jwt.node.IsMap()) {
    refs.issuers.all = true;
    refs.clusters.all = true;  // a jwks.NAME cluster may be among them
    recover(
        [&] { fail(jwt, "expected a map of issuer names to issuers, got " + describe(jwt.node)); });
    return;
  }
  for (auto it = jwt.node.begin(); it != jwt.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const bool loaded = recover([&] {
      if (!is_cluster_name(name)) {
        fail_at(key.Mark(), jwt.path + ": issuer name " + quote(name) + " must be 1 to " +
                                std::to_string(kMaxClusterName) +
                                " characters: letters, digits, '_', '.' and '-'");
      }
      for (const JwtIssuerConfig& earlier : issuers) {
        if (earlier.name == name) {
          fail_at(key.Mark(), jwt.path + ": duplicate issuer " + quote(name) + " (first at line " +
                                  std::to_string(earlier.mark.line) + ")");
        }
      }
      std::optional<References::JwksSource> jwks;
      JwtIssuerConfig issuer =
          load_jwt_issuer(child(jwt, name, key, it->second), name, key.Mark(), jwks);
      issuers.push_back(std::move(issuer));
      if (jwks) {
        jwks->issuer = static_cast<uint32_t>(issuers.size() - 1);
        refs.jwks.push_back(std::move(*jwks));
      }
    });
    if (!loaded) {
      refs.issuers.names.push_back(name);
      refs.clusters.names.push_back("jwks." + name);
    }
  }
}

JwtIssuerConfig AuthLoader::load_jwt_issuer(const Field& f, std::string name, const YAML::Mark& key,
                                            std::optional<References::JwksSource>& jwks) const {
  const Section s(*this, f,
                  {"issuer", "audiences", "jwks_file", "jwks_url", "jwks_tls", "jwks_refresh",
                   "jwks_min_refresh", "jwks_timeout", "algorithms", "leeway", "require_exp",
                   "required_claims", "from", "forward_claims", "cache_entries"});
  JwtIssuerConfig j;
  j.name = std::move(name);
  j.mark = source_mark(key);
  const Field* file = s.find("jwks_file");
  const Field* url = s.find("jwks_url");
  if (!file && !url) {
    fail(f, "needs 'jwks_file' (a JWKS document) or 'jwks_url' (where to fetch one), or both");
  }
  j.keys = std::make_shared<std::vector<jwt::Key>>();
  const Field* tls = s.find("jwks_tls");
  if (tls && !url) {
    fail(*tls, "jwks_tls needs an https:// jwks_url");
  }
  if (url) {
    load_jwks_url(*url, tls, j, jwks);
  }
  if (const Field* v = s.find("jwks_refresh")) {
    j.jwks_refresh = read_duration(*v, kOneSecond, Duration(86400000));
  }
  if (const Field* v = s.find("jwks_min_refresh")) {
    j.jwks_min_refresh = read_duration(*v, kOneSecond, Duration(3600000));
  }
  if (const Field* v = s.find("jwks_timeout")) {
    j.jwks_timeout = read_duration(*v, kMinTimeout, kOneMinute);
  }
  if (file) {
    load_jwks_file(*file, url != nullptr, j);
  }
  if (const Field* v = s.find("algorithms")) {
    load_algorithms(*v, url != nullptr, j);
  }
  if (const Field* v = s.find("issuer")) {
    j.rules.issuer = read_string(*v);
  }
  if (const Field* v = s.find("audiences")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'audiences' out to accept any")) {
      j.rules.audiences.push_back(read_string(item));
    }
  }
  if (const Field* v = s.find("leeway")) {
    j.rules.leeway_s = read_duration(*v, Duration(0), Duration(3600000)).count() / 1000;
  }
  if (const Field* v = s.find("require_exp")) {
    j.rules.require_exp = read_bool(*v);
  }
  if (const Field* v = s.find("required_claims")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'required_claims' out for none")) {
      j.rules.required.push_back(read_string(item));
    }
    if (j.rules.required.size() > 64) {
      fail(*v, "at most 64 required claims");
    }
  }
  if (const Field* v = s.find("from")) {
    load_token_source(*v, j);
  }
  if (const Field* v = s.find("forward_claims")) {
    load_forward_claims(*v, j);
  }
  if (const Field* v = s.find("cache_entries")) {
    j.cache_entries = read_power_of_two(*v, 16, 1u << 20);
  }
  return j;
}

// http://host[:port]/path: the host:port becomes the endpoint of a cluster of its own, added
// once every section is parsed.
void AuthLoader::load_jwks_url(const Field& url, const Field* tls, JwtIssuerConfig& j,
                               std::optional<References::JwksSource>& jwks) const {
  j.jwks_url = read_string(url);
  const std::string& u = j.jwks_url;
  const bool https = u.rfind("https://", 0) == 0;
  if (!https && u.rfind("http://", 0) != 0) {
    fail(url, "expected https://host[:port]/path or http://host[:port]/path, got " + quote(u));
  }
  const size_t start = https ? 8 : 7;
  const size_t slash = u.find('/', start);
  j.jwks_host = u.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  j.jwks_path = slash == std::string::npos ? "/" : u.substr(slash);
  std::string endpoint = j.jwks_host;
  if (endpoint.find(':') == std::string::npos || endpoint.back() == ']') {
    endpoint += https ? ":443" : ":80";
  }
  std::string canonical;
  if (auto problem = host_port_problem(endpoint, true, &canonical)) {
    fail(url, quote(j.jwks_host) + " is not a valid host: " + *problem);
  }
  if (j.jwks_path.find_first_of(" \r\n") != std::string::npos) {
    fail(url, "the path has spaces or line breaks");
  }
  jwks = References::JwksSource{0, url, std::move(endpoint), nullptr};
  if (tls && !https) {
    fail(*tls, "jwks_tls is for an https:// jwks_url, and " + quote(u) + " is http://");
  }
  if (https) {
    // Verified by default against the system's store, for the URL's host.
    jwks->tls = tls ? load_upstream_tls(*this, *tls) : default_upstream_tls(*this, url);
  }
  j.algorithms = 0xffffffffu >> (32 - jwt::kAlgCount);
}

// The keys of jwks_file, loaded now so that a bad file stops the gateway at start-up. Without a
// jwks_url they also give the default algorithms.
void AuthLoader::load_jwks_file(const Field& file, bool has_url, JwtIssuerConfig& j) const {
  const std::string given = read_string(file);
  j.jwks_file = resolve_path(given);
  const std::string name = "jwks_file " + describe_path(given, j.jwks_file);
  std::string text;
  if (!read_whole_file(j.jwks_file, &text)) {
    fail(file, name + " cannot be read: " + std::strerror(errno));
  }
  auto keys = std::make_shared<std::vector<jwt::Key>>();
  std::vector<std::string> skipped;
  std::string why;
  if (!jwt::parse_jwks(text, keys.get(), &skipped, &why)) {
    fail(file, name + " is not a JWKS document: " + why);
  }
  if (keys->empty()) {
    fail(file,
         name + " has no usable key" +
             (skipped.empty()
                  ? ""
                  : " (" + join(std::vector<std::string_view>(skipped.begin(), skipped.end())) +
                        ")"));
  }
  if (!has_url) {
    for (const jwt::Key& k : *keys) {
      j.algorithms |= jwt::alg_bit(k.alg());
    }
  }
  j.keys = std::move(keys);
}

// With a jwks_file only, each algorithm must be one of its keys'.
void AuthLoader::load_algorithms(const Field& v, bool has_url, JwtIssuerConfig& j) const {
  uint32_t allowed = 0;
  for (const Field& item : list_or_one(v, "empty list; leave 'algorithms' out for the keys' own")) {
    const std::string alg = read_string(item);
    const std::optional<jwt::Alg> a = jwt::alg_by_name(alg);
    if (!a) {
      fail(item, "unknown or refused algorithm " + quote(alg) +
                     " (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
                     "ES384, ES512, EdDSA; never none)");
    }
    if (!has_url && !(j.algorithms & jwt::alg_bit(*a))) {
      fail(item, "no key of jwks_file uses " + alg);
    }
    allowed |= jwt::alg_bit(*a);
  }
  j.algorithms = allowed;
}

void AuthLoader::load_token_source(const Field& v, JwtIssuerConfig& j) const {
  const std::string from = read_string(v);
  if (from == "bearer") {
    j.from = JwtIssuerConfig::From::kBearer;
  } else if (from.rfind("header:", 0) == 0 && is_token(from.substr(7))) {
    j.from = JwtIssuerConfig::From::kHeader;
    j.from_name = ascii_lower(from.substr(7));
  } else if (from.rfind("query:", 0) == 0 && from.size() > 6) {
    j.from = JwtIssuerConfig::From::kQuery;
    j.from_name = from.substr(6);
  } else if (from.rfind("cookie:", 0) == 0 && is_token(from.substr(7))) {
    j.from = JwtIssuerConfig::From::kCookie;
    j.from_name = from.substr(7);
  } else {
    fail(v, "expected bearer, header:NAME, query:NAME or cookie:NAME, got " + quote(from));
  }
}

void AuthLoader::load_forward_claims(const Field& v, JwtIssuerConfig& j) const {
  if (!v.node.IsMap()) {
    fail(v, "expected a map of claim names to header names, e.g. {sub: X-User-Id}");
  }
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const YAML::Node claim_key = it->first;
    const std::string claim = claim_key.IsScalar() ? claim_key.Scalar() : "";
    const Field header_field = child(v, claim, claim_key, it->second);
    const std::string header = read_string(header_field);
    static const char* const kChecked[] = {"exp", "nbf", "iat", "iss", "aud", "scope", "scp"};
    for (const char* c : kChecked) {
      if (claim == c) {
        fail_at(claim_key.Mark(), "claim " + quote(claim) +
                                      " is checked, not forwarded; forward sub, email or "
                                      "your own claims");
      }
    }
    if (claim.empty()) {
      fail_at(claim_key.Mark(), "claim names must be plain strings");
    }
    if (!is_token(header)) {
      fail(header_field, quote(header) + " is not a valid header name");
    }
    j.rules.forward.push_back(claim);
    j.forward_headers.push_back(ascii_lower(header));
  }
  if (j.rules.forward.size() > kMaxJwtValues) {
    fail(v, "at most " + std::to_string(kMaxJwtValues) + " forwarded claims");
  }
}

ApiKeyConfig AuthLoader::load_api_keys(const Field& f, std::string name,
                                       const YAML::Mark& key) const {
  const Section s(*this, f, {"file", "header", "query", "consumer_header", "reload_interval"});
  ApiKeyConfig k;
  k.name = std::move(name);
  k.mark = source_mark(key);
  const Field* file = s.find("file");
  if (!file) {
    fail(f, "missing 'file' (SHA-256 digests of the keys with consumer names)");
  }
  const std::string given = read_string(*file);
  k.file = resolve_path(given);
  std::string text;
  if (!read_whole_file(k.file, &text)) {
    fail(*file,
         "file " + describe_path(given, k.file) + " cannot be read: " + std::strerror(errno));
  }
  auto table = std::make_shared<ApiKeyTable>();
  std::string why;
  if (!ApiKeyTable::parse(text, table.get(), &why)) {
    fail(*file, "file " + describe_path(given, k.file) + ": " + why);
  }
  k.table = std::move(table);
  const Field* header = s.find("header");
  const Field* query = s.find("query");
  if (header && query) {
    fail(*query, "'header' and 'query' are exclusive: a key is read from one place");
  }
  if (header) {
    const std::string h = read_string(*header);
    if (!is_token(h)) {
      fail(*header, quote(h) + " is not a valid header name");
    }
    k.from_name = ascii_lower(h);
  } else if (query) {
    k.from = ApiKeyConfig::From::kQuery;
    k.from_name = read_string(*query);
    if (k.from_name.empty()) {
      fail(*query, "the query parameter name is empty");
    }
  }
  if (const Field* v = s.find("consumer_header")) {
    const std::string h = read_string(*v);
    if (!h.empty() && !is_token(h)) {
      fail(*v, quote(h) + " is not a valid header name");
    }
    k.consumer_header = ascii_lower(h);
  }
  if (const Field* v = s.find("reload_interval")) {
    k.reload_interval = read_duration_or_off(*v, kOneSecond, kOneHour);
  }
  return k;
}

void AuthLoader::load_route_auth(const Field& f, RouteConfig& route, RouteRefs& refs) const {
  const Section s(*this, f, {"jwt", "scopes", "api_key"});
  if (const Field* v = s.find("api_key")) {
    refs.api_key = NameRef{*v, read_string(*v)};
  }
  const Field* jwt = s.find("jwt");
  if (!jwt) {
    if (!refs.api_key) {
      fail(f, "needs 'jwt' (an issuer of auth.jwt) or 'api_key' (a set of auth.api_keys)");
    }
    if (const Field* v = s.find("scopes")) {
      fail(*v, "scopes are JWT scopes: they need 'jwt'");
    }
    return;
  }
  refs.jwt = NameRef{*jwt, read_string(*jwt)};
  if (const Field* v = s.find("scopes")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'scopes' out for none")) {
      const std::string scope = read_string(item);
      if (scope.empty() || scope.find(' ') != std::string::npos || field_value_problem(scope)) {
        fail(item, "a scope is one word without spaces or control characters");
      }
      route.auth.scope_text += (route.auth.scope_text.empty() ? "" : " ") + scope;
      refs.scopes.push_back({item, scope});
    }
  }
}

}  // namespace

void load_auth(const Loader& loader, const Field& f, std::vector<JwtIssuerConfig>& issuers,
               std::vector<ApiKeyConfig>& api_keys, References& refs) {
  AuthLoader(loader).load(f, issuers, api_keys, refs);
}

void load_route_auth(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs) {
  AuthLoader(loader).load_route_auth(f, route, refs);
}

}  // namespace ringgate::config_detail
