/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "text.h"
#include "trust_load.h"

const char *const trust_defaults[TRUST_N_DEFAULTS] = { TRUST_DIR_DEFAULT, TRUST_JWKS_DEFAULT };

static int load_one(svcid_trust *trust, const char *path, char *err, size_t err_len) {
        char why[256] = "";
        int r = svcid_trust_load(trust, path, why, sizeof why);

        if (r >= 0)
                return 0;
        /* The library's reason already names the file. */
        if (why[0])
                snprintf(err, err_len, "%s", why);
        else {
                char shown[160];

                copy_printable(shown, sizeof shown, path);
                snprintf(err, err_len, "%s: %s", shown, strerror(-r));
        }
        return r;
}

int trust_load_paths(svcid_trust *trust, const char *const *paths, size_t n, char *err, size_t err_len) {
        int r;

        for (size_t i = 0; i < (n > 0 ? n : TRUST_N_DEFAULTS); i++) {
                struct stat st;

                if (n == 0 && lstat(trust_defaults[i], &st) < 0 && errno == ENOENT)
                        continue;
                r = load_one(trust, n > 0 ? paths[i] : trust_defaults[i], err, err_len);
                if (r < 0)
                        return r;
        }
        return 0;
}

const char *trust_dir_note(const char *const *paths, size_t n) {
        struct stat st;

        for (size_t i = 0; i < n; i++)
                if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
                        return " (a directory gives only its *.jwks files)";
        return "";
}

int trust_require_keys(const svcid_trust *trust, const char *const *paths, size_t n, char *err, size_t err_len) {
        if (svcid_trust_key_count(trust) > 0)
                return 0;
        if (n > 0)
                snprintf(err, err_len, "no trusted keys in %s%s%s", paths[0],
                         n > 1 ? " and the other --trust paths" : "", trust_dir_note(paths, n));
        else
                snprintf(err, err_len, "no trusted keys: neither %s nor %s provides any; pass --trust PATH",
                         TRUST_DIR_DEFAULT, TRUST_JWKS_DEFAULT);
        return -ENOENT;
}
