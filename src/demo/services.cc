// The demo's microservices: every document is generated from the id in the path, so the same
// request always gets the same bytes and ids relate across services (an order's customerId is a
// customer and a user; its lines name catalog products).

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/demo/demo.h"

namespace ringgate::demo {

namespace {

constexpr uint32_t kProducts = 500;     // /products/1 .. /products/500
constexpr uint32_t kPeople = 50;        // customers and users 1 .. 50
constexpr uint32_t kFirstOrder = 1001;  // /orders/1001 .. /orders/1999
constexpr uint32_t kLastOrder = 1999;

constexpr std::string_view kAdjectives[] = {"Trail",  "Urban",  "Alpine", "Coastal", "Midnight",
                                            "Summit", "Harbor", "Desert", "Polar",   "Meadow"};
constexpr std::string_view kNouns[] = {"Runner", "Backpack", "Jacket", "Lantern", "Bottle",
                                       "Tent",   "Headlamp", "Boots",  "Gloves",  "Compass"};
constexpr std::string_view kBrands[] = {"Northwind", "Fjellbrand", "Kestrel", "Outline", "Basalt"};
constexpr std::string_view kColors[] = {"teal", "graphite", "sand", "crimson", "olive", "navy"};
constexpr std::string_view kWarehouses[] = {"eu-west-1", "eu-central-1", "us-east-1"};
constexpr std::string_view kFirstNames[] = {"Ada",     "Grace", "Alan",  "Barbara", "Edsger",
                                            "Frances", "Ken",   "Radia", "Donald",  "Margaret"};
constexpr std::string_view kLastNames[] = {"Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra"};
constexpr std::string_view kCities[] = {"Berlin", "Lisbon", "Oslo", "Toronto", "Osaka"};
constexpr std::string_view kCountries[] = {"DE", "PT", "NO", "CA", "JP"};
constexpr std::string_view kTiers[] = {"standard", "silver", "gold"};
constexpr std::string_view kStatuses[] = {"placed", "paid", "shipped", "delivered"};
constexpr std::string_view kReviewTexts[] = {
    "Does exactly what it says; survived a wet week in the hills.",
    "Good value, a little heavier than I expected.",
    "Second one I bought. The first is still going after three years.",
    "Fine for the city, not for real mountains.",
};

template <size_t N>
std::string_view pick(const std::string_view (&list)[N], uint32_t n) {
  return list[n % N];
}

// A positive decimal id, as the whole segment; 0 when it is not one.
uint32_t parse_id(std::string_view text) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || text[0] == '0') {
    return 0;
  }
  return v;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    out.push_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

// JSON text by appending; every string the demo writes is plain ASCII without quotes or
// backslashes, so nothing needs escaping.
class Json {
 public:
  Json& raw(std::string_view text) {
    out_ += text;
    return *this;
  }
  Json& key(std::string_view name) {
    comma();
    out_ += '"';
    out_ += name;
    out_ += "\":";
    fresh_ = false;
    return *this;
  }
  Json& str(std::string_view v) {
    comma();
    out_ += '"';
    out_ += v;
    out_ += '"';
    fresh_ = false;
    return *this;
  }
  Json& num(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    fresh_ = false;
    return *this;
  }
  // A decimal with two digits after the point, from hundredths.
  Json& cents(uint64_t hundredths) {
    comma();
    out_ += std::to_string(hundredths / 100);
    out_ += '.';
    out_ += static_cast<char>('0' + hundredths % 100 / 10);
    out_ += static_cast<char>('0' + hundredths % 10);
    fresh_ = false;
    return *this;
  }
  Json& open(char bracket) {
    comma();
    out_ += bracket;
    fresh_ = true;
    return *this;
  }
  Json& close(char bracket) {
    out_ += bracket;
    fresh_ = false;
    return *this;
  }
  std::string take() {
    out_ += '\n';
    return std::move(out_);
  }

