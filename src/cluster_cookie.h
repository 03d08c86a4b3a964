/*
 * ngx_cluster_module: Inedo's EncryptionKey and the project's documented
 * cookie scheme v1, with libsodium.
 *
 *   cookie      = base64url-nopad(0x01 || nonce(24) || XChaCha20-Poly1305-
 *                 IETF(plaintext, ad = cookie name, nonce, key))
 *   key         = BLAKE2b-256(key = raw EncryptionKey, "ngx_cluster cookie v1")
 *   fingerprint = hex(BLAKE2b-128(key = raw EncryptionKey,
 *                                 "ngx_cluster fingerprint v1"))[0..8]
 *
 * The EncryptionKey is 32 hex digits, 16 bytes.  Callers keep keys in
 * memory of their own (libsodium's guarded memory in the module).
 */

#ifndef CLUSTER_COOKIE_H
#define CLUSTER_COOKIE_H


#include <stddef.h>
#include <stdint.h>


#define CLUSTER_KEY_RAW        16
#define CLUSTER_KEY_SEAL       32
#define CLUSTER_COOKIE_NONCE   24
#define CLUSTER_COOKIE_MAX     4096   /* longer cookie values are refused */


typedef enum {
    CLUSTER_COOKIE_OPENED = 0,
    CLUSTER_COOKIE_FORGED,           /* well formed, but not this key's */
    CLUSTER_COOKIE_MALFORMED         /* not a v1 cookie at all */
} cluster_cookie_rc_e;


/*
 * Takes the first "name=value" pair off a Cookie header's value, or a
 * Set-Cookie's (whose first pair is the cookie), up to ';': *p moves past
 * it.  Returns 1 with the name and the value, blanks around them trimmed;
 * 0 for a pair with no name or no '='.  Call while *p < end.
 */
int cluster_cookie_pair(const char **p, const char *end, const char **name,
    size_t *name_len, const char **value, size_t *value_len);

/*
 * The one name a regular expression of "cluster_cookie name=" matches as
 * a whole, when it is only that: "^\.ProGetAuth$" and ".ProGetAuth" are
 * both ".ProGetAuth".  Writes it to "out" (at most "size" bytes) and
 * returns its length; 0 for an expression that may match other names.
 */
size_t cluster_cookie_literal(const char *re, size_t len, char *out,
    size_t size);

/* libsodium's own start; 0 on success */
int cluster_cookie_init(void);

/* 32 hex digits (spaces around them allowed) into 16 bytes; 0 on success */
int cluster_key_parse(const char *text, size_t len,
    uint8_t raw[CLUSTER_KEY_RAW]);

/*
 * The EncryptionKey of an Inedo XML configuration (ProGet.config): the
 * first <EncryptionKey> element outside the comments ("<!-- -->", one left
 * open runs to the end) whose content is 32 hex digits, blanks around them
 * allowed, into 16 bytes.  Reads len bytes of text, no more, and never
 * writes them; 0 on success, -1 with raw untouched when there is none.
 */
int cluster_key_from_config(const char *text, size_t len,
    uint8_t raw[CLUSTER_KEY_RAW]);

void cluster_cookie_key(const uint8_t raw[CLUSTER_KEY_RAW],
    uint8_t key[CLUSTER_KEY_SEAL]);

/* the first 8 hex digits of the key's fingerprint, NUL-terminated */
void cluster_key_fingerprint(const uint8_t raw[CLUSTER_KEY_RAW],
    char out[9]);

/* seals plaintext into a cookie value; returns its length, 0 if no room */
size_t cluster_cookie_seal(const uint8_t key[CLUSTER_KEY_SEAL],
    const char *name, size_t name_len, const uint8_t *text, size_t text_len,
    const uint8_t nonce[CLUSTER_COOKIE_NONCE], char *out, size_t size);

/* opens a cookie value; the plaintext goes to text (size bytes at most) */
cluster_cookie_rc_e cluster_cookie_open(const uint8_t key[CLUSTER_KEY_SEAL],
    const char *name, size_t name_len, const char *value, size_t len,
    uint8_t *text, size_t size, size_t *text_len);


#endif /* CLUSTER_COOKIE_H */
