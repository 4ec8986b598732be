// The text of an unexpected exception (dane/core/exceptions.hpp).
#include "dane/core/exceptions.hpp"

#include <exception>

namespace dane {

std::string current_exception_text() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown exception";
    }
  } catch (...) {
    return {}; // building the text failed (no memory): say nothing rather than throw
  }
}

} // namespace dane
