// The RESP2 codec of the Redis link: commands written as arrays of bulk strings (binary-safe,
// arguments joined from parts), and replies read from the front of a buffer that may hold part of
// one reply or several pipelined ones.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/redis/link.h"

namespace ringgate {
namespace {

using resp::Arg;
using resp::Parse;
using resp::Reply;

std::string command(std::initializer_list<Arg> args) {
  std::string out;
  resp::append_command(out, args.begin(), args.size());
  return out;
}

Parse parse(std::string_view data, Reply& reply, size_t* used) {
  return resp::parse_reply(data.data(), data.size(), reply, used);
}

// Parses `data`, which must be exactly one whole reply.
Reply parse_whole(std::string_view data) {
  Reply reply;
  size_t used = 0;
  EXPECT_EQ(parse(data, reply, &used), Parse::kDone) << data;
  EXPECT_EQ(used, data.size()) << data;
  return reply;
}

Parse parse_status(std::string_view data) {
  Reply reply;
  size_t used = 0;
  return parse(data, reply, &used);
}

// ----- append_command -----

TEST(RespCommand, LeaseCallWithArgumentsJoinedFromParts) {
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  const std::string prefix = "ringgate:rl:";
  const std::string policy = "per-ip";
  const std::string key = "10.0.0.1";
  const std::string out = command({{{"EVALSHA"}}, {{sha}}, {{"1"}}, {{prefix, policy, ":", key}}});
  const std::string expected =
      "*4\r\n"
      "$7\r\nEVALSHA\r\n"
      "$40\r\n0123456789abcdef0123456789abcdef01234567\r\n"
      "$1\r\n1\r\n"
      "$27\r\nringgate:rl:per-ip:10.0.0.1\r\n";
  EXPECT_EQ(out, expected);
}

TEST(RespCommand, AppendsAfterWhatIsThereAndWritesEmptyArguments) {
  std::string out = "*1\r\n$4\r\nPING\r\n";
  const Arg args[] = {{{"SET"}}, {{"k"}}, {{""}}};
  resp::append_command(out, args, std::size(args));
  EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
  std::string none;
  resp::append_command(none, args, 0);
  EXPECT_EQ(none, "*0\r\n");
}

TEST(RespCommand, BinaryKeysCarryTheirByteLength) {
  // CR, LF and NUL inside a key (a header value) are data: only the length delimits them.
  const std::string key("a\r\nb\0c", 6);
  const std::string out = command({{{"GET"}}, {{"rl:", key}}});
  const std::string expected = std::string("*2\r\n$3\r\nGET\r\n$9\r\nrl:a\r\nb") + '\0' + "c\r\n";
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.size(), expected.size());
  // What we write, we can read back (a command is an array of bulk strings).
  const Reply r = parse_whole(out);
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.int_count, 0u);
}

TEST(RespCommand, LongArgumentLength) {
  const std::string big(100000, 'x');
  const std::string out = command({{{big, big}}});
  EXPECT_EQ(out.substr(0, 13), "*1\r\n$200000\r\n");
  EXPECT_EQ(out.size(), 13 + 200000 + 2u);
  EXPECT_EQ(out.substr(out.size() - 2), "\r\n");
}

// ----- parse_reply: one value -----

TEST(RespReply, SimpleStringAndError) {
  Reply r = parse_whole("+OK\r\n");
  EXPECT_EQ(r.type, Reply::Type::kSimple);
  EXPECT_EQ(r.text, "OK");
  r = parse_whole("-NOSCRIPT No matching script\r\n");
  EXPECT_EQ(r.type, Reply::Type::kError);
  EXPECT_EQ(r.text, "NOSCRIPT No matching script");
  r = parse_whole("+\r\n");
  EXPECT_EQ(r.type, Reply::Type::kSimple);
  EXPECT_EQ(r.text, "");
}

