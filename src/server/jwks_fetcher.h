#pragma once
// Fetches an issuer's jwks_url through the gateway's own upstream client (a backend call on the
// issuer's `jwks.NAME` cluster: pooled connections, timeouts, retries) and publishes the keys to
// every shard. Runs on shard 0: at once at start, then every jwks_refresh, and sooner when a
// shard met a token no key matches (at most once per jwks_min_refresh; the shard wakes shard 0,
// see JwtKeySource). A failed fetch keeps the last good keys. The end of every fetch, good or
// failed, decides the requests that wait for it (JwtKeySource::fetch_ended).

#include <cstdint>
#include <string>

#include "ringgate/core/timer_wheel.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/upstream/call.h"

namespace ringgate {

class UpstreamShard;

class JwksFetcher final : public ResponseSink, public Timer {
 public:
  JwksFetcher(UpstreamShard& upstream, const JwtIssuerConfig& issuer, JwtKeySource& source);
  ~JwksFetcher();

  void start();  // the first fetch runs at once
  void stop();   // shutting down: a fetch under way is cancelled
  // Shard 0 was woken: a shard may want a fetch (JwtKeySource::wanted).
  void poke();
  bool idle() const { return call_ == nullptr; }

  // ResponseSink
  bool on_head(const ResponseParser& p) override;
  void on_body(std::string_view data) override;
  void on_complete(int status) override;
  void on_failed(const Error& error) override;

 private:
  static constexpr size_t kMaxBody = 1 << 20;

  // Fetches now if the refresh is due or a shard wants a fetch that jwks_min_refresh allows;
  // otherwise arms the timer for the earlier of the two.
  void schedule();
  void fetch();
  void finished(bool ok, const std::string& why);
  static std::string describe(const Error& error);
  static void on_timer(Timer* t);

  UpstreamShard& upstream_;
  const JwtIssuerConfig& issuer_;
  JwtKeySource& source_;
  UpstreamAction action_;
  std::string request_;
  std::string body_;
  bool too_big_ = false;
  bool stopped_ = false;
  ProxyCall* call_ = nullptr;
  uint64_t last_fetch_ms_ = 0;
  uint64_t next_refresh_ms_ = 0;
};

}  // namespace ringgate
