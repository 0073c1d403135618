#pragma once
// The TLS record layer of one server-side connection, with no I/O of its own: ciphertext goes in
// (feed), plaintext comes out (read); plaintext goes in (write), ciphertext comes out (output).
// The transport (tls/transport.h) moves the bytes through the shard's reactor; a fuzzer or a
// unit test can drive it directly.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct ssl_st;
struct bio_st;

namespace ringgate {

class TlsServer;
class TlsClient;
class TlsResumption;

// Why a handshake (or a connection) failed, for ringgate_tls_handshake_failures_total.
enum class TlsFailure : uint8_t {
  kNone,
  kProtocolVersion,    // a version we do not enable (SSLv3, TLS 1.0/1.1)
  kNoSharedCipher,     // no cipher, group or signature algorithm in common
  kAlpn,               // only application protocols we do not speak
  kClientCertificate,  // mTLS: missing or not verified
  kHttpRequest,        // plain HTTP sent to the TLS port
  kBadRecord,          // malformed or undecryptable records, unexpected messages
  kTimeout,            // handshake not done within tls.handshake_timeout
  kClosed,             // closed mid-handshake: the client went away, or the gateway closed it
  kOverload,           // over tls.max_handshakes on the shard
  kCount,
};
const char* tls_failure_name(TlsFailure f);

class TlsSession {
 public:
  static constexpr int kWantInput = 0;
  static constexpr int kClosed = -1;  // the peer's close_notify
  static constexpr int kFailed = -2;  // fatal: failure() says why; output() holds the alert

  TlsSession() = default;
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  // Takes an established session over (a connection handed to another shard on a reload);
  // `other` is left empty, fit only to be destroyed.
  TlsSession(TlsSession&& other) noexcept;

  // A new server-side session on `server`'s current contexts; false when out of memory.
  bool start(const TlsServer& server);
  // A new client-side session to `host` (TlsClient::new_ssl); false when out of memory.
  bool start_client(const TlsClient& client, std::string_view host, TlsResumption* resumption);
  // Advances the handshake with what was fed (a client's first call writes its ClientHello):
  // kWantInput, 1 when done, or kFailed.
  int handshake();

  // Ciphertext received (copied; the caller's buffer is free again at once).
  void feed(const char* data, size_t len);
  // Decrypts into out[0, cap) (and advances the handshake): bytes written, kWantInput, kClosed
  // or kFailed.
  int read(char* out, size_t cap);
  // Plaintext or ciphertext still held that read() may turn into plaintext.
  bool input_pending() const;
  // With no input held: gives back an input buffer that a burst made large.
  void trim();
  // Encrypts all of `data` (records of at most 16 KiB) into output(); false on a fatal error.
  bool write(const char* data, size_t len);
  // Queues close_notify.
  void shutdown();
  // Ciphertext to send, in order. The owner may swap it with an empty string to send it (the
  // session appends to whatever string is here when it writes next).
  std::string& output() { return out_; }

  bool handshake_done() const { return done_; }
  // After the handshake: the version (0x0303 TLS 1.2, 0x0304 TLS 1.3) and whether it resumed.
  int version() const;
  bool resumed() const;
  std::string_view alpn() const;
  // The verified client certificate's subject (RFC 2253, e.g. "CN=alice,O=Example"), read once
  // and kept; empty when the client sent none or it did not verify.
  std::string_view peer_subject() const;
  TlsFailure failure() const { return failure_; }
  // A plain HTTP request hit the TLS port: output() now holds a plaintext 400 explaining it.
  bool plain_http() const { return failure_ == TlsFailure::kHttpRequest; }

 private:
  bool attach(ssl_st* ssl);
  int fail();

  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;  // owned by ssl_
  std::string out_;
  size_t fed_ = 0;  // ciphertext fed since trim() last looked at the input buffer
  mutable std::string subject_;
  mutable bool subject_read_ = false;
  bool done_ = false;
  TlsFailure failure_ = TlsFailure::kNone;
};

}  // namespace ringgate
