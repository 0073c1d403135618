// Runs LLVMFuzzerTestOneInput over files, so a fuzz corpus doubles as a regression test with any
// compiler. Arguments: files or directories (every regular file directly inside is run).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

namespace {

void run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) {
          files.push_back(entry.path());
        }
      }
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: not a file or directory\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs found\n");
    return 2;
  }
  size_t variants = 0;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    run(bytes);
    if (bytes.empty()) {
      continue;
    }
    // Each input also runs with its stream re-split (byte 0 = number of split bytes, then the
    // split bytes, see the target): whole, byte by byte, in 7-byte pieces, and 13/200 alternating.
    const size_t k = static_cast<unsigned char>(bytes[0]) % 4;
    if (bytes.size() < 1 + k) {
      continue;
    }
    const std::string stream = bytes.substr(1 + k);
    for (const char* prefix : {"\x00", "\x01\x01", "\x01\x07", "\x02\x0d\xc8"}) {
      const std::string p(prefix, prefix[0] == 0 ? 1 : 1 + static_cast<size_t>(prefix[0]));
      run(p + stream);
    }
    ++variants;
  }
  std::printf("ran %zu inputs (%zu also re-split 4 ways)\n", files.size(), variants);
  return 0;
}
