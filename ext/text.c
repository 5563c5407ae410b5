/*
** Text helpers: UTF-8 validation and counting, JSON string writing, random
** id characters.
**
** Lengths in velt count Unicode code points, as SQLite's length() does for
** valid UTF-8 text. Text that is not valid UTF-8 (overlong forms, surrogates,
** values past U+10FFFF, truncated sequences) or that contains NUL is refused
** before it is counted.
*/
#include "velt_int.h"

#include <string.h>

int velt_utf8_valid(const char *zIn, int n, int *pnChar) {
    const unsigned char *z = (const unsigned char *)zIn;
    int i = 0, nChar = 0;
    while (i < n) {
        unsigned c = z[i];
        if (c < 0x80) {
            if (c == 0) return 0;
            i++;
        } else {
            int len;
            unsigned cp, min;
            if (c >= 0xC2 && c <= 0xDF) {
                len = 2, cp = c & 0x1F, min = 0x80;
            } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3, cp = c & 0x0F, min = 0x800;
            } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4, cp = c & 0x07, min = 0x10000;
            } else {
                return 0;
            }
            if (i + len > n) return 0;
            for (int k = 1; k < len; k++) {
                if ((z[i + k] & 0xC0) != 0x80) return 0;
                cp = (cp << 6) | (z[i + k] & 0x3F);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
            i += len;
        }
        nChar++;
    }
    if (pnChar) *pnChar = nChar;
    return 1;
}

/* Append z as a JSON string literal. n<0 means NUL-terminated. */
void velt_json_str(sqlite3_str *s, const char *z, int n) {
    static const char hex[] = "0123456789abcdef";
    if (n < 0) n = (int)strlen(z);
    sqlite3_str_appendchar(s, 1, '"');
    int start = 0;
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)z[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (i > start) sqlite3_str_append(s, z + start, i - start);
        start = i + 1;
        switch (c) {
        case '"':
            sqlite3_str_appendall(s, "\\\"");
            break;
        case '\\':
            sqlite3_str_appendall(s, "\\\\");
            break;
        case '\n':
            sqlite3_str_appendall(s, "\\n");
            break;
        case '\r':
            sqlite3_str_appendall(s, "\\r");
            break;
        case '\t':
            sqlite3_str_appendall(s, "\\t");
            break;
        default: {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            sqlite3_str_appendall(s, esc);
        }
        }
    }
    if (n > start) sqlite3_str_append(s, z + start, n - start);
    sqlite3_str_appendchar(s, 1, '"');
}

void velt_json_key(sqlite3_str *s, int bComma, const char *zKey) {
    if (bComma) sqlite3_str_appendchar(s, 1, ',');
    velt_json_str(s, zKey, -1);
    sqlite3_str_appendchar(s, 1, ':');
}

/* A string, or null when z is NULL. */
void velt_json_opt_str(sqlite3_str *s, const char *z) {
    if (z) {
        velt_json_str(s, z, -1);
    } else {
        sqlite3_str_appendall(s, "null");
    }
}

/* n characters of [a-z0-9] from SQLite's PRNG (rejection sampling keeps the
** distribution uniform). */
void velt_random_alnum(char *z, int n) {
    static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char buf[32];
    int have = 0, used = 0;
    for (int i = 0; i < n;) {
        if (used == have) {
            sqlite3_randomness((int)sizeof(buf), buf);
            have = (int)sizeof(buf);
            used = 0;
        }
        unsigned char b = buf[used++];
        if (b < 252) z[i++] = set[b % 36];
    }
    z[n] = 0;
}

/* Take the text of s (which is freed). Reports out-of-memory. */
int velt_str_finish(sqlite3_str *s, char **pz, VeltErr *e) {
    int rc = sqlite3_str_errcode(s);
    char *z = sqlite3_str_finish(s);
    if (rc != SQLITE_OK) {
        sqlite3_free(z);
        *pz = 0;
        if (rc == SQLITE_NOMEM) return velt_err_nomem(e);
        return velt_err(e, VS_INVALID_ARGUMENT, "value too large");
    }
    if (z == 0) {
        z = sqlite3_mprintf("");
        if (z == 0) return velt_err_nomem(e);
    }
    *pz = z;
    return 0;
}

/* The string member zKey of a JSON object, or zDefault. */
const char *velt_json_get_str(const cJSON *pObj, const char *zKey, const char *zDefault) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(pObj, zKey);
    return cJSON_IsString(p) ? p->valuestring : zDefault;
}

/* Add pItem to an object under zKey (or to an array when zKey is NULL).
** Returns 1; on failure (pItem NULL, or out of memory) frees pItem and
** returns 0. */
int velt_json_add(cJSON *pParent, const char *zKey, cJSON *pItem) {
    if (pItem == 0) return 0;
    int ok =
        zKey ? cJSON_AddItemToObject(pParent, zKey, pItem) : cJSON_AddItemToArray(pParent, pItem);
    if (!ok) cJSON_Delete(pItem);
    return ok;
}