TEST(RespReply, Integers) {
  EXPECT_EQ(parse_whole(":42\r\n").integer, 42);
  EXPECT_EQ(parse_whole(":0\r\n").integer, 0);
  const Reply neg = parse_whole(":-1234567\r\n");
  EXPECT_EQ(neg.type, Reply::Type::kInteger);
  EXPECT_EQ(neg.integer, -1234567);
  EXPECT_EQ(parse_whole(":9223372036854775807\r\n").integer, INT64_MAX);
  EXPECT_EQ(parse_whole(":-9223372036854775808\r\n").integer, INT64_MIN);
}

TEST(RespReply, BulkStrings) {
  Reply r = parse_whole("$5\r\nhello\r\n");
  EXPECT_EQ(r.type, Reply::Type::kBulk);
  EXPECT_EQ(r.text, "hello");
  r = parse_whole("$0\r\n\r\n");
  EXPECT_EQ(r.type, Reply::Type::kBulk);
  EXPECT_EQ(r.text, "");
  // Binary-safe: CRLF and NUL inside the payload.
  const std::string binary = std::string("$6\r\na\r\nb") + '\0' + "c\r\n";
  r = parse_whole(binary);
  EXPECT_EQ(r.type, Reply::Type::kBulk);
  EXPECT_EQ(r.text, std::string_view("a\r\nb\0c", 6));
  // The text is a view into the buffer, not a copy.
  EXPECT_EQ(r.text.data(), binary.data() + 4);
}

TEST(RespReply, NullBulkAndNullArray) {
  Reply r = parse_whole("$-1\r\n");
  EXPECT_EQ(r.type, Reply::Type::kNull);
  r = parse_whole("*-1\r\n");
  EXPECT_EQ(r.type, Reply::Type::kNull);
  EXPECT_EQ(r.count, 0u);
}

// ----- parse_reply: arrays -----

TEST(RespReply, ArrayOfIntegersIsKept) {
  // The lease script's answers: {granted, 0} and {0, µs to wait}.
  Reply r = parse_whole("*2\r\n:8\r\n:0\r\n");
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.count, 2u);
  ASSERT_EQ(r.int_count, 2u);
  EXPECT_EQ(r.ints[0], 8);
  EXPECT_EQ(r.ints[1], 0);
  r = parse_whole("*2\r\n:0\r\n:-350\r\n");
  ASSERT_EQ(r.int_count, 2u);
  EXPECT_EQ(r.ints[0], 0);
  EXPECT_EQ(r.ints[1], -350);
  r = parse_whole("*0\r\n");
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.int_count, 0u);
}

TEST(RespReply, OnlyTheFirstIntegersAreKept) {
  const Reply r = parse_whole("*6\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n");
  EXPECT_EQ(r.count, 6u);
  ASSERT_EQ(r.int_count, Reply::kMaxInts);
  for (size_t i = 0; i < Reply::kMaxInts; ++i) {
    EXPECT_EQ(r.ints[i], static_cast<int64_t>(i + 1));
  }
}

TEST(RespReply, NestedArraysAreSkippedWithTheTopLevelCountRight) {
  // An integer, a nested array (with its own nested array and a bulk), then an integer.
  const std::string data = "*3\r\n:7\r\n*3\r\n:100\r\n*1\r\n:200\r\n$1\r\nx\r\n:9\r\n";
  const Reply r = parse_whole(data);
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.count, 3u);
  ASSERT_EQ(r.int_count, 1u);  // the nested array ends the leading integers
  EXPECT_EQ(r.ints[0], 7);
  // A nested array first: its integers are not the top level's.
  const Reply first = parse_whole("*2\r\n*2\r\n:5\r\n:6\r\n:1\r\n");
  EXPECT_EQ(first.count, 2u);
  EXPECT_EQ(first.int_count, 0u);
  EXPECT_EQ(first.ints[0], 0);
  // Null elements inside an array.
  const Reply nulls = parse_whole("*3\r\n$-1\r\n*-1\r\n+OK\r\n");
  EXPECT_EQ(nulls.count, 3u);
  EXPECT_EQ(nulls.int_count, 0u);
}

