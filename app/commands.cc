#include "app/commands.h"

#include <string>

#include "app/scan_workers.h"

namespace zm {

bool IsCommand(int argc, char** argv) {
  if (argc < 2) return false;
  std::string c = argv[1];
  return c == "cache" || c == "status" || c == "warm" || c == "combine" || c == "scan" ||
         c == "convert";
}

int RunCommand(int argc, char** argv) {
  std::string c = argv[1];
  if (c == "cache") return CacheCommand(argc, argv);
  if (c == "warm") return WarmCommand(argc, argv);
  if (c == "combine") return CombineCommand(argc, argv);
  if (c == "scan") {
    // The small program's, where it is installed (it returns only if not).
    ExecScanProgram(argc, argv);
    return ScanCommand(argc, argv);
  }
  if (c == "convert") return ConvertCommand(argc, argv);
  return StatusCommand(argc, argv);
}

}  // namespace zm
