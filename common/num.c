/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "num.h"

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret_value) {
        const char *p = s;
        long long v;
        char *end;

        if (!s)
                return -EINVAL;
        if (*p == '-' && min < 0)
                p++;
        if (*p < '0' || *p > '9')       /* strtoll would take blanks and '+' */
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end != '\0')
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret_value = (int64_t) v;
        return 0;
}
