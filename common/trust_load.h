/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_TRUST_LOAD_H
#define SVCID_COMMON_TRUST_LOAD_H

#include <stddef.h>

#include "svcid/svcid.h"

/* The default trust of every local verifier (DESIGN.md): the directory
 * of other issuers' JWKS, and this host's agent's own JWKS. */
#define TRUST_DIR_DEFAULT  "/etc/svcid/trust.d"
#define TRUST_JWKS_DEFAULT "/var/lib/svcid/jwks.json"
#define TRUST_N_DEFAULTS 2
extern const char *const trust_defaults[TRUST_N_DEFAULTS];

/* Loads into trust each of the n paths (a JWKS file or a directory of
 * *.jwks), or when n is 0 those of the two defaults that exist: a default
 * that is absent is not used, one that exists (even as a dangling link)
 * and cannot be read is an error, so as not to verify against less.
 * Returns 0, or -errno with a reason in err that names the file. */
int trust_load_paths(svcid_trust *trust, const char *const *paths, size_t n, char *err, size_t err_len);

/* 0 if trust has a key; else -ENOENT, with err naming where it looked
 * (the n paths, or the defaults when n is 0): trusting nobody is a
 * configuration error, not a reason to refuse every token. */
int trust_require_keys(const svcid_trust *trust, const char *const *paths, size_t n, char *err, size_t err_len);

/* For messages that no key was found in the n paths: a reminder that a
 * directory gives only its *.jwks files if one of them is a directory,
 * else "". */
const char *trust_dir_note(const char *const *paths, size_t n);

#endif
