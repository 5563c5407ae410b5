/*
** Fault injection: every call that writes is all-or-nothing (SPEC 2-4), even
** when SQLite runs out of memory or the disk fails under it.
**
** A shim VFS wraps the default one and fails the Nth xWrite, xSync or
** xTruncate (SQLITE_IOERR_WRITE / _FSYNC / _TRUNCATE, or SQLITE_FULL for
** writes); a wrapper around SQLite's allocator (SQLITE_CONFIG_MALLOC), which
** cJSON also uses through cJSON_InitHooks, fails the Nth allocation, or every
** allocation from the Nth on. For each scenario, N runs over 1, 2, 3, ...
** until a run hits no fault:
**   dispatch      executions/dispatch of a definition with human steps and a
**                 __mock__ agent (its custom and approve edges fire)
**   cancel-step   velt_cancel_step() of the last live step of an execution,
**                 so the roll-up completes the execution
**   cancel-exec   executions/cancel of a live execution, through velt_api()
**                 (a fault must raise, never become an error envelope)
**   def-create    definitions/create of a definition with a custom edge
** each in autocommit mode and inside the caller's BEGIN ... COMMIT (which
** also inserts a row of its own, and whose COMMIT can take the fault), in
** journal_mode=DELETE and WAL, on a file reset from a pristine copy.
**
** After each run: the call either succeeded with the result and the
** database of a fault-free run (fixed clock and PRNG seed), or failed with
** SQLITE_NOMEM, SQLITE_IOERR*, SQLITE_FULL or SQLITE_CANTOPEN and, in
** autocommit mode, left no transaction open; sqlite3_close() returns
** SQLITE_OK; every allocation made during the run (SQLite's and cJSON's) has
** been freed; and a fault-free reopen finds PRAGMA integrity_check 'ok' and
** a dump of sqlite_schema, the _velt_* tables and the caller's table equal
** to the dump the outcome implies (before the call, or after it).
**
** Loops run in worker processes, so a crash or a hang is reported with its
** point and the loop goes on with the next point.
**
** usage: test_faults DIR [FILTER]
**   DIR     scratch directory for the pristine and working database files
**   FILTER  run only the loops whose label contains FILTER
** environment:
**   VELT_FAULT_JOBS=n    worker processes (default 2; 0 runs in-process,
**                        for gdb or valgrind on a single point)
**   VELT_FAULT_STRIDE=k  allocation faults: test N = 1, 1+k, 1+2k, ... only
**                        (default 1; for valgrind and ASan runs)
**   VELT_FAULT_N=n       test that one point only (with FILTER)
**   VELT_FAULT_DETAILS=n describe the first n wrong points of each kind in a
**                        loop (default 2)
**   VELT_FAULT_FULLCHECK=1 reopen and dump even a file left byte for byte
**                        pristine (by default such a file counts as checked)
**   VELT_FAULT_KEEP=1    on a wrong file, write DIR/want.dump and DIR/got.dump
**   VELT_FAULT_TRACE=1   one line per run on stderr: faults hit, codes, state
*/
#include <cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VELT_TEST_STATIC
#error "test_faults links libvelt.a: build it with -DVELT_TEST_STATIC -Iext"
#endif
#include "velt.h"

#define CLOCK_CALL 1700000100000LL
#define PRNG_SEED 20240607

/* ================================================================ faults */

enum { C_ALLOC, C_WRITE, C_SYNC, C_TRUNC, C__N };

static struct {
    int bArmed;   /* counting and failing */
    int eClass;   /* C_* that fails */
    int bPersist; /* every event from the iFail-th on fails, not just one */
    int rcIo;     /* what a failed I/O call returns (0: the IOERR of its kind) */
    long iFail;   /* 0: count only */
    long aSeen[C__N];
    long nHit;
} g;

static long nSqlOut, nCjOut; /* live allocations: SQLite's, cJSON's */

/* Each injected fault passes here: "break fault_hit" in gdb shows who
** asked. */
static volatile long nFaultHits;
static void fault_hit(void) {
    nFaultHits++;
}

static int fault_now(int eClass) {
    if (!g.bArmed) return 0;
    long n = ++g.aSeen[eClass];
    if (g.iFail == 0 || g.eClass != eClass) return 0;
    if (n == g.iFail || (g.bPersist && n > g.iFail)) {
        g.nHit++;
        fault_hit();
        return 1;
    }
    return 0;
}

static void arm(int eClass, int bPersist, int rcIo, long iFail) {
    memset(&g, 0, sizeof(g));
    g.eClass = eClass;
    g.bPersist = bPersist;
    g.rcIo = rcIo;
    g.iFail = iFail;
    g.bArmed = 1;
}

static void disarm(void) {
    g.bArmed = 0;
}

/* ------------------------------------------------------------ allocator */

static sqlite3_mem_methods gSys;

static void *mMalloc(int n) {
    if (fault_now(C_ALLOC)) return 0;
    void *p = gSys.xMalloc(n);
    if (p) nSqlOut++;
    return p;
}
static void mFree(void *p) {
    if (p) nSqlOut--;
    gSys.xFree(p);
}
static void *mRealloc(void *p, int n) {
    if (fault_now(C_ALLOC)) return 0;
    return gSys.xRealloc(p, n);
}
static int mSize(void *p) {
    return gSys.xSize(p);
}
static int mRoundup(int n) {
    return gSys.xRoundup(n);
}
static int mInit(void *pApp) {
    return gSys.xInit(pApp);
}
static void mShutdown(void *pApp) {
    gSys.xShutdown(pApp);
}

static void *cjMalloc(size_t n) {
    if (fault_now(C_ALLOC)) return 0;
    void *p = malloc(n);
    if (p) nCjOut++;
    return p;
}
static void cjFree(void *p) {
    if (p) nCjOut--;
    free(p);
}

/* ------------------------------------------------------------- shim VFS */

/* The shape of SQLite's ext/misc/vfstrace.c: every method forwarded to the
** real file, which lives right after ours. */
typedef struct FFile {
    sqlite3_file base;
    sqlite3_file *pReal;
} FFile;
#define REAL(f) (((FFile *)(f))->pReal)

static sqlite3_vfs *gRoot;
static sqlite3_vfs gVfs;

