/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pwd.h>
#include <stddef.h>

#include "user.h"

int lookup_user_uid(const char *name, uid_t *ret_uid) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        int r = getpwnam_r(name, &pw, buf, sizeof buf, &res);

        if (r != 0)
                return -r;
        if (!res)
                return 0;
        *ret_uid = res->pw_uid;
        return 1;
}

int lookup_svcid_uid(uid_t *ret_uid) {
        return lookup_user_uid(SVCID_USER, ret_uid) > 0 ? 0 : -ENOENT;
}
