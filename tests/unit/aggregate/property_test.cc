// Properties over random valid documents (generated here, with random whitespace, escapes,
// unicode, duplicate keys and numbers in every form): they validate; allow of every top-level
// key reproduces the document; deny of every key gives {}; rebuilding through members() and the
// Writer reproduces it; find() returns each member's first value; random Writer use validates.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;

// Drops whitespace outside strings: two texts of one JSON value written alike compare equal.
std::string minify(std::string_view text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\') {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      out.push_back(c);
    }
  }
  return out;
}

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  struct Member {
    std::string name;  // unescaped
    std::string text;  // the value's JSON text
  };

  // An object document; `members` receives its top-level members in order.
  std::string object_document(std::vector<Member>* members) {
    std::string s = ws() + "{";
    const int n = pick(0, 7);
    for (int i = 0; i < n; ++i) {
      // Top-level names must be addressable by a Path: no . [ ] and not empty. Some repeat.
      std::string name;
      if (!members->empty() && pick(0, 5) == 0) {
        name = (*members)[static_cast<size_t>(pick(0, static_cast<int>(members->size()) - 1))].name;
      } else {
        name = text(true);
      }
      const std::string value = this->value(1);
      members->push_back({name, value});
      s += (i > 0 ? "," : "") + ws() + quote(name) + ws() + ":" + ws() + value + ws();
    }
    return s + "}" + ws();
  }

  std::string value(int depth) {
    const int kind = pick(0, depth >= 6 ? 4 : 8);
    switch (kind) {
      case 0:
        return number();
      case 1:
        return quote(text(false));
      case 2:
        return pick(0, 1) ? "true" : "false";
      case 3:
        return "null";
      case 4:
        return quote(text(false));
      case 5:
      case 6: {
        std::string s = "[" + ws();
        const int n = pick(0, 5);
        for (int i = 0; i < n; ++i) {
          s += (i > 0 ? "," + ws() : "") + value(depth + 1) + ws();
        }
        return s + "]";
      }
      default: {
        std::string s = "{" + ws();
        const int n = pick(0, 5);
        for (int i = 0; i < n; ++i) {
          s += (i > 0 ? "," + ws() : "") + quote(text(false)) + ws() + ":" + ws() +
               value(depth + 1) + ws();
        }
        return s + "}";
      }
    }
  }

  // Some text: ASCII, multi-byte UTF-8, control characters and quotes (escaped by quote()).
  std::string text(bool addressable) {
    static const char* const kPieces[] = {
        "a",  "b",  "id", "x y", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\"", "\\", "/",  "\n",  "\t",       "\x01",         "\x7f",
        "0",  "_",  "Z"};
    std::string s;
    const int n = pick(addressable ? 1 : 0, 4);
    for (int i = 0; i < n; ++i) {
      s += kPieces[pick(0, sizeof kPieces / sizeof kPieces[0] - 1)];
    }
    if (!addressable && pick(0, 4) == 0) {
      s += pick(0, 1) ? "." : "[0]";
    }
    return s;
  }

  // `s` as a JSON string, escaped in one of several equivalent ways.
  std::string quote(const std::string& s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      const int style = pick(0, 3);
      if (c == '"') {
        out += "\\\"";
      } else if (c == '\\') {
        out += style == 0 ? "\\u005c" : "\\\\";
      } else if (c == '\n') {
        out += style == 0 ? "\\u000a" : "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20) {
        out += "\\u0001";
      } else if (c == '/' && style == 0) {
        out += "\\/";
      } else if (c < 0x80 && style == 1 && c != '/') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04X", c);
        out += buf;
      } else if (c == 0xf0 && style == 2 && i + 3 < s.size()) {
        out += "\\ud83d\\ude00";  // the only 4-byte piece is U+1F600
        i += 3;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    return out + "\"";
  }

  std::string number() {
    static const char* const kNumbers[] = {"0",         "-0",
                                           "7",         "-42",
                                           "3.25",      "-0.5",
                                           "1e3",       "1E+3",
                                           "2e-8",      "6.02E23",
                                           "-1.5e-300", "123456789012345678901234567890",
                                           "1e400",     "9223372036854775808"};
    return kNumbers[pick(0, sizeof kNumbers / sizeof kNumbers[0] - 1)];
  }

  std::string ws() {
    static const char* const kWs[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return kWs[pick(0, sizeof kWs / sizeof kWs[0] - 1)];
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

constexpr int kDocuments = 600;

bool validates(Reader& reader, std::string_view text, std::string* why_out = nullptr) {
  const Body body(text);
  std::string_view why;
  const bool ok = reader.validate(body.data(), body.size(), Limits{}, &why);
  if (why_out != nullptr) {
    *why_out = std::string(why);
  }
  return ok;
}

TEST(PropertyTest, ProjectionsOfRandomDocuments) {
  Reader reader;
  Reader check;
  for (int seed = 0; seed < kDocuments; ++seed) {
    Generator gen(static_cast<uint32_t>(seed));
    std::vector<Generator::Member> members;
    const std::string doc = gen.object_document(&members);
    const Body body(doc);
    std::string_view why;
    ASSERT_TRUE(reader.validate(body.data(), body.size(), Limits{}, &why))
        << "seed " << seed << ": " << why << "\n"
        << doc;

    // allow of every top-level key reproduces the document.
    ProjectionSpec all;
    std::set<std::string> names;
    for (const auto& m : members) {
      if (names.insert(m.name).second) {
        all.allow.push_back(m.name);
      }
    }
    Projection p;
    std::string reason;
    ASSERT_TRUE(Projection::build(all, &p, &reason)) << reason;
    std::string out;
    Writer w(out);
    ASSERT_EQ(reader.project(p, w), Status::kOk);
    ASSERT_TRUE(w.complete());
    EXPECT_EQ(minify(out), minify(doc)) << "seed " << seed;
    std::string check_why;
    EXPECT_TRUE(validates(check, out, &check_why)) << check_why << "\n" << out;

    // deny of every key gives {}.
    ProjectionSpec none;
    none.deny = all.allow;
    ASSERT_TRUE(Projection::build(none, &p, &reason)) << reason;
    out.clear();
    Writer d(out);
    ASSERT_EQ(reader.project(p, d), Status::kOk);
    EXPECT_EQ(out, "{}") << "seed " << seed;

    // members() + Writer rebuild it, with keys escaped by the Writer this time.
    out.clear();
    Writer m(out);
    m.begin_object();
    size_t i = 0;
    ASSERT_EQ(reader.members(Projection(),
                             [&](const Member& member) {
                               EXPECT_LT(i, members.size());
                               if (i < members.size()) {
                                 EXPECT_EQ(member.key, members[i].name);
                                 EXPECT_EQ(minify(member.value), minify(members[i].text));
                               }
                               ++i;
                               m.key(member.key);
                               m.raw(member.value);
                             }),
              Status::kOk);
    m.end_object();
    EXPECT_EQ(i, members.size());
    ASSERT_TRUE(m.complete());
    EXPECT_TRUE(validates(check, out, &check_why)) << check_why << "\n" << out;

    // find() returns the first value of each name.
    for (const std::string& name : names) {
      Path path;
      ASSERT_TRUE(Path::parse(name, &path, &reason)) << reason;
      std::string_view raw;
      ASSERT_EQ(reader.find(path, &raw), Status::kOk) << name;
      for (const auto& mem : members) {
        if (mem.name == name) {
          EXPECT_EQ(minify(raw), minify(mem.text)) << name;
          break;
        }
      }
    }
  }
}

TEST(PropertyTest, RandomWriterUseAlwaysValidates) {
  Reader check;
  for (int seed = 0; seed < kDocuments; ++seed) {
    Generator gen(static_cast<uint32_t>(seed) + 100000);
    std::string out;
    Writer w(out);
    // A random walk over the calls that are legal in each state, until the value is complete.
    std::vector<bool> objects;  // the open containers
    bool want_key = false;
    int steps = 0;
    while (!w.complete()) {
      const bool must_close = ++steps > 60 || objects.size() >= 8;
      if (!objects.empty() && objects.back() && want_key) {
        if (must_close || gen.pick(0, 3) == 0) {
          w.end_object();
          objects.pop_back();
          want_key = !objects.empty() && objects.back();
        } else {
          w.key(gen.text(false) + (gen.pick(0, 3) == 0 ? "\xff\xc3" : ""));
          want_key = false;
        }
        continue;
      }
      if (!objects.empty() && !objects.back() && (must_close || gen.pick(0, 3) == 0)) {
        w.end_array();
        objects.pop_back();
        want_key = !objects.empty() && objects.back();
        continue;
      }
      const int kind = must_close ? gen.pick(2, 6) : gen.pick(0, 6);
      switch (kind) {
        case 0:
          w.begin_object();
          objects.push_back(true);
          want_key = true;
          continue;
        case 1:
          w.begin_array();
          objects.push_back(false);
          continue;
        case 2:
          w.raw(gen.value(3));
          break;
        case 3:
          w.string(gen.text(false) + (gen.pick(0, 3) == 0 ? "\x80" : ""));
          break;
        case 4:
          w.number(static_cast<int64_t>(gen.rng()()) * (gen.pick(0, 1) ? -1 : 1));
          break;
        case 5:
          w.null();
          break;
        default:
          w.boolean(gen.pick(0, 1) == 1);
      }
      want_key = !objects.empty() && objects.back();
    }
    ASSERT_FALSE(w.failed()) << "seed " << seed << ": " << out;
    std::string why;
    EXPECT_TRUE(validates(check, out, &why)) << "seed " << seed << ": " << why << "\n" << out;
  }
}

}  // namespace
}  // namespace ringgate::json