 private:
  void comma() {
    if (!fresh_ && !out_.empty() && out_.back() != ':') {
      out_ += ',';
    }
  }
  std::string out_;
  bool fresh_ = true;
};

std::string person_name(uint32_t id) {
  std::string name(pick(kFirstNames, id));
  name += ' ';
  name += pick(kLastNames, id / 10 + id);
  return name;
}

std::string lower_login(uint32_t id) {
  std::string login(pick(kFirstNames, id));
  for (char& c : login) {
    c = static_cast<char>(c | 0x20);
  }
  return login + std::to_string(id);
}

uint64_t price_cents(uint32_t id) {
  return 999 + (id * 3701u) % 20000;
}

uint32_t order_customer(uint32_t order) {
  return 1 + (order * 7u) % kPeople;
}

uint32_t order_line_count(uint32_t order) {
  return 1 + order % 3;
}

uint32_t order_line_product(uint32_t order, uint32_t line) {
  return 1 + (order * 13u + line * 101u) % kProducts;
}

std::string product(uint32_t id) {
  Json j;
  std::string name(pick(kAdjectives, id));
  name += ' ';
  name += pick(kNouns, id / 10 + id);
  const std::string id_text = std::to_string(id);
  std::string sku = "RG-" + std::string(5 - std::min<size_t>(5, id_text.size()), '0') + id_text;
  j.open('{').key("id").num(id).key("sku").str(sku).key("name").str(name);
  j.key("brand").str(pick(kBrands, id * 7));
  j.key("price").open('{').key("amount").cents(price_cents(id)).key("currency").str("EUR");
  j.close('}');
  j.key("category").str(pick(kNouns, id / 10 + id) == "Tent" ? "camping" : "outdoor");
  j.key("tags").open('[').str(pick(kColors, id)).str(id % 2 ? "lightweight" : "durable");
  j.str("demo").close(']');
  std::string description = "The " + name + " by " + std::string(pick(kBrands, id * 7)) +
                            ": made for long days outside, tested in rain, wind and snow. "
                            "Recycled materials, repairable seams and a five-year warranty.";
  j.key("description").str(description);
  j.key("images").open('[');
  for (uint32_t i = 1; i <= 3; ++i) {
    j.open('{').key("url").str("https://img.example/products/" + id_text + "/" + std::to_string(i) +
                               ".jpg");
    j.key("width").num(i == 1 ? 1200 : 600).key("height").num(i == 1 ? 900 : 450).close('}');
  }
  j.close(']');
  j.key("attributes").open('{').key("color").str(pick(kColors, id));
  j.key("weightGrams").num(150 + (id * 53u) % 1800).close('}');
  j.close('}');
  return j.take();
}

std::string inventory(uint32_t id) {
  Json j;
  j.open('{').key("productId").num(id).key("count").num((id * 7u) % 23);
  j.key("warehouse").str(pick(kWarehouses, id)).key("restockDays").num(1 + id % 9).close('}');
  return j.take();
}

std::string reviews(uint32_t id) {
  Json j;
  const uint32_t count = id % 4;
  uint32_t stars_sum = 0;
  for (uint32_t i = 0; i < count; ++i) {
    stars_sum += 3 + (id + i) % 3;
  }
  j.open('{').key("productId").num(id);
  j.key("rating");
  if (count == 0) {
    j.raw("null");
  } else {
    j.cents(stars_sum * 100 / count);
  }
  j.key("count").num(count).key("items").open('[');
  for (uint32_t i = 0; i < count; ++i) {
    j.open('{').key("author").str(lower_login(1 + (id + i * 17) % kPeople));
    j.key("stars").num(3 + (id + i) % 3).key("text").str(pick(kReviewTexts, id + i)).close('}');
  }
  j.close(']').close('}');
  return j.take();
}

void order_summary(Json& j, uint32_t order) {
  uint64_t total = 0;
  for (uint32_t line = 0; line < order_line_count(order); ++line) {
    total += price_cents(order_line_product(order, line)) * (1 + line % 2);
  }
  j.key("status").str(pick(kStatuses, order));
  j.key("total").open('{').key("amount").cents(total).key("currency").str("EUR").close('}');
  j.key("createdAt")
      .str("2026-" + std::to_string(10 + order % 3) + "-" + std::to_string(10 + order % 18) +
           "T09:30:00Z");
}

std::string order(uint32_t id) {
  Json j;
  j.open('{').key("id").num(id).key("customerId").num(order_customer(id));
  order_summary(j, id);
  j.key("lines").open('[');
  for (uint32_t line = 0; line < order_line_count(id); ++line) {
    j.open('{').key("productId").num(order_line_product(id, line));
    j.key("quantity").num(1 + line % 2).close('}');
  }
  j.close(']').close('}');
  return j.take();
}

// The newest five orders of a customer.
std::string orders_of(uint32_t customer) {
  Json j;
  j.open('{').key("userId").num(customer).key("orders").open('[');
  int listed = 0;
  for (uint32_t o = kLastOrder; o >= kFirstOrder && listed < 5; --o) {
    if (order_customer(o) == customer) {
      j.open('{').key("id").num(o);
      order_summary(j, o);
      j.close('}');
      ++listed;
    }
  }
  j.close(']').close('}');
  return j.take();
}

std::string customer(uint32_t id) {
  Json j;
  j.open('{').key("id").num(id).key("name").str(person_name(id));
  j.key("email").str(lower_login(id) + "@example.com").key("tier").str(pick(kTiers, id));
  j.key("address").open('{').key("city").str(pick(kCities, id));
  j.key("country").str(pick(kCountries, id)).close('}').close('}');
  return j.take();
}

std::string user(uint32_t id) {
  Json j;
  j.open('{').key("id").num(id).key("login").str(lower_login(id));
  j.key("name").str(person_name(id)).key("email").str(lower_login(id) + "@example.com");
  j.key("avatar").str("https://img.example/users/" + std::to_string(id) + ".png");
  j.key("locale").str(id % 2 ? "en-GB" : "de-DE").key("createdAt").str("2024-03-14T08:00:00Z");
  j.close('}');
  return j.take();
}

void json_response(AdminResponse& out, int status, std::string body, std::string_view cache) {
  out.status = status;
  out.content_type = "application/json";
  out.body = std::move(body);
  if (!cache.empty()) {
    out.headers = "Cache-Control: " + std::string(cache) + "\r\n";
  }
}

void not_found(AdminResponse& out, std::string_view service, std::string_view path) {
  // The path is echoed only when it is short and plain: it goes into the JSON unescaped.
  const bool plain = path.size() <= 200 && std::all_of(path.begin(), path.end(), [](char c) {
                       return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20 &&
                              static_cast<unsigned char>(c) < 0x7f;
                     });
  std::string body = "{\"error\":\"not found\",\"service\":\"" + std::string(service) + "\"";
  if (plain) {
    body += ",\"path\":\"" + std::string(path) + "\"";
  }
  body += "}\n";
  json_response(out, 404, std::move(body), "no-store");
}

}  // namespace

