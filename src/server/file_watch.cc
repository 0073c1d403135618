#include "file_watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "ringgate/core/clock.h"
#include "ringgate/server/gateway.h"
#include "ringgate/tls/server.h"

namespace ringgate {

namespace {

// Certificate files are looked at this often: a renewed certificate is served within seconds.
constexpr uint64_t kCertificateCheckMs = 2000;

}  // namespace

void Gateway::reload_certificates() {
  for (const ListenConfig& l : config_->server.listen) {
    if (!l.tls) {
      continue;
    }
    std::string error;
    if (l.tls->server->reload_if_changed(error)) {
      fprintf(stderr, "ringgate: listen %s: certificates reloaded; new handshakes use them\n",
              l.address.c_str());
    } else if (!error.empty()) {
      fprintf(stderr, "ringgate: listen %s: %s; the certificates in use stay\n", l.address.c_str(),
              error.c_str());
    }
  }
}

void Gateway::watch_files() {
  std::unique_lock<std::mutex> lock(dns_mutex_);
  const bool tls = std::any_of(config_->server.listen.begin(), config_->server.listen.end(),
                               [](const ListenConfig& l) { return l.tls != nullptr; });
  uint64_t next_certificates = monotonic_ms() + kCertificateCheckMs;
  while (!stopping()) {
    uint64_t next = UINT64_MAX;
    const uint64_t now = monotonic_ms();
    if (tls) {
      if (next_certificates <= now) {
        lock.unlock();  // parsing PEM takes a while; the DNS thread's wake needs no wait
        reload_certificates();
        lock.lock();
        next_certificates = now + kCertificateCheckMs;
      }
      next = next_certificates;
    }
    for (auto& src : api_key_sources_) {
      const ApiKeyConfig& cfg = *src->config;
      if (cfg.reload_interval.count() == 0) {
        continue;
      }
      if (src->next_ms <= now) {
        src->next_ms = now + static_cast<uint64_t>(cfg.reload_interval.count());
        struct stat st {};
        if (stat(cfg.file.c_str(), &st) != 0) {
          fprintf(stderr, "ringgate: api_keys %s: %s: %s; the keys in use stay\n", cfg.name.c_str(),
                  cfg.file.c_str(), strerror(errno));
        } else if (st.st_mtim.tv_sec != src->mtime.tv_sec ||
                   st.st_mtim.tv_nsec != src->mtime.tv_nsec || st.st_size != src->size) {
          src->mtime = st.st_mtim;
          src->size = st.st_size;
          std::string text;
          FILE* f = fopen(cfg.file.c_str(), "rb");
          char buf[8192];
          size_t n;
          while (f && (n = fread(buf, 1, sizeof buf, f)) > 0) {
            text.append(buf, n);
          }
          if (f) {
            fclose(f);
          }
          auto table = std::make_shared<ApiKeyTable>();
          std::string why;
          if (!f || !ApiKeyTable::parse(text, table.get(), &why)) {
            fprintf(stderr, "ringgate: api_keys %s: %s: %s; the keys in use stay\n",
                    cfg.name.c_str(), cfg.file.c_str(), f ? why.c_str() : strerror(errno));
          } else {
            src->kept.push_back(table);
            src->current.store(table.get(), std::memory_order_release);
            while (src->kept.size() > 3) {
              src->kept.pop_front();
            }
            fprintf(stderr, "ringgate: api_keys %s: %zu keys loaded from %s\n", cfg.name.c_str(),
                    table->size(), cfg.file.c_str());
          }
        }
      }
      next = std::min(next, src->next_ms);
    }
    if (next == UINT64_MAX) {
      return;
    }
    dns_wake_.wait_for(lock, std::chrono::milliseconds(next - std::min(next, monotonic_ms())),
                       [this] { return stopping(); });
  }
}

}  // namespace ringgate
