/*
** The definition linter: rules over a definition's whole graph, run by
** definitions/create after the request schema (which has already checked
** every field on its own) and before compilation.
**
**   SELECT velt('definitions/create', '{"definitionId": "bad-graph", "name": "x",
**     "nodes": [{"nodeId": "review", "type": "human",
**                "config": {"reviewers": [{"userId": "u1", "mandatory": true}]}}],
**     "edges": []}');
**   -- INVALID_ARGUMENT: Definition linter failed: [{"code":"human-node-requires-reject-path",
**   --   "message":"every human node must have at least one outgoing edge with on=\"reject\"
**   --   (a forward reject route or a reject back-edge): review","nodeId":"review"}]
**
** Every finding is collected, then reported at once as a compact JSON array
** of {code, message} objects, with "nodeId", "edgeIndex" (the position in
** edges[]) or "groupId" where one applies: the first 50, then a
** {"code":"more-findings"} note. Clients match on code. The codes are upstream's linter codes;
*upstream's APPROVAL_* edge rules
** appear with their name in kebab case (APPROVAL_EDGE_GROUP_TO_GROUP_FORBIDDEN
** is edge-group-to-group-forbidden), as upstream already does for
** human-node-requires-reject-path.
**
** The graph the rules speak of: group endpoints stand for every member of
** the group; loop back-edges (on "reject" with "loop") are left out of it,
** exhausted edges are part of it. Roots are the nodes no edge of that graph
** enters. The rules, in the order they are reported:
**   nodes   duplicate-node-id, node-missing-config
**   groups  group-duplicate-id, group-member-missing, group-member-duplicate,
**           group-node-in-multiple-groups, group-expected-steps-invalid (more
**           expected steps than members: the group could never complete),
**           group-quorum-invalid, group-cancelonquorum-requires-quorum-lt-expected,
**           group-required-not-in-members, group-required-exceeds-quorum
**   edges   dangling-edge, edge-group-to-group-forbidden,
**           edge-exhausted-requires-loop-sibling, edge-exhausted-invalid (a second
**           exhausted exit from one source, or one into a group),
**           edge-loop-target-must-be-node, group-from-loop-requires-joinonquorum,
**           group-from-reject-requires-loop
**   graph   cycle-detected (a reject edge back upstream without "loop" is one),
**           unreachable-node, edge-loop-target-not-ancestor
**   routes  human-node-requires-reject-path, missing-breach-edge,
**           group-joinonquorum-members-must-share-successors
**   loops   (only on an otherwise clean graph, from its compiled loops)
**           loop-node-in-multiple-loops, loop-body-must-have-single-terminal,
**           loop-group-bounded-quorum-must-equal-expected
*/
#include "velt_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LINT_MAX_FINDINGS 50

/* Edge roles, in the order of the names below. */
enum { ON_APPROVE, ON_REJECT, ON_ALWAYS, ON_EXHAUSTED, ON_CUSTOM };
static const char *const azOn[] = {"approve", "reject", "always", "exhausted", "custom"};

enum { Q_WAIT_ALL, Q_CANCEL_ON_QUORUM, Q_JOIN_ON_QUORUM };
static const char *const azPolicy[] = {"waitAll", "cancelOnQuorum", "joinOnQuorum"};

static int name_index(const char *const *az, int n, const char *z, int iDefault) {
    for (int i = 0; z && i < n; i++) {
        if (strcmp(az[i], z) == 0) return i;
    }
    return iDefault;
}

/* Ids sorted for lookup; equal ids keep declaration order, so a lookup finds
** the first declaration. */
typedef struct IdIx {
    const char *z;
    int i;
} IdIx;

static int idix_cmp(const void *pA, const void *pB) {
    const IdIx *a = pA, *b = pB;
    int c = strcmp(a->z, b->z);
    return c ? c : a->i - b->i;
}

static int idix_find(const IdIx *a, int n, const char *z) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(a[mid].z, z) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(a[lo].z, z) == 0 ? a[lo].i : -1;
}

typedef struct LNode {
    const char *zId;
    const cJSON *p;
    int bDup;   /* a later declaration of an id already used */
    int iGroup; /* the first group that lists it, or -1 */
} LNode;

typedef struct LGroup {
    const char *zId;
    const cJSON *p;
    int bDup;
    int ePolicy;
    int nMember;
    int *aMember; /* declared members, each once, in declaration order */
} LGroup;

/* One end of an edge: a node or a group, idx -1 when it names nothing. */
typedef struct LEnd {
    const char *zId;
    int bGroup;
    int idx;
} LEnd;

typedef struct LEdge {
    int eOn;
    int bLoop;
    LEnd from, to;
} LEdge;

/* An edge of the node graph (group endpoints expanded). */
typedef struct LPair {
    int from, to, iEdge;
    int bExhausted;
} LPair;

