/* SPDX-License-Identifier: MIT */
/* The agent's signing keys and their rotation (DESIGN.md "Key rotation").
 *
 * Each key has a schedule: published from `created`, signs in
 * [not_before, not_after), and stays published until not_after + max_ttl,
 * when every token it signed has expired. The next key is created at half
 * its predecessor's signing life and signs from the predecessor's
 * not_after. The state lives in STATE_DIR/keys/ (0700): one PKCS#8 PEM
 * per key (0600, KID.pem; KID.new until a state naming it is in place)
 * and state.json listing them; the public keys go to STATE_DIR/jwks.json
 * (0644). Every file is replaced atomically, in an order that leaves a
 * valid state after a crash at any moment: a new key file before the
 * state that names it, the state before the JWKS, and a key file is
 * deleted only after neither names it.
 *
 * Threads: only the main thread calls keystore_update(); other threads
 * read (keystore_active(), keystore_jwks()) while holding the read side of
 * the lock given to keystore_open(), which keystore_update() takes for
 * writing only to swap in its finished result. */
#ifndef SVCID_AGENT_KEYS_H
#define SVCID_AGENT_KEYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "svcid/svcid.h"

typedef struct keystore keystore;

/* Opens (creating if needed) the state dir, locks it against a second
 * agent, loads state.json and every key it names, keeps the keys newer
 * than the state (a restored state.json), and removes leftovers of an
 * interrupted write. Fails closed: a key that the state names but that
 * cannot be loaded is an error, never a reason to start afresh. */
int keystore_open(const char *state_dir, pthread_rwlock_t *lock,
                  char *err, size_t err_len, keystore **ret_keystore);
void keystore_free(keystore *ks);      /* NULL is fine */

/* Brings the keys up to date at now: the first key, the next one at half
 * life, removal of keys whose tokens have all expired, an algorithm change
 * (the pending next key is replaced), a raised max_ttl, and, with force,
 * an immediate rotation to a fresh key. Writes files as needed, then swaps
 * the new set in under the write lock. Logs each key event, a hand-over
 * that time brought included. */
int keystore_update(keystore *ks, const agent_config *config, const char *issuer,
                    int64_t now, bool force, char *err, size_t err_len);

/* The key that signs at now (borrowed; valid while the read lock is held),
 * or NULL if there is none. If the clock went back to before every key's
 * start, the earliest key. */
const svcid_key *keystore_active(const keystore *ks, int64_t now);

/* Says that the key that signs at now signed a token then (called under
 * the read lock, from any thread): with a clock stepped back since, an
 * update still knows that key signed until then (keystore_update()). */
void keystore_note_signed(keystore *ks, int64_t now);

/* The longest ttl the key that signs at now may sign with: the max_ttl
 * its last written state promises to keep it published for (0 if there is
 * no key). A raised max_ttl counts once keystore_update() has written it.
 * After a failed update whose state.json is on disk, no more than that
 * state keeps the key published for: down to 0 (no mint), and 0 for a key
 * that state leaves out. */
int64_t keystore_ttl_cap(const keystore *ks, int64_t now);

/* The issuer the JWKS as last written names (borrowed, under the read
 * lock), NULL before the first keystore_update(). Tokens carry this one:
 * after a reload that changes the issuer, the old one until a JWKS naming
 * the new one is written. */
const char *keystore_issuer(const keystore *ks);

/* The JWKS document as last written (borrowed, under the read lock). */
const char *keystore_jwks(const keystore *ks, size_t *ret_len);

/* When keystore_update() has something to do next (absolute time). */
int64_t keystore_next_event(const keystore *ks, const agent_config *config, int64_t now);

/* How often, in seconds, keystore_next_event() comes back for what an
 * update left unfinished. */
#define KEYSTORE_COMMIT_RETRY 10

/* What the last keystore_update() could not finish, though it succeeded:
 * a new key file not yet renamed to its final name, one not yet written
 * again with its first line, or keys/ not fsync()ed after a rename (the
 * log says each at its first try). NULL when there is nothing left.
 * Main thread. */
const char *keystore_unfinished(const keystore *ks);

/* Number of keys in the JWKS. */
size_t keystore_count(const keystore *ks);

#endif
