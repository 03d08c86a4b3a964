/*
 * A minimal unit test harness: CHECK records a pass or a failure with its
 * place; main() prints "N passed, N failed" as its last line.
 */

#ifndef UNIT_H
#define UNIT_H


#include <stdio.h>
#include <string.h>


extern unsigned  unit_passed;
extern unsigned  unit_failed;


#define CHECK(cond)                                                           \
    do {                                                                      \
        if (cond) {                                                           \
            unit_passed++;                                                    \
        } else {                                                              \
            unit_failed++;                                                    \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
        }                                                                     \
    } while (0)

#define CHECK_STR(got, want)                                                  \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        if (strcmp(g_, w_) == 0) {                                            \
            unit_passed++;                                                    \
        } else {                                                              \
            unit_failed++;                                                    \
            printf("FAIL %s:%d: got \"%s\", want \"%s\"\n",                   \
                   __FILE__, __LINE__, g_, w_);                               \
        }                                                                     \
    } while (0)


void test_node(void);
void test_buf(void);
void test_json(void);
void test_status(void);
void test_check(void);
void test_state(void);
void test_cookie(void);
void test_session(void);
void test_change(void);
void test_pick(void);
void test_actions(void);
void test_cluster(void);
void test_db(void);
void test_conf(void);


#endif /* UNIT_H */
