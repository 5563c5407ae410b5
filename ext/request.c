/*
** Strict request decoding, shared by every entry point.
**
** A request is checked against a schema (a table of VField) whether it came
** as JSON (velt, velt_api) or as positional SQL arguments (velt_cancel_step):
** the same rules, the same messages. As upstream: unknown keys and explicit
** null in optional fields are INVALID_ARGUMENT; so are wrong types, text that
** is not valid UTF-8 or contains NUL, and lengths outside the limits (counted
** in characters). velt also refuses duplicate keys, where JSON parsers
** disagree on which one wins.
**
** Problems are collected as Zod-style issues {code, path, message}; the first
** one becomes the error message and all of them go into error.details.issues.
*/
#include "velt_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define VELT_MAX_PATH 32
#define VELT_MAX_ISSUES 20

struct VIssues {
    int nIssue;
    int nDepth;
    struct {
        const char *zKey;
        int iIdx;
    } aPath[VELT_MAX_PATH];
    char *zFirst;
    sqlite3_str *pList; /* JSON array text of the issues */
    int bNoMem;
};

static void path_text(VIssues *p, sqlite3_str *s, int bJson) {
    for (int i = 0; i < p->nDepth && i < VELT_MAX_PATH; i++) {
        if (bJson) {
            if (i) sqlite3_str_appendchar(s, 1, ',');
            if (p->aPath[i].zKey) {
                velt_json_str(s, p->aPath[i].zKey, -1);
            } else {
                sqlite3_str_appendf(s, "%d", p->aPath[i].iIdx);
            }
        } else if (p->aPath[i].zKey) {
            sqlite3_str_appendf(s, "%s%s", i ? "." : "", p->aPath[i].zKey);
        } else {
            sqlite3_str_appendf(s, "[%d]", p->aPath[i].iIdx);
        }
    }
}

int velt_issue(VIssues *p, const char *zCode, const char *zFmt, ...) {
    if (p->nIssue++ >= VELT_MAX_ISSUES) return 1;
    va_list ap;
    va_start(ap, zFmt);
    char *zWhat = sqlite3_vmprintf(zFmt, ap);
    va_end(ap);
    sqlite3_str *s = sqlite3_str_new(0);
    if (p->nDepth > 0) {
        path_text(p, s, 0);
        sqlite3_str_appendchar(s, 1, ' ');
    }
    sqlite3_str_appendall(s, zWhat ? zWhat : "");
    char *zMsg = sqlite3_str_finish(s);
    if (zWhat == 0 || zMsg == 0) p->bNoMem = 1;
    if (p->pList == 0) p->pList = sqlite3_str_new(0);
    sqlite3_str_appendall(p->pList, p->nIssue > 1 ? ",{\"code\":" : "{\"code\":");
    velt_json_str(p->pList, zCode, -1);
    sqlite3_str_appendall(p->pList, ",\"path\":[");
    path_text(p, p->pList, 1);
    sqlite3_str_appendall(p->pList, "],\"message\":");
    velt_json_str(p->pList, zMsg ? zMsg : "", -1);
    sqlite3_str_appendchar(p->pList, 1, '}');
    if (p->zFirst == 0) {
        p->zFirst = zMsg;
    } else {
        sqlite3_free(zMsg);
    }
    sqlite3_free(zWhat);
    return 1;
}

void velt_issue_push_key(VIssues *p, const char *zKey) {
    if (p->nDepth < VELT_MAX_PATH) {
        p->aPath[p->nDepth].zKey = zKey;
        p->aPath[p->nDepth].iIdx = 0;
    }
    p->nDepth++;
}

void velt_issue_push_index(VIssues *p, int i) {
    if (p->nDepth < VELT_MAX_PATH) {
        p->aPath[p->nDepth].zKey = 0;
        p->aPath[p->nDepth].iIdx = i;
    }
    p->nDepth++;
}

void velt_issue_pop(VIssues *p) {
    p->nDepth--;
}

/* Validation itself ran out of memory: the request fails with
** SQLITE_NOMEM, never as the caller's mistake. */
void velt_issue_nomem(VIssues *p) {
    p->bNoMem = 1;
    p->nIssue++;
}

int velt_issue_count(const VIssues *p) {
    return p->nIssue;
}

