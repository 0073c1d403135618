#include "jwks_fetcher.h"

#include <algorithm>
#include <cstdio>

#include "ringgate/http/error_reply.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

JwksFetcher::JwksFetcher(UpstreamShard& upstream, const JwtIssuerConfig& issuer,
                         JwtKeySource& source)
    : Timer(&JwksFetcher::on_timer), upstream_(upstream), issuer_(issuer), source_(source) {
  action_.cluster = upstream.config().upstreams[issuer.jwks_cluster].name;
  action_.cluster_index = issuer.jwks_cluster;
  action_.timeout = issuer.jwks_timeout;
  action_.retries = 1;
  request_ = "GET " + issuer.jwks_path + " HTTP/1.1\r\nHost: " + issuer.jwks_host +
             "\r\nAccept: application/json\r\nUser-Agent: ringgate-jwks\r\n\r\n";
}

JwksFetcher::~JwksFetcher() = default;

void JwksFetcher::start() {
  fetch();
}

void JwksFetcher::stop() {
  stopped_ = true;
  upstream_.timers().disarm(*this);
  if (call_) {
    ProxyCall* call = call_;
    call_ = nullptr;
    call->cancel();              // the sink is not called again
    source_.fetch_ended(false);  // the requests waiting for it are answered now
  }
}

void JwksFetcher::poke() {
  if (!stopped_ && !call_) {
    schedule();
  }
}

void JwksFetcher::schedule() {
  const uint64_t now = upstream_.now_ms();
  uint64_t at = next_refresh_ms_;
  if (source_.wanted.load() > source_.generation.load()) {
    at = std::min(at, last_fetch_ms_ + static_cast<uint64_t>(issuer_.jwks_min_refresh.count()));
  }
  if (now >= at) {
    fetch();
    return;
  }
  upstream_.timers().arm(*this, at);
}

void JwksFetcher::fetch() {
  if (stopped_) {
    return;
  }
  const uint64_t now = upstream_.now_ms();
  last_fetch_ms_ = now;
  // `fetching` before the limit: see ShardJwtAuth::fetch_may_come.
  source_.fetching.store(true);
  source_.next_fetch_ms.store(now + static_cast<uint64_t>(issuer_.jwks_min_refresh.count()));
  body_.clear();
  too_big_ = false;
  ProxyCall* call = upstream_.acquire_call();
  UpstreamCluster& cluster = upstream_.cluster(issuer_.jwks_cluster);
  const Error error = call->start_backend(*this, action_, cluster, request_, true);
  if (error) {
    upstream_.release_call(call);
    finished(false, describe(error));
    return;
  }
  call_ = call;
}

bool JwksFetcher::on_head(const ResponseParser& p) {
  too_big_ = p.has_content_length() && p.content_length() > kMaxBody;
  return !too_big_;
}

void JwksFetcher::on_body(std::string_view data) {
  if (body_.size() + data.size() > kMaxBody) {
    too_big_ = true;
    return;
  }
  body_.append(data);
}

void JwksFetcher::on_complete(int status) {
  call_ = nullptr;
  if (too_big_) {
    finished(false, "the JWKS is larger than 1 MiB");
    return;
  }
  if (status != 200) {
    finished(false, "answered " + std::to_string(status));
    return;
  }
  std::vector<jwt::Key> keys;
  std::vector<std::string> skipped;
  std::string why;
  if (!jwt::parse_jwks(body_, &keys, &skipped, &why)) {
    finished(false, "not a JWKS: " + why);
    return;
  }
  if (keys.empty()) {
    finished(false, "no usable key" + (skipped.empty() ? "" : " (" + skipped.front() + ")"));
    return;
  }
  for (const std::string& s : skipped) {
    fprintf(stderr, "ringgate: auth.jwt.%s: %s: key skipped: %s\n", issuer_.name.c_str(),
            issuer_.jwks_url.c_str(), s.c_str());
  }
  const size_t n = keys.size();
  source_.publish(issuer_.keys, std::move(keys));
  fprintf(stderr, "ringgate: auth.jwt.%s: %zu keys fetched from %s\n", issuer_.name.c_str(), n,
          issuer_.jwks_url.c_str());
  finished(true, "");
}

void JwksFetcher::on_failed(const Error& error) {
  call_ = nullptr;
  finished(false, describe(error));
}

std::string JwksFetcher::describe(const Error& error) {
  std::string why;
  append_error_reason(error, why);
  return why;
}

void JwksFetcher::finished(bool ok, const std::string& why) {
  source_.fetches.fetch_add(1, std::memory_order_relaxed);
  if (!ok) {
    source_.failures.fetch_add(1, std::memory_order_relaxed);
    fprintf(stderr, "ringgate: auth.jwt.%s: %s: %s; the keys in use stay\n", issuer_.name.c_str(),
            issuer_.jwks_url.c_str(), why.c_str());
  }
  if (source_.first_fetch.load(std::memory_order_acquire) == 0) {
    if (!ok) {
      source_.first_error = why;
    }
    source_.first_fetch.store(ok ? 1 : -1, std::memory_order_release);
  }
  fflush(stderr);
  source_.fetch_ended(ok);
  if (stopped_) {
    return;
  }
  const uint64_t now = upstream_.now_ms();
  // After a failure, try again as soon as a refetch may run; after a success, at the refresh.
  next_refresh_ms_ =
      now + static_cast<uint64_t>((ok ? issuer_.jwks_refresh : issuer_.jwks_min_refresh).count());
  schedule();
}

void JwksFetcher::on_timer(Timer* t) {
  static_cast<JwksFetcher*>(t)->poke();
}

}  // namespace ringgate
