// Requests of the gateway's own to a route's upstream (a cache's background refresh): each one a
// ProxyCall::start_backend whose response is handed to the requester's ResponseRecorder.

#include <list>
#include <string>

#include "ringgate/upstream/call.h"
#include "ringgate/upstream/proxy_action.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

class UpstreamFetcher final : public BackgroundFetcher {
 public:
  explicit UpstreamFetcher(UpstreamShard& shard) : shard_(shard) {}
  ~UpstreamFetcher() override {
    // The recorders are told (on_abandon) while their owners still exist; the calls no longer
    // call back.
    for (Fetch& f : fetches_) {
      f.call->cancel();
      f.recorder->on_abandon();
    }
  }

  bool fetch(const RouteConfig& route, std::string_view host, std::string_view path,
             std::string_view query, std::string_view header_lines,
             ResponseRecorder& recorder) override {
    const auto* action = std::get_if<UpstreamAction>(&route.action);
    if (!action) {
      return false;
    }
    UpstreamCluster& cluster = shard_.cluster(action->cluster_index);
    const UpstreamConfig& cfg = *cluster.config;
    // Host as proxying sends it: the route's `host:`, else its cluster's, else the client's.
    const bool own = action->host_set || !cfg.host;
    const HostPolicy policy = own ? action->host : *cfg.host;
    std::string request = "GET ";
    const size_t at = request.size();
    request.resize(at + upstream_target_size(*action, path, query));
    request.resize(at + write_upstream_target(route, *action, path, query, request.data() + at));
    request += " HTTP/1.1\r\nHost: ";
    switch (policy) {
      case HostPolicy::kPreserve:
        request += host;
        break;
      case HostPolicy::kEndpoint:
        break;  // start_backend writes each try's endpoint here
      case HostPolicy::kFixed:
        request += own ? action->host_value : cfg.host_value;
        break;
    }
    request += "\r\n";
    request += header_lines;
    request += "\r\n";
    UpstreamAction resolved = *action;
    resolved.host = policy;
    fetches_.emplace_front();
    Fetch& f = fetches_.front();
    f.owner = this;
    f.at = fetches_.begin();
    f.recorder = &recorder;
    f.action = std::move(resolved);
    f.call = shard_.acquire_call();
    const Error error = f.call->start_backend(f, f.action, cluster, request, true);
    if (error) {
      shard_.release_call(f.call);
      fetches_.erase(f.at);
      return false;
    }
    return true;
  }

 private:
  struct Fetch final : public ResponseSink {
    UpstreamFetcher* owner = nullptr;
    std::list<Fetch>::iterator at;
    ProxyCall* call = nullptr;
    ResponseRecorder* recorder = nullptr;
    UpstreamAction action;  // the route's, with its Host policy resolved

    bool on_head(const ResponseParser& p) override {
      recorder->on_head(p);
      return true;
    }
    void on_body(std::string_view data) override { recorder->on_body(data); }
    void on_complete(int) override {
      ResponseRecorder* r = recorder;
      owner->fetches_.erase(at);  // (this is gone)
      r->on_complete();
    }
    void on_failed(const Error&) override {
      ResponseRecorder* r = recorder;
      owner->fetches_.erase(at);
      r->on_abandon();
    }
    bool retract() override {
      return true;  // nothing went anywhere: a retry's on_head starts the recording over
    }
  };

  UpstreamShard& shard_;
  std::list<Fetch> fetches_;
};

}  // namespace

std::unique_ptr<BackgroundFetcher> make_background_fetcher(UpstreamShard& shard) {
  return std::make_unique<UpstreamFetcher>(shard);
}

}  // namespace ringgate