/* Turn collected issues into an INVALID_ARGUMENT error. */
static int issues_finish(VIssues *p, VeltErr *e) {
    int n = p->nIssue;
    if (n > 0 && !p->bNoMem) {
        velt_err(e, VS_INVALID_ARGUMENT, "%s", p->zFirst ? p->zFirst : "invalid request");
        sqlite3_str_appendall(p->pList, "]}");
        char *zList = sqlite3_str_finish(p->pList);
        p->pList = 0;
        if (zList) {
            e->zDetails = sqlite3_mprintf("{\"issues\":[%s", zList);
            sqlite3_free(zList);
        }
        if (e->zDetails == 0) p->bNoMem = 1;
    }
    sqlite3_free(sqlite3_str_finish(p->pList));
    sqlite3_free(p->zFirst);
    if (p->bNoMem) {
        velt_err_clear(e);
        return velt_err_nomem(e);
    }
    return n ? e->status : 0;
}

static const char *type_name(VType t) {
    switch (t) {
    case VT_ABSENT:
        return "nothing";
    case VT_NULL:
        return "null";
    case VT_STRING:
        return "a string";
    case VT_NUMBER:
        return "a number";
    case VT_BOOL:
        return "a boolean";
    case VT_OBJECT:
        return "an object";
    case VT_ARRAY:
        return "an array";
    case VT_BLOB:
        return "a blob";
    }
    return "?";
}

static const char *kind_name(int k) {
    switch (k) {
    case VK_STRING:
    case VK_ENUM:
        return "a string";
    case VK_INT:
        return "an integer";
    case VK_NUMBER:
        return "a number";
    case VK_BOOL:
        return "a boolean";
    case VK_OBJECT:
    case VK_MAP:
        return "an object";
    case VK_ARRAY:
        return "an array";
    }
    return "a value";
}

static void vval_from_json(const cJSON *j, VVal *v) {
    memset(v, 0, sizeof(*v));
    v->j = j;
    if (j == 0) {
        v->t = VT_ABSENT;
    } else if (cJSON_IsNull(j)) {
        v->t = VT_NULL;
    } else if (cJSON_IsString(j)) {
        v->t = VT_STRING;
        v->z = j->valuestring;
        v->n = (int)strlen(v->z);
        velt_utf8_valid(v->z, v->n, &v->nChar); /* validity checked at parse */
    } else if (cJSON_IsNumber(j)) {
        v->t = VT_NUMBER;
        v->r = j->valuedouble;
    } else if (cJSON_IsBool(j)) {
        v->t = VT_BOOL;
        v->r = cJSON_IsTrue(j) ? 1 : 0;
    } else if (cJSON_IsObject(j)) {
        v->t = VT_OBJECT;
    } else {
        v->t = VT_ARRAY;
    }
}

static int check_object(VIssues *, const VSchema *, const cJSON *, VVal *aOut);

static int plural(i64 n) {
    return n == 1 ? 0 : 1;
}