typedef struct Lint {
    const cJSON *pData;
    VeltErr *e;
    int nNode, nGroup, nEdge, nPair;
    LNode *aNode;
    LGroup *aGroup;
    LEdge *aEdge;
    IdIx *aNodeIx, *aGroupIx;
    int *aMemberPool;
    LPair *aPair;
    int *aStart, *aAdj; /* pairs by source node: aAdj[aStart[u] .. aStart[u+1]) */
    sqlite3_str *pOut;  /* the findings, as JSON array elements */
    int nFinding;       /* reported, at most LINT_MAX_FINDINGS */
    int nHidden;        /* found past that */
    int bNoMem;
} Lint;

static void *lint_alloc(Lint *L, sqlite3_uint64 n) {
    void *p = sqlite3_malloc64(n ? n : 1);
    if (p == 0) {
        L->bNoMem = 1;
    } else {
        memset(p, 0, n ? n : 1);
    }
    return p;
}

/* Record one finding. zNode, zGroup and iEdge (>= 0) are optional. */
static void finding(Lint *L, const char *zCode, const char *zNode, int iEdge, const char *zGroup,
                    const char *zFmt, ...) {
    if (L->nFinding >= LINT_MAX_FINDINGS) {
        L->nHidden++;
        return;
    }
    L->nFinding++;
    va_list ap;
    va_start(ap, zFmt);
    char *zMsg = sqlite3_vmprintf(zFmt, ap);
    va_end(ap);
    if (zMsg == 0) L->bNoMem = 1;
    sqlite3_str *s = L->pOut;
    sqlite3_str_appendall(s, L->nFinding > 1 ? ",{\"code\":" : "{\"code\":");
    velt_json_str(s, zCode, -1);
    sqlite3_str_appendall(s, ",\"message\":");
    velt_json_str(s, zMsg ? zMsg : "", -1);
    if (zNode) {
        sqlite3_str_appendall(s, ",\"nodeId\":");
        velt_json_str(s, zNode, -1);
    }
    if (iEdge >= 0) sqlite3_str_appendf(s, ",\"edgeIndex\":%d", iEdge);
    if (zGroup) {
        sqlite3_str_appendall(s, ",\"groupId\":");
        velt_json_str(s, zGroup, -1);
    }
    sqlite3_str_appendchar(s, 1, '}');
    sqlite3_free(zMsg);
}

static int int_of(const cJSON *pObj, const char *zKey) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(pObj, zKey);
    return cJSON_IsNumber(p) ? p->valueint : 0;
}

static const char *end_text(const LEnd *p) {
    return p->bGroup ? "group" : "node";
}

/* The nodes an endpoint stands for: itself, or its group's members. */
static int end_nodes(const Lint *L, const LEnd *p, const int **paNode) {
    if (p->idx < 0) return 0;
    if (!p->bGroup) {
        *paNode = &p->idx;
        return 1;
    }
    *paNode = L->aGroup[p->idx].aMember;
    return L->aGroup[p->idx].nMember;
}

static int end_has(const Lint *L, const LEnd *p, int iNode) {
    const int *a;
    int n = end_nodes(L, p, &a);
    for (int i = 0; i < n; i++) {
        if (a[i] == iNode) return 1;
    }
    return 0;
}

/* ================================================================== nodes */

static void lint_nodes(Lint *L) {
    const cJSON *pNodes = cJSON_GetObjectItemCaseSensitive(L->pData, "nodes");
    L->nNode = cJSON_GetArraySize(pNodes);
    L->aNode = lint_alloc(L, sizeof(LNode) * (sqlite3_uint64)L->nNode);
    L->aNodeIx = lint_alloc(L, sizeof(IdIx) * (sqlite3_uint64)L->nNode);
    if (L->bNoMem) return;
    int i = 0;
    const cJSON *pN;
    cJSON_ArrayForEach(pN, pNodes) {
        const char *zId = velt_json_get_str(pN, "nodeId", 0);
        L->aNode[i] = (LNode){zId ? zId : "", pN, 0, -1};
        L->aNodeIx[i] = (IdIx){L->aNode[i].zId, i};
        i++;
    }
    qsort(L->aNodeIx, (size_t)L->nNode, sizeof(IdIx), idix_cmp);
    for (i = 0; i < L->nNode; i++) {
        LNode *pNode = &L->aNode[i];
        if (idix_find(L->aNodeIx, L->nNode, pNode->zId) != i) {
            pNode->bDup = 1;
            finding(L, "duplicate-node-id", pNode->zId, -1, 0,
                    "nodeId '%s' is declared more than once (again at nodes[%d])", pNode->zId, i);
        }
    }
    for (i = 0; i < L->nNode; i++) {
        if (cJSON_GetObjectItemCaseSensitive(L->aNode[i].p, "config") == 0) {
            finding(L, "node-missing-config", L->aNode[i].zId, -1, 0, "node '%s' has no config",
                    L->aNode[i].zId);
        }
    }
}

