/*
** `when` expressions of custom edges: a JSON abstract syntax tree, checked
** when a definition is created and evaluated by a small walker (never eval).
**
**   {"op":"eq","args":[{"var":"output.decision"},"escalate"]}
**   {"op":"and","args":[{"op":"gt","args":[{"var":"output.score"},0.8]},
**                       {"op":"not","args":[{"op":"isEmpty","args":[{"var":"output.notes"}]}]}]}
**
** A node is a literal (string, number, boolean, null), {"var":"root.path"}
** with root output, step or execution, or {"op":NAME,"args":[...]}:
**   eq ne neq gt gte lt lte      two arguments; comparisons need two numbers
**                                or two strings, otherwise they are false
**   and or (one or more)  not (one)
**   includes startsWith endsWith two arguments (includes: substring or element)
**   length isEmpty               one argument
**   regex                        text, pattern[, flags "i"]: POSIX extended
**                                syntax (JavaScript-only syntax is refused
**                                when the definition is created)
** Truthiness follows JavaScript: false, 0, "", null and missing are false.
** approve and reject edges compile to the same form, so one evaluator serves
** every edge. Depth is limited to 32.
*/
#include "velt_int.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define WHEN_MAX_DEPTH 32

typedef struct Op {
    const char *zName;
    int nMin, nMax;
} Op;

static const Op aOp[] = {
    {"eq", 2, 2},       {"ne", 2, 2},     {"neq", 2, 2},      {"gt", 2, 2},
    {"gte", 2, 2},      {"lt", 2, 2},     {"lte", 2, 2},      {"and", 1, 64},
    {"or", 1, 64},      {"not", 1, 1},    {"includes", 2, 2}, {"startsWith", 2, 2},
    {"endsWith", 2, 2}, {"length", 1, 1}, {"isEmpty", 1, 1},  {"regex", 2, 3},
};

static const Op *find_op(const char *z) {
    for (int i = 0; z && i < VELT_COUNT(aOp); i++) {
        if (strcmp(aOp[i].zName, z) == 0) return &aOp[i];
    }
    return 0;
}

static int compile_regex(regex_t *re, const char *zPattern, const cJSON *pFlags) {
    int flags = REG_EXTENDED | REG_NOSUB;
    if (cJSON_IsString(pFlags) && strchr(pFlags->valuestring, 'i')) flags |= REG_ICASE;
    return regcomp(re, zPattern, flags);
}

/* Syntax that JavaScript patterns have and POSIX ones silently read as
** something else: refused rather than evaluated differently. */
static const char *javascript_only(const char *z) {
    for (; *z; z++) {
        if (z[0] == '\\' && z[1] && strchr("dDwWsSbBkpPuxc0123456789", z[1])) {
            return "a backslash class or escape";
        }
        if (z[0] == '(' && z[1] == '?') return "a group modifier (?...)";
        if ((z[0] == '*' || z[0] == '+' || z[0] == '?' || z[0] == '}') && z[1] == '?') {
            return "a lazy quantifier";
        }
        if (z[0] == '\\' && z[1]) z++;
    }
    return 0;
}

