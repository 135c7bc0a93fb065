// zarrmount-scan: `zarrmount scan` (app/cmd_scan.cc) and its worker
// processes (app/scan_worker.h) as a program of their own, which links only
// what a scan needs. zarrmount runs it for `zarrmount scan` (ExecScanProgram
// in app/scan_workers.h), with the same arguments.

#include <cstdio>
#include <cstring>

#include "app/commands.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "scan") != 0) {
    std::fprintf(stderr, "zarrmount-scan: run by zarrmount as 'zarrmount scan ...'\n");
    return 2;
  }
  return zm::ScanCommand(argc, argv);
}