/* ================================================================= groups */

static void lint_group_members(Lint *L, LGroup *g, int iGroup, int *aPool) {
    const cJSON *pM;
    g->aMember = aPool;
    cJSON_ArrayForEach(pM, cJSON_GetObjectItemCaseSensitive(g->p, "memberNodeIds")) {
        const char *zM = cJSON_IsString(pM) ? pM->valuestring : "";
        int iNode = idix_find(L->aNodeIx, L->nNode, zM);
        if (iNode < 0) {
            finding(L, "group-member-missing", zM, -1, g->zId,
                    "group '%s' lists member '%s', which is not a declared node", g->zId, zM);
        } else if (L->aNode[iNode].iGroup == iGroup) {
            finding(L, "group-member-duplicate", zM, -1, g->zId,
                    "group '%s' lists member '%s' more than once", g->zId, zM);
        } else if (L->aNode[iNode].iGroup >= 0) {
            finding(L, "group-node-in-multiple-groups", zM, -1, g->zId,
                    "node '%s' is a member of group '%s' and of group '%s'; a node may belong "
                    "to at most one group",
                    zM, L->aGroup[L->aNode[iNode].iGroup].zId, g->zId);
        } else {
            L->aNode[iNode].iGroup = iGroup;
            g->aMember[g->nMember++] = iNode;
        }
    }
}

static void lint_group_numbers(Lint *L, const LGroup *g) {
    const cJSON *pMembers = cJSON_GetObjectItemCaseSensitive(g->p, "memberNodeIds");
    const cJSON *pRequired = cJSON_GetObjectItemCaseSensitive(g->p, "requiredNodeIds");
    int nListed = cJSON_GetArraySize(pMembers);
    int nExpected = int_of(g->p, "expectedSteps");
    int nQuorum = int_of(g->p, "quorum");
    if (nExpected < 1 || nExpected > nListed) {
        finding(L, "group-expected-steps-invalid", 0, -1, g->zId,
                "group '%s' expects %d steps but has %d members, so it could never complete",
                g->zId, nExpected, nListed);
    }
    if (nQuorum < 1 || nQuorum > nExpected) {
        finding(L, "group-quorum-invalid", 0, -1, g->zId,
                "group '%s' has quorum %d; it must be between 1 and expectedSteps (%d)", g->zId,
                nQuorum, nExpected);
    } else if (g->ePolicy == Q_CANCEL_ON_QUORUM && nQuorum >= nExpected) {
        finding(L, "group-cancelonquorum-requires-quorum-lt-expected", 0, -1, g->zId,
                "group '%s' uses cancelOnQuorum, which needs quorum (%d) below expectedSteps (%d)",
                g->zId, nQuorum, nExpected);
    }
    const cJSON *pR, *pM;
    cJSON_ArrayForEach(pR, pRequired) {
        int bMember = 0;
        cJSON_ArrayForEach(pM, pMembers) {
            if (cJSON_IsString(pR) && cJSON_IsString(pM) &&
                strcmp(pR->valuestring, pM->valuestring) == 0) {
                bMember = 1;
            }
        }
        if (!bMember) {
            const char *zR = cJSON_IsString(pR) ? pR->valuestring : "";
            finding(L, "group-required-not-in-members", zR, -1, g->zId,
                    "group '%s' requires '%s', which is not one of its members", g->zId, zR);
        }
    }
    int nRequired = cJSON_GetArraySize(pRequired);
    if (nRequired > nQuorum && nQuorum >= 1) {
        finding(L, "group-required-exceeds-quorum", 0, -1, g->zId,
                "group '%s' requires %d members to approve but its quorum is %d", g->zId, nRequired,
                nQuorum);
    }
}

