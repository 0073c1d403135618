# Turns a config file (IN) into a C++ source (OUT) holding it as a string named SYMBOL in
# NAMESPACE (cmake -P, no other tools). Bytes are emitted as unsigned char, so UTF-8 in comments
# is fine.
file(READ ${IN} _text HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_text}")
get_filename_component(_name ${IN} NAME)
file(WRITE ${OUT}.tmp "// Generated from conf/${_name}; do not edit.\nnamespace ${NAMESPACE} {\nstatic const unsigned char kBytes[] = {${_bytes} 0};\nextern const char* const ${SYMBOL} = reinterpret_cast<const char*>(kBytes);\n}  // namespace ${NAMESPACE}\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