static int check_node(const cJSON *p, VIssues *pI, int depth) {
    if (depth > WHEN_MAX_DEPTH) return velt_issue(pI, "custom", "is nested too deeply");
    if (!cJSON_IsObject(p)) {
        if (cJSON_IsArray(p)) return velt_issue(pI, "custom", "arrays are not expressions");
        return 0; /* a literal */
    }
    const cJSON *pVar = cJSON_GetObjectItemCaseSensitive(p, "var");
    if (pVar) {
        if (cJSON_GetArraySize(p) != 1 || !cJSON_IsString(pVar)) {
            return velt_issue(pI, "custom", "a var node is {\"var\": \"root.path\"}");
        }
        static const char *const azRoot[] = {"output", "step", "execution"};
        const char *z = pVar->valuestring;
        size_t nRoot = strcspn(z, ".");
        for (int i = 0; i < VELT_COUNT(azRoot); i++) {
            if (nRoot == strlen(azRoot[i]) && memcmp(z, azRoot[i], nRoot) == 0) return 0;
        }
        return velt_issue(pI, "custom", "var '%s' must start with output, step or execution", z);
    }
    const cJSON *pOp = cJSON_GetObjectItemCaseSensitive(p, "op");
    const cJSON *pArgs = cJSON_GetObjectItemCaseSensitive(p, "args");
    if (!cJSON_IsString(pOp) || !cJSON_IsArray(pArgs) || cJSON_GetArraySize(p) != 2) {
        return velt_issue(pI, "custom", "an operator node is {\"op\": NAME, \"args\": [...]}");
    }
    const Op *op = find_op(pOp->valuestring);
    if (op == 0) return velt_issue(pI, "custom", "unknown operator '%s'", pOp->valuestring);
    int n = cJSON_GetArraySize(pArgs);
    if (n < op->nMin || n > op->nMax) {
        return velt_issue(pI, "custom", "operator '%s' takes %d to %d arguments", op->zName,
                          op->nMin, op->nMax);
    }
    if (strcmp(op->zName, "regex") == 0) {
        const cJSON *pPat = cJSON_GetArrayItem(pArgs, 1);
        regex_t re;
        if (!cJSON_IsString(pPat)) return velt_issue(pI, "custom", "regex needs a literal pattern");
        const char *zJs = javascript_only(pPat->valuestring);
        if (zJs) {
            return velt_issue(pI, "custom",
                              "regex pattern '%s' does not compile as POSIX extended syntax "
                              "(it uses %s, which only JavaScript has)",
                              pPat->valuestring, zJs);
        }
        if (compile_regex(&re, pPat->valuestring, cJSON_GetArrayItem(pArgs, 2)) != 0) {
            return velt_issue(pI, "custom", "regex pattern '%s' does not compile",
                              pPat->valuestring);
        }
        regfree(&re);
    }
    const cJSON *pArg;
    cJSON_ArrayForEach(pArg, pArgs) {
        if (check_node(pArg, pI, depth + 1)) return 1;
    }
    return 0;
}

int velt_when_check(const cJSON *pAst, VIssues *pI) {
    return check_node(pAst, pI, 0);
}

/* Evaluation produces a borrowed or owned cJSON value. */
typedef struct Val {
    const cJSON *p; /* NULL means missing */
    cJSON *pOwn;    /* set when p was made here */
} Val;

static void val_free(Val *v) {
    cJSON_Delete(v->pOwn);
    v->pOwn = 0;
    v->p = 0;
}

static int val_make(Val *v, cJSON *pNew) {
    v->pOwn = pNew;
    v->p = pNew;
    return pNew ? 0 : SQLITE_NOMEM;
}

static const cJSON *resolve(const cJSON *pCtx, const char *zPath) {
    const cJSON *p = pCtx;
    char zKey[256];
    while (p && *zPath) {
        int n = 0;
        while (zPath[n] && zPath[n] != '.')
            n++;
        if (n >= (int)sizeof(zKey)) return 0;
        memcpy(zKey, zPath, (size_t)n);
        zKey[n] = 0;
        if (cJSON_IsArray(p)) {
            char *zEnd;
            long i = strtol(zKey, &zEnd, 10);
            p = (*zEnd == 0 && n > 0) ? cJSON_GetArrayItem(p, (int)i) : 0;
        } else {
            p = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, zKey) : 0;
        }
        zPath += n;
        if (*zPath == '.') zPath++;
    }
    return p;
}

static int truthy(const cJSON *p) {
    if (p == 0 || cJSON_IsNull(p) || cJSON_IsFalse(p)) return 0;
    if (cJSON_IsNumber(p)) return p->valuedouble != 0;
    if (cJSON_IsString(p)) return p->valuestring[0] != 0;
    return 1;
}

static int eval(const cJSON *pAst, const cJSON *pCtx, Val *pOut, int depth);

