// servers_env.hpp — where the third-party tests find the servers servers.sh started.
//
// ctest's fixture runs `servers.sh start <dir>`, which writes <dir>/servers.env; the tests get <dir>
// from WEFT_THIRD_PARTY_DIR. A missing file or key fails the test with a message saying what to
// run: these tests never skip silently.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace weft_test {

// Port of `key` (REDIS_PORT, HTTP_PORT) from servers.env, or 0 with a test failure recorded.
inline int server_port(const std::string& key) {
  const char* dir = std::getenv("WEFT_THIRD_PARTY_DIR");
  if (!dir) {
    ADD_FAILURE() << "WEFT_THIRD_PARTY_DIR is not set: run through ctest, which starts the servers "
                     "(tests/third_party/servers.sh start <dir>)";
    return 0;
  }
  std::ifstream in(std::string(dir) + "/servers.env");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) return std::atoi(line.c_str() + key.size() + 1);
  }
  ADD_FAILURE() << key << " not found in " << dir << "/servers.env (did servers.sh start fail?)";
  return 0;
}

}  // namespace weft_test
