/*
** The storage schema: creation and numbered migrations.
**
** The DDL lives in sql/migrations/NNNN_*.sql and is embedded at build time.
** _velt_meta holds schema_version (the number of migrations applied) and
** created_by (the velt version that created the file). Loading the extension
** writes nothing; the first writing call, or SELECT velt_init(), applies the
** missing migrations inside the call's savepoint. A database whose schema is
** newer than this build is refused with a message that says what to do.
** Reading a database without the schema sees empty tables.
*/
#include "velt_int.h"

#include "migrations.h"

#ifndef VELT_VERSION
#define VELT_VERSION "0.0.0"
#endif

int velt_schema_latest(void) {
    return VELT_COUNT(velt_migrations);
}

static int table_exists(sqlite3 *db, const char *zTable) {
    return sqlite3_table_column_metadata(db, "main", zTable, 0, 0, 0, 0, 0, 0) == SQLITE_OK;
}

/* The schema version in the file: 0 when there is no velt storage. */
static int read_version(VeltConn *p, int *piVersion, VeltErr *e) {
    *piVersion = 0;
    if (p->aStmt[VELT_STMT_SCHEMA_VERSION] == 0 && !table_exists(p->db, "_velt_meta")) return 0;
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_SCHEMA_VERSION, e);
    if (pStmt == 0) return e->status;
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        *piVersion = sqlite3_column_int(pStmt, 0);
        sqlite3_reset(pStmt);
        return 0;
    }
    sqlite3_reset(pStmt);
    if (rc == SQLITE_DONE) {
        return velt_err(e, VS_FAILED_PRECONDITION,
                        "_velt_meta has no schema_version: this file's velt storage is damaged");
    }
    /* The table went away (a rolled-back creation): forget the statement. */
    if (!table_exists(p->db, "_velt_meta")) {
        sqlite3_finalize(pStmt);
        p->aStmt[VELT_STMT_SCHEMA_VERSION] = 0;
        return 0;
    }
    return velt_err_sqlite(e, p->db, rc);
}

/* Set a _velt_meta key to a text (zText) or an integer. */
static int set_meta(VeltConn *p, const char *zKey, const char *zText, int iVal, VeltErr *e) {
    sqlite3_stmt *pStmt = 0;
    int rc = sqlite3_prepare_v2(p->db,
                                "INSERT INTO main._velt_meta(key, value) VALUES (?1, ?2)"
                                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                -1, &pStmt, 0);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(pStmt, 1, zKey, -1, SQLITE_STATIC);
        if (zText) {
            sqlite3_bind_text(pStmt, 2, zText, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_int(pStmt, 2, iVal);
        }
        rc = sqlite3_step(pStmt);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) velt_err_sqlite(e, p->db, rc);
    sqlite3_finalize(pStmt);
    return e->status;
}

int velt_schema_ensure(VeltConn *p, int bWrite, int *pbPresent, VeltErr *e) {
    int iVersion;
    int latest = velt_schema_latest();
    if (pbPresent) *pbPresent = 0;
    if (read_version(p, &iVersion, e)) return e->status;
    if (iVersion > latest) {
        return velt_err(e, VS_FAILED_PRECONDITION,
                        "this database uses velt storage schema version %d, newer than this "
                        "build understands (%d): open it with a newer velt",
                        iVersion, latest);
    }
    if (iVersion == latest) {
        if (pbPresent) *pbPresent = 1;
        return 0;
    }
    if (!bWrite) {
        if (iVersion == 0) return 0;
        return velt_err(e, VS_FAILED_PRECONDITION,
                        "this database uses velt storage schema version %d: run SELECT "
                        "velt_init() to migrate it to version %d",
                        iVersion, latest);
    }
    for (int i = iVersion; i < latest; i++) {
        int rc = sqlite3_exec(p->db, velt_migrations[i], 0, 0, 0);
        if (rc != SQLITE_OK) return velt_err_sqlite(e, p->db, rc);
        if (set_meta(p, "schema_version", 0, i + 1, e)) return e->status;
    }
    if (iVersion == 0 && set_meta(p, "created_by", VELT_VERSION, 0, e)) return e->status;
    if (pbPresent) *pbPresent = 1;
    return 0;
}
