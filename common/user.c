/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pwd.h>
#include <stddef.h>

#include "user.h"

int lookup_svcid_uid(uid_t *ret_uid) {
        struct passwd pw, *res = NULL;
        char buf[1024];

        if (getpwnam_r("svcid", &pw, buf, sizeof buf, &res) != 0 || !res)
                return -ENOENT;
        *ret_uid = res->pw_uid;
        return 0;
}