static int fClose(sqlite3_file *f) {
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int fRead(sqlite3_file *f, void *z, int n, sqlite3_int64 o) {
    return REAL(f)->pMethods->xRead(REAL(f), z, n, o);
}
static int fWrite(sqlite3_file *f, const void *z, int n, sqlite3_int64 o) {
    if (fault_now(C_WRITE)) return g.rcIo ? g.rcIo : SQLITE_IOERR_WRITE;
    return REAL(f)->pMethods->xWrite(REAL(f), z, n, o);
}
static int fTruncate(sqlite3_file *f, sqlite3_int64 size) {
    if (fault_now(C_TRUNC)) return g.rcIo ? g.rcIo : SQLITE_IOERR_TRUNCATE;
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
/* Syncs are counted and can fail, but the real fsync is skipped: this test
** is about error paths, not power loss, and fsync latency would be most of
** its run time. Directory syncs after a journal delete are skipped too. */
static int fSync(sqlite3_file *f, int flags) {
    (void)f, (void)flags;
    if (fault_now(C_SYNC)) return g.rcIo ? g.rcIo : SQLITE_IOERR_FSYNC;
    return SQLITE_OK;
}
static int fFileSize(sqlite3_file *f, sqlite3_int64 *pSize) {
    return REAL(f)->pMethods->xFileSize(REAL(f), pSize);
}
static int fLock(sqlite3_file *f, int e) {
    return REAL(f)->pMethods->xLock(REAL(f), e);
}
static int fUnlock(sqlite3_file *f, int e) {
    return REAL(f)->pMethods->xUnlock(REAL(f), e);
}
static int fCheckReservedLock(sqlite3_file *f, int *pRes) {
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), pRes);
}
static int fFileControl(sqlite3_file *f, int op, void *pArg) {
    return REAL(f)->pMethods->xFileControl(REAL(f), op, pArg);
}
static int fSectorSize(sqlite3_file *f) {
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fDeviceCharacteristics(sqlite3_file *f) {
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fShmMap(sqlite3_file *f, int iPg, int pgsz, int bExtend, void volatile **pp) {
    if (REAL(f)->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
    return REAL(f)->pMethods->xShmMap(REAL(f), iPg, pgsz, bExtend, pp);
}
static int fShmLock(sqlite3_file *f, int ofst, int n, int flags) {
    if (REAL(f)->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
    return REAL(f)->pMethods->xShmLock(REAL(f), ofst, n, flags);
}
static void fShmBarrier(sqlite3_file *f) {
    if (REAL(f)->pMethods->iVersion >= 2) REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fShmUnmap(sqlite3_file *f, int bDelete) {
    if (REAL(f)->pMethods->iVersion < 2) return SQLITE_OK;
    return REAL(f)->pMethods->xShmUnmap(REAL(f), bDelete);
}
static int fFetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) {
    *pp = 0;
    if (REAL(f)->pMethods->iVersion < 3) return SQLITE_OK;
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int fUnfetch(sqlite3_file *f, sqlite3_int64 o, void *p) {
    if (REAL(f)->pMethods->iVersion < 3) return SQLITE_OK;
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods gMethods = {
    .iVersion = 3,
    .xClose = fClose,
    .xRead = fRead,
    .xWrite = fWrite,
    .xTruncate = fTruncate,
    .xSync = fSync,
    .xFileSize = fFileSize,
    .xLock = fLock,
    .xUnlock = fUnlock,
    .xCheckReservedLock = fCheckReservedLock,
    .xFileControl = fFileControl,
    .xSectorSize = fSectorSize,
    .xDeviceCharacteristics = fDeviceCharacteristics,
    .xShmMap = fShmMap,
    .xShmLock = fShmLock,
    .xShmBarrier = fShmBarrier,
    .xShmUnmap = fShmUnmap,
    .xFetch = fFetch,
    .xUnfetch = fUnfetch,
};

static int vOpen(sqlite3_vfs *v, const char *zName, sqlite3_file *f, int flags, int *pOut) {
    (void)v;
    FFile *p = (FFile *)f;
    p->pReal = (sqlite3_file *)&p[1];
    int rc = gRoot->xOpen(gRoot, zName, p->pReal, flags, pOut);
    f->pMethods = p->pReal->pMethods ? &gMethods : 0;
    return rc;
}
static int vDelete(sqlite3_vfs *v, const char *z, int bSync) {
    (void)v, (void)bSync;
    return gRoot->xDelete(gRoot, z, 0);
}
static int vAccess(sqlite3_vfs *v, const char *z, int flags, int *pRes) {
    (void)v;
    return gRoot->xAccess(gRoot, z, flags, pRes);
}
static int vFullPathname(sqlite3_vfs *v, const char *z, int n, char *zOut) {
    (void)v;
    return gRoot->xFullPathname(gRoot, z, n, zOut);
}
static void *vDlOpen(sqlite3_vfs *v, const char *z) {
    (void)v;
    return gRoot->xDlOpen(gRoot, z);
}
static void vDlError(sqlite3_vfs *v, int n, char *z) {
    (void)v;
    gRoot->xDlError(gRoot, n, z);
}
static void (*vDlSym(sqlite3_vfs *v, void *h, const char *z))(void) {
    (void)v;
    return gRoot->xDlSym(gRoot, h, z);
}
static void vDlClose(sqlite3_vfs *v, void *h) {
    (void)v;
    gRoot->xDlClose(gRoot, h);
}
static int vRandomness(sqlite3_vfs *v, int n, char *z) {
    (void)v;
    return gRoot->xRandomness(gRoot, n, z);
}
static int vSleep(sqlite3_vfs *v, int us) {
    (void)v;
    return gRoot->xSleep(gRoot, us);
}
static int vCurrentTime(sqlite3_vfs *v, double *p) {
    (void)v;
    return gRoot->xCurrentTime(gRoot, p);
}
static int vGetLastError(sqlite3_vfs *v, int n, char *z) {
    (void)v;
    return gRoot->xGetLastError ? gRoot->xGetLastError(gRoot, n, z) : 0;
}
static int vCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *p) {
    (void)v;
    return gRoot->xCurrentTimeInt64(gRoot, p);
}
static int vSetSystemCall(sqlite3_vfs *v, const char *z, sqlite3_syscall_ptr f) {
    (void)v;
    return gRoot->xSetSystemCall(gRoot, z, f);
}
static sqlite3_syscall_ptr vGetSystemCall(sqlite3_vfs *v, const char *z) {
    (void)v;
    return gRoot->xGetSystemCall(gRoot, z);
}
static const char *vNextSystemCall(sqlite3_vfs *v, const char *z) {
    (void)v;
    return gRoot->xNextSystemCall(gRoot, z);
}

static int setup_faults(void) {
    /* Before sqlite3_initialize(): sqlite3_auto_extension() initializes. */
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &gSys) != SQLITE_OK) return 1;
    sqlite3_mem_methods m = {mMalloc,  mFree, mRealloc,  mSize,
                             mRoundup, mInit, mShutdown, gSys.pAppData};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) return 1;
    cJSON_Hooks hooks = {cjMalloc, cjFree};
    cJSON_InitHooks(&hooks);
    if (sqlite3_auto_extension((void (*)(void))sqlite3_velt_init) != SQLITE_OK) return 1;
    gRoot = sqlite3_vfs_find(0);
    if (gRoot == 0 || gRoot->iVersion < 3) return 1;
    gVfs.iVersion = 3;
    gVfs.szOsFile = (int)sizeof(FFile) + gRoot->szOsFile;
    gVfs.mxPathname = gRoot->mxPathname;
    gVfs.zName = "velt-faults";
    gVfs.xOpen = vOpen;
    gVfs.xDelete = vDelete;
    gVfs.xAccess = vAccess;
    gVfs.xFullPathname = vFullPathname;
    gVfs.xDlOpen = vDlOpen;
    gVfs.xDlError = vDlError;
    gVfs.xDlSym = vDlSym;
    gVfs.xDlClose = vDlClose;
    gVfs.xRandomness = vRandomness;
    gVfs.xSleep = vSleep;
    gVfs.xCurrentTime = vCurrentTime;
    gVfs.xGetLastError = vGetLastError;
    gVfs.xCurrentTimeInt64 = vCurrentTimeInt64;
    gVfs.xSetSystemCall = vSetSystemCall;
    gVfs.xGetSystemCall = vGetSystemCall;
    gVfs.xNextSystemCall = vNextSystemCall;
    return sqlite3_vfs_register(&gVfs, 1) != SQLITE_OK;
}

/* ============================================================== helpers */

static char *xstrdup(const char *z) {
    size_t n = strlen(z ? z : "") + 1;
    char *p = malloc(n);
    if (p == 0) abort();
    memcpy(p, z ? z : "", n);
    return p;
}

static char *xprintf(const char *zFmt, ...) {
    va_list ap;
    va_start(ap, zFmt);
    int n = vsnprintf(0, 0, zFmt, ap);
    va_end(ap);
    char *z = malloc((size_t)n + 1);
    if (z == 0) abort();
    va_start(ap, zFmt);
    vsnprintf(z, (size_t)n + 1, zFmt, ap);
    va_end(ap);
    return z;
}

/* Runs SQL (faults disarmed); returns the first column of the last row,
** malloc'd, or 0 with *pzErr set. */
static char *one(sqlite3 *db, const char *zSql, char **pzErr) {
    sqlite3_stmt *pStmt = 0;
    char *zOut = 0;
    const char *zTail = zSql;
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && zTail && *zTail) {
        rc = sqlite3_prepare_v2(db, zTail, -1, &pStmt, &zTail);
        if (rc != SQLITE_OK || pStmt == 0) break;
        while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
            const unsigned char *z = sqlite3_column_text(pStmt, 0);
            free(zOut);
            zOut = xstrdup(z ? (const char *)z : "NULL");
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
        sqlite3_finalize(pStmt);
        pStmt = 0;
    }
    if (rc != SQLITE_OK) {
        if (pzErr) *pzErr = xprintf("%s (%d) in: %.200s", sqlite3_errmsg(db), rc, zSql);
        free(zOut);
        return 0;
    }
    return zOut ? zOut : xstrdup("");
}

static int exec_ok(sqlite3 *db, const char *zSql, char **pzErr) {
    char *z = one(db, zSql, pzErr);
    free(z);
    return z != 0;
}

static void dump_query(sqlite3 *db, sqlite3_str *s, const char *zSql) {
    sqlite3_stmt *p = 0;
    int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    if (rc != SQLITE_OK) {
        sqlite3_str_appendf(s, "!prepare: %s\n", sqlite3_errmsg(db));
        return;
    }
    int n = sqlite3_column_count(p);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            if (i) sqlite3_str_appendchar(s, 1, '|');
            switch (sqlite3_column_type(p, i)) {
            case SQLITE_NULL:
                sqlite3_str_appendall(s, "NULL");
                break;
            case SQLITE_INTEGER:
                sqlite3_str_appendf(s, "%lld", sqlite3_column_int64(p, i));
                break;
            case SQLITE_FLOAT:
                sqlite3_str_appendf(s, "%!.17g", sqlite3_column_double(p, i));
                break;
            case SQLITE_TEXT:
                sqlite3_str_appendf(s, "%Q", sqlite3_column_text(p, i));
                break;
            default: {
                const unsigned char *b = sqlite3_column_blob(p, i);
                int nb = sqlite3_column_bytes(p, i);
                sqlite3_str_appendall(s, "x'");
                for (int k = 0; k < nb; k++)
                    sqlite3_str_appendf(s, "%02x", b[k]);
                sqlite3_str_appendchar(s, 1, '\'');
            }
            }
        }
        sqlite3_str_appendchar(s, 1, '\n');
    }
    if (rc != SQLITE_DONE) sqlite3_str_appendf(s, "!step: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(p);
}

