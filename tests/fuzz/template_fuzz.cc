// The template renderer and expression evaluator of kerchunk's gen entries.
#include <cstdint>
#include <limits>
#include <string>

#include "refs/template.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zm;
  static const TemplateVars kVars = {
      {"i", int64_t{3}},
      {"j", int64_t{-7}},
      {"big", std::numeric_limits<int64_t>::max()},
      {"small", std::numeric_limits<int64_t>::min()},
      {"u", std::string("http://h/data")},
      {"f", std::string("tas_1998.nc")},
  };
  std::string_view text = fuzz::AsText(data, size);
  auto rendered = RenderTemplate(text, kVars);
  auto value = EvalTemplateExpression(text, kVars);
  // Without braces of its own, "{{text}}" renders exactly what text evaluates to.
  if (text.find_first_of("{}") == std::string_view::npos) {
    auto braced = RenderTemplate("{{" + std::string(text) + "}}", kVars);
    Check(braced.ok() == value.ok());
    if (value.ok()) {
      std::string expect = std::holds_alternative<int64_t>(*value)
                               ? std::to_string(std::get<int64_t>(*value))
                               : std::get<std::string>(*value);
      Check(*braced == expect);
    }
    Check(rendered.ok() && *rendered == text);  // nothing to render
  }
  if (!value.ok()) Check(value.status().code() == Code::kInvalidArgument);
  return 0;
}
