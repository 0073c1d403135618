#pragma once
// A header field for nghttp2 from views (the library copies what it is given: the views need to
// live only through the submit call). For the files that speak nghttp2 (h2_session.cc,
// h2_upstream.cc); it needs nghttp2's header, which the public API does not.

#include <nghttp2/nghttp2.h>

#include <string_view>

namespace ringgate {

inline nghttp2_nv nghttp2_field(std::string_view name, std::string_view value) {
  nghttp2_nv nv{};
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

}  // namespace ringgate
