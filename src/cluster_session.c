/*
 * ngx_cluster_module: the behavioural key check; see cluster_session.h.
 */

#include <string.h>

#include <sodium.h>

#include "cluster_session.h"


/* counts are halved past this, so that recent sessions weigh */
#define CLUSTER_SESSION_COUNT_MAX  1024


static int cluster_session_count_answer(cluster_sessions_t *t,
    cluster_session_t *s, unsigned slot, int sign_in, int64_t now);
static void cluster_session_count(uint16_t *count, uint16_t *other);
static void cluster_sessions_pardon(cluster_sessions_t *t, unsigned slot);
static unsigned cluster_class_root(uint8_t *parent, unsigned a);


int64_t
cluster_session_expires(const uint8_t *text, size_t len)
{
    int64_t         exp;
    const uint8_t  *p, *last;

    last = text + len;

    for (p = text; last - p >= 6; p++) {
        if (memcmp(p, "\"exp\":", 6) == 0) {
            break;
        }
    }

    if (last - p < 6) {
        return 0;
    }

    exp = 0;

    for (p += 6; p < last && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    /* digits past the bound are the bound: no product can overflow */

    for ( /* void */ ; p < last && *p >= '0' && *p <= '9'; p++) {
        exp = exp * 10 + (*p - '0');

        if (exp > CLUSTER_TIME_MAX / 1000) {
            return CLUSTER_TIME_MAX / 1000;
        }
    }

    return exp;
}


size_t
cluster_sessions_size(uint32_t n)
{
    uint32_t  nsets;

    for (nsets = 1; nsets * CLUSTER_SESSION_WAYS < n; nsets <<= 1) {
        /* void */
    }

    return offsetof(cluster_sessions_t, session)
           + (size_t) nsets * CLUSTER_SESSION_WAYS * sizeof(cluster_session_t);
}


void
cluster_sessions_init(cluster_sessions_t *t, uint32_t n,
    const uint8_t key[CLUSTER_SESSION_KEY])
{
    uint32_t  nsets;

    for (nsets = 1; nsets * CLUSTER_SESSION_WAYS < n; nsets <<= 1) {
        /* void */
    }

    memset(t, 0, offsetof(cluster_sessions_t, session)
                 + (size_t) nsets * CLUSTER_SESSION_WAYS
                   * sizeof(cluster_session_t));

    t->nsets = nsets;

    if (key) {
        memcpy(t->key, key, CLUSTER_SESSION_KEY);

    } else {
        randombytes_buf(t->key, CLUSTER_SESSION_KEY);
    }
}


void
cluster_session_fingerprint(const cluster_sessions_t *t, const char *value,
    size_t len, uint8_t fp[CLUSTER_SESSION_FP])
{
    crypto_shorthash_siphashx24(fp, (const unsigned char *) value, len,
                                t->key);
}


static cluster_session_t *
cluster_session_set(cluster_sessions_t *t,
    const uint8_t fp[CLUSTER_SESSION_FP])
{
    uint32_t  h;

    h = (uint32_t) fp[0] | (uint32_t) fp[1] << 8 | (uint32_t) fp[2] << 16
        | (uint32_t) fp[3] << 24;

    return &t->session[(h & (t->nsets - 1)) * CLUSTER_SESSION_WAYS];
}


cluster_session_t *
cluster_session_find(cluster_sessions_t *t,
    const uint8_t fp[CLUSTER_SESSION_FP])
{
    unsigned            i;
    cluster_session_t  *set;

    set = cluster_session_set(t, fp);

    for (i = 0; i < CLUSTER_SESSION_WAYS; i++) {
        if (set[i].seen && memcmp(set[i].fp, fp, CLUSTER_SESSION_FP) == 0) {
            return &set[i];
        }
    }

    return NULL;
}


cluster_session_t *
cluster_session_add(cluster_sessions_t *t,
    const uint8_t fp[CLUSTER_SESSION_FP], int64_t now)
{
    unsigned            i;
    cluster_session_t  *set, *s;

    s = cluster_session_find(t, fp);

    if (s) {
        /* what the caller writes into it is news */
        s->seen = now;
        t->generation++;
        return s;
    }

    set = cluster_session_set(t, fp);
    s = &set[0];

    for (i = 1; i < CLUSTER_SESSION_WAYS; i++) {
        if (set[i].seen < s->seen) {
            s = &set[i];
        }
    }

    if (s->seen) {
        t->evicted++;
    }

    t->stored++;
    t->generation++;

    memset(s, 0, sizeof(cluster_session_t));
    memcpy(s->fp, fp, CLUSTER_SESSION_FP);
    s->seen = now;
    s->minted = CLUSTER_SLOT_NONE;

    return s;
}


int
cluster_session_answer(cluster_sessions_t *t, cluster_session_t *s,
    unsigned slot, int sign_in, int64_t now)
{
    if (!cluster_session_count_answer(t, s, slot, sign_in, now)) {
        return 0;
    }

    t->generation++;

    return 1;
}


static int
cluster_session_count_answer(cluster_sessions_t *t, cluster_session_t *s,
    unsigned slot, int sign_in, int64_t now)
{
    unsigned   a, b;
    uint32_t   bit, bits;
    uint16_t  *served, *refused;

    s->seen = now;
    a = s->minted;

    if (a >= CLUSTER_SESSION_NODES || slot >= CLUSTER_SESSION_NODES
        || s->ended)
    {
        return 0;
    }

    if (slot == a) {

        if (!sign_in) {
            return 0;
        }

        /* the session ended on its own node: not a matter of keys */

        s->ended = 1;

        for (bits = s->refused, b = 0; bits; bits >>= 1, b++) {
            if ((bits & 1) && t->refused[a][b]) {
                t->refused[a][b]--;
            }
        }

        return s->refused != 0;
    }

    bit = (uint32_t) 1 << slot;
    served = &t->served[a][slot];
    refused = &t->refused[a][slot];

    if (s->refused & bit) {
        return 0;
    }

    if (!sign_in) {
        if (s->served & bit) {
            return 0;
        }

        s->served |= bit;
        cluster_session_count(served, refused);

        return 1;
    }

    if (s->served & bit) {
        /* served a page that needs no sign-in, then refused one */
        s->served &= ~bit;

        if (*served) {
            (*served)--;
        }
    }

    s->refused |= bit;
    cluster_session_count(refused, served);

    t->last_refusal[a] = now;
    t->last_refusal[slot] = now;

    return 1;
}


int
cluster_session_news(const cluster_session_t *s, unsigned slot, int sign_in,
    int64_t now, int64_t stale)
{
    uint32_t  bit;

    if (s->minted >= CLUSTER_SESSION_NODES || slot >= CLUSTER_SESSION_NODES
        || s->ended)
    {
        return 0;
    }

    if (s->expires && s->expires <= now / 1000) {
        return 0;
    }

    if (sign_in && now - s->seen > stale) {
        return 0;
    }

    if (slot == s->minted) {
        return sign_in;
    }

    bit = (uint32_t) 1 << slot;

    return !(s->refused & bit) && (sign_in || !(s->served & bit));
}


int
cluster_session_replay(cluster_session_t *s, unsigned slot, int64_t now,
    int64_t stale)
{
    uint32_t  bit;

    if (!cluster_session_news(s, slot, 0, now, stale)) {
        return 0;
    }

    bit = (uint32_t) 1 << slot;

    if (s->replayed & bit) {
        return 0;
    }

    s->replayed |= bit;

    return 1;
}


static void
cluster_session_count(uint16_t *count, uint16_t *other)
{
    if (++*count >= CLUSTER_SESSION_COUNT_MAX) {
        *count /= 2;
        *other /= 2;
    }
}


void
cluster_sessions_forget(cluster_sessions_t *t, unsigned slot)
{
    unsigned  i;

    if (slot >= CLUSTER_SESSION_NODES) {
        return;
    }

    for (i = 0; i < CLUSTER_SESSION_NODES; i++) {
        t->served[slot][i] = 0;
        t->served[i][slot] = 0;
        t->refused[slot][i] = 0;
        t->refused[i][slot] = 0;
    }

    t->last_refusal[slot] = 0;
}


static void
cluster_sessions_pardon(cluster_sessions_t *t, unsigned slot)
{
    unsigned  i;

    for (i = 0; i < CLUSTER_SESSION_NODES; i++) {
        t->refused[slot][i] = 0;
        t->refused[i][slot] = 0;
    }

    t->last_refusal[slot] = 0;
}


static unsigned
cluster_class_root(uint8_t *parent, unsigned a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }

    return a;
}


