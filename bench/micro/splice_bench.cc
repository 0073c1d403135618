// Aggregation merge cost: three ~10 KB upstream bodies (a product, its inventory, its reviews)
// into {"a":…,"b":…,"c":…} with an allow projection on a, a rename on b and c as it is.
//   BM_SpliceMerge: json::Reader validates each body and projects it into a json::Writer,
//                   splicing raw bytes (what the gateway does).
//   BM_DomMerge:    simdjson DOM parse of each body and re-serialisation of the same shape with
//                   simdjson's string_builder (to_string's engine, without its per-call string).
// The issue's goal: splice ≥ 3× faster. BM_Validate / BM_DomParse show the parse part alone.

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ringgate/aggregate/json.h"

namespace {

namespace json = ringgate::json;

std::string product_body() {
  std::string s = R"({"id":"p-12345","sku":"LAMP-001","name":"Arc floor lamp \u00e9clair",)";
  s += R"("description":")";
  for (int i = 0; i < 12; ++i) {
    s += "A steel arc lamp with a marble base and a dimmable LED head, \\\"made to last\\\". ";
  }
  s += R"(","price":{"amount":19999,"currency":"EUR","tax":0.19,"discount":null},)";
  s += R"("categories":["home","lighting","floor-lamps","design","sale"],"attributes":{)";
  for (int i = 0; i < 20; ++i) {
    s += (i ? "," : "") + std::string("\"attr") + std::to_string(i) + "\":\"value " +
         std::to_string(i * 7) + "\"";
  }
  s += R"(},"images":[)";
  for (int i = 0; i < 10; ++i) {
    s += (i ? "," : "") + std::string(R"({"url":"https://cdn.example.com/p/12345/)") +
         std::to_string(i) + R"(.jpg","width":1600,"height":1200,"alt":"Lamp, view )" +
         std::to_string(i) + "\"}";
  }
  s += R"(],"variants":[)";
  for (int i = 0; i < 56; ++i) {
    s += (i ? "," : "") + std::string(R"({"sku":"LAMP-001-)") + std::to_string(i) +
         R"(","color":"black","stock":)" + std::to_string(i * 3) + R"(,"price":)" +
         std::to_string(19999 + i) + R"(,"dimensions":{"w":20.5,"h":145.25,"d":20.5},)" +
         R"("available":true})";
  }
  s += R"(],"related":[)";
  for (int i = 0; i < 20; ++i) {
    s += (i ? "," : "") + std::string("\"p-") + std::to_string(20000 + i) + "\"";
  }
  s +=
      R"(],"internal":{"cost":7000,"supplier":"s-9","margin":0.65},"updatedAt":"2024-05-01T10:00:00Z"})";
  return s;
}

std::string inventory_body() {
  std::string s = R"({"productId":"p-12345","count":37,"warehouses":[)";
  for (int i = 0; i < 70; ++i) {
    s += (i ? "," : "") + std::string(R"({"id":"w-)") + std::to_string(i) +
         R"(","name":"Warehouse )" + std::to_string(i) +
         R"(","location":{"lat":48.8566,"lon":2.3522,"city":"Paris"},"count":)" +
         std::to_string(i % 9) + R"(,"reserved":1,"updatedAt":"2024-05-01T10:00:00Z"})";
  }
  s += R"(],"currency":"EUR"})";
  return s;
}

std::string reviews_body() {
  std::string s = "[";
  for (int i = 0; i < 38; ++i) {
    s += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(1000 + i) +
         R"(,"author":{"id":"u-)" + std::to_string(i) + R"(","name":"Reviewer )" +
         std::to_string(i) + R"("},"stars":)" + std::to_string(1 + i % 5) +
         R"(,"title":"Solid lamp","text":"Bright, stable and easy to assemble. The dimmer )"
         R"(works well and the light is warm; shipping took two days.","helpful":)" +
         std::to_string(i * 2) + R"(,"verified":true,"createdAt":"2024-04-)" +
         std::to_string(10 + i % 18) + R"(T08:30:00Z"})";
  }
  return s + "]";
}

// A body with the padding both parsers need.
struct Padded {
  explicit Padded(std::string text) : len(text.size()) {
    buf = std::move(text);
    buf.append(json::kPadding, '\0');
  }
  std::string buf;
  size_t len;
};

struct Inputs {
  Padded a{product_body()};
  Padded b{inventory_body()};
  Padded c{reviews_body()};
  size_t bytes() const { return a.len + b.len + c.len; }
  Inputs() {
    std::fprintf(stderr, "bodies: a %zu bytes, b %zu bytes, c %zu bytes\n", a.len, b.len, c.len);
  }
};

