# Settings shared by every target, linked PRIVATE (ccache's standard_settings idea).
add_library(dane_standard_settings INTERFACE)
target_compile_features(dane_standard_settings INTERFACE cxx_std_20)
target_compile_options(dane_standard_settings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Wimplicit-fallthrough)
if(DANE_WERROR)
  target_compile_options(dane_standard_settings INTERFACE -Werror)
endif()
if(DANE_SANITIZE)
  target_compile_options(dane_standard_settings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  # GCC 12's flow analysis gives false -Wmaybe-uninitialized reports inside libstdc++
  # (std::regex, std::optional) once ASan instrumentation is on; the normal build keeps it.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(dane_standard_settings INTERFACE -Wno-maybe-uninitialized)
  endif()
  target_link_options(dane_standard_settings INTERFACE -fsanitize=address,undefined)
endif()
set(CMAKE_CXX_EXTENSIONS OFF)