/* Check one present value against its field. Returns nonzero on a problem. */
static int check_vval(VIssues *pI, const VField *f, const VVal *v) {
    int nBefore = pI->nIssue;
    if (v->t == VT_NULL) {
        if (f->flags & VF_NULLABLE) return 0;
        return velt_issue(pI, "invalid_type", "must not be null (omit the field instead)");
    }
    int kind = f->eKind;
    int ok;
    switch (kind) {
    case VK_STRING:
    case VK_ENUM:
        ok = v->t == VT_STRING;
        break;
    case VK_INT:
    case VK_NUMBER:
        ok = v->t == VT_NUMBER;
        break;
    case VK_BOOL:
        ok = v->t == VT_BOOL;
        break;
    case VK_OBJECT:
    case VK_MAP:
        ok = v->t == VT_OBJECT;
        break;
    case VK_ARRAY:
        ok = v->t == VT_ARRAY;
        break;
    default:
        ok = 1;
    }
    if (!ok) {
        return velt_issue(pI, "invalid_type", "must be %s, not %s", kind_name(kind),
                          type_name(v->t));
    }
    switch (kind) {
    case VK_STRING:
        if (v->nChar < f->iMin) {
            velt_issue(pI, "too_small", "must be at least %lld character%s", f->iMin,
                       plural(f->iMin) ? "s" : "");
        } else if (f->iMax > 0 && v->nChar > f->iMax) {
            velt_issue(pI, "too_big", "must be at most %lld characters (got %d)", f->iMax,
                       v->nChar);
        }
        break;
    case VK_ENUM: {
        const char *const *az = f->pSub;
        int i;
        for (i = 0; az[i]; i++) {
            if (strcmp(az[i], v->z) == 0) break;
        }
        if (az[i] == 0) {
            sqlite3_str *s = sqlite3_str_new(0);
            for (i = 0; az[i]; i++)
                sqlite3_str_appendf(s, "%s'%s'", i ? ", " : "", az[i]);
            char *zList = sqlite3_str_finish(s);
            velt_issue(pI, "invalid_enum_value", "must be one of %s", zList ? zList : "");
            sqlite3_free(zList);
        }
        break;
    }
    case VK_INT:
        if (v->r != floor(v->r) || fabs(v->r) > 9007199254740991.0) {
            velt_issue(pI, "invalid_type", "must be an integer");
        } else if ((f->iMin || f->iMax) && (v->r < (double)f->iMin || v->r > (double)f->iMax)) {
            velt_issue(pI, v->r < (double)f->iMin ? "too_small" : "too_big",
                       "must be between %lld and %lld", f->iMin, f->iMax);
        }
        break;
    case VK_NUMBER:
        if (!isfinite(v->r)) velt_issue(pI, "invalid_type", "must be a finite number");
        break;
    case VK_OBJECT:
        if (v->j) check_object(pI, f->pSub, v->j, 0);
        break;
    case VK_ARRAY: {
        int n = cJSON_GetArraySize(v->j);
        if (n < f->iMin) {
            velt_issue(pI, "too_small", "must have at least %lld item%s", f->iMin,
                       plural(f->iMin) ? "s" : "");
        } else if (f->iMax > 0 && n > f->iMax) {
            velt_issue(pI, "too_big", "must have at most %lld items (got %d)", f->iMax, n);
        } else if (f->pSub) {
            int i = 0;
            const cJSON *pEl;
            cJSON_ArrayForEach(pEl, v->j) {
                velt_issue_push_index(pI, i++);
                velt_check_item(f->pSub, pEl, pI);
                velt_issue_pop(pI);
            }
        }
        break;
    }
    default:
        break;
    }
    if (pI->nIssue == nBefore && f->xCheck) f->xCheck(v, pI);
    return pI->nIssue != nBefore;
}

int velt_check_item(const VField *f, const cJSON *j, VIssues *pI) {
    VVal v;
    vval_from_json(j, &v);
    return check_vval(pI, f, &v);
}

static int check_object(VIssues *pI, const VSchema *pS, const cJSON *pObj, VVal *aOut) {
    int nBefore = pI->nIssue;
    const cJSON *pItem;
    cJSON_ArrayForEach(pItem, pObj) {
        int i;
        for (i = 0; i < pS->nField; i++) {
            if (strcmp(pS->aField[i].zName, pItem->string) == 0) break;
        }
        if (i == pS->nField) {
            velt_issue(pI, "unrecognized_keys", "has an unknown field '%s'", pItem->string);
        }
    }
    for (int i = 0; i < pS->nField; i++) {
        const VField *f = &pS->aField[i];
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(pObj, f->zName);
        velt_issue_push_key(pI, f->zName);
        if (j == 0) {
            if (f->flags & VF_REQUIRED) velt_issue(pI, "invalid_type", "is required");
        } else {
            velt_check_item(f, j, pI);
        }
        velt_issue_pop(pI);
        if (aOut) vval_from_json(j, &aOut[i]);
    }
    return pI->nIssue != nBefore;
}

int velt_decode_json(const VSchema *pS, const cJSON *pObj, VVal *aOut, VeltErr *e) {
    VIssues is;
    memset(&is, 0, sizeof(is));
    if (!cJSON_IsObject(pObj)) {
        velt_issue(&is, "invalid_type", "the request data must be a JSON object");
    } else {
        check_object(&is, pS, pObj, aOut);
    }
    return issues_finish(&is, e);
}

