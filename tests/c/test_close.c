/*
** Closing works: after any use of the extension, sqlite3_close() returns
** SQLITE_OK (the statements velt caches must not outlive the connection).
** Built twice: against the loadable velt.so, and statically linked with
** libvelt.a through sqlite3_auto_extension() (-DVELT_TEST_STATIC).
**
** usage: test_close DBFILE EXTENSION-PATH
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#ifdef VELT_TEST_STATIC
#include "velt.h"
#endif

static const char *zExt;
static int nFail;

static void check(int bOk, const char *zWhat) {
    printf("%s - %s\n", bOk ? "ok" : "FAIL", zWhat);
    if (!bOk) nFail++;
}

static sqlite3 *open_db(const char *zFile) {
    sqlite3 *db = 0;
    if (sqlite3_open(zFile, &db) != SQLITE_OK) return 0;
#ifndef VELT_TEST_STATIC
    char *zErr = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, 0);
    if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) {
        fprintf(stderr, "load: %s\n", zErr ? zErr : "?");
        sqlite3_free(zErr);
        sqlite3_close(db);
        return 0;
    }
#endif
    return db;
}

/* Runs SQL, returns the first column of the last row (static buffer). */
static const char *one(sqlite3 *db, const char *zSql, int *pRc) {
    static char zOut[4096];
    sqlite3_stmt *pStmt = 0;
    zOut[0] = 0;
    int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
    while (rc == SQLITE_OK && (rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
        const unsigned char *z = sqlite3_column_text(pStmt, 0);
        snprintf(zOut, sizeof(zOut), "%s", z ? (const char *)z : "NULL");
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    if (rc != SQLITE_OK) snprintf(zOut, sizeof(zOut), "%s", sqlite3_errmsg(db));
    sqlite3_finalize(pStmt);
    if (pRc) *pRc = rc;
    return zOut;
}

static const char zDef[] =
    "SELECT velt('definitions/create', '{\"definitionId\":\"close-test\",\"name\":\"Close\","
    "\"nodes\":[{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewers\":"
    "[{\"userId\":\"u1\",\"mandatory\":true}]}},{\"nodeId\":\"notify\",\"type\":\"notification\","
    "\"config\":{\"channel\":\"email\",\"recipients\":[\"a@example.com\"],\"bodyTemplate\":\"x\"}}]"
    ","
    "\"edges\":[{\"from\":\"review\",\"to\":\"notify\",\"on\":\"reject\"}]}')";

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    zExt = argv[2];
#ifdef VELT_TEST_STATIC
    sqlite3_auto_extension((void (*)(void))sqlite3_velt_init);
    const char *zKind = "static";
#else
    const char *zKind = "loadable";
#endif
    char zMsg[200];
    int rc;
    sqlite3 *db;

    db = open_db(argv[1]);
    check(db != 0, "open and load");
    if (db == 0) return 1;
    snprintf(zMsg, sizeof zMsg, "%s: close right after loading returns SQLITE_OK", zKind);
    check(sqlite3_close(db) == SQLITE_OK, zMsg);

    db = open_db(argv[1]);
    one(db, "SELECT velt_init()", &rc);
    check(rc == SQLITE_OK, "velt_init() succeeds");
    one(db, zDef, &rc);
    check(rc == SQLITE_OK, "definitions/create succeeds");
    for (int i = 0; i < 3; i++) {
        one(db, "SELECT velt('executions/dispatch', json_object('definitionId', 'close-test'))",
            &rc);
    }
    check(rc == SQLITE_OK, "executions/dispatch succeeds");
    const char *z = one(db,
                        "SELECT count(velt_cancel_step(execution_id, step_id, 'c test', 'admin'))"
                        " FROM velt_steps WHERE status = 'waiting'",
                        &rc);
    check(rc == SQLITE_OK && strcmp(z, "3") == 0,
          "three waiting steps cancelled through velt_steps");
    one(db, "SELECT velt_cancel_step('nope', 'nope', NULL, 'admin')", &rc);
    check(rc == SQLITE_ERROR, "a failing call raises SQLITE_ERROR");
    z = one(db, "SELECT count(*) FROM velt_events WHERE type = 'step.cancelled'", &rc);
    check(rc == SQLITE_OK && strcmp(z, "3") == 0, "three step.cancelled events");
    snprintf(zMsg, sizeof zMsg, "%s: close after writes, reads and errors returns SQLITE_OK",
             zKind);
    check(sqlite3_close(db) == SQLITE_OK, zMsg);

    /* Only a failed call, no virtual table ever touched. */
    db = open_db(argv[1]);
    one(db, "SELECT velt_cancel_step(NULL, 'x', NULL, 'admin')", &rc);
    check(rc == SQLITE_ERROR, "invalid argument raises SQLITE_ERROR");
    snprintf(zMsg, sizeof zMsg, "%s: close after only a failed call returns SQLITE_OK", zKind);
    check(sqlite3_close(db) == SQLITE_OK, zMsg);

    /* A user table that shadows the anchoring virtual table's name. */
    db = open_db(argv[1]);
    one(db, "CREATE TABLE IF NOT EXISTS velt_definitions(x)", &rc);
    one(db, "SELECT velt('executions/dispatch', json_object('definitionId', 'close-test'))", &rc);
    check(rc == SQLITE_OK, "dispatch works with a shadowing user table");
    snprintf(zMsg, sizeof zMsg, "%s: close with a shadowed table returns SQLITE_OK", zKind);
    check(sqlite3_close(db) == SQLITE_OK, zMsg);

    printf("done\n");
    return nFail ? 1 : 0;
}