/* The per-table queries of the dump, built once from the first file
** dumped (the pristine one): every row of the _velt_* tables and of the
** caller's app_log, in rowid order (all columns for WITHOUT ROWID tables).
** The random tail of event ids is left out: SQLite's own journal nonces and
** WAL salts come from the same PRNG, so a cache spill forced by a benign
** allocation failure shifts the ids of later events. A table added by a
** call still shows in the schema part of the dump. */
static char **azDumpSql;
static int nDumpSql;

static void dump_prepare_queries(sqlite3 *db) {
    sqlite3_stmt *pT = 0;
    sqlite3_prepare_v2(db,
                       "SELECT name FROM sqlite_schema WHERE type = 'table' AND (name = 'app_log'"
                       " OR name LIKE '\\_velt\\_%' ESCAPE '\\') ORDER BY name",
                       -1, &pT, 0);
    while (pT && sqlite3_step(pT) == SQLITE_ROW) {
        const char *zTab = (const char *)sqlite3_column_text(pT, 0);
        char *zProbe = sqlite3_mprintf("SELECT * FROM main.\"%w\"", zTab);
        sqlite3_stmt *pProbe = 0;
        sqlite3_prepare_v2(db, zProbe, -1, &pProbe, 0);
        sqlite3_free(zProbe);
        int n = pProbe ? sqlite3_column_count(pProbe) : 0;
        sqlite3_str *o = sqlite3_str_new(db);
        sqlite3_str_appendall(o, "SELECT rowid");
        for (int i = 0; i < n; i++) {
            const char *zCol = sqlite3_column_name(pProbe, i);
            if (strcmp(zTab, "_velt_events") == 0 && strcmp(zCol, "event_id") == 0) {
                sqlite3_str_appendf(o, ", substr(\"%w\", 1, 17) || '~'", zCol);
            } else {
                sqlite3_str_appendf(o, ", \"%w\"", zCol);
            }
        }
        sqlite3_str_appendf(o, " FROM main.\"%w\" ORDER BY rowid", zTab);
        char *zSql = sqlite3_str_finish(o);
        sqlite3_stmt *pTry = 0;
        if (sqlite3_prepare_v2(db, zSql, -1, &pTry, 0) != SQLITE_OK) {
            /* WITHOUT ROWID: no rowid column, order by every column. */
            char *zNew = sqlite3_mprintf("SELECT%s", strchr(zSql, ',') + 1);
            sqlite3_free(zSql);
            *strstr(zNew, " ORDER BY rowid") = 0;
            o = sqlite3_str_new(db);
            sqlite3_str_appendall(o, zNew);
            for (int i = 1; i <= n; i++)
                sqlite3_str_appendf(o, "%s%d", i == 1 ? " ORDER BY " : ", ", i);
            sqlite3_free(zNew);
            zSql = sqlite3_str_finish(o);
        }
        sqlite3_finalize(pTry);
        sqlite3_finalize(pProbe);
        azDumpSql = realloc(azDumpSql, sizeof(char *) * (size_t)(nDumpSql + 2));
        if (azDumpSql == 0) abort();
        azDumpSql[nDumpSql++] = xprintf("== %s", zTab);
        azDumpSql[nDumpSql++] = xstrdup(zSql);
        sqlite3_free(zSql);
    }
    sqlite3_finalize(pT);
}

