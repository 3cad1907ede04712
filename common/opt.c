/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "opt.h"
#include "text.h"

void option_error_message(char *buf, size_t size, int c, char *const argv[], int prev_optind,
                          const struct option *longopts) {
        /* getopt_long() advances optind past a long option at once, but
         * stays on a cluster of short ones ("-xq") until its end. */
        bool is_long = optind > prev_optind && strncmp(argv[optind - 1], "--", 2) == 0;
        char shortopt[3] = { '-', (char) optopt, '\0' };
        const char *name = is_long ? argv[optind - 1] : shortopt;

        if (c == ':')
                snprintf(buf, size, "option '%s' needs a value", name);
        else if (is_long && optopt != 0)
                snprintf(buf, size, "option '%s' takes no value", name);
        else {
                /* a long name refused though it begins one or more of
                 * ours: an abbreviation of more than one */
                size_t n = strcspn(name + 2, "=");
                bool prefix = false;

                for (const struct option *o = longopts; is_long && n > 0 && o->name; o++)
                        prefix |= strncmp(o->name, name + 2, n) == 0;
                snprintf(buf, size, prefix ? "option '%s' is ambiguous" : "unknown option '%s'", name);
        }
        copy_printable_n(buf, size, buf, strlen(buf), true);
}

bool option_repeated(char *buf, size_t size, int c, const struct option *longopts, const int *repeatable,
                     uint64_t *seen) {
        for (size_t i = 0; i < 64 && longopts[i].name; i++) {
                uint64_t bit = UINT64_C(1) << i;

                if (longopts[i].val != c || longopts[i].has_arg == no_argument)
                        continue;
                for (const int *r = repeatable; r && *r; r++)
                        if (*r == c)
                                return false;
                if (!(*seen & bit)) {
                        *seen |= bit;
                        return false;
                }
                if (c < 0x80 && isalnum(c))
                        snprintf(buf, size, "option '--%s' (-%c) is given twice; it takes one value",
                                 longopts[i].name, c);
                else
                        snprintf(buf, size, "option '--%s' is given twice; it takes one value", longopts[i].name);
                return true;
        }
        return false;
}
