/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/json.h"
#include "../common/text.h"
#include "util.h"

DEFINE_PTR_CLEANUP(svcid_trust, svcid_trust_free)

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void cli_hint_token_file(const char *cmd, const char *arg) {
        struct stat st;

        if (!arg || strcmp(arg, "-") == 0 || stat(arg, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)))
                return;
        fprintf(stderr, "svcid: %s: '%s' is a file; TOKEN is the token itself: to read it from the file, "
                "give - as TOKEN and the file on standard input\n", cmd, arg);
}

int cli_read_token(const char *arg, char **ret_token, size_t *ret_len) {
        char *buf;
        size_t n = 0;

        if (arg && strcmp(arg, "-") != 0) {
                buf = strdup(arg);
                if (!buf)
                        return -ENOMEM;
                *ret_token = buf;
                *ret_len = strlen(buf);
                return 0;
        }

        /* A bounded read: never more than the cap, whatever is piped in. */
        buf = malloc(CLI_TOKEN_READ_MAX + 1);
        if (!buf)
                return -ENOMEM;
        /* One byte past the cap tells a longer input from one that fills
         * it exactly. */
        while (n <= CLI_TOKEN_READ_MAX) {
                ssize_t k = read(STDIN_FILENO, buf + n, CLI_TOKEN_READ_MAX + 1 - n);
                if (k < 0) {
                        int r = errno;
                        if (r == EINTR)
                                continue;
                        /* A non-blocking stdin a parent handed over: wait
                         * for the token as a blocking one would. */
                        if (r == EAGAIN) {
                                struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
                                if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                                        continue;
                                r = errno;
                        }
                        free(buf);
                        return -(r ? r : EIO);
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        /* Past the cap the input is oversized anyway: leave it as it is
         * so stripping cannot bring it back under the limit. */
        if (n > CLI_TOKEN_READ_MAX) {
                n = CLI_TOKEN_READ_MAX;
                buf[n] = '\0';
                *ret_token = buf;
                *ret_len = n;
                return 1;
        }
        while (n > 0 && is_space(buf[n - 1]))
                n--;
        buf[n] = '\0';
        *ret_token = buf;
        *ret_len = n;
        return 0;
}

int cli_trust_load(char *const *paths, size_t n_paths, char *err, size_t err_len,
                   svcid_trust **ret_trust) {
        _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
        char why[512];
        int r;

        r = svcid_trust_new(&trust);
        if (r < 0) {
                snprintf(err, err_len, "cannot set up trust: %s", strerror(-r));
                return r;
        }
        r = trust_load_paths(trust, (const char *const *) paths, n_paths, why, sizeof why);
        if (r < 0) {
                snprintf(err, err_len, "cannot load trust: %s", why);
                return r;
        }
        r = trust_require_keys(trust, (const char *const *) paths, n_paths, err, err_len);
        if (r < 0)
                return r;
        *ret_trust = TAKE_PTR(trust);
        return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
        char prefix[64], help[64];
        va_list ap;

        snprintf(prefix, sizeof(prefix), "svcid: %s", cmd);
        snprintf(help, sizeof(help), "svcid %s", cmd);
        va_start(ap, fmt);
        usage_error_print(prefix, help, fmt, ap);
        va_end(ap);
        return CLI_EXIT_USAGE;
}

int cli_option_error(const char *cmd, int c, char **argv, int prev_optind, const struct option *longopts) {
        char msg[512];

        option_error_message(msg, sizeof(msg), c, argv, prev_optind, longopts);
        return cli_usage_error(cmd, "%s", msg);
}

int cli_option_once(const char *cmd, int c, const struct option *longopts, const int *repeatable, uint64_t *seen) {
        char msg[200];

        return option_repeated(msg, sizeof msg, c, longopts, repeatable, seen) ? cli_usage_error(cmd, "%s", msg) : 0;
}

/* jansson escapes the bytes under 0x20 and, with JSON_ENSURE_ASCII, those
 * over 0x7f, but writes DEL as it is: outside the strings it writes no such
 * byte, so each one is a string's, and "\u007F" is the same character. */
static int dump_to_file(const char *buffer, size_t size, void *data) {
        FILE *f = data;
        size_t start = 0;

        for (size_t i = 0; i < size; i++) {
                if (buffer[i] != 0x7f)
                        continue;
                if (fwrite(buffer + start, 1, i - start, f) != i - start || fputs("\\u007F", f) == EOF)
                        return -1;
                start = i + 1;
        }
        return fwrite(buffer + start, 1, size - start, f) == size - start ? 0 : -1;
}

int cli_print_json(FILE *f, const json_t *value) {
        /* jansson fails for want of memory, stdio for its write's reason */
        errno = 0;
        if (json_dump_callback(value, dump_to_file, f,
                               JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) < 0 ||
            fputc('\n', f) == EOF)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int cli_print_json_text(FILE *f, const char *text, size_t len) {
        _cleanup_(json_decrefp) json_t *value = NULL;

        /* text was JSON when it was made: read again, it fails only for
         * want of memory, and never prints a byte short */
        value = json_load_guarded(text, len, NULL, NULL);
        if (!value)
                return -ENOMEM;
        return cli_print_json(f, value);
}

int cli_parse_seconds(const char *cmd, const char *option, const char *arg, int64_t min, int64_t max,
                      int64_t *ret_seconds) {
        if (parse_int64(arg, min, max, ret_seconds) < 0)
                return cli_usage_error(cmd, "%s '%s': expected whole seconds in [%" PRId64 ", %" PRId64 "]", option,
                                       arg, min, max);
        return 0;
}

int cli_check_audience(const char *cmd, const char *aud) {
        char shown[80];

        if (!aud || !*aud)
                return cli_usage_error(cmd, aud ? "-a AUD: the audience must not be empty" : "-a AUD is required");
        if (name_ok(aud))
                return 0;
        /* the argument may hold any byte: shown tame, as the agent's
         * rule is said */
        copy_printable(shown, sizeof shown, aud);
        return cli_usage_error(cmd, "-a '%s': the audience must be 1 to 255 printable ASCII characters "
                               "without spaces", shown);
}

int cli_agent_token(const char *cmd, const char *aud, int64_t ttl, char **ret_token, int64_t *ret_expires_at) {
        char err[512] = "";
        int r;

        r = svcid_agent_token(NULL, aud, ttl, err, sizeof err, ret_token, ret_expires_at);
        if (r < 0) {
                fprintf(stderr, "svcid: %s: %s\n", cmd, err[0] ? err : strerror(-r));
                /* A 400: the audience or ttl given is not one. */
                return r == -EINVAL ? CLI_EXIT_USAGE : cli_agent_exit(r);
        }
        return 0;
}

int cli_agent_exit(int r) {
        /* A $SVCID_AGENT_SOCKET that cannot be a socket's path. */
        return r == -ENAMETOOLONG ? CLI_EXIT_USAGE : CLI_EXIT_REJECTED;
}