/* Everything the calls may touch: the schema, the file header fields that
** belong to the application, and the rows of the queries above. */
static char *dump(sqlite3 *db) {
    if (azDumpSql == 0) dump_prepare_queries(db);
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendall(s, "== schema\n");
    dump_query(db, s, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name");
    dump_query(db, s, "SELECT 'user_version', user_version FROM pragma_user_version");
    dump_query(db, s, "SELECT 'application_id', application_id FROM pragma_application_id");
    for (int i = 0; azDumpSql && i + 1 < nDumpSql; i += 2) {
        sqlite3_str_appendf(s, "%s\n", azDumpSql[i]);
        dump_query(db, s, azDumpSql[i + 1]);
    }
    char *z = sqlite3_str_finish(s);
    char *zOut = xstrdup(z ? z : "!out of memory");
    sqlite3_free(z);
    return zOut;
}

/* Where two dumps part: the line number and each side's line. */
static char *dump_diff(const char *zWant, const char *zGot) {
    const char *a = zWant, *b = zGot;
    int iLine = 1;
    while (*a && *a == *b) {
        if (*a == '\n') iLine++;
        a++, b++;
    }
    while (a > zWant && a[-1] != '\n')
        a--, b--;
    int na = (int)strcspn(a, "\n"), nb = (int)strcspn(b, "\n");
    return xprintf("line %d: want [%.*s] got [%.*s]", iLine, na > 300 ? 300 : na, a,
                   nb > 300 ? 300 : nb, b);
}

/* ====================================================== files and scenarios */

static const char *zDir;

typedef struct Journal {
    const char *zName; /* journal_mode */
    char *zPristine;   /* file name */
    unsigned char *aPristine;
    long nPristine;
    char *zWork;       /* the file runs use (one per journal mode and worker) */
    int bWorkPristine; /* the last run left zWork byte for byte pristine */
    char *zPre;        /* dump of the pristine file */
    char *zPreMarker;  /* ... after the caller's own insert was committed */
    char *azCall[4];   /* SQL of each scenario on this file */
} Journal;

static Journal aJournal[2] = {{.zName = "delete"}, {.zName = "wal"}};

static const char *azScenario[4] = {"dispatch", "cancel-step", "cancel-exec", "def-create"};

static const char zDefMain[] =
    "SELECT velt('definitions/create', '{\"definitionId\":\"fault-main\",\"name\":\"Fault main\","
    "\"nodes\":[{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewers\":["
    "{\"userId\":\"u1\",\"mandatory\":true},{\"userId\":\"u2\",\"mandatory\":false}]}},"
    "{\"nodeId\":\"auto\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\","
    "\"urlPath\":\"documentUrl\"}},"
    "{\"nodeId\":\"after\",\"type\":\"human\",\"config\":{\"reviewers\":[{\"userId\":\"u3\","
    "\"mandatory\":true}]}},"
    "{\"nodeId\":\"big\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
    "\"recipients\":[\"ops@example.com\"],\"bodyTemplate\":\"big order\"}}],"
    "\"edges\":[{\"from\":\"auto\",\"to\":\"after\",\"on\":\"approve\"},"
    "{\"from\":\"auto\",\"to\":\"big\",\"on\":\"custom\",\"when\":\"{\\\"op\\\":\\\"gt\\\","
    "\\\"args\\\":[{\\\"var\\\":\\\"execution.input.amount\\\"},1000]}\"},"
    "{\"from\":\"review\",\"to\":\"big\",\"on\":\"reject\"},"
    "{\"from\":\"after\",\"to\":\"big\",\"on\":\"reject\"}]}')";

static const char zDefSingle[] =
    "SELECT velt('definitions/create', '{\"definitionId\":\"fault-single\",\"name\":\"Single\","
    "\"nodes\":[{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewers\":["
    "{\"userId\":\"u1\",\"mandatory\":true}]}},"
    "{\"nodeId\":\"tell\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
    "\"recipients\":[\"ops@example.com\"],\"bodyTemplate\":\"rejected\"}}],"
    "\"edges\":[{\"from\":\"review\",\"to\":\"tell\",\"on\":\"reject\"}]}')";

static const char zCallDispatch[] =
    "SELECT velt('executions/dispatch', '{\"definitionId\":\"fault-main\","
    "\"idempotencyKey\":\"order-1042\",\"triggerContext\":{\"amount\":1200,"
    "\"lines\":[\"a\",\"b\"]}}')";

static const char zCallDefCreate[] =
    "SELECT velt('definitions/create', '{\"definitionId\":\"fault-new\","
    "\"name\":\"Marketing copy approval\",\"description\":\"fault test\","
    "\"tags\":[\"fault\",\"test\"],"
    "\"nodes\":[{\"nodeId\":\"draft\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\","
    "\"url\":\"https://docs.example.com/d/1\"}},"
    "{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewers\":["
    "{\"userId\":\"u_reviewer_01\",\"mandatory\":true},"
    "{\"userId\":\"u_reviewer_02\",\"mandatory\":false}]}},"
    "{\"nodeId\":\"publish\",\"type\":\"webhook\",\"config\":{\"url\":"
    "\"https://hooks.example.com/publish\"}},"
    "{\"nodeId\":\"rework\",\"type\":\"notification\",\"config\":{\"channel\":\"slack\","
    "\"slackTarget\":\"C123\",\"bodyTemplate\":\"rework\"}}],"
    "\"edges\":[{\"from\":\"draft\",\"to\":\"review\",\"on\":\"approve\"},"
    "{\"from\":\"review\",\"to\":\"publish\",\"on\":\"approve\"},"
    "{\"from\":\"review\",\"to\":\"rework\",\"on\":\"reject\"},"
    "{\"from\":\"draft\",\"to\":\"rework\",\"on\":\"custom\",\"when\":\"{\\\"op\\\":\\\"and\\\","
    "\\\"args\\\":[{\\\"op\\\":\\\"regex\\\",\\\"args\\\":[{\\\"var\\\":\\\"output.decision\\\"},"
    "\\\"^rej\\\",\\\"i\\\"]},{\\\"op\\\":\\\"not\\\",\\\"args\\\":[{\\\"op\\\":\\\"isEmpty\\\","
    "\\\"args\\\":[{\\\"var\\\":\\\"output.agentId\\\"}]}]}]}\"}]}')";

static void remove_db(const char *zFile) {
    static const char *azSuffix[] = {"", "-journal", "-wal", "-shm"};
    for (int i = 0; i < 4; i++) {
        char *z = xprintf("%s%s", zFile, azSuffix[i]);
        unlink(z);
        free(z);
    }
}

static int reset_work(Journal *j) {
    if (j->bWorkPristine) { /* the last run left it untouched */
        j->bWorkPristine = 0;
        return 0;
    }
    remove_db(j->zWork);
    FILE *f = fopen(j->zWork, "wb");
    if (f == 0) return 1;
    size_t n = fwrite(j->aPristine, 1, (size_t)j->nPristine, f);
    return (fclose(f) != 0) | (n != (size_t)j->nPristine);
}

static int bFullCheck; /* always reopen and dump, even an untouched file */

static long file_size(const char *zFile) {
    FILE *f = fopen(zFile, "rb");
    if (f == 0) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Is the working file byte for byte the pristine one, with no journal or
** WAL content that a reopen would roll back or replay? */
static int same_as_pristine(Journal *j) {
    char *zJ = xprintf("%s-journal", j->zWork), *zW = xprintf("%s-wal", j->zWork);
    int bSide = file_size(zJ) >= 0 || file_size(zW) > 0;
    free(zJ), free(zW);
    if (bSide) return 0;
    FILE *f = fopen(j->zWork, "rb");
    if (f == 0) return 0;
    int bSame = 1;
    unsigned char buf[65536];
    long nDone = 0;
    size_t n;
    while (bSame && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        bSame = nDone + (long)n <= j->nPristine && memcmp(buf, j->aPristine + nDone, n) == 0;
        nDone += (long)n;
    }
    fclose(f);
    return bSame && nDone == j->nPristine;
}

static sqlite3 *open_db(const char *zFile, char **pzErr) {
    sqlite3 *db = 0;
    int rc = sqlite3_open_v2(zFile, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
    if (rc != SQLITE_OK) {
        *pzErr = xprintf("open %s: %s", zFile, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return 0;
    }
    sqlite3_extended_result_codes(db, 1);
    return db;
}

/* The fault-free dump of a file after a reopen, with its integrity check. */
static char *check_file(const char *zFile, char **pzIntegrity, char **pzErr) {
    sqlite3 *db = open_db(zFile, pzErr);
    if (db == 0) return 0;
    *pzIntegrity = one(db, "PRAGMA integrity_check", pzErr);
    char *z = *pzIntegrity ? dump(db) : 0;
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK && z) {
        *pzErr = xprintf("close after the check: %d", rc);
        free(z);
        z = 0;
    }
    return z;
}

static int build_pristine(Journal *j, char **pzErr) {
    remove_db(j->zPristine);
    sqlite3 *db = open_db(j->zPristine, pzErr);
    if (db == 0) return 1;
    char *zSql = xprintf("PRAGMA journal_mode=%s", j->zName);
    char *zMode = one(db, zSql, pzErr);
    free(zSql);
    int bOk = zMode && strcmp(zMode, j->zName) == 0;
    if (zMode && !bOk) *pzErr = xprintf("journal_mode is %s", zMode);
    free(zMode);
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, PRNG_SEED, (sqlite3 *)0);
    static const char *azSetup[] = {
        "PRAGMA user_version = 7; PRAGMA application_id = 42;"
        "CREATE TABLE app_log(id INTEGER PRIMARY KEY, note TEXT NOT NULL);"
        "SELECT velt_set_clock(1700000000000); SELECT velt_init()",
        zDefMain,
        zDefSingle,
        "SELECT velt('executions/dispatch', '{\"definitionId\":\"fault-single\"}')",
        "SELECT velt('executions/dispatch', '{\"definitionId\":\"fault-main\"}')",
        /* A finished execution too, with a cancelled history. */
        "SELECT velt('executions/dispatch', '{\"definitionId\":\"fault-main\","
        "\"idempotencyKey\":\"done-1\"}')",
        "SELECT velt('executions/cancel', json_object('executionId', (SELECT execution_id FROM"
        " _velt_executions WHERE idempotency_key = 'done-1'), 'reason', 'setup'))",
        "INSERT INTO app_log(note) VALUES ('pristine')",
    };
    for (int i = 0; bOk && i < (int)(sizeof(azSetup) / sizeof(azSetup[0])); i++) {
        bOk = exec_ok(db, azSetup[i], pzErr);
    }
    char *zStep = 0, *zExecS = 0, *zExecM = 0;
    if (bOk) {
        zExecS = one(db,
                     "SELECT execution_id FROM _velt_executions WHERE definition_id ="
                     " 'fault-single' AND status = 'running'",
                     pzErr);
        zStep = one(db,
                    "SELECT s.step_id FROM _velt_steps s JOIN _velt_executions x USING"
                    " (execution_id) WHERE x.definition_id = 'fault-single' AND s.status ="
                    " 'waiting'",
                    pzErr);
        zExecM = one(db,
                     "SELECT execution_id FROM _velt_executions WHERE definition_id ="
                     " 'fault-main' AND status = 'running'",
                     pzErr);
        bOk = zExecS && zStep && zExecM && *zExecS && *zStep && *zExecM;
        if (bOk && !*pzErr) {
            j->azCall[0] = xstrdup(zCallDispatch);
            j->azCall[1] = xprintf("SELECT velt_cancel_step('%s', '%s', 'reviewer unavailable',"
                                   " 'admin_jane')",
                                   zExecS, zStep);
            j->azCall[2] = xprintf("SELECT velt_api('executions/cancel', '{\"data\":"
                                   "{\"executionId\":\"%s\",\"reason\":\"duplicate request\"}}')",
                                   zExecM);
            j->azCall[3] = xstrdup(zCallDefCreate);
        } else if (!*pzErr) {
            *pzErr = xprintf("the pristine file lacks its executions");
        }
    }
    free(zStep), free(zExecS), free(zExecM);
    if (sqlite3_close(db) != SQLITE_OK && bOk) {
        *pzErr = xprintf("close of the pristine file failed");
        bOk = 0;
    }
    if (!bOk) return 1;
    char *zWal = xprintf("%s-wal", j->zPristine);
    int bWal = access(zWal, F_OK) == 0;
    free(zWal);
    if (bWal) {
        *pzErr = xprintf("the pristine file kept its -wal after close");
        return 1;
    }
    FILE *f = fopen(j->zPristine, "rb");
    if (f == 0) return 1;
    fseek(f, 0, SEEK_END);
    j->nPristine = ftell(f);
    fseek(f, 0, SEEK_SET);
    j->aPristine = malloc((size_t)j->nPristine);
    size_t n = fread(j->aPristine, 1, (size_t)j->nPristine, f);
    fclose(f);
    if (n != (size_t)j->nPristine) return 1;

    /* The dumps a failed call must leave behind. */
    char *zInteg = 0;
    j->zWork = xprintf("%s/pristine-%s-check.db", zDir, j->zName);
    if (reset_work(j)) return 1;
    j->zPre = check_file(j->zWork, &zInteg, pzErr);
    if (j->zPre == 0 || strcmp(zInteg, "ok") != 0) return 1;
    free(zInteg);
    zInteg = 0;
    if (reset_work(j)) return 1;
    db = open_db(j->zWork, pzErr);
    if (db == 0) return 1;
    bOk = exec_ok(db, "BEGIN; INSERT INTO app_log(note) VALUES ('marker'); COMMIT", pzErr);
    if (sqlite3_close(db) != SQLITE_OK || !bOk) return 1;
    j->zPreMarker = check_file(j->zWork, &zInteg, pzErr);
    int bBad = j->zPreMarker == 0 || strcmp(zInteg, "ok") != 0;
    free(zInteg);
    remove_db(j->zWork);
    free(j->zWork);
    j->zWork = 0;
    return bBad;
}

/* ================================================================= runs */

typedef struct Kind {
    const char *zName;
    int eClass;
    int bPersist;
    int rcIo;
} Kind;

static const Kind aKind[] = {
    {"oom", C_ALLOC, 0, 0},
    {"oom-persistent", C_ALLOC, 1, 0},
    {"ioerr-write", C_WRITE, 0, 0},
    {"ioerr-write-persistent", C_WRITE, 1, 0},
    {"full-write", C_WRITE, 0, SQLITE_FULL},
    {"ioerr-sync", C_SYNC, 0, 0},
    {"ioerr-truncate", C_TRUNC, 0, 0},
};
#define N_KIND ((int)(sizeof(aKind) / sizeof(aKind[0])))

typedef struct Loop {
    int iJournal, iScenario, bTxn, iKind;
    char zLabel[100];
} Loop;

typedef struct Outcome {
    char *zHarness; /* the harness itself failed (not a finding about velt) */
    int rcCall;     /* SQLITE_DONE: the call returned its row and finished */
    char *zErr;     /* sqlite3_errmsg() of a failed call */
    char *zResult;  /* the call's result */
    int rcCommit;   /* the caller's COMMIT (transaction mode) */
    int bAutoAfter; /* autocommit mode, failed call: back in autocommit? */
    int rcClose;
    long nHit;
    long aSeen[C__N];
    long nLeakSql, nLeakCj;
    char *zIntegrity;
    char *zDump;
} Outcome;

static void outcome_free(Outcome *o) {
    free(o->zHarness), free(o->zErr), free(o->zResult), free(o->zIntegrity), free(o->zDump);
    memset(o, 0, sizeof(*o));
}

/* One run: reset the file, make the call with the fault armed (iFail 0:
** only count), close, check the file without faults. */
static void run_point(const Loop *L, long iFail, Outcome *o) {
    Journal *j = &aJournal[L->iJournal];
    const Kind *k = &aKind[L->iKind];
    memset(o, 0, sizeof(*o));
    if (reset_work(j)) {
        o->zHarness = xprintf("cannot reset %s", j->zWork);
        return;
    }
    long nSql0 = nSqlOut, nCj0 = nCjOut;
    sqlite3 *db = open_db(j->zWork, &o->zHarness);
    if (db == 0) return;
    char *zSetup =
        xprintf("SELECT velt_set_clock(%lld); SELECT count(*) FROM sqlite_schema;%s", CLOCK_CALL,
                L->bTxn ? " BEGIN; INSERT INTO app_log(note) VALUES ('marker')" : "");
    int bOk = exec_ok(db, zSetup, &o->zHarness);
    free(zSetup);
    sqlite3_stmt *pStmt = 0;
    if (bOk && sqlite3_prepare_v2(db, j->azCall[L->iScenario], -1, &pStmt, 0) != SQLITE_OK) {
        o->zHarness = xprintf("prepare: %s", sqlite3_errmsg(db));
        bOk = 0;
    }
    if (bOk) {
        sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, PRNG_SEED, (sqlite3 *)0);
        arm(k->eClass, k->bPersist, k->rcIo, iFail);
        int rc = sqlite3_step(pStmt);
        if (rc == SQLITE_ROW) {
            g.bArmed = 0; /* the harness reading the result is not under test */
            const unsigned char *z = sqlite3_column_text(pStmt, 0);
            o->zResult = xstrdup(z ? (const char *)z : "NULL");
            g.bArmed = 1;
            rc = sqlite3_step(pStmt);
        }
        o->rcCall = rc;
        if (rc != SQLITE_DONE) o->zErr = xstrdup(sqlite3_errmsg(db));
        sqlite3_finalize(pStmt);
        if (L->bTxn) o->rcCommit = sqlite3_exec(db, "COMMIT", 0, 0, 0);
        disarm();
        o->nHit = g.nHit;
        memcpy(o->aSeen, g.aSeen, sizeof(o->aSeen));
        o->bAutoAfter = sqlite3_get_autocommit(db);
        if (getenv("VELT_FAULT_TRACE")) {
            fprintf(stderr, "trace: N=%ld hits=%ld call=%d (%s) commit=%d autocommit=%d txn=%d\n",
                    iFail, g.nHit, o->rcCall, o->zErr ? o->zErr : "-", o->rcCommit, o->bAutoAfter,
                    sqlite3_txn_state(db, 0));
        }
        if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
    }
    o->rcClose = sqlite3_close(db);
    if (o->rcClose != SQLITE_OK) {
        /* Reported; the statements left behind belong to velt, so the
        ** connection can only become a zombie. */
        sqlite3_close_v2(db);
    }
    o->nLeakSql = nSqlOut - nSql0;
    o->nLeakCj = nCjOut - nCj0;
    if (o->zHarness) return;
    if (!bFullCheck && same_as_pristine(j)) {
        /* The very bytes of the pristine file, no journal: reopening would
        ** find exactly its checked contents. */
        o->zIntegrity = xstrdup("ok");
        o->zDump = xstrdup(j->zPre);
        j->bWorkPristine = 1;
        return;
    }
    o->zDump = check_file(j->zWork, &o->zIntegrity, &o->zHarness);
}

static int is_fault_rc(int rc) {
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
        return 1;
    }
    return 0;
}

