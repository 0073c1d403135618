# Turns conf/ringgate.yaml into a C++ source holding it as a string (cmake -P, no other tools).
# Bytes are emitted as unsigned char, so UTF-8 in comments is fine.
file(READ ${IN} _text HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_text}")
file(WRITE ${OUT}.tmp "// Generated from conf/ringgate.yaml; do not edit.\nnamespace ringgate {\nstatic const unsigned char kBytes[] = {${_bytes} 0};\nextern const char* const kEmbeddedDefaultConfig = reinterpret_cast<const char*>(kBytes);\n}  // namespace ringgate\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
