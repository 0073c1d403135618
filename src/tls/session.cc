#include "ringgate/tls/session.h"

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>

#include "ringgate/tls/client.h"
#include "ringgate/tls/server.h"

namespace ringgate {

namespace {

// The output BIO: OpenSSL's records are appended to the session's output string, which the
// transport sends as is (a memory BIO would be read out with one more copy, and may move its
// buffer while a send still points into it).
int out_write(BIO* b, const char* data, size_t len, size_t* written) {
  static_cast<std::string*>(BIO_get_data(b))->append(data, len);
  *written = len;
  return 1;
}

long out_ctrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

BIO_METHOD* out_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringgate output");
    if (m) {
      BIO_meth_set_write_ex(m, out_write);
      BIO_meth_set_ctrl(m, out_ctrl);
    }
    return m;
  }();
  return method;
}

// SSL_get_error reads this thread's error queue: nothing stale may be in it before a call. The
// queue is nearly always empty (every failure here clears it), and emptying an empty one costs
// more than looking (ERR_clear_error walks all its slots): look first.
void clear_errors() {
  if (ERR_peek_error() != 0) {
    ERR_clear_error();
  }
}

constexpr std::string_view kPlainHttpAnswer =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 45\r\n"
    "Connection: close\r\n\r\n"
    "This port speaks HTTPS: use an https:// URL.\n";

}  // namespace

const char* tls_failure_name(TlsFailure f) {
  switch (f) {
    case TlsFailure::kNone:
      return "none";
    case TlsFailure::kProtocolVersion:
      return "protocol_version";
    case TlsFailure::kNoSharedCipher:
      return "no_shared_cipher";
    case TlsFailure::kAlpn:
      return "alpn";
    case TlsFailure::kClientCertificate:
      return "client_certificate";
    case TlsFailure::kHttpRequest:
      return "http_request";
    case TlsFailure::kBadRecord:
      return "bad_record";
    case TlsFailure::kTimeout:
      return "timeout";
    case TlsFailure::kClosed:
      return "closed";
    case TlsFailure::kOverload:
      return "overload";
    case TlsFailure::kCount:
      break;
  }
  return "other";
}

TlsSession::~TlsSession() {
  if (ssl_ && failure_ == TlsFailure::kNone) {
    // A connection closed in good order (a pooled upstream connection at its limit, a client
    // gone): without this, OpenSSL takes the close for a cut and marks the session it handed
    // out unusable, and the next connection to the endpoint could not resume it.
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SSL_free(ssl_);  // frees both BIOs
}

TlsSession::TlsSession(TlsSession&& other) noexcept
    : ssl_(other.ssl_),
      in_(other.in_),
      out_(std::move(other.out_)),
      fed_(other.fed_),
      subject_(std::move(other.subject_)),
      subject_read_(other.subject_read_),
      done_(other.done_),
      failure_(other.failure_) {
  other.ssl_ = nullptr;
  other.in_ = nullptr;
  if (ssl_) {
    BIO_set_data(SSL_get_wbio(ssl_), &out_);  // the records OpenSSL writes go to this string now
  }
}

bool TlsSession::start(const TlsServer& server) {
  if (!attach(server.new_ssl())) {
    return false;
  }
  SSL_set_accept_state(ssl_);
  return true;
}

bool TlsSession::start_client(const TlsClient& client, std::string_view host,
                              TlsResumption* resumption) {
  return attach(client.new_ssl(host, resumption));  // in connect state already
}

int TlsSession::handshake() {
  if (failure_ != TlsFailure::kNone) {
    return kFailed;
  }
  clear_errors();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    done_ = true;
    return 1;
  }
  const int e = SSL_get_error(ssl_, rc);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? kWantInput : fail();
}