/* What can be wrong with one run, for the per-loop summary. */
enum {
    V_CRASH,     /* the process died (reported by the parent) */
    V_HARNESS,   /* the test itself could not run the point */
    V_CLOSE,     /* sqlite3_close() did not return SQLITE_OK */
    V_LEAK,      /* allocations of the run not freed after the close */
    V_INTEGRITY, /* PRAGMA integrity_check is not 'ok' */
    V_ENVELOPE,  /* velt_api() turned the fault into an {"error":...} result */
    V_RESULT,    /* the call succeeded with another result */
    V_CODE,      /* the call failed with a code no fault explains */
    V_TXN_OPEN,  /* autocommit: the failed call left a transaction open */
    V_LEFTOVER,  /* the call failed, but the file is not as before it */
    V_WRONG,     /* the call succeeded, but the file is not the fault-free result */
    V__N
};
static const char *azVerdict[V__N] = {
    "crash",
    "harness error",
    "close failed",
    "leak",
    "integrity",
    "fault as error envelope",
    "other result",
    "not a fault's error code",
    "transaction left open",
    "failed but changed the file",
    "succeeded with another file",
};

#define VERDICT(v, ...) (*pV = (v), xprintf(__VA_ARGS__))

/* The verdict on one run against the fault-free reference: 0 if right,
** else a description (malloc'd) and its kind in *pV. */
static char *judge(const Loop *L, const Outcome *ref, const Outcome *o, int *pV) {
    const Journal *j = &aJournal[L->iJournal];
    if (o->zHarness) return VERDICT(V_HARNESS, "harness: %s", o->zHarness);
    if (o->rcClose != SQLITE_OK) {
        return VERDICT(V_CLOSE, "sqlite3_close() returned %d", o->rcClose);
    }
    if (o->nLeakSql || o->nLeakCj) {
        return VERDICT(V_LEAK,
                       "leak: %ld SQLite and %ld cJSON allocations not freed (call rc %d: %s)",
                       o->nLeakSql, o->nLeakCj, o->rcCall, o->zErr ? o->zErr : "ok");
    }
    if (strcmp(o->zIntegrity, "ok") != 0) {
        return VERDICT(V_INTEGRITY, "integrity_check: %s", o->zIntegrity);
    }
    int bCall = o->rcCall == SQLITE_DONE && o->zResult != 0;
    if (bCall && strncmp(o->zResult, "{\"error\"", 8) == 0) {
        return VERDICT(V_ENVELOPE, "a fault became an error envelope: %.300s", o->zResult);
    }
    if (bCall && strcmp(o->zResult, ref->zResult) != 0) {
        return VERDICT(V_RESULT, "the call succeeded with another result: %.300s", o->zResult);
    }
    if (!bCall && !is_fault_rc(o->rcCall)) {
        return VERDICT(V_CODE, "the call failed with rc %d, not a fault's code: %.300s", o->rcCall,
                       o->zErr);
    }
    if (!bCall && !L->bTxn && !o->bAutoAfter) {
        return VERDICT(V_TXN_OPEN, "the failed call left a transaction open (rc %d: %s)", o->rcCall,
                       o->zErr);
    }
    const char *zWant, *zWhat;
    if (!L->bTxn) {
        zWant = bCall ? ref->zDump : j->zPre;
        zWhat = bCall ? "the call succeeded" : "the call failed";
    } else if (o->rcCommit == SQLITE_OK) {
        zWant = bCall ? ref->zDump : j->zPreMarker;
        zWhat = bCall ? "the call and COMMIT succeeded" : "the call failed, COMMIT succeeded";
    } else {
        if (bCall && !is_fault_rc(o->rcCommit)) {
            return VERDICT(V_CODE, "COMMIT failed with rc %d, not a fault's code", o->rcCommit);
        }
        zWant = j->zPre;
        zWhat = bCall ? "the call succeeded, COMMIT failed" : "the call and COMMIT failed";
    }
    if (strcmp(o->zDump, zWant) != 0) {
        const char *zState = zWant == j->zPre         ? "the pristine file"
                             : zWant == j->zPreMarker ? "the pristine file plus the marker"
                                                      : "the fault-free result";
        char *zDiff = dump_diff(zWant, o->zDump);
        if (getenv("VELT_FAULT_KEEP")) {
            /* For a closer look: both dumps, side by side in files. */
            char *zW = xprintf("%s/want.dump", zDir), *zG = xprintf("%s/got.dump", zDir);
            FILE *f;
            if ((f = fopen(zW, "w")) != 0) fputs(zWant, f), fclose(f);
            if ((f = fopen(zG, "w")) != 0) fputs(o->zDump, f), fclose(f);
            free(zW), free(zG);
        }
        char *z = VERDICT(zWant == ref->zDump ? V_WRONG : V_LEFTOVER,
                          "%s (rc %d%s%s), but the file is not %s: %s", zWhat, o->rcCall,
                          o->zErr ? ": " : "", o->zErr ? o->zErr : "", zState, zDiff);
        free(zDiff);
        return z;
    }
    return 0;
}

