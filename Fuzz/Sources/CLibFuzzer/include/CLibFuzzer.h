#ifndef KEFU_CLIBFUZZER_H
#define KEFU_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt's FuzzerInterface.h): parses the flags in argv and runs `callback` on every
/// input. Called from the target's own main, because SwiftPM's `--defsym main=...` hides libFuzzer's main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