static void lint_groups(Lint *L) {
    const cJSON *pGroups = cJSON_GetObjectItemCaseSensitive(L->pData, "groups");
    L->nGroup = cJSON_GetArraySize(pGroups);
    sqlite3_uint64 nPool = 1;
    const cJSON *pG;
    cJSON_ArrayForEach(pG, pGroups) {
        nPool += (sqlite3_uint64)cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(pG, "memberNodeIds"));
    }
    L->aGroup = lint_alloc(L, sizeof(LGroup) * (sqlite3_uint64)L->nGroup);
    L->aGroupIx = lint_alloc(L, sizeof(IdIx) * (sqlite3_uint64)L->nGroup);
    L->aMemberPool = lint_alloc(L, sizeof(int) * nPool);
    if (L->bNoMem) return;
    int i = 0;
    cJSON_ArrayForEach(pG, pGroups) {
        const char *zId = velt_json_get_str(pG, "groupId", 0);
        LGroup *g = &L->aGroup[i];
        g->zId = zId ? zId : "";
        g->p = pG;
        g->ePolicy = name_index(azPolicy, VELT_COUNT(azPolicy),
                                velt_json_get_str(pG, "onQuorumMet", 0), Q_WAIT_ALL);
        L->aGroupIx[i] = (IdIx){g->zId, i};
        i++;
    }
    qsort(L->aGroupIx, (size_t)L->nGroup, sizeof(IdIx), idix_cmp);
    int *aPool = L->aMemberPool;
    for (i = 0; i < L->nGroup; i++) {
        LGroup *g = &L->aGroup[i];
        if (idix_find(L->aGroupIx, L->nGroup, g->zId) != i) {
            g->bDup = 1;
            finding(L, "group-duplicate-id", 0, -1, g->zId,
                    "groupId '%s' is declared more than once (again at groups[%d])", g->zId, i);
            continue;
        }
        lint_group_members(L, g, i, aPool);
        aPool += g->nMember;
        lint_group_numbers(L, g);
    }
}

/* ================================================================== edges */

static void end_read(Lint *L, const cJSON *pEp, LEnd *p) {
    p->bGroup = 0;
    p->zId = 0;
    if (cJSON_IsString(pEp)) {
        p->zId = pEp->valuestring;
    } else {
        const char *zKind = velt_json_get_str(pEp, "kind", 0);
        p->bGroup = zKind && strcmp(zKind, "group") == 0;
        p->zId = velt_json_get_str(pEp, p->bGroup ? "groupId" : "nodeId", 0);
    }
    if (p->zId == 0) p->zId = "";
    p->idx = p->bGroup ? idix_find(L->aGroupIx, L->nGroup, p->zId)
                       : idix_find(L->aNodeIx, L->nNode, p->zId);
}

static int end_same(const LEnd *a, const LEnd *b) {
    return a->bGroup == b->bGroup && strcmp(a->zId, b->zId) == 0;
}

static const char *const azSide[] = {"from", "to"};

static void lint_edge_ends(Lint *L) {
    const cJSON *pEdges = cJSON_GetObjectItemCaseSensitive(L->pData, "edges");
    L->nEdge = cJSON_GetArraySize(pEdges);
    L->aEdge = lint_alloc(L, sizeof(LEdge) * (sqlite3_uint64)L->nEdge);
    if (L->bNoMem) return;
    int i = 0;
    const cJSON *pE;
    cJSON_ArrayForEach(pE, pEdges) {
        LEdge *d = &L->aEdge[i];
        d->eOn = name_index(azOn, VELT_COUNT(azOn), velt_json_get_str(pE, "on", 0), ON_ALWAYS);
        d->bLoop = cJSON_GetObjectItemCaseSensitive(pE, "loop") != 0;
        end_read(L, cJSON_GetObjectItemCaseSensitive(pE, "from"), &d->from);
        end_read(L, cJSON_GetObjectItemCaseSensitive(pE, "to"), &d->to);
        const LEnd *aSide[] = {&d->from, &d->to};
        for (int k = 0; k < 2; k++) {
            if (aSide[k]->idx < 0) {
                finding(L, "dangling-edge", 0, i, 0,
                        "edges[%d].%s names %s '%s', which is not declared", i, azSide[k],
                        end_text(aSide[k]), aSide[k]->zId);
            }
        }
        if (d->from.bGroup && d->to.bGroup) {
            finding(L, "edge-group-to-group-forbidden", 0, i, d->from.zId,
                    "group-to-group edges are forbidden: edges[%d] goes from group '%s' to "
                    "group '%s'",
                    i, d->from.zId, d->to.zId);
        }
        i++;
    }
}

