// dane-policyd — placeholder main until the daemon lands (issue: dane-policyd).
#include <iostream>

int main() {
  std::cerr << "dane-policyd: not implemented yet\n";
  return 2;
}