int velt_decode_args(const VSchema *pS, int argc, sqlite3_value **argv, VVal *aOut, VeltErr *e) {
    VIssues is;
    memset(&is, 0, sizeof(is));
    for (int i = 0; i < pS->nField; i++) {
        const VField *f = &pS->aField[i];
        VVal *v = &aOut[i];
        memset(v, 0, sizeof(*v));
        velt_issue_push_key(&is, f->zName);
        sqlite3_value *pV = i < argc ? argv[i] : 0;
        switch (pV ? sqlite3_value_type(pV) : SQLITE_NULL) {
        case SQLITE_NULL:
            v->t = VT_ABSENT;
            break;
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
            v->t = VT_NUMBER;
            v->r = sqlite3_value_double(pV);
            break;
        case SQLITE_BLOB:
            v->t = VT_BLOB;
            break;
        default:
            v->t = VT_STRING;
            v->z = (const char *)sqlite3_value_text(pV);
            v->n = sqlite3_value_bytes(pV);
            if (v->z == 0) {
                is.bNoMem = 1;
                v->z = "";
            } else if (!velt_utf8_valid(v->z, v->n, &v->nChar)) {
                velt_issue(&is, "invalid_string", "is not valid UTF-8 text (or contains NUL)");
                v->t = VT_ABSENT;
            }
        }
        if (v->t == VT_ABSENT) {
            if ((f->flags & VF_REQUIRED) && is.nIssue == 0)
                velt_issue(&is, "invalid_type", "is required");
        } else if (v->t == VT_BLOB) {
            velt_issue(&is, "invalid_type", "must be %s, not a blob", kind_name(f->eKind));
        } else {
            check_vval(&is, f, v);
        }
        velt_issue_pop(&is);
    }
    return issues_finish(&is, e);
}

/* ---- strict parsing ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char zNoMem[] = "(out of memory)";

/* Duplicate keys and invalid UTF-8 anywhere in the tree; zNoMem when the
** check itself ran out of memory. */
static const char *tree_problem(const cJSON *j) {
    if (cJSON_IsString(j) && !velt_utf8_valid(j->valuestring, (int)strlen(j->valuestring), 0)) {
        return "contains a string that is not valid UTF-8";
    }
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return 0;
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) {
        if (cJSON_IsObject(j) && !velt_utf8_valid(c->string, (int)strlen(c->string), 0)) {
            return "contains a key that is not valid UTF-8";
        }
        const char *z = tree_problem(c);
        if (z) return z;
        n++;
    }
    if (cJSON_IsObject(j) && n > 1) {
        const char **az = sqlite3_malloc64(sizeof(char *) * (sqlite3_uint64)n);
        if (az == 0) return zNoMem;
        int i = 0;
        cJSON_ArrayForEach(c, j) az[i++] = c->string;
        qsort(az, (size_t)n, sizeof(char *), cmp_str);
        const char *zDup = 0;
        for (i = 1; i < n && !zDup; i++) {
            if (strcmp(az[i - 1], az[i]) == 0) zDup = "has a duplicate key";
        }
        sqlite3_free(az);
        if (zDup) return zDup;
    }
    return 0;
}

/* cJSON ends strings at an escaped NUL (\u0000) without telling: refuse it. */
static int has_nul_escape(const char *z, int n) {
    for (int i = 0; i + 1 < n; i++) {
        if (z[i] != '\\') continue;
        if (z[i + 1] == 'u' && i + 5 < n && z[i + 2] == '0' && z[i + 3] == '0' && z[i + 4] == '0' &&
            z[i + 5] == '0') {
            return 1;
        }
        i++; /* skip the escaped character */
    }
    return 0;
}

/* A strict JSON syntax check (RFC 8259) that allocates nothing. cJSON is
** more lenient, and reports out-of-memory and malformed text alike; text
** that passes this check can only fail in cJSON for lack of memory. Depth is
** capped as cJSON's is. */
typedef struct Scan {
    const char *z, *zEnd;
    int depth;
} Scan;

static void scan_ws(Scan *p) {
    while (p->z < p->zEnd && (*p->z == ' ' || *p->z == '\t' || *p->z == '\n' || *p->z == '\r')) {
        p->z++;
    }
}

static int scan_lit(Scan *p, const char *zLit) {
    size_t n = strlen(zLit);
    if ((size_t)(p->zEnd - p->z) < n || memcmp(p->z, zLit, n) != 0) return 0;
    p->z += n;
    return 1;
}