/* ========================================================== the workers */

#define MAX_LOOPS 256

typedef struct Shared {
    int iStart;  /* first loop to run */
    int bResume; /* continue loop iStart after point iN */
    int iLoop;   /* the loop and point in progress */
    long iN;
    long nPoints, nFail;  /* of the loop in progress */
    long anVerdict[V__N]; /* wrong points of the loop in progress, by kind */
    int bDone;
} Shared;

static Loop aLoop[MAX_LOOPS];
static int nLoop;
static long nStride = 1, iOnlyN = 0;
static int nFailTotal;    /* FAIL lines, in-process mode */
static long nDetails = 2; /* wrong points described per loop and kind */

static void out_line(FILE *f, int iLoop, const char *zFmt, ...) {
    va_list ap;
    va_start(ap, zFmt);
    if (iLoop >= 0) fprintf(f, "%04d ", iLoop);
    vfprintf(f, zFmt, ap);
    fputc('\n', f);
    fflush(f);
    va_end(ap);
}

static void run_loop(int i, Shared *sh, FILE *fOut, int bTag) {
    const Loop *L = &aLoop[i];
    int t = bTag ? i : -1;
    long n0 = 1;
    if (sh->bResume && sh->iLoop == i) {
        n0 = sh->iN + (aKind[L->iKind].eClass == C_ALLOC ? nStride : 1);
    } else {
        sh->nPoints = sh->nFail = 0;
        memset(sh->anVerdict, 0, sizeof(sh->anVerdict));
    }
    sh->bResume = 0;
    sh->iLoop = i;
    sh->iN = 0;

    /* The fault-free reference, twice: the fixed clock and seed must make
    ** it repeatable, or comparing against it would mean nothing. */
    Outcome ref, ref2, o;
    alarm(120);
    run_point(L, 0, &ref);
    run_point(L, 0, &ref2);
    char *zBad = 0;
    if (ref.zHarness) {
        zBad = xprintf("harness: %s", ref.zHarness);
    } else if (ref.rcCall != SQLITE_DONE || (L->bTxn && ref.rcCommit != SQLITE_OK)) {
        zBad = xprintf("the fault-free call failed (%d): %s", ref.rcCall, ref.zErr);
    } else if (ref.rcClose != SQLITE_OK || ref.nLeakSql || ref.nLeakCj ||
               strcmp(ref.zIntegrity, "ok") != 0) {
        zBad = xprintf("the fault-free run: close %d, leaks %ld/%ld, integrity %s", ref.rcClose,
                       ref.nLeakSql, ref.nLeakCj, ref.zIntegrity);
    } else if (ref2.zDump == 0 || strcmp(ref.zDump, ref2.zDump) != 0 || ref2.zResult == 0 ||
               strcmp(ref.zResult, ref2.zResult) != 0) {
        zBad = xprintf("two fault-free runs differ: the clock or PRNG seed is not fixed");
    } else if (strcmp(ref.zDump, aJournal[L->iJournal].zPre) == 0) {
        zBad = xprintf("the fault-free call changed nothing");
    }
    outcome_free(&ref2);
    if (zBad) {
        nFailTotal++;
        out_line(fOut, t, "FAIL - %s: %s", L->zLabel, zBad);
        free(zBad);
        outcome_free(&ref);
        return;
    }
    long nExpect = ref.aSeen[aKind[L->iKind].eClass];
    long nCap = nExpect * 4 + 1000;
    long N;
    /* Sampling (VELT_FAULT_STRIDE) thins out only the thousands of
    ** allocation points; every I/O point always runs. */
    long nStep = aKind[L->iKind].eClass == C_ALLOC ? nStride : 1;
    for (N = iOnlyN ? iOnlyN : n0;; N += nStep) {
        sh->iN = N;
        alarm(120);
        run_point(L, N, &o);
        if (o.nHit == 0 && !o.zHarness) {
            outcome_free(&o);
            break;
        }
        int v = 0;
        char *zWhy = judge(L, &ref, &o, &v);
        sh->nPoints++;
        if (zWhy) {
            sh->nFail++;
            if (++sh->anVerdict[v] <= nDetails) {
                out_line(fOut, t, "#   %s N=%ld: %s", L->zLabel, N, zWhy);
            }
            free(zWhy);
        }
        outcome_free(&o);
        if (iOnlyN) break;
        if (N > nCap) {
            out_line(fOut, t, "#   %s: still hitting faults at N=%ld (fault-free run: %ld)",
                     L->zLabel, N, nExpect);
            sh->nFail++;
            sh->anVerdict[V_HARNESS]++;
            break;
        }
    }
    alarm(0);
    if (sh->nFail) {
        char zSum[400];
        int n = 0;
        for (int v = 0; v < V__N; v++) {
            if (sh->anVerdict[v] == 0) continue;
            n += snprintf(zSum + n, sizeof(zSum) - (size_t)n, "%s%s %ld", n ? ", " : "",
                          azVerdict[v], sh->anVerdict[v]);
        }
        nFailTotal++;
        out_line(fOut, t, "FAIL - %s: %ld of %ld fault points wrong (%s)", L->zLabel, sh->nFail,
                 sh->nPoints, zSum);
    } else {
        out_line(fOut, t, "ok - %s (%ld points%s)", L->zLabel, sh->nPoints,
                 nStride > 1 && aKind[L->iKind].eClass == C_ALLOC ? ", sampled" : "");
    }
    outcome_free(&ref);
}