/* Rules on exhausted exits, loop back-edges and edges leaving groups. */
static void lint_edge_roles(Lint *L) {
    for (int i = 0; i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        const LGroup *g = d->from.bGroup && d->from.idx >= 0 ? &L->aGroup[d->from.idx] : 0;
        if (d->eOn == ON_EXHAUSTED) {
            int bSibling = 0, iEarlier = -1;
            for (int j = 0; j < L->nEdge; j++) {
                const LEdge *o = &L->aEdge[j];
                if (!end_same(&o->from, &d->from)) continue;
                if (o->eOn == ON_REJECT && o->bLoop) bSibling = 1;
                if (o->eOn == ON_EXHAUSTED && j < i && iEarlier < 0) iEarlier = j;
            }
            if (!bSibling) {
                finding(L, "edge-exhausted-requires-loop-sibling", 0, i, 0,
                        "edges[%d] has on=\"exhausted\" but no on=\"reject\" edge with \"loop\" "
                        "leaves the same %s '%s'",
                        i, end_text(&d->from), d->from.zId);
            } else if (iEarlier >= 0) {
                finding(L, "edge-exhausted-invalid", 0, i, 0,
                        "edges[%d] is a second on=\"exhausted\" edge from %s '%s' (the first is "
                        "edges[%d]); a loop has one exhausted exit",
                        i, end_text(&d->from), d->from.zId, iEarlier);
            } else if (d->to.bGroup) {
                finding(L, "edge-exhausted-invalid", 0, i, d->to.zId,
                        "edges[%d]: an on=\"exhausted\" edge must lead to a node, not a group", i);
            }
        }
        if (d->bLoop && d->to.bGroup) {
            finding(L, "edge-loop-target-must-be-node", 0, i, d->to.zId,
                    "edges[%d]: a loop back-edge must lead to a node (the loop's entry), not a "
                    "group",
                    i);
        }
        if (g && d->bLoop && g->ePolicy != Q_JOIN_ON_QUORUM) {
            finding(L, "group-from-loop-requires-joinonquorum", 0, i, g->zId,
                    "edges[%d]: a loop back-edge from group '%s' needs onQuorumMet "
                    "\"joinOnQuorum\", not \"%s\"",
                    i, g->zId, azPolicy[g->ePolicy]);
        }
        if (g && d->eOn == ON_REJECT && !d->bLoop && g->ePolicy != Q_WAIT_ALL) {
            finding(L, "group-from-reject-requires-loop", 0, i, g->zId,
                    "edges[%d]: group '%s' (%s) fans out only when its quorum approves, so a "
                    "forward on=\"reject\" edge from it would never fire; use \"loop\" or waitAll",
                    i, g->zId, azPolicy[g->ePolicy]);
        }
    }
}

/* ================================================================== graph */

/* Usable for graph rules: both ends resolved, not group to group. */
static int edge_usable(const LEdge *d) {
    return d->from.idx >= 0 && d->to.idx >= 0 && !(d->from.bGroup && d->to.bGroup);
}

/* The node graph: every usable edge but loop back-edges, groups expanded,
** in adjacency lists by source node. */
static void graph_build(Lint *L) {
    sqlite3_uint64 nMax = 1;
    for (int i = 0; i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        const int *a;
        if (edge_usable(d) && !d->bLoop) {
            nMax += (sqlite3_uint64)end_nodes(L, &d->from, &a) *
                    (sqlite3_uint64)end_nodes(L, &d->to, &a);
        }
    }
    L->aPair = lint_alloc(L, sizeof(LPair) * nMax);
    L->aAdj = lint_alloc(L, sizeof(int) * nMax);
    L->aStart = lint_alloc(L, sizeof(int) * ((sqlite3_uint64)L->nNode + 1));
    if (L->bNoMem) return;
    for (int i = 0; i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        const int *aF, *aT;
        if (!edge_usable(d) || d->bLoop) continue;
        int nF = end_nodes(L, &d->from, &aF), nT = end_nodes(L, &d->to, &aT);
        for (int a = 0; a < nF; a++) {
            for (int b = 0; b < nT; b++) {
                L->aPair[L->nPair++] = (LPair){aF[a], aT[b], i, d->eOn == ON_EXHAUSTED};
            }
        }
    }
    /* Counting sort of the pairs by source node. */
    for (int k = 0; k < L->nPair; k++)
        L->aStart[L->aPair[k].from + 1]++;
    for (int u = 0; u < L->nNode; u++)
        L->aStart[u + 1] += L->aStart[u];
    int *aFill = lint_alloc(L, sizeof(int) * ((sqlite3_uint64)L->nNode + 1));
    if (aFill == 0) return;
    memcpy(aFill, L->aStart, sizeof(int) * ((size_t)L->nNode + 1));
    for (int k = 0; k < L->nPair; k++)
        L->aAdj[aFill[L->aPair[k].from]++] = k;
    sqlite3_free(aFill);
}

/* Mark what aMark's marked nodes reach (exhausted exits too, if bExhausted). */
static void graph_reach(const Lint *L, unsigned char *aMark, int bExhausted, int *aQueue) {
    int nQueue = 0;
    for (int u = 0; u < L->nNode; u++) {
        if (aMark[u]) aQueue[nQueue++] = u;
    }
    while (nQueue > 0) {
        int u = aQueue[--nQueue];
        for (int k = L->aStart[u]; k < L->aStart[u + 1]; k++) {
            const LPair *pr = &L->aPair[L->aAdj[k]];
            if ((bExhausted || !pr->bExhausted) && !aMark[pr->to]) {
                aMark[pr->to] = 1;
                aQueue[nQueue++] = pr->to;
            }
        }
    }
}

