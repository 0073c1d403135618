// TlsSession and TlsServer without sockets: a client SSL over memory BIOs talks to the server
// session directly. Session tickets open on another thread (another shard) with no shared state,
// and stop opening two rotation periods later; SNI picks certificates; plaintext survives both
// ways intact, fed in any piece sizes.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "ringgate/tls/server.h"
#include "ringgate/tls/session.h"
#include "tls_memory_client.h"

namespace ringgate {
namespace {

const std::string kCerts = RINGGATE_SOURCE_DIR "/tests/fuzz/tls";

std::shared_ptr<TlsServer> make_server(
    std::chrono::milliseconds rotation = std::chrono::hours(12)) {
  TlsListenConfig config;
  config.certificates.push_back({kCerts + "/server.pem", kCerts + "/server.key"});
  config.ticket_key_rotation = rotation;
  std::string error;
  auto server = TlsServer::create(config, error);
  EXPECT_TRUE(server) << error;
  return server;
}

// A client over memory BIOs, driven against a server session in the same thread.
class Client {
 public:
  explicit Client(SSL_SESSION* resume = nullptr, int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version) {
      SSL_CTX_set_max_proto_version(ctx_, max_version);
    }
    ssl_ = new_memory_client(ctx_, &in_, &out_);
    SSL_set_tlsext_host_name(ssl_, "fuzz.test");
    if (resume) {
      SSL_set_session(ssl_, resume);
    }
  }
  ~Client() {
    // A session freed without close_notify is marked unusable by OpenSSL's client (a connection
    // that may have been cut): say goodbye first, as a real client does.
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  // Moves bytes both ways until neither side has anything to say; `piece` bytes at a time into
  // the server. Returns the plaintext the server read.
  std::string pump(TlsSession& server, size_t piece = 1 << 20) {
    std::string plain;
    for (int round = 0; round < 64; ++round) {
      SSL_do_handshake(ssl_);
      char buf[65536];
      int n;
      bool moved = false;
      while ((n = BIO_read(out_, buf, sizeof buf)) > 0) {
        moved = true;
        for (int at = 0; at < n; at += static_cast<int>(piece)) {
          server.feed(buf + at, std::min<size_t>(piece, static_cast<size_t>(n - at)));
          int r;
          char p[16384];
          while ((r = server.read(p, sizeof p)) > 0) {
            plain.append(p, static_cast<size_t>(r));
          }
        }
      }
      if (!server.output().empty()) {
        moved = true;
        BIO_write(in_, server.output().data(), static_cast<int>(server.output().size()));
        server.output().clear();
      }
      // Let the client read what arrived (tickets, responses).
      size_t got = 0;
      while (SSL_read_ex(ssl_, buf, sizeof buf, &got) == 1) {
        received_.append(buf, got);
      }
      ERR_clear_error();
      if (!moved) {
        break;
      }
    }
    return plain;
  }

  bool done() const { return SSL_is_init_finished(ssl_); }
  SSL* ssl() { return ssl_; }
  std::string& received() { return received_; }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* in_;
  BIO* out_;
  std::string received_;
};

TEST(TlsSession, HandshakeThenDataBothWaysInAnyPieceSizes) {
  auto server = make_server();
  for (size_t piece : {size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
    TlsSession s;
    ASSERT_TRUE(s.start(*server));
    Client c;
    c.pump(s, piece);
    ASSERT_TRUE(c.done()) << piece;
    ASSERT_TRUE(s.handshake_done()) << piece;
    EXPECT_EQ(s.version(), TLS1_3_VERSION);
    std::string big(40000, 'q');
    size_t written = 0;
    ASSERT_EQ(SSL_write_ex(c.ssl(), big.data(), big.size(), &written), 1);
    EXPECT_EQ(c.pump(s, piece), big) << piece;
    ASSERT_TRUE(s.write("pong", 4));
    c.pump(s, piece);
    EXPECT_EQ(c.received(), "pong") << piece;
  }
}

// A ticket issued on one thread (shard) opens on another: the keys are derived, not shared.
TEST(TlsSession, ATicketFromOneShardResumesOnAnother) {
  auto server = make_server();
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SSL_SESSION* ticket = nullptr;
    std::thread first([&] {
      TlsSession s;
      ASSERT_TRUE(s.start(*server));
      Client c(nullptr, version);
      c.pump(s);
      ASSERT_TRUE(s.handshake_done());
      EXPECT_FALSE(s.resumed());
      ticket = SSL_get1_session(c.ssl());
    });
    first.join();
    ASSERT_NE(ticket, nullptr);
    std::thread second([&] {
      TlsSession s;
      ASSERT_TRUE(s.start(*server));
      Client c(ticket, version);
      c.pump(s);
      ASSERT_TRUE(s.handshake_done());
      EXPECT_TRUE(s.resumed()) << version;
    });
    second.join();
    SSL_SESSION_free(ticket);
  }
}

// Tickets open during their period and the next, and not after: rotation retires keys.
TEST(TlsSession, TicketsExpireTwoRotationPeriodsLater) {
  using namespace std::chrono;
  auto server = make_server(milliseconds(1000));
  // Start just after a period begins, so that the whole test sits in known periods.
  const auto wall = [] {
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  };
  std::this_thread::sleep_for(milliseconds(1000 - wall() % 1000 + 20));
  SSL_SESSION* ticket = nullptr;
  {
    TlsSession s;
    ASSERT_TRUE(s.start(*server));
    Client c(nullptr, TLS1_2_VERSION);
    c.pump(s);
    ticket = SSL_get1_session(c.ssl());
  }
  auto resumes = [&] {
    TlsSession s;
    EXPECT_TRUE(s.start(*server));
    Client c(ticket, TLS1_2_VERSION);
    c.pump(s);
    EXPECT_TRUE(s.handshake_done());
    return s.resumed();
  };
  EXPECT_TRUE(resumes());  // same period
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_TRUE(resumes());  // the next one
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_FALSE(resumes());  // two periods on: a full handshake
  SSL_SESSION_free(ticket);
}

// Records in `out` (whole TLS records, as the session writes them).
size_t records(const std::string& out) {
  size_t n = 0;
  for (size_t at = 0; at + 5 <= out.size(); ++n) {
    at += 5 + ((static_cast<uint8_t>(out[at + 3]) << 8) | static_cast<uint8_t>(out[at + 4]));
  }
  return n;
}

// A KeyUpdate asking for ours: OpenSSL 3.0 answers it with the next write (not from the read),
// so the answer leaves with the next response, ahead of it, in the same output.
TEST(TlsSession, AKeyUpdateRequestIsAnsweredAheadOfTheNextWrite) {
  auto server = make_server();
  TlsSession s;
  ASSERT_TRUE(s.start(*server));
  Client c;
  c.pump(s);
  ASSERT_TRUE(s.handshake_done());
  ASSERT_TRUE(s.write("before", 6));
  EXPECT_EQ(records(s.output()), 1u);  // one response, one record
  c.pump(s);
  ASSERT_EQ(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  size_t written = 0;
  ASSERT_EQ(SSL_write_ex(c.ssl(), "ping", 4, &written), 1);
  char buf[4096];
  const int n = BIO_read(SSL_get_wbio(c.ssl()), buf, sizeof buf);
  ASSERT_GT(n, 0);
  s.feed(buf, static_cast<size_t>(n));
  char plain[64];
  ASSERT_EQ(s.read(plain, sizeof plain), 4);
  EXPECT_EQ(std::string(plain, 4), "ping");
  ASSERT_TRUE(s.write("pong", 4));
  EXPECT_EQ(records(s.output()), 2u) << "the KeyUpdate, then the response";
  c.pump(s);
  EXPECT_EQ(c.received(), "beforepong");
}

TEST(TlsSession, GarbageFailsWithAReasonAndStaysFailed) {
  auto server = make_server();
  TlsSession s;
  ASSERT_TRUE(s.start(*server));
  const std::string garbage("\x16\x03\x01\x00\x08garbage!", 13);
  s.feed(garbage.data(), garbage.size());
  char buf[256];
  EXPECT_EQ(s.read(buf, sizeof buf), TlsSession::kFailed);
  EXPECT_EQ(s.failure(), TlsFailure::kBadRecord);
  EXPECT_EQ(s.read(buf, sizeof buf), TlsSession::kFailed);
  EXPECT_FALSE(s.write("x", 1));
  EXPECT_EQ(ERR_peek_error(), 0u) << "the thread's error queue is left empty";
}

}  // namespace
}  // namespace ringgate