static void worker(int w, int nWorker, Shared *sh, FILE *fOut, int bTag) {
    for (int i = sh->iStart; i < nLoop; i++) {
        if (nWorker > 1 && i % nWorker != w) continue;
        run_loop(i, sh, fOut, bTag);
    }
    sh->bDone = 1;
}

typedef struct Line {
    int iLoop;
    int iSeq;
    char *z;
} Line;

static int line_cmp(const void *a, const void *b) {
    const Line *x = a, *y = b;
    if (x->iLoop != y->iLoop) return x->iLoop < y->iLoop ? -1 : 1;
    return x->iSeq < y->iSeq ? -1 : x->iSeq > y->iSeq;
}

static char **azOut;

static pid_t start_worker(int w, int nWorker, Shared *sh) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0) return pid;
    for (int jm = 0; jm < 2; jm++)
        aJournal[jm].zWork = xprintf("%s/work-%s-%d.db", zDir, aJournal[jm].zName, w);
    FILE *f = fopen(azOut[w], "a");
    if (f == 0) _exit(3);
    worker(w, nWorker, sh, f, 1);
    fclose(f);
    for (int jm = 0; jm < 2; jm++)
        remove_db(aJournal[jm].zWork);
    exit(0); /* not _exit(): LeakSanitizer reports at exit */
}

