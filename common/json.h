/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_JSON_H
#define SVCID_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Documents up to this size are parsed with a reserve (json_load_guarded). */
#define JSON_GUARDED_MAX 8192u

/* json_loadb(text, len, JSON_REJECT_DUPLICATES, error) for text that may
 * come from anyone, such as a token's header or payload.
 *
 * jansson 2.14 mishandles an allocation that fails inside a document: it
 * drops the byte it could not store and reads on, so a string can come
 * out a character short, and when the lost byte is a string's closing
 * quote it copies past the end of its buffers. So jansson must never see
 * an allocation fail while it reads such text. On first use this installs
 * allocation functions for jansson that pass every request to those they
 * replace; only when that fails during a guarded parse do they serve it
 * from a reserve set aside for the thread beforehand, and such a parse is
 * thrown away. An application that sets jansson's functions afterwards
 * turns the guard off.
 *
 * Returns the document, or NULL: *ret_out_of_memory (may be NULL) then
 * says whether memory ran out (the reserve could not be set aside, or the
 * parse drew on it) rather than the text being no JSON, which error then
 * describes. Documents over JSON_GUARDED_MAX are parsed unguarded. */
json_t *json_load_guarded(const void *text, size_t len, json_error_t *error, bool *ret_out_of_memory);

#endif
