/*
 * ngx_cluster_module: what a node's /health says of it.
 *
 * Reads the JSON that ProGet (up to 2025 at /health, from 2026 at
 * /health/json) and BuildMaster answer, into fixed-size fields that can
 * live in shared memory.  A body that is not Inedo's health JSON (ProGet
 * 2026's plain "OK", Otter's pages) is not an error: its facts stay unknown.
 */

#ifndef CLUSTER_HEALTH_H
#define CLUSTER_HEALTH_H


#include <stddef.h>
#include <stdint.h>


typedef enum {
    CLUSTER_HEALTH_UNKNOWN = 0,
    CLUSTER_HEALTH_OK,
    CLUSTER_HEALTH_ERROR
} cluster_health_status_e;


typedef struct {
    uint8_t      inedo;              /* the body was Inedo's health JSON */
    uint8_t      database;           /* cluster_health_status_e */
    uint8_t      license;
    uint8_t      service;
    char         application[24];    /* applicationName: "ProGet" */
    char         instance[64];       /* instanceName (BuildMaster) */
    char         version[40];        /* versionNumber: "2023.27 (Build 5)" */
    char         release[24];        /* releaseNumber: "23.0.27" */
    char         database_detail[96];
    char         license_detail[96];
    char         service_detail[96];
} cluster_health_t;


typedef enum {
    CLUSTER_HEALTH_NOT_JSON = 0,     /* not JSON at all: facts unknown */
    CLUSTER_HEALTH_PARSED,           /* Inedo's health JSON */
    CLUSTER_HEALTH_FOREIGN,          /* JSON, but not Inedo's */
    CLUSTER_HEALTH_INVALID           /* looked like JSON, was not */
} cluster_health_rc_e;


/*
 * Reads body[0 .. len) into h, which it clears first.  Strings longer than
 * their field are cut at a character boundary.
 */
cluster_health_rc_e cluster_health_parse(const char *body, size_t len,
    cluster_health_t *h);

/* a JSON string into a fixed field, cut at a UTF-8 character boundary */
struct json_t;
void cluster_health_copy(char *dst, size_t size, struct json_t *v);

/*
 * Compares two release numbers ("23.0.27") component by component, as
 * numbers; returns <0, 0 or >0.  Empty sorts first.
 */
int cluster_release_compare(const char *a, const char *b);


#endif /* CLUSTER_HEALTH_H */