const Inputs& inputs() {
  static const Inputs* in = new Inputs();
  return *in;
}

const char* const kAllowA[] = {"id", "name", "price", "images"};

json::Projection make(const json::ProjectionSpec& spec) {
  json::Projection p;
  std::string why;
  if (!json::Projection::build(spec, &p, &why)) {
    std::fprintf(stderr, "projection: %s\n", why.c_str());
    std::abort();
  }
  return p;
}

void BM_SpliceMerge(benchmark::State& state) {
  const Inputs& in = inputs();
  json::ProjectionSpec sa;
  sa.allow.assign(std::begin(kAllowA), std::end(kAllowA));
  json::ProjectionSpec sb;
  sb.rename = {{"count", "stock"}};
  const json::Projection pa = make(sa);
  const json::Projection pb = make(sb);
  const json::Projection pc;
  json::Reader reader;
  std::string out;
  const json::Limits limits;
  for (auto _ : state) {
    out.clear();
    json::Writer w(out);
    w.begin_object();
    for (auto [key, body, proj] :
         {std::tuple{"a", &in.a, &pa}, std::tuple{"b", &in.b, &pb}, std::tuple{"c", &in.c, &pc}}) {
      std::string_view why;
      if (!reader.validate(body->buf.data(), body->len, limits, &why)) {
        state.SkipWithError("invalid body");
        return;
      }
      w.key(key);
      if (reader.project(*proj, w) != json::Status::kOk) {
        state.SkipWithError("projection failed");
        return;
      }
    }
    w.end_object();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.bytes()));
  state.counters["in_bytes"] = static_cast<double>(in.bytes());
  state.counters["out_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_SpliceMerge);

void BM_DomMerge(benchmark::State& state) {
  const Inputs& in = inputs();
  simdjson::dom::parser parser;
  simdjson::internal::string_builder<> sb;
  std::string out;
  auto parse = [&](const Padded& p, simdjson::dom::element* e) {
    return parser.parse(p.buf.data(), p.len, false).get(*e) == simdjson::SUCCESS;
  };
  simdjson::dom::object obj;
  for (auto _ : state) {
    out.clear();
    simdjson::dom::element e;
    // a: allow of a few top-level keys.
    out += "{\"a\":{";
    if (!parse(in.a, &e) || e.get_object().get(obj) != simdjson::SUCCESS) {
      state.SkipWithError("invalid body");
      return;
    }
    bool first = true;
    for (simdjson::dom::key_value_pair kv : obj) {
      bool keep = false;
      for (const char* k : kAllowA) {
        keep = keep || kv.key == k;
      }
      if (keep) {
        sb.clear();
        sb.append(kv);
        out += first ? "" : ",";
        out += sb.str();
        first = false;
      }
    }
    // b: every member, `count` renamed.
    out += "},\"b\":{";
    if (!parse(in.b, &e) || e.get_object().get(obj) != simdjson::SUCCESS) {
      state.SkipWithError("invalid body");
      return;
    }
    first = true;
    for (simdjson::dom::key_value_pair kv : obj) {
      sb.clear();
      out += first ? "" : ",";
      first = false;
      if (kv.key == "count") {
        out += "\"stock\":";
        sb.append(kv.value);
      } else {
        sb.append(kv);
      }
      out += sb.str();
    }
    // c: as it is.
    out += "},\"c\":";
    if (!parse(in.c, &e)) {
      state.SkipWithError("invalid body");
      return;
    }
    sb.clear();
    sb.append(e);
    out += sb.str();
    out += "}";
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.bytes()));
  state.counters["in_bytes"] = static_cast<double>(in.bytes());
  state.counters["out_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_DomMerge);

void BM_Validate(benchmark::State& state) {
  const Inputs& in = inputs();
  json::Reader reader;
  const json::Limits limits;
  for (auto _ : state) {
    for (const Padded* p : {&in.a, &in.b, &in.c}) {
      benchmark::DoNotOptimize(reader.validate(p->buf.data(), p->len, limits, nullptr));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.bytes()));
}
BENCHMARK(BM_Validate);

void BM_DomParse(benchmark::State& state) {
  const Inputs& in = inputs();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    for (const Padded* p : {&in.a, &in.b, &in.c}) {
      simdjson::dom::element e;
      benchmark::DoNotOptimize(parser.parse(p->buf.data(), p->len, false).get(e));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.bytes()));
}
BENCHMARK(BM_DomParse);

}  // namespace

BENCHMARK_MAIN();