static int eval_bool(Val *pOut, int b) {
    return val_make(pOut, cJSON_CreateBool(b));
}

static int compare(const cJSON *a, const cJSON *b, int *pCmp) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
        *pCmp = a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
        return 1;
    }
    if (cJSON_IsString(a) && cJSON_IsString(b)) {
        int c = strcmp(a->valuestring, b->valuestring);
        *pCmp = c < 0 ? -1 : c > 0;
        return 1;
    }
    return 0;
}

/* Deep equality, each member compared once (cJSON_Compare compares object
** members twice per level, which is exponential in the nesting depth). */
static int equal(const cJSON *a, const cJSON *b) {
    if (a == 0 || cJSON_IsNull(a)) return b == 0 || cJSON_IsNull(b);
    if (b == 0 || (a->type & 0xFF) != (b->type & 0xFF)) return 0;
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
    if (!cJSON_IsArray(a) && !cJSON_IsObject(a)) return 1; /* true, false */
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    const cJSON *pA, *pB = b->child;
    cJSON_ArrayForEach(pA, a) {
        const cJSON *pOther =
            cJSON_IsArray(a) ? pB : cJSON_GetObjectItemCaseSensitive(b, pA->string);
        if (!equal(pA, pOther) || (pOther == 0 && cJSON_IsNull(pA))) return 0;
        if (pB) pB = pB->next;
    }
    return 1;
}

static int eval_op(const char *zOp, const cJSON *pArgs, const cJSON *pCtx, Val *pOut, int depth) {
    int n = cJSON_GetArraySize(pArgs);
    Val av[3] = {{0, 0}, {0, 0}, {0, 0}};
    int rc = 0;
    if (strcmp(zOp, "and") == 0 || strcmp(zOp, "or") == 0) {
        int bAnd = zOp[0] == 'a';
        const cJSON *pArg;
        cJSON_ArrayForEach(pArg, pArgs) {
            Val v = {0, 0};
            if ((rc = eval(pArg, pCtx, &v, depth + 1)) != 0) return rc;
            int t = truthy(v.p);
            val_free(&v);
            if (t != bAnd) return eval_bool(pOut, t);
        }
        return eval_bool(pOut, bAnd);
    }
    for (int i = 0; i < n && i < 3 && rc == 0; i++) {
        rc = eval(cJSON_GetArrayItem(pArgs, i), pCtx, &av[i], depth + 1);
    }
    const cJSON *a = av[0].p, *b = av[1].p;
    int cmp = 0;
    if (rc) {
        /* fall through to cleanup */
    } else if (strcmp(zOp, "eq") == 0) {
        rc = eval_bool(pOut, equal(a, b));
    } else if (strcmp(zOp, "ne") == 0 || strcmp(zOp, "neq") == 0) {
        rc = eval_bool(pOut, !equal(a, b));
    } else if (zOp[0] == 'g' || zOp[0] == 'l') {
        if (zOp[0] == 'l' && strcmp(zOp, "length") == 0) {
            double len = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
            if (cJSON_IsString(a)) {
                int nChar = 0;
                velt_utf8_valid(a->valuestring, (int)strlen(a->valuestring), &nChar);
                len = nChar;
            }
            rc = val_make(pOut, cJSON_CreateNumber(len));
        } else {
            int ok = compare(a, b, &cmp);
            int r = 0;
            if (ok) {
                if (strcmp(zOp, "gt") == 0) r = cmp > 0;
                if (strcmp(zOp, "gte") == 0) r = cmp >= 0;
                if (strcmp(zOp, "lt") == 0) r = cmp < 0;
                if (strcmp(zOp, "lte") == 0) r = cmp <= 0;
            }
            rc = eval_bool(pOut, r);
        }
    } else if (strcmp(zOp, "not") == 0) {
        rc = eval_bool(pOut, !truthy(a));
    } else if (strcmp(zOp, "isEmpty") == 0) {
        int r = a == 0 || cJSON_IsNull(a) || (cJSON_IsString(a) && a->valuestring[0] == 0) ||
                ((cJSON_IsArray(a) || cJSON_IsObject(a)) && cJSON_GetArraySize(a) == 0);
        rc = eval_bool(pOut, r);
    } else if (strcmp(zOp, "includes") == 0) {
        int r = 0;
        if (cJSON_IsString(a) && cJSON_IsString(b)) {
            r = strstr(a->valuestring, b->valuestring) != 0;
        } else if (cJSON_IsArray(a)) {
            const cJSON *pEl;
            cJSON_ArrayForEach(pEl, a) r = r || equal(pEl, b);
        }
        rc = eval_bool(pOut, r);
    } else if (strcmp(zOp, "startsWith") == 0 || strcmp(zOp, "endsWith") == 0) {
        int r = 0;
        if (cJSON_IsString(a) && cJSON_IsString(b)) {
            size_t na = strlen(a->valuestring), nb = strlen(b->valuestring);
            if (nb <= na) {
                const char *z = zOp[0] == 's' ? a->valuestring : a->valuestring + na - nb;
                r = memcmp(z, b->valuestring, nb) == 0;
            }
        }
        rc = eval_bool(pOut, r);
    } else if (strcmp(zOp, "regex") == 0) {
        int r = 0;
        regex_t re;
        if (cJSON_IsString(a) && cJSON_IsString(b) &&
            compile_regex(&re, b->valuestring, av[2].p) == 0) {
            r = regexec(&re, a->valuestring, 0, 0, 0) == 0;
            regfree(&re);
        }
        rc = eval_bool(pOut, r);
    }
    for (int i = 0; i < 3; i++)
        val_free(&av[i]);
    return rc;
}

