// settings_table.hpp (private to src/daemon) — THE table of dane-policyd's options.
//
// Every option of dane-policyd is declared once, in settings_table.cpp: its name, kind, default,
// help text, and the function that converts and stores a value into Settings (with the bounds
// it checks). settings.cpp builds --help, the command-line parser and the config-file reader
// from it. The resolver options shared with dane-policyctl are declared in resolver_options.cpp.
// Inputs: option values from the command line or the config file (the administrator's; still
// checked, with errors naming the value). Failure modes: an Apply returns an error; nothing throws.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/daemon/settings.hpp"

namespace dane::policyd {

enum class SettingType { Flag, String, Unsigned, List };

using Apply = Status (*)(Settings&, const std::vector<std::string>&);

struct SettingSpec {
  const char* name;
  SettingType type;
  const char* default_value; // shown in --help; "" = none
  const char* value_name;
  const char* help;
  Apply apply; // converts and stores a value (never called for unset options)
};

// `text` as a decimal number from `min` to `max`; the error says so.
Expected<unsigned long> to_unsigned(const std::string& text, unsigned long min, unsigned long max);

// Every option, in --help order.
std::span<const SettingSpec> setting_specs();
// The option called `name` (without --), or null.
const SettingSpec* find_spec(std::string_view name);

} // namespace dane::policyd
