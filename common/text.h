/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_TEXT_H
#define SVCID_COMMON_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Copies the len bytes at src into dst (size n) replacing every byte
 * outside printable ASCII, a NUL too, and '"' and '\\' unless keep_quotes,
 * by '?': safe in a log line, and without '"' and '\\' safe to quote in
 * one. A copy cut short ends in "...". dst may be src. */
void copy_printable_n(char *dst, size_t n, const char *src, size_t len, bool keep_quotes);

/* copy_printable_n() of the string src (NULL: ""), '"' and '\\' replaced. */
void copy_printable(char *dst, size_t n, const char *src);

/* A usage error on standard error: "PREFIX: MESSAGE", then "Try 'HELP
 * --help'.". The message is made printable first: it may quote any byte
 * of an argument. */
void usage_error_print(const char *prefix, const char *help, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* Writes a one-line message into err (when non-NULL and err_len > 0);
 * returns error, for "return set_err(err, err_len, -EINVAL, ...);". */
int set_err(char *err, size_t err_len, int error, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Whether s may be exported as an environment value: no byte below 0x20,
 * no DEL. A claim is the caller's own text (JSON allows "\n" and the
 * like), and a service may write its environment to a file, or eval it.
 * pam_svcid's session exports and svcid-gate's follow this one rule. */
bool env_value_ok(const char *s);

/* Every variable svcid names a verified identity in: pam_svcid's session
 * exports and those svcid-gate sets for its services. A caller's own
 * value of any of them must not stand beside the verified ones. */
#define IDENTITY_ENV_N 7
extern const char *const identity_env[IDENTITY_ENV_N];

/* Whether s is acceptable as an audience, issuer, subject or glob: 1 to
 * 255 bytes of printable ASCII, no space. The agent's rule for what it
 * is asked and configured with; the client checks it before asking. */
bool name_ok(const char *s);

#endif
