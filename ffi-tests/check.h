/* Minimal checks for the C API tests: a failed CHECK prints the expression, the line and
 * bitnet_last_error(), then exits 1 (tests/c_api.rs shows the output). */
#ifndef BITNET_FFI_TESTS_CHECK_H
#define BITNET_FFI_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitnet.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__,      \
                    __LINE__, #cond, bitnet_last_error());                              \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* A call returning a status must give `expected`. */
#define CHECK_STATUS(call, expected)                                                    \
    do {                                                                                \
        bitnet_status check_status_ = (call);                                           \
        if (check_status_ != (expected)) {                                              \
            fprintf(stderr, "%s:%d: %s gave %d (%s), expected %s; last error: %s\n",    \
                    __FILE__, __LINE__, #call, (int)check_status_,                      \
                    bitnet_status_str(check_status_), #expected, bitnet_last_error());  \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* The last error must name the function that failed (so it was set by that call) and,
 * when `needle` is not NULL, contain it. */
static inline void check_last_error(const char *file, int line, const char *func,
                             const char *needle) {
    const char *msg = bitnet_last_error();
    size_t n = strlen(func);
    if (strncmp(msg, func, n) != 0 || msg[n] != ':' || (needle && !strstr(msg, needle))) {
        fprintf(stderr, "%s:%d: last error %s does not name %s%s%s\n", file, line, msg,
                func, needle ? " and contain " : "", needle ? needle : "");
        exit(1);
    }
}

#define CHECK_ERROR(func, needle) check_last_error(__FILE__, __LINE__, func, needle)

#endif