bool TlsSession::attach(SSL* ssl) {
  ssl_ = ssl;
  BIO_METHOD* method = out_method();
  if (!ssl_ || !method) {
    return false;
  }
  in_ = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(method);
  if (!in_ || !out) {
    BIO_free(in_);
    BIO_free(out);
    in_ = nullptr;
    return false;
  }
  BIO_set_mem_eof_return(in_, -1);  // empty means "more to come", not EOF
  BIO_set_data(out, &out_);
  BIO_set_init(out, 1);
  SSL_set_bio(ssl_, in_, out);
  return true;
}

void TlsSession::feed(const char* data, size_t len) {
  BIO_write(in_, data, static_cast<int>(len));
  fed_ += len;
}

void TlsSession::trim() {
  // A memory BIO keeps the largest buffer it ever needed: after a large upload, an idle
  // connection would hold it for its whole life.
  constexpr size_t kKeptInputCapacity = 32 * 1024;
  if (fed_ < kKeptInputCapacity) {
    return;  // it cannot have grown past it since the last look
  }
  fed_ = 0;
  BUF_MEM* mem = nullptr;
  if (BIO_ctrl_pending(in_) != 0 || BIO_get_mem_ptr(in_, &mem) != 1 || !mem ||
      mem->max <= kKeptInputCapacity) {
    return;
  }
  BIO* fresh = BIO_new(BIO_s_mem());
  if (!fresh) {
    return;
  }
  BIO_set_mem_eof_return(fresh, -1);
  SSL_set0_rbio(ssl_, fresh);  // frees the old one
  in_ = fresh;
}

bool TlsSession::input_pending() const {
  return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(in_) > 0;
}

int TlsSession::read(char* out, size_t cap) {
  if (failure_ != TlsFailure::kNone) {
    return kFailed;
  }
  clear_errors();
  size_t n = 0;
  const int rc = SSL_read_ex(ssl_, out, cap, &n);
  if (!done_ && SSL_is_init_finished(ssl_)) {
    done_ = true;
  }
  if (rc == 1) {
    return static_cast<int>(n);
  }
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // the output BIO never refuses; listed for completeness
      return kWantInput;
    case SSL_ERROR_ZERO_RETURN:
      return kClosed;
    default:
      return fail();
  }
}

int TlsSession::fail() {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  switch (ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_UNKNOWN_PROTOCOL:
      failure_ = TlsFailure::kProtocolVersion;
      break;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      failure_ = TlsFailure::kNoSharedCipher;
      break;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      failure_ = TlsFailure::kAlpn;
      break;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      failure_ = TlsFailure::kClientCertificate;
      break;
    case SSL_R_HTTP_REQUEST:
      failure_ = TlsFailure::kHttpRequest;
      out_.assign(kPlainHttpAnswer);  // as plain text: the client speaks no TLS
      break;
    default:
      failure_ = TlsFailure::kBadRecord;
      break;
  }
  return kFailed;
}

bool TlsSession::write(const char* data, size_t len) {
  if (failure_ != TlsFailure::kNone) {
    return false;
  }
  clear_errors();
  while (len > 0) {
    size_t n = 0;
    if (SSL_write_ex(ssl_, data, len, &n) != 1) {
      fail();
      return false;
    }
    data += n;
    len -= n;
  }
  return true;
}

void TlsSession::shutdown() {
  if (failure_ == TlsFailure::kNone && done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
}

int TlsSession::version() const {
  return SSL_version(ssl_);
}

bool TlsSession::resumed() const {
  return SSL_session_reused(ssl_) == 1;
}

std::string_view TlsSession::peer_subject() const {
  if (subject_read_ || !done_) {
    return subject_;
  }
  subject_read_ = true;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert || SSL_get_verify_result(ssl_) != X509_V_OK) {
    return subject_;
  }
  BIO* text = BIO_new(BIO_s_mem());
  if (text && X509_NAME_print_ex(text, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(text, &data);
    subject_.assign(data, static_cast<size_t>(len));
  }
  BIO_free(text);
  return subject_;
}

std::string_view TlsSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return {reinterpret_cast<const char*>(p), len};
}

}  // namespace ringgate
