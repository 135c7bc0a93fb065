// The one table of zarrmount's command-line options. Each entry says how
// the option is spelled, what value it takes, what --help says about it and
// which commands take it; from it come the parser of every command, the
// option list of `zarrmount --help` (and so the README's, which
// scripts/check-readme.sh compares with it) and each command's accepted set.
//
// Thread-safety: everything here is immutable or works on the caller's data.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "app/options.h"
#include "base/status.h"

namespace zm {

// What the command line asks for: mounting, or one of the commands of
// app/commands.h. The values are bits, so an option names its commands as
// a set (OptionSpec::commands).
enum class Command : unsigned {
  kMount = 1u << 0,
  kWarm = 1u << 1,
  kCombine = 1u << 2,
  kCache = 1u << 3,
  kStatus = 1u << 4,
  kScan = 1u << 5,
  kConvert = 1u << 6,
};

// One option as the command line spelled it: the name (without "=value")
// and its value ("" for a flag).
struct OptionArg {
  std::string name;
  std::string value;
};

struct OptionSpec {
  const char* long_name;   // "--cache-dir"; nullptr when only the short form exists
  char short_name;         // 'f' for -f; 0 when none
  const char* metavar;     // "DIR"; nullptr for a flag (takes no value)
  // --help's text, lines split by '\n' (continuation lines are indented by
  // the parser's column); "{}" stands for default_text's answer.
  const char* help;
  std::string (*default_text)(const Options& defaults);  // nullptr: no "{}" in help
  unsigned commands;                                       // bit set of Command
  // Checks the value and stores it in *out; errors are one line naming the
  // option.
  Status (*apply)(const OptionArg& arg, Options* out);

  bool takes_value() const { return metavar != nullptr; }
  bool for_command(Command c) const { return (commands & static_cast<unsigned>(c)) != 0; }
};

// Every option of every command, in --help's order.
std::span<const OptionSpec> OptionTable();

// The entry `name` ("--cache-dir", "-f") names for `command`, or nullptr.
const OptionSpec* FindOption(Command command, std::string_view name);

// Parses argv[first...] for `command`: each option into *out through its
// table entry, in order (the last of a repeated single-valued option wins),
// everything else into the returned positional arguments. Options take
// their value as "--name VALUE", "--name=VALUE" or, for a short option,
// "-xVALUE". "-" alone is positional. A command other than kMount stops at
// -h/--help, whatever follows. `unknown_hint` is appended to an unknown
// option's error (" (see --help)").
// REQUIRES: out holds the command's defaults.
Result<std::vector<std::string>> ParseCommandLine(Command command, int argc, char** argv,
                                                  int first, Options* out,
                                                  std::string_view unknown_hint = "");

// The option lines of `command`'s --help, one entry after another, each
// ending in '\n', defaults filled in from `defaults`.
std::string OptionListText(Command command, const Options& defaults);

}  // namespace zm
