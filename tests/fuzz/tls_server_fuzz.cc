// libFuzzer target for the server side of a TLS connection (TlsSession: what a client's bytes
// reach before any HTTP is parsed). The first byte picks how the rest is fed: 0 all at once,
// else in pieces of that many bytes, decrypting after each as the transport does. Invariants:
// read() never writes past its buffer or returns more than asked; once failed a session stays
// failed and says why; what it asks to send is TLS records (an alert, a ServerHello...) or, for
// plain HTTP on the port, the plain-text 400; and no handshake completes from bytes no client
// key backs (no Finished can be forged).
// Seeds: corpus/tls_server (real ClientHellos captured through Python's ssl module, and garbage).

#define FUZZ_TARGET "fuzz_tls_server"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "ringgate/tls/server.h"
#include "ringgate/tls/session.h"

namespace {

const ringgate::TlsServer& server() {
  static std::shared_ptr<ringgate::TlsServer> s = [] {
    ringgate::TlsListenConfig config;
    config.certificates.push_back({FUZZ_TLS_DIR "/server.pem", FUZZ_TLS_DIR "/server.key"});
    std::string error;
    auto made = ringgate::TlsServer::create(config, error);
    if (!made) {
      fuzz_fail(FUZZ_TARGET, error.c_str());
    }
    return made;
  }();
  return *s;
}

// Output is whole TLS records, or the plain-text answer to plain HTTP.
void check_output(const ringgate::TlsSession& s, const std::string& out) {
  if (out.empty()) {
    return;
  }
  if (s.plain_http()) {
    FUZZ_CHECK(out.rfind("HTTP/1.1 400 ", 0) == 0);
    return;
  }
  size_t at = 0;
  while (at < out.size()) {
    FUZZ_CHECK(out.size() - at >= 5);
    const auto type = static_cast<uint8_t>(out[at]);
    FUZZ_CHECK(type >= 20 && type <= 23);  // change_cipher_spec, alert, handshake, data
    // TLS records say 3.x; an alert sent before any version was agreed carries the client's
    // own (OpenSSL echoes the ClientHello's record version, e.g. 2.3 from garbage).
    FUZZ_CHECK(out[at + 1] == 3 || type == 21);
    const size_t len = (static_cast<uint8_t>(out[at + 3]) << 8) | static_cast<uint8_t>(out[at + 4]);
    FUZZ_CHECK(at + 5 + len <= out.size());
    at += 5 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const size_t piece = data[0] == 0 ? size : data[0];
  ++data;
  --size;
  ringgate::TlsSession s;
  FUZZ_CHECK(s.start(server()));
  constexpr size_t kCap = 4096;
  auto buf = std::make_unique<char[]>(kCap + 16);
  bool failed = false;
  for (size_t at = 0; at < size && !failed; at += piece) {
    s.feed(reinterpret_cast<const char*>(data) + at, std::min(piece, size - at));
    for (;;) {
      memset(buf.get() + kCap, 0x5a, 16);
      const int r = s.read(buf.get(), kCap);
      for (int i = 0; i < 16; ++i) {
        FUZZ_CHECK(buf[kCap + static_cast<size_t>(i)] == 0x5a);  // nothing past the buffer
      }
      FUZZ_CHECK(r <= static_cast<int>(kCap));
      if (r == ringgate::TlsSession::kFailed) {
        failed = true;
        FUZZ_CHECK(s.failure() != ringgate::TlsFailure::kNone);
        FUZZ_CHECK(s.read(buf.get(), kCap) == ringgate::TlsSession::kFailed);
        break;
      }
      if (r <= 0) {
        break;
      }
    }
    std::string out;
    out.swap(s.output());
    check_output(s, out);
  }
  FUZZ_CHECK(!s.handshake_done());
  return 0;
}
