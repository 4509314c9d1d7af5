// Compiled in a target of its own so that only this file gets the instruction-set flags
// (see VENDORED.md); zlib-ng picks it at run time from CPUID.
#include "arch/x86/adler32_sse42.c"