static int eval(const cJSON *pAst, const cJSON *pCtx, Val *pOut, int depth) {
    pOut->p = 0;
    pOut->pOwn = 0;
    if (depth > WHEN_MAX_DEPTH) return 0;
    if (!cJSON_IsObject(pAst)) {
        pOut->p = pAst;
        return 0;
    }
    const cJSON *pVar = cJSON_GetObjectItemCaseSensitive(pAst, "var");
    if (cJSON_IsString(pVar)) {
        pOut->p = resolve(pCtx, pVar->valuestring);
        return 0;
    }
    const cJSON *pOp = cJSON_GetObjectItemCaseSensitive(pAst, "op");
    const cJSON *pArgs = cJSON_GetObjectItemCaseSensitive(pAst, "args");
    if (!cJSON_IsString(pOp) || !cJSON_IsArray(pArgs)) return 0;
    return eval_op(pOp->valuestring, pArgs, pCtx, pOut, depth);
}

int velt_when_eval(const cJSON *pAst, const cJSON *pCtx, int *pbTrue) {
    Val v;
    int rc = eval(pAst, pCtx, &v, 0);
    *pbTrue = rc == 0 && truthy(v.p);
    val_free(&v);
    return rc;
}

cJSON *velt_when_for_role(const char *zRole) {
    if (strcmp(zRole, "approve") && strcmp(zRole, "reject")) return 0;
    cJSON *p = cJSON_CreateObject();
    cJSON *pArgs = cJSON_CreateArray();
    cJSON *pVar = cJSON_CreateObject();
    cJSON *pWord = cJSON_CreateString(zRole);
    int ok = p && pArgs && pVar && pWord && cJSON_AddStringToObject(p, "op", "eq") &&
             cJSON_AddStringToObject(pVar, "var", "output.decision") &&
             cJSON_AddItemToArray(pArgs, pVar);
    if (ok) pVar = 0;
    ok = ok && cJSON_AddItemToArray(pArgs, pWord);
    if (ok) pWord = 0;
    ok = ok && cJSON_AddItemToObject(p, "args", pArgs);
    if (ok) return p;
    cJSON_Delete(pWord);
    cJSON_Delete(pVar);
    cJSON_Delete(pArgs);
    cJSON_Delete(p);
    return 0;
}
