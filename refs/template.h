// The "{{ ... }}" templates of kerchunk reference sets, version 1.
//
// In `templates` and in refs' URLs, "{{name}}" is replaced by the named
// template's text. In `gen` entries, the braces hold a small expression
// over the dimension variables and templates, as kerchunk writes them
// ("{{i * 8000 + 40}}", "{{u}}/{{f}}.nc"): integers, strings, variables,
// + - * / // % and parentheses, with Python's integer semantics (floor
// division and modulo; "/" must divide exactly, the one place where
// Python would print a float).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "base/status.h"

namespace zm {

using TemplateValue = std::variant<int64_t, std::string>;
using TemplateVars = std::map<std::string, TemplateValue, std::less<>>;

// Renders every "{{ expr }}" of `text` with `vars`. Text outside braces is
// copied. Errors name the unknown variable or the bad expression; a result
// longer than 64 KiB (text outside braces aside) is an error.
Result<std::string> RenderTemplate(std::string_view text, const TemplateVars& vars);

// Evaluates one expression (without braces).
Result<TemplateValue> EvalTemplateExpression(std::string_view expr, const TemplateVars& vars);

}  // namespace zm
