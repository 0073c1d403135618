#pragma once
// A client's request parsed as a connection parses it, with the Exchange a connection would make
// for it: for tests of what runs after the head (the pipeline, actions, upstream calls).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ringgate/core/arena.h"
#include "ringgate/core/block_pool.h"
#include "ringgate/http/exchange.h"
#include "ringgate/http/request_parser.h"

namespace ringgate {

class ClientRequest {
 public:
  explicit ClientRequest(const Limits& limits)
      : scratch_(scratch_block_size(limits), 4), spans_(limits.headers) {
    context_.limits = &limits;
    context_.scratch_pool = &scratch_;
    context_.shared_spans = spans_.data();
    parser_.init(&context_);
  }

  // Parses `raw` (after the previous request's end) and makes its exchange, owned by `owner`.
  // The previous exchange's memory is given back.
  Exchange& parse(std::string raw, ExchangeOwner& owner) {
    raw_ = std::move(raw);
    arena_.reset();
    size_t consumed = 0;
    RequestParser::Event ev = parser_.feed(raw_.data(), raw_.size(), consumed);
    if (ev == RequestParser::Event::kMessageComplete) {
      size_t more = 0;
      ev = parser_.feed(raw_.data() + consumed, raw_.size() - consumed, more);
    }
    EXPECT_EQ(ev, RequestParser::Event::kHead) << raw_;
    return *arena_.make<Exchange>(owner, arena_, parser_, counters_);
  }

  RequestParser& parser() { return parser_; }
  ShardCounters& counters() { return counters_; }

 private:
  BlockPool scratch_;
  std::vector<HeaderSpan> spans_;
  ParserContext context_;
  RequestParser parser_;
  BlockPool arena_pool_{4096, 4};
  Arena arena_{&arena_pool_};
  ShardCounters counters_;
  std::string raw_;
};

}  // namespace ringgate
