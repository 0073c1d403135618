#pragma once
// What the request and response parser tests share: a parser wired to small limits, a scratch
// pool and a header table, and a sink that collects body bytes.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ringgate/http/error_reply.h"
#include "ringgate/http/request_parser.h"

namespace ringgate {

class StringSink final : public BodySink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void on_body(std::string_view d) override { out_.append(d); }

 private:
  std::string& out_;
};

template <typename Parser>
class ParserFixture : public ::testing::Test {
 protected:
  // Sets up the parser with `limits_` as adjusted by the test's constructor.
  void SetUp() override {
    pool_ = std::make_unique<BlockPool>(scratch_block_size(limits_), 4);
    spans_.resize(limits_.headers);
    ctx_.limits = &limits_;
    ctx_.scratch_pool = pool_.get();
    ctx_.shared_spans = spans_.data();
    parser_.init(&ctx_);
  }

  // Feeds each piece from a buffer of its own, as a connection does, calling on_event(ev) for
  // every event; a piece is poisoned once fed (as a recycled ring buffer is) to catch views that
  // outlive it. Stops at the first error (false).
  template <typename OnEvent>
  bool feed_pieces(const std::vector<std::string>& pieces, OnEvent on_event) {
    for (const std::string& piece : pieces) {
      std::vector<char> buf(piece.begin(), piece.end());
      size_t off = 0;
      for (;;) {
        size_t consumed = 0;
        const auto ev = parser_.feed(buf.data() + off, buf.size() - off, consumed);
        off += consumed;
        on_event(ev);
        if (ev == MessageParser::Event::kError) {
          return false;
        }
        if (ev == MessageParser::Event::kNeedMore && off >= buf.size()) {
          break;
        }
      }
      std::fill(buf.begin(), buf.end(), '#');
    }
    return true;
  }

  // Each head, fed whole with the fast path on and off, reports head_bytes() as its size.
  void expect_head_bytes_are_sizes(const std::vector<std::string>& heads) {
    for (const std::string& head : heads) {
      for (const bool fast : {true, false}) {
        parser_.reset();
        parser_.set_plain_fast_path(fast);
        size_t consumed = 0;
        ASSERT_EQ(parser_.feed(head.data(), head.size(), consumed), MessageParser::Event::kHead);
        EXPECT_EQ(parser_.head_bytes(), head.size()) << head << " fast " << fast;
      }
    }
    parser_.set_plain_fast_path(true);
  }

  // Feeds `all` in one piece and says, head by head, whether a fast path read it.
  std::vector<bool> plain_reads(const std::string& all) {
    std::vector<bool> plain;
    size_t off = 0;
    while (off < all.size()) {
      size_t consumed = 0;
      const auto ev = parser_.feed(all.data() + off, all.size() - off, consumed);
      off += consumed;
      if (ev == MessageParser::Event::kError) {
        ADD_FAILURE() << parser_.error().reason;
        break;
      }
      if (ev == MessageParser::Event::kHead) {
        plain.push_back(parser_.read_plain());
      }
    }
    return plain;
  }

  Limits limits_;
  std::unique_ptr<BlockPool> pool_;
  std::vector<HeaderSpan> spans_;
  ParserContext ctx_;
  Parser parser_;
};

}  // namespace ringgate