/* Runs the loops in nWorker processes; a worker that dies is reported at
** its point and restarted after it. Prints the lines in loop order and
** returns the number of FAIL lines. */
static int run_workers(int nWorker) {
    Shared *aSh = mmap(0, sizeof(Shared) * (size_t)nWorker, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (aSh == MAP_FAILED) {
        printf("FAIL - mmap\n");
        return 1;
    }
    memset(aSh, 0, sizeof(Shared) * (size_t)nWorker);
    azOut = calloc((size_t)nWorker, sizeof(char *));
    pid_t *aPid = calloc((size_t)nWorker, sizeof(pid_t));
    int nLive = 0, nFail = 0, nRestart = 0;
    for (int w = 0; w < nWorker; w++) {
        azOut[w] = xprintf("%s/faults-%d.out", zDir, w);
        unlink(azOut[w]);
    }
    for (int w = 0; w < nWorker; w++) {
        aPid[w] = start_worker(w, nWorker, &aSh[w]);
        if (aPid[w] < 0) break;
        nLive++;
    }
    while (nLive > 0) {
        int st, w;
        pid_t pid = wait(&st);
        if (pid < 0) break;
        for (w = 0; w < nWorker && aPid[w] != pid; w++) {
        }
        if (w == nWorker) continue;
        nLive--;
        aPid[w] = 0;
        Shared *sh = &aSh[w];
        if (sh->bDone && WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
        /* The worker died: report the point, go on after it. */
        FILE *f = fopen(azOut[w], "a");
        if (f == 0) break;
        const Loop *L = &aLoop[sh->iLoop];
        char zHow[80];
        if (WIFSIGNALED(st)) {
            snprintf(zHow, sizeof(zHow), "crashed with signal %d%s", WTERMSIG(st),
                     WTERMSIG(st) == SIGALRM ? " (a hang: over 120 s)" : "");
        } else {
            snprintf(zHow, sizeof(zHow), "exited with status %d",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
        if (sh->bDone) {
            out_line(f, sh->iLoop, "FAIL - worker %d %s after its last loop", w, zHow);
            fclose(f);
            continue;
        }
        if (sh->iN == 0 || iOnlyN) {
            out_line(f, sh->iLoop, "FAIL - %s: %s %s", L->zLabel,
                     sh->iN == 0 ? "the fault-free run" : "the point", zHow);
            sh->iStart = sh->iLoop + 1;
            sh->bResume = 0;
        } else {
            if (++sh->anVerdict[V_CRASH] <= nDetails) {
                out_line(f, sh->iLoop, "#   %s N=%ld: %s", L->zLabel, sh->iN, zHow);
            }
            sh->nPoints++;
            sh->nFail++;
            sh->iStart = sh->iLoop;
            sh->bResume = 1;
        }
        fclose(f);
        if (++nRestart > 200) {
            printf("FAIL - workers crashed too often; gave up\n");
            nFail++;
            continue;
        }
        aPid[w] = start_worker(w, nWorker, sh);
        if (aPid[w] < 0) break;
        nLive++;
    }
    /* Merge the workers' lines in loop order. */
    Line *aLine = 0;
    int nLine = 0, nAlloc = 0;
    for (int w = 0; w < nWorker; w++) {
        FILE *f = fopen(azOut[w], "r");
        char zBuf[4096];
        while (f && fgets(zBuf, sizeof(zBuf), f)) {
            if (nLine == nAlloc) {
                nAlloc = nAlloc ? nAlloc * 2 : 64;
                aLine = realloc(aLine, sizeof(Line) * (size_t)nAlloc);
                if (aLine == 0) abort();
            }
            aLine[nLine].iLoop = atoi(zBuf);
            aLine[nLine].iSeq = nLine;
            aLine[nLine].z = xstrdup(strlen(zBuf) > 5 ? zBuf + 5 : zBuf);
            nLine++;
        }
        if (f) fclose(f);
        unlink(azOut[w]);
        free(azOut[w]);
    }
    if (nLine > 0) qsort(aLine, (size_t)nLine, sizeof(Line), line_cmp);
    for (int i = 0; i < nLine; i++) {
        fputs(aLine[i].z, stdout);
        if (strncmp(aLine[i].z, "FAIL ", 5) == 0) nFail++;
        free(aLine[i].z);
    }
    for (int w = 0; w < nWorker; w++) {
        if (!aSh[w].bDone) {
            printf("FAIL - worker %d did not finish\n", w);
            nFail++;
        }
    }
    free(aLine);
    free(azOut);
    free(aPid);
    munmap(aSh, sizeof(Shared) * (size_t)nWorker);
    return nFail;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [FILTER]\n", argv[0]);
        return 2;
    }
    zDir = argv[1];
    const char *zFilter = argc > 2 ? argv[2] : 0;
    const char *zEnv;
    int nWorker = 2;
    if ((zEnv = getenv("VELT_FAULT_JOBS")) != 0) nWorker = atoi(zEnv);
    if ((zEnv = getenv("VELT_FAULT_STRIDE")) != 0 && atol(zEnv) > 0) nStride = atol(zEnv);
    if ((zEnv = getenv("VELT_FAULT_N")) != 0) iOnlyN = atol(zEnv);
    if ((zEnv = getenv("VELT_FAULT_DETAILS")) != 0) nDetails = atol(zEnv);
    if ((zEnv = getenv("VELT_FAULT_FULLCHECK")) != 0) bFullCheck = atoi(zEnv);
    setvbuf(stdout, 0, _IOLBF, 0);

    if (setup_faults()) {
        printf("FAIL - cannot install the failing allocator and VFS\n");
        return 1;
    }
    for (int jm = 0; jm < 2; jm++) {
        Journal *j = &aJournal[jm];
        char *zErr = 0;
        j->zPristine = xprintf("%s/pristine-%s.db", zDir, j->zName);
        if (build_pristine(j, &zErr)) {
            printf("FAIL - build the pristine %s file: %s\n", j->zName, zErr ? zErr : "?");
            return 1;
        }
        free(zErr);
    }
    for (int jm = 0; jm < 2; jm++) {
        for (int sc = 0; sc < 4; sc++) {
            for (int bTxn = 0; bTxn < 2; bTxn++) {
                for (int k = 0; k < N_KIND; k++) {
                    Loop *L = &aLoop[nLoop];
                    L->iJournal = jm, L->iScenario = sc, L->bTxn = bTxn, L->iKind = k;
                    snprintf(L->zLabel, sizeof(L->zLabel), "%s %s %s %s", aJournal[jm].zName,
                             bTxn ? "in-txn" : "autocommit", azScenario[sc], aKind[k].zName);
                    if (zFilter && !strstr(L->zLabel, zFilter)) continue;
                    nLoop++;
                }
            }
        }
    }

    int nFailLines = 0;
    if (nWorker <= 0) {
        /* In-process: for gdb and valgrind on one loop or point. */
        Shared sh = {0};
        for (int jm = 0; jm < 2; jm++)
            aJournal[jm].zWork = xprintf("%s/work-%s.db", zDir, aJournal[jm].zName);
        worker(0, 1, &sh, stdout, 0);
        remove_db(aJournal[0].zWork);
        remove_db(aJournal[1].zWork);
        nFailLines = nFailTotal;
    } else {
        nFailLines = run_workers(nWorker);
    }
    for (int jm = 0; jm < 2; jm++) {
        Journal *j = &aJournal[jm];
        remove_db(j->zPristine);
        free(j->zPristine), free(j->aPristine), free(j->zPre), free(j->zPreMarker);
        free(j->zWork);
        for (int i = 0; i < 4; i++)
            free(j->azCall[i]);
    }
    printf("done\n");
    return nFailLines ? 1 : 0;
}
