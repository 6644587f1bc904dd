// Only the declaration in include/CLibFuzzer.h matters: the driver is in libFuzzer's runtime (-sanitize=fuzzer).
#include "CLibFuzzer.h"
