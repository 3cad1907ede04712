/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_JSON_H
#define SVCID_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* json_loadb(text, len, JSON_REJECT_DUPLICATES, error) for text that may
 * come from anyone, such as a token's header or payload, or read under
 * memory limits someone else set, as pam_svcid in su or sudo.
 *
 * jansson 2.14 mishandles an allocation that fails inside a document: it
 * drops the byte it could not store and reads on, so a string can come
 * out a character short, and when the lost byte is a string's closing
 * quote it copies past the end of its buffers. So jansson must never see
 * an allocation fail while it reads. On first use this installs
 * allocation functions for jansson that pass every request to those they
 * replace; only when that fails during a guarded parse do they serve it
 * from a reserve set aside beforehand (1 MiB kept by each thread, or 96
 * bytes per byte of a larger document), and such a parse is thrown away.
 * An application that sets jansson's functions afterwards turns the
 * guard off; a syntax error is then read a second time, to tell a lost
 * byte (out of memory) from a real one.
 *
 * Returns the document, or NULL: *ret_out_of_memory (may be NULL) then
 * says whether memory ran out (no reserve could be set aside, or the
 * parse drew on it) rather than the text being no JSON, which error (may
 * be NULL) then describes. */
json_t *json_load_guarded(const void *text, size_t len, json_error_t *error, bool *ret_out_of_memory);

/* Installs those allocation functions now, as the first guarded parse
 * would: jansson reads them unlocked, so a program whose threads use
 * jansson (the agent's) calls this before it starts them. */
void json_guard_install(void);

/* json_dumps(json, flags), whole or not at all. jansson 2.14's json_dumps()
 * ignores a failed append of an object's key and writes on, so short of
 * memory it can return text with a key missing (test_oom saw a JWK come
 * out as {"kty":"EC",":"P-256",...}); a token signed over such text would
 * carry claims nobody meant. This writes into a buffer sized beforehand,
 * which cannot run short. NULL (errno ENOMEM or EINVAL) on failure. */
char *json_dumps_whole(const json_t *json, size_t flags);

#endif
