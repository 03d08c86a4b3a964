/*
 * libFuzzer target: a cookie value as a client or a node may send it,
 * opened with a fixed key, as the key check will.
 */

#include <stdint.h>
#include <string.h>

#include "cluster_cookie.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                   n;
    uint8_t                  text[1024];

    static int               ready;
    static uint8_t           key[CLUSTER_KEY_SEAL];

    if (!ready) {
        uint8_t  raw[CLUSTER_KEY_RAW];

        if (cluster_cookie_init() != 0
            || cluster_key_parse("00112233445566778899aabbccddeeff", 32, raw)
               != 0)
        {
            return 0;
        }

        cluster_cookie_key(raw, key);
        ready = 1;
    }

    (void) cluster_cookie_open(key, ".ProGetAuth", 11, (const char *) data,
                               size, text, sizeof(text), &n);
    (void) cluster_key_parse((const char *) data, size, text);

    return 0;
}
