// zarrmount-scan-worker: one of `zarrmount scan`'s worker processes
// (app/scan_worker.h), as a program of its own that links only what a scan
// needs.

#include "app/scan_worker.h"

int main(int argc, char** argv) { return zm::ScanWorkerMain(argc, argv); }
