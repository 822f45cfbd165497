/*
 * The board core's unit tests and fuzzer, for `pio test -e native`.
 *
 * The checks live once, in tests/c/test_core.c (also built by `make test-c`
 * under sanitizers); this file only brings them into PlatformIO's test
 * layout, so both runs exercise the very same test code.
 */
#include "../../../tests/c/test_core.c"
