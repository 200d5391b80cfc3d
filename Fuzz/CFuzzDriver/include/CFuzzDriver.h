#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs with their own main (FuzzerDriver.cpp). Weak: in a
/// build without -sanitize=fuzzer it is absent and the harness replays files instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

/// Whether libFuzzer is linked in (LLVMFuzzerRunDriver resolved).
int mf_fuzzer_linked(void);

/// Calls LLVMFuzzerRunDriver (only when mf_fuzzer_linked()).
int mf_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