const std::vector<ServiceInfo>& services() {
  static const std::vector<ServiceInfo> list = {
      {"catalog", false},   {"inventory", false}, {"reviews", false},        {"orders", false},
      {"customers", false}, {"users", false},     {"recommendations", true},
  };
  return list;
}

void answer(std::string_view service, std::string_view method, std::string_view path,
            AdminResponse& out) {
  if (method != "GET" && method != "HEAD") {
    out.status = 405;
    out.headers = "Allow: GET, HEAD\r\n";
    out.body = "GET or HEAD only\n";
    return;
  }
  if (path == "/healthz") {
    out.body = "ok\n";
    return;
  }
  const std::vector<std::string_view> seg = segments(path);
  const uint32_t id = seg.size() >= 2 ? parse_id(seg[1]) : 0;
  if (service == "catalog" && seg.size() == 2 && seg[0] == "products" && id >= 1 &&
      id <= kProducts) {
    json_response(out, 200, product(id), "public, max-age=300");
  } else if (service == "inventory" && seg.size() == 2 && seg[0] == "inventory" && id >= 1 &&
             id <= kProducts) {
    json_response(out, 200, inventory(id), "max-age=5");
  } else if (service == "reviews" && seg.size() == 2 && seg[0] == "reviews" && id >= 1 &&
             id <= kProducts) {
    json_response(out, 200, reviews(id), "public, max-age=60");
  } else if (service == "orders" && seg.size() == 2 && seg[0] == "orders" && id >= kFirstOrder &&
             id <= kLastOrder) {
    json_response(out, 200, order(id), "private, max-age=10");
  } else if (service == "orders" && seg.size() == 3 && seg[0] == "users" && seg[2] == "orders" &&
             id >= 1 && id <= kPeople) {
    json_response(out, 200, orders_of(id), "private, max-age=10");
  } else if (service == "customers" && seg.size() == 2 && seg[0] == "customers" && id >= 1 &&
             id <= kPeople) {
    json_response(out, 200, customer(id), "private, max-age=60");
  } else if (service == "users" && seg.size() == 2 && seg[0] == "users" && id >= 1 &&
             id <= kPeople) {
    json_response(out, 200, user(id), "private, max-age=60");
  } else {
    not_found(out, service, path);
  }
}

}  // namespace ringgate::demo