void
cluster_key_classes(cluster_sessions_t *t, cluster_node_t *const *nodes,
    size_t n, int64_t stale, int64_t now)
{
    size_t           i;
    uint8_t          parent[CLUSTER_SESSION_NODES], cls[CLUSTER_SESSION_NODES];
    uint32_t         present, apart[CLUSTER_SESSION_NODES], synced;
    unsigned         a, b, r, ref, best, size[CLUSTER_SESSION_NODES];
    unsigned         next, tie, served, refused;
    uint8_t          was[CLUSTER_SESSION_NODES];
    cluster_node_t  *node;

    present = 0;
    synced = 0;

    /* the classes a request routes by: a change is news to its copies */
    memcpy(was, t->class_of, sizeof(was));

    for (i = 0; i < n; i++) {
        node = nodes[i];

        if (node == NULL || node->slot >= CLUSTER_SESSION_NODES) {
            continue;
        }

        a = node->slot;
        present |= (uint32_t) 1 << a;

        if (node->key == CLUSTER_KEY_IN_SYNC) {
            synced |= (uint32_t) 1 << a;
        }

        if (node->key_forget) {
            /* back from down: restarted, perhaps with another key */
            node->key_forget = 0;
            cluster_sessions_forget(t, a);
        }

        if (t->last_refusal[a]
            && (now - t->last_refusal[a] > stale || now < t->last_refusal[a]))
        {
            /*
             * As the cryptographic verdict does: it may have been mended.
             * What it served still counts.
             */
            cluster_sessions_pardon(t, a);
        }
    }

    /* pairs: apart, or together in one class */

    for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
        parent[a] = (uint8_t) a;
        apart[a] = 0;
        size[a] = 0;
        cls[a] = 0;
    }

    for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
        if (!(present & ((uint32_t) 1 << a))) {
            continue;
        }

        for (b = a + 1; b < CLUSTER_SESSION_NODES; b++) {
            if (!(present & ((uint32_t) 1 << b))) {
                continue;
            }

            served = t->served[a][b] + t->served[b][a];
            refused = t->refused[a][b] + t->refused[b][a];

            if (refused >= CLUSTER_SESSION_ENOUGH && refused > served) {
                apart[a] |= (uint32_t) 1 << b;
                apart[b] |= (uint32_t) 1 << a;

            } else if (served >= CLUSTER_SESSION_ENOUGH) {
                r = cluster_class_root(parent, b);
                parent[cluster_class_root(parent, a)] = (uint8_t) r;
            }
        }
    }

    for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
        if (present & ((uint32_t) 1 << a)) {
            size[cluster_class_root(parent, a)]++;
        }
    }

    /*
     * The reference class: the one a node proved in sync belongs to, else
     * the largest of at least two nodes, if no other is as large.
     */

    ref = CLUSTER_SESSION_NODES;
    best = 0;
    tie = 0;

    for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
        if (synced & ((uint32_t) 1 << a)) {
            r = cluster_class_root(parent, a);

            if (ref == CLUSTER_SESSION_NODES || size[r] > size[ref]) {
                ref = r;
            }
        }
    }

    if (ref == CLUSTER_SESSION_NODES) {
        for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
            if (size[a] > best) {
                best = size[a];
                ref = a;
                tie = 0;

            } else if (size[a] == best && best) {
                tie = 1;
            }
        }

        if (tie || best < 2) {
            ref = CLUSTER_SESSION_NODES;
        }
    }

    /* numbers: 1 for the reference class, then in slot order */

    next = 2;

    for (a = 0; a < CLUSTER_SESSION_NODES; a++) {
        t->class_of[a] = 0;

        if (!(present & ((uint32_t) 1 << a))) {
            continue;
        }

        r = cluster_class_root(parent, a);

        if (size[r] < 2 && apart[a] == 0) {
            /* no evidence either way */
            continue;
        }

        if (cls[r] == 0) {
            cls[r] = (uint8_t) (r == ref ? 1 : next++);
        }

        t->class_of[a] = cls[r];
    }

    for (i = 0; i < n; i++) {
        node = nodes[i];

        if (node == NULL) {
            continue;
        }

        node->key_class = 0;
        node->key_cross = CLUSTER_KEY_UNKNOWN;
        node->sessions_served = 0;
        node->sessions_refused = 0;

        a = node->slot;

        if (a >= CLUSTER_SESSION_NODES) {
            continue;
        }

        for (b = 0; b < CLUSTER_SESSION_NODES; b++) {
            node->sessions_served += t->served[b][a];
            node->sessions_refused += t->refused[b][a];
        }

        node->key_class = t->class_of[a];

        if (ref == CLUSTER_SESSION_NODES || node->key_class == 0) {
            continue;
        }

        r = cluster_class_root(parent, a);

        if (r == ref) {
            node->key_cross = CLUSTER_KEY_IN_SYNC;

        } else {
            for (b = 0; b < CLUSTER_SESSION_NODES; b++) {
                if ((apart[a] & ((uint32_t) 1 << b))
                    && cluster_class_root(parent, b) == ref)
                {
                    node->key_cross = CLUSTER_KEY_MISMATCH;
                    break;
                }
            }
        }
    }

    if (memcmp(was, t->class_of, sizeof(was)) != 0) {
        t->generation++;
    }
}