static void report_cycle(Lint *L, const int *aStack, int nStack, int iFrom, const LPair *pr) {
    const LEdge *d = &L->aEdge[pr->iEdge];
    sqlite3_str *s = sqlite3_str_new(0);
    for (int k = iFrom; k < nStack; k++)
        sqlite3_str_appendf(s, "%s -> ", L->aNode[aStack[k]].zId);
    sqlite3_str_appendall(s, L->aNode[pr->to].zId);
    char *zPath = sqlite3_str_finish(s);
    if (zPath == 0) L->bNoMem = 1;
    if (d->eOn == ON_REJECT) {
        finding(L, "cycle-detected", 0, pr->iEdge, 0,
                "the on=\"reject\" edge edges[%d] goes back upstream (%s) without \"loop\": mark "
                "it with \"loop\": {\"maxIterations\": N} to make it a loop back-edge",
                pr->iEdge, zPath ? zPath : "");
    } else {
        finding(L, "cycle-detected", 0, pr->iEdge, 0,
                "edges[%d] closes the cycle %s; only on=\"reject\" edges marked with \"loop\" "
                "may go back upstream",
                pr->iEdge, zPath ? zPath : "");
    }
    sqlite3_free(zPath);
}

/* Depth-first search without recursion; every edge that closes a cycle is
** reported once, with the cycle it closes. */
static void lint_cycles(Lint *L) {
    int n = L->nNode;
    unsigned char *aColor = lint_alloc(L, (sqlite3_uint64)n); /* 0 new, 1 on stack, 2 done */
    unsigned char *aSeen = lint_alloc(L, (sqlite3_uint64)L->nEdge);
    int *aStack = lint_alloc(L, sizeof(int) * 2 * (sqlite3_uint64)n);
    if (!L->bNoMem) {
        int *aNext = aStack + n;
        for (int s = 0; s < n; s++) {
            if (aColor[s]) continue;
            int nStack = 0;
            aStack[nStack] = s;
            aNext[nStack++] = L->aStart[s];
            aColor[s] = 1;
            while (nStack > 0) {
                int u = aStack[nStack - 1];
                if (aNext[nStack - 1] == L->aStart[u + 1]) {
                    aColor[u] = 2;
                    nStack--;
                    continue;
                }
                const LPair *pr = &L->aPair[L->aAdj[aNext[nStack - 1]++]];
                if (aColor[pr->to] == 0) {
                    aColor[pr->to] = 1;
                    aStack[nStack] = pr->to;
                    aNext[nStack++] = L->aStart[pr->to];
                } else if (aColor[pr->to] == 1 && !aSeen[pr->iEdge]) {
                    int iFrom = nStack - 1;
                    while (aStack[iFrom] != pr->to)
                        iFrom--;
                    aSeen[pr->iEdge] = 1;
                    report_cycle(L, aStack, nStack, iFrom, pr);
                }
            }
        }
    }
    sqlite3_free(aColor);
    sqlite3_free(aSeen);
    sqlite3_free(aStack);
}

/* Roots are the nodes no edge of the graph enters; everything else must be
** reachable from one. A loop's exhausted exit is reached through its edge.
** In a graph without cycles every node is reachable, so this reports what
** hangs on a cycle, which nothing could ever start. */
static void lint_reachable(Lint *L) {
    unsigned char *aMark = lint_alloc(L, (sqlite3_uint64)L->nNode);
    int *aQueue = lint_alloc(L, sizeof(int) * ((sqlite3_uint64)L->nNode + 1));
    if (!L->bNoMem) {
        memset(aMark, 1, (size_t)L->nNode);
        for (int k = 0; k < L->nPair; k++)
            aMark[L->aPair[k].to] = 0;
        graph_reach(L, aMark, 1, aQueue);
        for (int u = 0; u < L->nNode; u++) {
            if (!aMark[u] && !L->aNode[u].bDup) {
                finding(L, "unreachable-node", L->aNode[u].zId, -1, 0,
                        "node '%s' cannot be reached from any root node", L->aNode[u].zId);
            }
        }
    }
    sqlite3_free(aMark);
    sqlite3_free(aQueue);
}

/* A loop back-edge must go upstream: its target reaches its source (every
** member, for a group source) along forward edges. */
static void lint_loop_ancestry(Lint *L) {
    unsigned char *aMark = lint_alloc(L, (sqlite3_uint64)L->nNode);
    int *aQueue = lint_alloc(L, sizeof(int) * ((sqlite3_uint64)L->nNode + 1));
    for (int i = 0; !L->bNoMem && i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        if (!d->bLoop || !edge_usable(d) || d->to.bGroup) continue;
        memset(aMark, 0, (size_t)L->nNode);
        aMark[d->to.idx] = 1;
        graph_reach(L, aMark, 0, aQueue);
        const int *aSrc;
        int nSrc = end_nodes(L, &d->from, &aSrc);
        for (int k = 0; k < nSrc; k++) {
            if (aMark[aSrc[k]]) continue;
            finding(L, "edge-loop-target-not-ancestor", L->aNode[aSrc[k]].zId, i, 0,
                    "edges[%d] loops back to '%s', which is not upstream of '%s': a loop "
                    "back-edge must lead to an ancestor of its source",
                    i, d->to.zId, L->aNode[aSrc[k]].zId);
            break;
        }
    }
    sqlite3_free(aMark);
    sqlite3_free(aQueue);
}