static int scan_string(Scan *p) {
    if (p->z >= p->zEnd || *p->z != '"') return 0;
    for (p->z++; p->z < p->zEnd; p->z++) {
        unsigned char c = (unsigned char)*p->z;
        if (c == '"') {
            p->z++;
            return 1;
        }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++p->z >= p->zEnd) return 0;
            if (*p->z == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (++p->z >= p->zEnd || velt_hex_value((unsigned char)*p->z) < 0) return 0;
                }
            } else if (!strchr("\"\\/bfnrt", *p->z)) {
                return 0;
            }
        }
    }
    return 0;
}

static int scan_number(Scan *p) {
    const char *z0 = p->z;
    if (p->z < p->zEnd && *p->z == '-') p->z++;
    if (p->z >= p->zEnd || !velt_is_digit(*p->z)) return 0;
    if (*p->z == '0') {
        p->z++;
    } else {
        while (p->z < p->zEnd && velt_is_digit(*p->z))
            p->z++;
    }
    if (p->z < p->zEnd && *p->z == '.') {
        if (++p->z >= p->zEnd || !velt_is_digit(*p->z)) return 0;
        while (p->z < p->zEnd && velt_is_digit(*p->z))
            p->z++;
    }
    if (p->z < p->zEnd && (*p->z == 'e' || *p->z == 'E')) {
        p->z++;
        if (p->z < p->zEnd && (*p->z == '+' || *p->z == '-')) p->z++;
        if (p->z >= p->zEnd || !velt_is_digit(*p->z)) return 0;
        while (p->z < p->zEnd && velt_is_digit(*p->z))
            p->z++;
    }
    return p->z > z0;
}

static int scan_value(Scan *p) {
    scan_ws(p);
    if (p->z >= p->zEnd) return 0;
    char c = *p->z;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (++p->depth > CJSON_NESTING_LIMIT) return 0;
        p->z++;
        scan_ws(p);
        if (p->z < p->zEnd && *p->z == close) {
            p->z++;
            p->depth--;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                scan_ws(p);
                if (!scan_string(p)) return 0;
                scan_ws(p);
                if (p->z >= p->zEnd || *p->z++ != ':') return 0;
            }
            if (!scan_value(p)) return 0;
            scan_ws(p);
            if (p->z >= p->zEnd) return 0;
            if (*p->z == close) {
                p->z++;
                p->depth--;
                return 1;
            }
            if (*p->z++ != ',') return 0;
        }
    }
    if (c == '"') return scan_string(p);
    if (c == 't') return scan_lit(p, "true");
    if (c == 'f') return scan_lit(p, "false");
    if (c == 'n') return scan_lit(p, "null");
    return scan_number(p);
}

/* -1 when z is valid JSON text, else the byte offset where it stops being. */
static int json_syntax_error(const char *z, int n) {
    Scan sc = {z, z + n, 0};
    if (!scan_value(&sc)) return (int)(sc.z - z);
    scan_ws(&sc);
    return sc.z == sc.zEnd ? -1 : (int)(sc.z - z);
}

int velt_parse_json(const char *z, int n, cJSON **ppOut, VeltErr *e) {
    *ppOut = 0;
    if (!velt_utf8_valid(z, n, 0)) {
        return velt_err(e, VS_INVALID_ARGUMENT, "request is not valid UTF-8 text");
    }
    /* Strict JSON first (cJSON alone accepts control characters, any byte
    ** below 0x21 as whitespace and numbers such as 01 or 1.); after that a
    ** cJSON failure can only be memory. */
    int iBad = json_syntax_error(z, n);
    if (iBad >= 0) return velt_err(e, VS_INVALID_ARGUMENT, "malformed JSON near byte %d", iBad);
    cJSON *p = cJSON_ParseWithLength(z, (size_t)n);
    if (p == 0) return velt_err_nomem(e);
    const char *zWhy = 0;
    if (has_nul_escape(z, n)) {
        zWhy = "contains an escaped NUL character (\\u0000)";
    } else {
        zWhy = tree_problem(p);
    }
    if (zWhy) {
        cJSON_Delete(p);
        if (zWhy == zNoMem) return velt_err_nomem(e);
        return velt_err(e, VS_INVALID_ARGUMENT, "request JSON %s", zWhy);
    }
    *ppOut = p;
    return 0;
}
