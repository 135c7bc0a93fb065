// Writing JSON by hand: the one piece that needs care.
#pragma once

#include <string>
#include <string_view>

namespace zm {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace zm