/* ================================================================= routes */

/* What leaves each node, counting the edges of the groups it belongs to. */
static void lint_routes(Lint *L) {
    unsigned char *aOut = lint_alloc(L, (sqlite3_uint64)L->nNode * 3);
    if (L->bNoMem) return;
    unsigned char *aReject = aOut + L->nNode, *aBreach = aOut + 2 * L->nNode;
    for (int i = 0; i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        const int *a;
        int n = end_nodes(L, &d->from, &a);
        for (int k = 0; k < n; k++) {
            aOut[a[k]] = 1;
            if (d->eOn == ON_REJECT) aReject[a[k]] = 1;
            if (d->eOn == ON_ALWAYS || d->eOn == ON_CUSTOM) aBreach[a[k]] = 1;
        }
    }
    for (int u = 0; u < L->nNode; u++) {
        const LNode *pN = &L->aNode[u];
        const char *zType = velt_json_get_str(pN->p, "type", 0);
        if (pN->bDup) continue;
        if (zType && strcmp(zType, "human") == 0 && !aReject[u]) {
            finding(L, "human-node-requires-reject-path", pN->zId, -1, 0,
                    "every human node must have at least one outgoing edge with on=\"reject\" (a "
                    "forward reject route or a reject back-edge): %s",
                    pN->zId);
        }
        if (cJSON_GetObjectItemCaseSensitive(pN->p, "slaMs") && aOut[u] && !aBreach[u]) {
            finding(L, "missing-breach-edge", pN->zId, -1, 0,
                    "node '%s' has slaMs but no outgoing edge with on=\"always\" or on=\"custom\", "
                    "so a breach would dead-end",
                    pN->zId);
        }
    }
    sqlite3_free(aOut);
}

/* The targets of everything that leaves node iNode, as a set of marks. */
static void successor_set(const Lint *L, int iNode, unsigned char *aSet) {
    memset(aSet, 0, (size_t)L->nNode);
    for (int i = 0; i < L->nEdge; i++) {
        const LEdge *d = &L->aEdge[i];
        const int *a;
        if (!end_has(L, &d->from, iNode)) continue;
        int n = end_nodes(L, &d->to, &a);
        for (int k = 0; k < n; k++)
            aSet[a[k]] = 1;
    }
}

/* joinOnQuorum fires one group-owned successor per shared target, so its
** members must all lead to the same nodes. */
static void lint_join_successors(Lint *L) {
    unsigned char *aFirst = lint_alloc(L, (sqlite3_uint64)L->nNode * 2);
    for (int i = 0; !L->bNoMem && i < L->nGroup; i++) {
        const LGroup *g = &L->aGroup[i];
        if (g->bDup || g->ePolicy != Q_JOIN_ON_QUORUM || g->nMember < 2) continue;
        unsigned char *aOther = aFirst + L->nNode;
        successor_set(L, g->aMember[0], aFirst);
        for (int m = 1; m < g->nMember; m++) {
            successor_set(L, g->aMember[m], aOther);
            if (memcmp(aFirst, aOther, (size_t)L->nNode) != 0) {
                finding(L, "group-joinonquorum-members-must-share-successors",
                        L->aNode[g->aMember[m]].zId, -1, g->zId,
                        "group '%s' uses joinOnQuorum, so its members must lead to the same "
                        "nodes, but '%s' and '%s' do not",
                        g->zId, L->aNode[g->aMember[0]].zId, L->aNode[g->aMember[m]].zId);
                break;
            }
        }
    }
    sqlite3_free(aFirst);
}

/* ================================================================== loops */

