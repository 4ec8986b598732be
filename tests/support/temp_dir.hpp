// temp_dir.hpp — a private temporary directory for one test, removed afterwards.
//
// What it does: TempDir makes /tmp/dane-TAG-XXXXXX with mkdtemp (mode 0755, so unprivileged
// helpers such as Postfix's processes or a daemon after its privilege drop can traverse it) and
// removes it recursively on destruction. Set DANE_KEEP_TEST_DIRS=1 to keep every such directory
// for debugging (DANE_KEEP_DAEMON_DIR is honoured too, as before). Failure modes: the constructor
// throws std::runtime_error when mkdtemp fails. Trust: test-only; the path is unique per call.
#pragma once

#include <string>

namespace dane::test {

class TempDir {
public:
  explicit TempDir(const std::string& tag = "test");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return m_path; }
  // path() + "/" + name.
  std::string file(const std::string& name) const { return m_path + "/" + name; }
  // Do not remove the directory on destruction (e.g. a rig kept for debugging).
  void keep() { m_keep = true; }

private:
  std::string m_path;
  bool m_keep = false;
};

// The older name used by the daemon tests; the same directory (the tag "dane-" prefix is dropped
// when the caller's tag already starts with it).
class DaemonTempDir : public TempDir {
public:
  explicit DaemonTempDir(const std::string& tag = "dane-test");
};

} // namespace dane::test