TEST(RespReply, MixedArrayStopsAtTheFirstNonInteger) {
  Reply r = parse_whole("*3\r\n:1\r\n$2\r\nab\r\n:2\r\n");
  EXPECT_EQ(r.count, 3u);
  ASSERT_EQ(r.int_count, 1u);
  EXPECT_EQ(r.ints[0], 1);
  r = parse_whole("*3\r\n:1\r\n:2\r\n-ERR in the middle\r\n");
  EXPECT_EQ(r.count, 3u);
  EXPECT_EQ(r.int_count, 2u);
  r = parse_whole("*2\r\n+OK\r\n:5\r\n");
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.int_count, 0u);
}

TEST(RespReply, DepthUpToTheLimitIsRead) {
  std::string data;
  for (int i = 0; i < 8; ++i) {
    data += "*1\r\n";
  }
  data += ":1\r\n";
  const Reply r = parse_whole(data);
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.count, 1u);
}

// ----- parse_reply: partial and pipelined buffers -----

TEST(RespReply, EveryStrictPrefixNeedsMore) {
  const std::vector<std::string> replies = {
      "+OK\r\n",
      "-ERR wrong\r\n",
      ":-12\r\n",
      "$5\r\nab\r\nc\r\n",
      "$0\r\n\r\n",
      "$-1\r\n",
      "*-1\r\n",
      "*2\r\n:4\r\n:0\r\n",
      "*3\r\n:1\r\n*2\r\n$3\r\nabc\r\n:2\r\n+x\r\n",
      "*0\r\n",
  };
  for (const std::string& one : replies) {
    for (size_t len = 0; len < one.size(); ++len) {
      Reply r;
      size_t used = 12345;
      EXPECT_EQ(resp::parse_reply(one.data(), len, r, &used), Parse::kNeedMore)
          << "prefix " << len << " of " << one;
    }
  }
}

TEST(RespReply, ByteByByteStreamOfPipelinedReplies) {
  const std::string stream =
      "+OK\r\n"
      "$40\r\n0123456789abcdef0123456789abcdef01234567\r\n"
      "*2\r\n:4\r\n:0\r\n"
      "*2\r\n:0\r\n:250000\r\n"
      "-NOSCRIPT gone\r\n"
      "*2\r\n$-1\r\n*1\r\n:3\r\n"
      ":-5\r\n";
  // Fed one byte at a time, as a reader that keeps what it could not parse yet.
  std::vector<Reply> got;
  size_t at = 0;
  for (size_t len = 1; len <= stream.size(); ++len) {
    for (;;) {
      Reply r;
      size_t used = 0;
      const Parse p = resp::parse_reply(stream.data() + at, len - at, r, &used);
      ASSERT_NE(p, Parse::kBad) << "at " << at << " len " << len;
      if (p == Parse::kNeedMore) {
        break;
      }
      ASSERT_GT(used, 0u);
      ASSERT_LE(at + used, len);
      at += used;
      got.push_back(r);
    }
  }
  EXPECT_EQ(at, stream.size());
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[0].type, Reply::Type::kSimple);
  EXPECT_EQ(got[0].text, "OK");
  EXPECT_EQ(got[1].type, Reply::Type::kBulk);
  EXPECT_EQ(got[1].text.size(), 40u);
  ASSERT_EQ(got[2].int_count, 2u);
  EXPECT_EQ(got[2].ints[0], 4);
  ASSERT_EQ(got[3].int_count, 2u);
  EXPECT_EQ(got[3].ints[1], 250000);
  EXPECT_EQ(got[4].type, Reply::Type::kError);
  EXPECT_EQ(got[4].text, "NOSCRIPT gone");
  EXPECT_EQ(got[5].type, Reply::Type::kArray);
  EXPECT_EQ(got[5].count, 2u);
  EXPECT_EQ(got[5].int_count, 0u);
  EXPECT_EQ(got[6].integer, -5);
}