/* Rules on the shape of compiled loops. The loop's terminal is its source:
** the node the back-edge leaves, or every member of its group (then the
** group must wait for all of them: quorum equal to expectedSteps). No other
** body node may have an edge that leaves the body. */
static void lint_loop_shapes(Lint *L) {
    cJSON *pCompiled = 0;
    if (velt_definition_compile(L->pData, &pCompiled, L->e)) return;
    const cJSON *pLoops = cJSON_GetObjectItemCaseSensitive(pCompiled, "loops");
    const cJSON *pForward = cJSON_GetObjectItemCaseSensitive(pCompiled, "forwardEdges");
    unsigned char *aCount = lint_alloc(L, (sqlite3_uint64)L->nNode * 3);
    const cJSON *pLoop = pLoops ? pLoops->child : 0;
    for (int i = 0; !L->bNoMem && i < L->nEdge && pLoop; i++) {
        const LEdge *d = &L->aEdge[i];
        if (!d->bLoop) continue;
        unsigned char *aBody = aCount + L->nNode, *aReported = aBody + L->nNode;
        const char *zLoopId = velt_json_get_str(pLoop, "loopId", 0);
        const cJSON *pId;
        memset(aBody, 0, (size_t)L->nNode * 2);
        cJSON_ArrayForEach(pId, cJSON_GetObjectItemCaseSensitive(pLoop, "bodyNodeIds")) {
            int u = idix_find(L->aNodeIx, L->nNode, cJSON_IsString(pId) ? pId->valuestring : "");
            if (u >= 0 && !aBody[u]) {
                aBody[u] = 1;
                if (aCount[u] < 2) aCount[u]++;
            }
        }
        const cJSON *pF;
        cJSON_ArrayForEach(pF, pForward) {
            int u =
                idix_find(L->aNodeIx, L->nNode,
                          velt_json_get_str(pF, "from", 0) ? velt_json_get_str(pF, "from", 0) : "");
            int v = idix_find(L->aNodeIx, L->nNode,
                              velt_json_get_str(pF, "to", 0) ? velt_json_get_str(pF, "to", 0) : "");
            if (u < 0 || v < 0 || !aBody[u] || aBody[v] || aReported[u] ||
                end_has(L, &d->from, u)) {
                continue;
            }
            finding(L, "loop-body-must-have-single-terminal", L->aNode[u].zId, i, 0,
                    "loop '%s': body node '%s' has an edge leaving the loop (to '%s'); only the "
                    "loop's terminal, the source of edges[%d], may",
                    zLoopId ? zLoopId : "", L->aNode[u].zId, L->aNode[v].zId, i);
            aReported[u] = 1;
        }
        if (d->from.bGroup && d->from.idx >= 0) {
            const LGroup *g = &L->aGroup[d->from.idx];
            if (int_of(g->p, "quorum") != int_of(g->p, "expectedSteps")) {
                finding(L, "loop-group-bounded-quorum-must-equal-expected", 0, i, g->zId,
                        "loop '%s' ends at group '%s', whose quorum (%d) must equal its "
                        "expectedSteps (%d)",
                        zLoopId ? zLoopId : "", g->zId, int_of(g->p, "quorum"),
                        int_of(g->p, "expectedSteps"));
            }
        }
        pLoop = pLoop->next;
    }
    for (int u = 0; !L->bNoMem && u < L->nNode; u++) {
        if (aCount[u] > 1) {
            finding(L, "loop-node-in-multiple-loops", L->aNode[u].zId, -1, 0,
                    "node '%s' is in the body of more than one loop", L->aNode[u].zId);
        }
    }
    sqlite3_free(aCount);
    cJSON_Delete(pCompiled);
}

/* ================================================================== entry */

/* The passes in order; each one builds what the later ones read. */
static void (*const aPass[])(Lint *) = {
    lint_nodes,  lint_groups,    lint_edge_ends,     lint_edge_roles, graph_build,
    lint_cycles, lint_reachable, lint_loop_ancestry, lint_routes,     lint_join_successors,
};

int velt_definition_lint(const cJSON *pData, VeltErr *e) {
    Lint L;
    memset(&L, 0, sizeof(L));
    L.pData = pData;
    L.e = e;
    L.pOut = sqlite3_str_new(0);
    for (int i = 0; i < VELT_COUNT(aPass) && !L.bNoMem; i++)
        aPass[i](&L);
    /* Loop shapes are read from the compiled loops, which mean something
    ** only once the graph itself is sound. */
    if (!L.bNoMem && L.nFinding == 0) lint_loop_shapes(&L);
    if (L.nHidden > 0) {
        sqlite3_str_appendf(L.pOut,
                            ",{\"code\":\"more-findings\",\"message\":\"%d more "
                            "findings not shown\"}",
                            L.nHidden);
    }
    char *zList = sqlite3_str_finish(L.pOut);
    if (L.bNoMem || (zList == 0 && L.nFinding > 0)) {
        velt_err_nomem(e);
    } else if (L.nFinding > 0 && e->status == VS_OK) {
        velt_err(e, VS_INVALID_ARGUMENT, "Definition linter failed: [%s]", zList);
    }
    sqlite3_free(zList);
    sqlite3_free(L.aNode);
    sqlite3_free(L.aNodeIx);
    sqlite3_free(L.aGroup);
    sqlite3_free(L.aGroupIx);
    sqlite3_free(L.aMemberPool);
    sqlite3_free(L.aEdge);
    sqlite3_free(L.aPair);
    sqlite3_free(L.aAdj);
    sqlite3_free(L.aStart);
    return e->status;
}
