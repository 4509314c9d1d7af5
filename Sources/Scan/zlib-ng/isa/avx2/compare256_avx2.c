// Compiled in a target of its own so that only this file gets the instruction-set flags
// (see VENDORED.md); zlib-ng picks it at run time from CPUID.
#include "arch/x86/compare256_avx2.c"
