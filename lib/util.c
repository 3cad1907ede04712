/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the parts of libsvcid. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "../common/json.h"

/* jansson's reason, without what it quotes of the input ("near '...'",
 * a byte in hex, a \u escape): from a token, that may be whatever a user
 * typed at a prompt, and the reason goes to logs. Its place says enough. */
static const char *json_why(json_error_t *e) {
        char *near = strstr(e->text, " near ");

        if (near)
                *near = '\0';
        if (json_error_code(e) == json_error_invalid_utf8)
                return "invalid UTF-8";
        if (strstr(e->text, "0x") || strstr(e->text, "\\u"))
                return "invalid character or escape";
        return e->text;
}

json_t *lib_json_object_why(const void *text, size_t len, size_t max, char *why, size_t why_len) {
        json_error_t error;
        bool oom;
        json_t *j;

        /* Bound the input before the parser sees it; jansson itself refuses
         * invalid UTF-8, \u0000 in strings and excessive nesting. */
        if (!text || len > max) {
                set_err(why, why_len, 0, "%s", text ? "over the size cap" : "no text");
                errno = EINVAL;
                return NULL;
        }
        j = json_load_guarded(text, len, &error, &oom);
        if (oom) {
                set_err(why, why_len, 0, "out of memory");
                errno = ENOMEM;
                return NULL;
        }
        if (!j) {
                set_err(why, why_len, 0, "%s after %d byte%s", json_why(&error), error.position,
                        error.position == 1 ? "" : "s");
                errno = EINVAL;
                return NULL;
        }
        if (!json_is_object(j)) {
                set_err(why, why_len, 0, "not an object");
                json_decref(j);
                errno = EINVAL;
                return NULL;
        }
        return j;
}

json_t *lib_json_object(const void *text, size_t len, size_t max) {
        return lib_json_object_why(text, len, max, NULL, 0);
}

void lib_sanitize(char *dst, size_t n, const char *src, size_t src_len) {
        copy_printable_n(dst, n, src, src_len, true);
}

const char *lib_shown_into(char *buf, const char *s) {
        lib_sanitize(buf, LIB_SHOWN_MAX, s, s ? strlen(s) : 0);
        return buf;
}
