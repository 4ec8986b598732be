// dane/core/expected.hpp — a small result type for library boundaries.
//
// Library functions that can fail on bad input or I/O return Expected<T>
// (value or a human-readable error string) instead of throwing; programs turn
// errors into exit codes or protocol replies at their edges (docs/style.md point 6).
// std::expected needs C++23 and a compiler we do not have everywhere (clang 14
// is used for the fuzz targets), so this is the minimal subset we use.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace dane {

// The error side: what went wrong, in words an operator understands.
struct Error {
  std::string message;
};

inline Error make_error(std::string message) {
  return Error{std::move(message)};
}

template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return m_v.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const std::string& error() const { return std::get<1>(m_v).message; }

private:
  std::variant<T, Error> m_v;
};

// Expected<void>: success or an error.
struct Ok {};
using Status = Expected<Ok>;

} // namespace dane