TEST(RespReply, TwoPipelinedRepliesOneAfterTheOther) {
  const std::string data = "*2\r\n:3\r\n:0\r\n+OK\r\n:17";
  Reply r;
  size_t used = 0;
  ASSERT_EQ(parse(data, r, &used), Parse::kDone);
  EXPECT_EQ(used, 12u);
  EXPECT_EQ(r.type, Reply::Type::kArray);
  EXPECT_EQ(r.ints[0], 3);
  size_t used2 = 0;
  ASSERT_EQ(resp::parse_reply(data.data() + used, data.size() - used, r, &used2), Parse::kDone);
  EXPECT_EQ(used2, 5u);
  EXPECT_EQ(r.type, Reply::Type::kSimple);
  EXPECT_EQ(r.text, "OK");
  // The reply is reset between calls: nothing of the array is left.
  EXPECT_EQ(r.int_count, 0u);
  EXPECT_EQ(r.count, 0u);
  // The third has not fully arrived.
  size_t used3 = 0;
  EXPECT_EQ(resp::parse_reply(data.data() + used + used2, data.size() - used - used2, r, &used3),
            Parse::kNeedMore);
}

// ----- parse_reply: not RESP -----

TEST(RespReply, UnknownTypeBytesAreBad) {
  // RESP3 types (the link speaks RESP2) and plain garbage.
  for (std::string_view data : {"_\r\n", "%1\r\n+a\r\n+b\r\n", "#t\r\n", ",1.5\r\n", "x\r\n",
                                "HTTP/1.1 400 Bad Request\r\n"}) {
    EXPECT_EQ(parse_status(data), Parse::kBad) << data;
  }
}

TEST(RespReply, BadIntegersAndLengthsAreBad) {
  for (std::string_view data :
       {":\r\n", ":12a\r\n", ": 1\r\n", ":1.0\r\n", ":99999999999999999999\r\n", "$\r\n",
        "$x\r\nab\r\n", "$-2\r\n", "$-100\r\n", "*\r\n", "*two\r\n", "*-2\r\n", "$536870913\r\n",
        "*1048577\r\n"}) {
    EXPECT_EQ(parse_status(data), Parse::kBad) << data;
  }
}

TEST(RespReply, BulkWithoutItsTerminatorIsBad) {
  EXPECT_EQ(parse_status("$3\r\nabcXY"), Parse::kBad);
  EXPECT_EQ(parse_status("$3\r\nabc\n\r"), Parse::kBad);
  EXPECT_EQ(parse_status("$1\r\nabc\r\n"), Parse::kBad);  // longer than its length says
  EXPECT_EQ(parse_status("*2\r\n$1\r\nxy\r\n:1\r\n"), Parse::kBad);
}

TEST(RespReply, BadElementMakesTheArrayBad) {
  EXPECT_EQ(parse_status("*2\r\n:1\r\n?\r\n"), Parse::kBad);
  EXPECT_EQ(parse_status("*2\r\n:1\r\n*1\r\n:z\r\n"), Parse::kBad);
}

TEST(RespReply, NestingBeyondTheLimitIsBad) {
  std::string data;
  for (int i = 0; i < 9; ++i) {
    data += "*1\r\n";
  }
  data += ":1\r\n";
  EXPECT_EQ(parse_status(data), Parse::kBad);
  std::string deep;
  for (int i = 0; i < 1000; ++i) {
    deep += "*1\r\n";
  }
  EXPECT_EQ(parse_status(deep), Parse::kBad);
}

TEST(RespReply, AnEndlessLineIsBadNotWaitedFor) {
  std::string line = "+" + std::string(1000, 'a');
  EXPECT_EQ(parse_status(line), Parse::kNeedMore);
  line = "+" + std::string(70 * 1024, 'a');
  EXPECT_EQ(parse_status(line), Parse::kBad);
}

}  // namespace
}  // namespace ringgate
