#include "CFuzzDriver.h"

int mf_fuzzer_linked(void) { return LLVMFuzzerRunDriver != 0; }

int mf_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(argc, argv, callback);
}

/// -sanitize=fuzzer links libFuzzer whole, its main() included, which refers to this symbol.
/// That main() is never run — SwiftPM's `--defsym main=<target>_main` makes the target's own
/// top-level code the entry point — but the reference must resolve.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)data;
    (void)size;
    return 0;
}
