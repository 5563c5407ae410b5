/*
** Definitions: POST /v2/workflow/definitions/create and definitions/get.
**
**   SELECT velt('definitions/create', '{
**     "definitionId": "marketing-copy-approval", "name": "Marketing copy approval",
**     "nodes": [
**       {"nodeId": "agent-draft", "type": "agent",
**        "config": {"agentId": "copy-agent-v1", "urlPath": "documentUrl"}},
**       {"nodeId": "human-review", "type": "human",
**        "config": {"reviewers": [{"userId": "u_reviewer_01", "mandatory": true}]}},
**       {"nodeId": "agent-publish", "type": "agent",
**        "config": {"agentId": "publish-agent-v1", "urlPath": "documentUrl"}},
**       {"nodeId": "agent-rework", "type": "agent",
**        "config": {"agentId": "rework-agent-v1", "urlPath": "documentUrl"}}],
**     "edges": [
**       {"from": "agent-draft", "to": "human-review"},
**       {"from": "human-review", "to": "agent-publish", "on": "approve"},
**       {"from": "human-review", "to": "agent-rework", "on": "reject"}]}');
**   SELECT velt('definitions/get', '{"definitionId": "marketing-copy-approval"}');
**
** Both return the same DefinitionView: definitionId, name, description|null,
** version, scope {level, organizationId|null, documentId|null}, nodes and
** edges as authored, groups|null, compiled {forwardEdges, loops}, triggers|null,
** tags|null, custom|null, createdAt, updatedAt, status.
**
** A create passes four gates, in this order:
**   1. the strict schema below: unknown keys, explicit nulls, wrong types and
**      out-of-range values are INVALID_ARGUMENT with Zod-style issues in
**      error.details. Node configs are checked against their node's type;
**      rules local to one edge (when only with on "custom", loop only on
**      on "reject", `when` must be a valid JSON-AST) are schema rules too.
**   2. the linter (lint.c): rules over the whole graph, reported together as
**      "Definition linter failed: [{code, message, ...}, ...]".
**   3. compilation (velt_definition_compile, below): the derived
**      compiled.forwardEdges and compiled.loops that the engine runs.
**   4. existence: ALREADY_EXISTS while an active definition has the id. A
**      deleted (tombstoned) one is replaced and the id restarts at version 1;
**      its old snapshots stay for the executions pinned to them.
** Each version is an immutable row of _velt_definition_versions holding every
** part as compact JSON text; _velt_definitions points at the version in force.
**
** Limits (as upstream): definitionId ^[a-z0-9][a-z0-9-]{2,63}$, name 1-200,
** description <= 2000, 1-100 nodes, <= 500 edges, <= 100 groups, <= 50
** triggers, <= 20 tags of <= 64 characters. Where upstream names no limit
** (agentId, reviewer ids, header names, ...) velt uses 256 characters.
**
** Fields only a hosted service can act on (scope, triggers, webhookConfig,
** tags, custom, organizationId, documentId) are validated and stored. The
** scope's organizationId and documentId may be written inside scope or, as
** upstream also documents, as the request's top-level fields; they must agree
** when both are given, and a level that needs one fails without it.
** webhookConfig is write-only: stored, never returned. Outbound URLs
** (webhook nodes, webhookConfig, Slack webhook targets) must be https and may
** not name a loopback, private or link-local address literal or an internal
** host name (localhost, *.internal, metadata); velt resolves no DNS, so names
** are only checked as written. Cron expressions are checked field by field;
** time zones by the shape of IANA names, not against a zone database.
*/
#include "velt_int.h"

#include <stdint.h>
#include <string.h>

/* ==================================================== checks on text values */

static int check_definition_id(const VVal *v, VIssues *pI) {
    int ok = (v->z[0] >= 'a' && v->z[0] <= 'z') || velt_is_digit(v->z[0]);
    for (int i = 1; ok && i < v->n; i++) {
        int c = v->z[i];
        ok = (c >= 'a' && c <= 'z') || velt_is_digit(c) || c == '-';
    }
    if (ok) return 0;
    return velt_issue(pI, "invalid_string", "must match ^[a-z0-9][a-z0-9-]{2,63}$");
}

/* Slack: a channel id such as C0123ABC (or #name), or an https incoming-webhook URL. */
static int check_slack_target(const VVal *v, VIssues *pI) {
    if (strstr(v->z, "://")) return velt_check_https_url(v, pI);
    int ok = v->n <= 80;
    for (int i = v->z[0] == '#'; ok && i < v->n; i++) {
        int c = v->z[i];
        ok = velt_is_alpha(c) || velt_is_digit(c) || c == '-' || c == '_' || c == '.';
    }
    if (ok && v->n > (v->z[0] == '#')) return 0;
    return velt_issue(pI, "custom", "must be a Slack channel id or an https incoming-webhook URL");
}

/* ---- e-mail addresses, header names ------------------------------------ */

static int check_email(const VVal *v, VIssues *pI) {
    const char *zAt = strchr(v->z, '@');
    int ok = zAt && zAt > v->z && strchr(zAt + 1, '@') == 0 && strchr(zAt + 1, '.') &&
             zAt[1] != '.' && v->z[v->n - 1] != '.';
    for (const unsigned char *c = (const unsigned char *)v->z; ok && *c; c++) {
        ok = *c > 0x20 && *c != 0x7F && strchr("<>()[],;:\\\"", *c) == 0;
    }
    return ok ? 0 : velt_issue(pI, "invalid_string", "must be an e-mail address");
}

/* An HTTP header name is an RFC 9110 token. */
static int is_header_name(const char *z) {
    if (*z == 0) return 0;
    for (; *z; z++) {
        if (!velt_is_alpha(*z) && !velt_is_digit(*z) && strchr("!#$%&'*+-.^_`|~", *z) == 0)
            return 0;
    }
    return 1;
}

static int check_header_name(const VVal *v, VIssues *pI) {
    if (is_header_name(v->z)) return 0;
    return velt_issue(pI, "invalid_string", "must be an HTTP header name");
}

/* Headers the engine owns on an outbound call; x-velt-* are all reserved. */
static const char *const azReservedHeader[] = {
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
};

static const char *outbound_header_problem(const char *z) {
    if (!is_header_name(z)) return "is not an HTTP header name";
    if (sqlite3_strnicmp(z, "x-velt-", 7) == 0)
        return "is reserved: x-velt-* headers are set by velt";
    for (int i = 0; i < VELT_COUNT(azReservedHeader); i++) {
        if (sqlite3_stricmp(z, azReservedHeader[i]) == 0) return "is a reserved header name";
    }
    return 0;
}

static int check_outbound_header_name(const VVal *v, VIssues *pI) {
    const char *zWhy = outbound_header_problem(v->z);
    return zWhy ? velt_issue(pI, "custom", "%s", zWhy) : 0;
}

#define VELT_MAX_HEADERS 50
#define VELT_MAX_HEADER_VALUE 4096

static int check_request_headers(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    if (cJSON_GetArraySize(v->j) > VELT_MAX_HEADERS) {
        return velt_issue(pI, "too_big", "must have at most %d headers", VELT_MAX_HEADERS);
    }
    const cJSON *pH;
    cJSON_ArrayForEach(pH, v->j) {
        velt_issue_push_key(pI, pH->string);
        const char *zWhy = outbound_header_problem(pH->string);
        int nChar = 0;
        if (zWhy) {
            velt_issue(pI, "custom", "%s", zWhy);
        } else if (!cJSON_IsString(pH)) {
            velt_issue(pI, "invalid_type", "must be a string");
        } else if (strpbrk(pH->valuestring, "\r\n")) {
            velt_issue(pI, "invalid_string", "must not contain line breaks");
        } else if (velt_utf8_valid(pH->valuestring, (int)strlen(pH->valuestring), &nChar) &&
                   nChar > VELT_MAX_HEADER_VALUE) {
            velt_issue(pI, "too_big", "must be at most %d characters", VELT_MAX_HEADER_VALUE);
        }
        velt_issue_pop(pI);
    }
    return velt_issue_count(pI) != nBefore;
}

/* userContextMapping: {field: dotPath into triggerContext}. */
static int check_dot_path_map(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    const cJSON *p;
    cJSON_ArrayForEach(p, v->j) {
        int nChar = 0;
        velt_issue_push_key(pI, p->string);
        if (!cJSON_IsString(p)) {
            velt_issue(pI, "invalid_type", "must be a dot-path string");
        } else if (velt_utf8_valid(p->valuestring, (int)strlen(p->valuestring), &nChar) &&
                   (nChar < 1 || nChar > 500)) {
            velt_issue(pI, nChar < 1 ? "too_small" : "too_big", "must be 1 to 500 characters");
        }
        velt_issue_pop(pI);
    }
    return velt_issue_count(pI) != nBefore;
}

/* ---- schedules ---------------------------------------------------------- */

typedef struct CronField {
    const char *zName;
    int iMin, iMax;
    const char *const *azName; /* three-letter names, the first one worth iMin */
} CronField;

static const char *const azMonthName[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", 0};
static const char *const azDayName[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", 0};

static const CronField aCronField[5] = {
    {"minute", 0, 59, 0},
    {"hour", 0, 23, 0},
    {"day-of-month", 1, 31, 0},
    {"month", 1, 12, azMonthName},
    {"day-of-week", 0, 7, azDayName},
};

/* One value of a cron field, a number or a name; returns its end or NULL. */
static const char *cron_value(const char *z, const CronField *f, int *pV) {
    if (velt_is_digit(*z)) {
        int v = 0;
        while (velt_is_digit(*z) && v <= f->iMax)
            v = v * 10 + (*z++ - '0');
        *pV = v;
        return v >= f->iMin && v <= f->iMax ? z : 0;
    }
    for (int i = 0; f->azName && f->azName[i]; i++) {
        if (sqlite3_strnicmp(z, f->azName[i], 3) == 0 && !velt_is_alpha(z[3])) {
            *pV = f->iMin + i;
            return z + 3;
        }
    }
    return 0;
}

/* One field: a comma list of *, N or N-M, each optionally /STEP. */
static int cron_field_ok(const char *z, const char *zEnd, const CronField *f) {
    while (z < zEnd) {
        if (*z == '*') {
            z++;
        } else {
            int a, b;
            if ((z = cron_value(z, f, &a)) == 0) return 0;
            if (*z == '-' && ((z = cron_value(z + 1, f, &b)) == 0 || b < a)) return 0;
        }
        if (*z == '/') {
            int step = 0;
            for (z++; velt_is_digit(*z) && step <= f->iMax; z++)
                step = step * 10 + (*z - '0');
            if (step < 1 || step > f->iMax) return 0;
        }
        if (z < zEnd && *z++ != ',') return 0;
        if (z == zEnd && z[-1] == ',') return 0;
    }
    return 1;
}

static int check_cron(const VVal *v, VIssues *pI) {
    const char *z = v->z;
    int i;
    for (i = 0; i < 5; i++) {
        while (*z == ' ' || *z == '\t')
            z++;
        const char *zEnd = z + strcspn(z, " \t");
        if (zEnd == z) break;
        if (!cron_field_ok(z, zEnd, &aCronField[i])) {
            return velt_issue(pI, "custom",
                              "is not a valid cron expression: %s field '%.*s' is out of range "
                              "%d-%d or malformed",
                              aCronField[i].zName, (int)(zEnd - z), z, aCronField[i].iMin,
                              aCronField[i].iMax);
        }
        z = zEnd;
    }
    while (*z == ' ' || *z == '\t')
        z++;
    if (i == 5 && *z == 0) return 0;
    return velt_issue(pI, "custom",
                      "must be a 5-field cron expression (minute hour day-of-month month "
                      "day-of-week)");
}

/* The shape of an IANA zone name (UTC, America/Los_Angeles, Etc/GMT+5). */
static int check_timezone(const VVal *v, VIssues *pI) {
    int ok = velt_is_alpha(v->z[0]);
    for (int i = 1; ok && i < v->n; i++) {
        int c = v->z[i];
        if (c == '/') {
            ok = v->z[i - 1] != '/' && i + 1 < v->n;
        } else {
            ok = velt_is_alpha(c) || velt_is_digit(c) || c == '_' || c == '+' || c == '-';
        }
    }
    if (ok) return 0;
    return velt_issue(pI, "custom", "must be an IANA time zone name such as America/Los_Angeles");
}

/* ======================================================= the request schema */

static const char *const azNodeType[] = {"agent", "human", "notification", "webhook", 0};
static const char *const azEdgeOn[] = {"approve", "reject", "always", "exhausted", "custom", 0};
static const char *const azEndpointKind[] = {"node", "group", 0};
static const char *const azScopeLevel[] = {"apiKey", "organization", "document", 0};
static const char *const azQuorumPolicy[] = {"waitAll", "cancelOnQuorum", "joinOnQuorum", 0};
static const char *const azResolutionKind[] = {"allResolved", "minResolved", 0};
static const char *const azChannel[] = {"email", "slack", 0};
static const char *const azFormat[] = {"text", "html", "slack-blocks", 0};
static const char *const azWebhookMode[] = {"sync", "async", 0};
static const char *const azMethod[] = {"GET", "POST", 0};
static const char *const azAuthMode[] = {"hmac", "token", "none", 0};
static const char *const azBodyTemplate[] = {"envelope", "pass-through", "none", 0};
static const char *const azInboundAuth[] = {"hmac", "bearer", 0};
static const char *const azInboundProvider[] = {"velt", "github", "vercel", "custom", 0};
static const char *const azSignatureAlgorithm[] = {"sha1", "sha256", 0};
static const char *const azPayloadMapping[] = {"pass-through", "wrap", 0};
static const char *const azAppProvider[] = {"github", "vercel", 0};

/* Array elements (the name is unused: their path is their index). */
static const VField fEmail = {"", VK_STRING, 0, 3, 320, 0, check_email};
static const VField fId = {"", VK_STRING, 0, 1, 64, 0, 0};
static const VField fUserId = {"", VK_STRING, 0, 1, 256, 0, 0};
static const VField fEventName = {"", VK_STRING, 0, 1, 128, 0, 0};
static const VField fTag = {"", VK_STRING, 0, 1, 64, 0, 0};
static const VField fFilterEntry = {"", VK_STRING, 0, 1, 200, 0, 0};
static const VField fStatusCode = {"", VK_INT, 0, 100, 599, 0, 0};
static const VField fAnyValue = {"", VK_ANY, 0, 0, 0, 0, 0};

/* Small helpers for the cross-field rules below. */
static const cJSON *item(const cJSON *pObj, const char *zKey) {
    return cJSON_GetObjectItemCaseSensitive(pObj, zKey);
}

static int issue_at(VIssues *pI, const char *zKey, const char *zMsg) {
    velt_issue_push_key(pI, zKey);
    velt_issue(pI, "custom", "%s", zMsg);
    velt_issue_pop(pI);
    return 1;
}

/* ---- agent node config -------------------------------------------------- */

static const VField aResolutionPolicy[] = {
    {"kind", VK_ENUM, VF_REQUIRED, 0, 0, azResolutionKind, 0},
    {"minCount", VK_INT, 0, 1, 1000, 0, 0},
};
static const VSchema sResolutionPolicy = VELT_SCHEMA(aResolutionPolicy);

static int check_resolution_policy(const VVal *v, VIssues *pI) {
    if (strcmp(velt_json_get_str(v->j, "kind", ""), "minResolved") == 0 &&
        item(v->j, "minCount") == 0) {
        return velt_issue(pI, "custom", "minCount required when kind === \"minResolved\"");
    }
    return 0;
}

static const VField aAgentConfig[] = {
    {"agentId", VK_STRING, VF_REQUIRED, 1, 256, 0, 0},
    {"url", VK_STRING, 0, 1, 2000, 0, 0},
    {"urlPath", VK_STRING, 0, 1, 500, 0, 0},
    {"crossPageExecute", VK_BOOL, 0, 0, 0, 0, 0},
    {"maxUrlsToProcess", VK_INT, 0, 1, 500, 0, 0},
    {"userContextMapping", VK_MAP, 0, 0, 0, 0, check_dot_path_map},
    {"promptOverride", VK_STRING, 0, 0, 8000, 0, 0},
    {"inputMapping", VK_MAP, 0, 0, 0, 0, 0},
    {"pollIntervalMs", VK_INT, 0, 5000, 60000, 0, 0},
    {"agentMaxRuntimeMs", VK_INT, 0, 1, 86400000, 0, 0},
    {"blocking", VK_BOOL, 0, 0, 0, 0, 0},
    {"resolutionPolicy", VK_OBJECT, 0, 0, 0, &sResolutionPolicy, check_resolution_policy},
    {"requireNonEmptyOutput", VK_BOOL, 0, 0, 0, 0, 0},
};
static const VSchema sAgentConfig = VELT_SCHEMA(aAgentConfig);

static int check_agent_config(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    if (item(v->j, "url") == 0 && item(v->j, "urlPath") == 0) {
        velt_issue(pI, "custom", "agent node requires either a static \"url\" or a \"urlPath\"");
    }
    if (cJSON_IsTrue(item(v->j, "blocking")) && item(v->j, "resolutionPolicy") == 0) {
        velt_issue(pI, "custom", "resolutionPolicy required when blocking === true");
    }
    return velt_issue_count(pI) != nBefore;
}

/* ---- human node config -------------------------------------------------- */

static const VField aReviewer[] = {
    {"userId", VK_STRING, VF_REQUIRED, 1, 256, 0, 0},
    {"mandatory", VK_BOOL, 0, 0, 0, 0, 0},
};
static const VSchema sReviewer = VELT_SCHEMA(aReviewer);
static const VField fReviewer = {"", VK_OBJECT, 0, 0, 0, &sReviewer, 0};

static const VField aHumanConfig[] = {
    {"reviewers", VK_ARRAY, 0, 0, 100, &fReviewer, 0},
    {"reviewerIds", VK_ARRAY, 0, 1, 100, &fUserId, 0},
    {"reviewerEmails", VK_ARRAY, 0, 0, 50, &fEmail, 0},
    {"commentBody", VK_STRING, 0, 0, 8000, 0, 0},
    {"requireNonEmptyOutput", VK_BOOL, 0, 0, 0, 0, 0},
};
static const VSchema sHumanConfig = VELT_SCHEMA(aHumanConfig);

/* The user id of reviewers[i] (zKey "userId") or of reviewerIds[i] (NULL). */
static const char *reviewer_id(const cJSON *p, const char *zKey) {
    if (zKey) p = item(p, zKey);
    return cJSON_IsString(p) ? p->valuestring : "";
}

static int has_duplicate(const cJSON *pArr, const char *zKey) {
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, pArr) {
        for (b = a->next; b; b = b->next) {
            if (strcmp(reviewer_id(a, zKey), reviewer_id(b, zKey)) == 0) return 1;
        }
    }
    return 0;
}

static int check_human_config(const VVal *v, VIssues *pI) {
    const cJSON *pReviewers = item(v->j, "reviewers");
    const cJSON *pIds = item(v->j, "reviewerIds");
    if (pReviewers == 0 && pIds == 0) {
        return velt_issue(pI, "custom",
                          "at least one of reviewerIds or reviewers must be provided");
    }
    if (pReviewers && pIds) {
        return velt_issue(pI, "custom", "cannot set both reviewerIds and reviewers, use one");
    }
    if (pIds) {
        if (!has_duplicate(pIds, 0)) return 0;
        return velt_issue(pI, "custom", "reviewer userIds must be unique");
    }
    if (has_duplicate(pReviewers, "userId")) {
        return velt_issue(pI, "custom", "reviewer userIds must be unique");
    }
    const cJSON *pR;
    cJSON_ArrayForEach(pR, pReviewers) {
        if (cJSON_IsTrue(item(pR, "mandatory"))) return 0;
    }
    return velt_issue(pI, "custom", "reviewers must include at least one mandatory reviewer");
}

/* ---- notification node config ------------------------------------------- */

static const VField aNotificationConfig[] = {
    {"channel", VK_ENUM, VF_REQUIRED, 0, 0, azChannel, 0},
    {"bodyTemplate", VK_STRING, VF_REQUIRED, 1, 16000, 0, 0},
    {"recipients", VK_ARRAY, 0, 1, 50, &fEmail, 0},
    {"subjectTemplate", VK_STRING, 0, 0, 2000, 0, 0},
    {"slackTarget", VK_STRING, 0, 1, 2000, 0, check_slack_target},
    {"format", VK_ENUM, 0, 0, 0, azFormat, 0},
    {"requireNonEmptyOutput", VK_BOOL, 0, 0, 0, 0, 0},
};
static const VSchema sNotificationConfig = VELT_SCHEMA(aNotificationConfig);

static int check_notification_config(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    int bEmail = strcmp(velt_json_get_str(v->j, "channel", ""), "email") == 0;
    if (bEmail && item(v->j, "recipients") == 0) {
        issue_at(pI, "recipients", "is required when channel is \"email\"");
    }
    if (!bEmail && item(v->j, "slackTarget") == 0) {
        issue_at(pI, "slackTarget", "is required when channel is \"slack\"");
    }
    if (bEmail && strcmp(velt_json_get_str(v->j, "format", "text"), "slack-blocks") == 0) {
        issue_at(pI, "format", "\"slack-blocks\" requires channel \"slack\"");
    }
    return velt_issue_count(pI) != nBefore;
}

/* ---- webhook node config ------------------------------------------------ */

static const VField aWebhookNodeConfig[] = {
    {"url", VK_STRING, VF_REQUIRED, 1, 2000, 0, velt_check_https_url},
    {"mode", VK_ENUM, 0, 0, 0, azWebhookMode, 0},
    {"method", VK_ENUM, 0, 0, 0, azMethod, 0},
    {"authMode", VK_ENUM, 0, 0, 0, azAuthMode, 0},
    {"authTokenHeader", VK_STRING, 0, 1, 256, 0, check_outbound_header_name},
    {"timeoutMs", VK_INT, 0, 1000, 60000, 0, 0},
    {"expectedStatusCodes", VK_ARRAY, 0, 0, 20, &fStatusCode, 0},
    {"bodyTemplate", VK_ENUM, 0, 0, 0, azBodyTemplate, 0},
    {"requestHeaders", VK_MAP, 0, 0, 0, 0, check_request_headers},
    {"requireNonEmptyOutput", VK_BOOL, 0, 0, 0, 0, 0},
};
static const VSchema sWebhookNodeConfig = VELT_SCHEMA(aWebhookNodeConfig);

static int check_webhook_node_config(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    if (strcmp(velt_json_get_str(v->j, "authMode", "hmac"), "token") == 0 &&
        item(v->j, "authTokenHeader") == 0) {
        issue_at(pI, "authTokenHeader", "is required when authMode is \"token\"");
    }
    if (strcmp(velt_json_get_str(v->j, "bodyTemplate", "envelope"), "none") == 0 &&
        strcmp(velt_json_get_str(v->j, "method", "POST"), "GET") != 0) {
        issue_at(pI, "bodyTemplate", "\"none\" requires method \"GET\"");
    }
    return velt_issue_count(pI) != nBefore;
}

/* ---- nodes -------------------------------------------------------------- */

static const VField fAgentConfig = {"config",      VK_OBJECT,         0, 0, 0,
                                    &sAgentConfig, check_agent_config};
static const VField fHumanConfig = {"config",      VK_OBJECT,         0, 0, 0,
                                    &sHumanConfig, check_human_config};
static const VField fNotificationConfig = {
    "config", VK_OBJECT, 0, 0, 0, &sNotificationConfig, check_notification_config};
static const VField fWebhookNodeConfig = {
    "config", VK_OBJECT, 0, 0, 0, &sWebhookNodeConfig, check_webhook_node_config};

/* The config schema of each node type (the same types as azNodeType). */
static const struct {
    const char *zType;
    const VField *pConfig;
} aNodeConfig[] = {
    {"agent", &fAgentConfig},
    {"human", &fHumanConfig},
    {"notification", &fNotificationConfig},
    {"webhook", &fWebhookNodeConfig},
};

static const VField aNode[] = {
    {"nodeId", VK_STRING, VF_REQUIRED, 1, 64, 0, 0},
    {"type", VK_ENUM, VF_REQUIRED, 0, 0, azNodeType, 0},
    {"config", VK_MAP, 0, 0, 0, 0, 0},
    {"slaMs", VK_INT, 0, 1, 604800000, 0, 0},
    {"requireNonEmptyOutput", VK_BOOL, 0, 0, 0, 0, 0},
    {"name", VK_STRING, 0, 1, 200, 0, 0},
    {"description", VK_STRING, 0, 0, 2000, 0, 0},
};
static const VSchema sNode = VELT_SCHEMA(aNode);

/* A node's config shape depends on its type, so it is checked here, once the
** generic pass has found the node well-formed. A missing config is left to
** the linter (node-missing-config), as upstream. */
static int check_node(const VVal *v, VIssues *pI) {
    const char *zType = velt_json_get_str(v->j, "type", "");
    const cJSON *pConfig = item(v->j, "config");
    if (pConfig == 0) return 0;
    for (int i = 0; i < VELT_COUNT(aNodeConfig); i++) {
        if (strcmp(aNodeConfig[i].zType, zType) == 0) {
            velt_issue_push_key(pI, "config");
            int bad = velt_check_item(aNodeConfig[i].pConfig, pConfig, pI);
            velt_issue_pop(pI);
            return bad;
        }
    }
    return 0;
}
static const VField fNode = {"", VK_OBJECT, 0, 0, 0, &sNode, check_node};

/* ---- edges -------------------------------------------------------------- */

static const VField aNodeEndpoint[] = {
    {"kind", VK_ENUM, VF_REQUIRED, 0, 0, azEndpointKind, 0},
    {"nodeId", VK_STRING, VF_REQUIRED, 1, 64, 0, 0},
};
static const VSchema sNodeEndpoint = VELT_SCHEMA(aNodeEndpoint);
static const VField fNodeEndpoint = {"", VK_OBJECT, 0, 0, 0, &sNodeEndpoint, 0};

static const VField aGroupEndpoint[] = {
    {"kind", VK_ENUM, VF_REQUIRED, 0, 0, azEndpointKind, 0},
    {"groupId", VK_STRING, VF_REQUIRED, 1, 64, 0, 0},
};
static const VSchema sGroupEndpoint = VELT_SCHEMA(aGroupEndpoint);
static const VField fGroupEndpoint = {"", VK_OBJECT, 0, 0, 0, &sGroupEndpoint, 0};

/* An EdgeEndpoint: a node id, {kind:"node", nodeId} or {kind:"group", groupId}. */
static int check_endpoint(const VVal *v, VIssues *pI) {
    if (v->t == VT_STRING) return velt_check_item(&fId, v->j, pI);
    if (v->t == VT_OBJECT) {
        int bGroup = strcmp(velt_json_get_str(v->j, "kind", ""), "group") == 0;
        return velt_check_item(bGroup ? &fGroupEndpoint : &fNodeEndpoint, v->j, pI);
    }
    return velt_issue(pI, "invalid_type",
                      "must be a node id, {\"kind\": \"node\", \"nodeId\": ...} or "
                      "{\"kind\": \"group\", \"groupId\": ...}");
}

static const VField aLoop[] = {
    {"maxIterations", VK_INT, VF_REQUIRED, 1, 20, 0, 0},
};
static const VSchema sLoop = VELT_SCHEMA(aLoop);

static const VField aEdge[] = {
    {"from", VK_ANY, VF_REQUIRED, 0, 0, 0, check_endpoint},
    {"to", VK_ANY, VF_REQUIRED, 0, 0, 0, check_endpoint},
    {"on", VK_ENUM, 0, 0, 0, azEdgeOn, 0},
    {"when", VK_STRING, 0, 1, 1000, 0, 0},
    {"loop", VK_OBJECT, 0, 0, 0, &sLoop, 0},
};
static const VSchema sEdge = VELT_SCHEMA(aEdge);

/* Parse a `when` JSON-AST string as strictly as a request. */
static int when_parse(const char *z, cJSON **ppAst, char **pzWhy) {
    VeltErr e = {0};
    *pzWhy = 0;
    if (velt_parse_json(z, (int)strlen(z), ppAst, &e) == 0) return 0;
    *pzWhy = e.zMsg;
    e.zMsg = 0;
    velt_err_clear(&e);
    return 1;
}

/* Rules local to one edge (upstream APPROVAL_EDGE_WHEN_ONLY_FOR_CUSTOM,
** _CUSTOM_REQUIRES_WHEN and _LOOP_REQUIRES_REJECT); rules that need the
** whole graph are the linter's. */
static int check_edge(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    const char *zOn = velt_json_get_str(v->j, "on", "always");
    const cJSON *pWhen = item(v->j, "when");
    int bCustom = strcmp(zOn, "custom") == 0;
    if (pWhen && !bCustom) {
        issue_at(pI, "when", "is only allowed when on is \"custom\"");
    } else if (!pWhen && bCustom) {
        issue_at(pI, "when", "is required when on is \"custom\"");
    } else if (pWhen) {
        cJSON *pAst = 0;
        char *zWhy = 0;
        velt_issue_push_key(pI, "when");
        if (when_parse(pWhen->valuestring, &pAst, &zWhy)) {
            if (zWhy) {
                velt_issue(pI, "custom", "must be a JSON-AST string (%s)", zWhy);
            } else {
                velt_issue_nomem(pI);
            }
        } else {
            velt_when_check(pAst, pI);
        }
        velt_issue_pop(pI);
        sqlite3_free(zWhy);
        cJSON_Delete(pAst);
    }
    if (item(v->j, "loop") && strcmp(zOn, "reject") != 0) {
        issue_at(pI, "loop", "is only allowed when on is \"reject\"");
    }
    return velt_issue_count(pI) != nBefore;
}
static const VField fEdge = {"", VK_OBJECT, 0, 0, 0, &sEdge, check_edge};

/* ---- groups ------------------------------------------------------------- */

static const VField aGroup[] = {
    {"groupId", VK_STRING, VF_REQUIRED, 1, 64, 0, 0},
    {"memberNodeIds", VK_ARRAY, VF_REQUIRED, 1, 500, &fId, 0},
    {"expectedSteps", VK_INT, VF_REQUIRED, 1, 500, 0, 0},
    {"quorum", VK_INT, VF_REQUIRED, 1, 500, 0, 0},
    {"onQuorumMet", VK_ENUM, 0, 0, 0, azQuorumPolicy, 0},
    {"requiredNodeIds", VK_ARRAY, 0, 0, 500, &fId, 0},
};
static const VSchema sGroup = VELT_SCHEMA(aGroup);
static const VField fGroup = {"", VK_OBJECT, 0, 0, 0, &sGroup, 0};

/* ---- triggers ----------------------------------------------------------- */

static const VField aInboundWebhook[] = {
    {"authMode", VK_ENUM, VF_REQUIRED, 0, 0, azInboundAuth, 0},
    {"secret", VK_STRING, VF_REQUIRED, 16, 512, 0, 0},
    {"provider", VK_ENUM, 0, 0, 0, azInboundProvider, 0},
    {"signatureHeader", VK_STRING, 0, 1, 256, 0, check_header_name},
    {"signatureAlgorithm", VK_ENUM, 0, 0, 0, azSignatureAlgorithm, 0},
    {"signaturePrefix", VK_STRING, 0, 0, 64, 0, 0},
    {"allowedEvents", VK_ARRAY, 0, 1, 50, &fEventName, 0},
    {"eventNameHeader", VK_STRING, 0, 1, 256, 0, check_header_name},
    {"idempotencyHeader", VK_STRING, 0, 1, 256, 0, check_header_name},
    {"idempotencyBodyPath", VK_STRING, 0, 1, 500, 0, 0},
    {"payloadMapping", VK_ENUM, 0, 0, 0, azPayloadMapping, 0},
};
static const VSchema sInboundWebhook = VELT_SCHEMA(aInboundWebhook);

/* Fields that only describe a custom provider's signature. */
static const char *const azCustomProviderOnly[] = {"signatureHeader", "signatureAlgorithm",
                                                   "signaturePrefix", "eventNameHeader"};

static int check_inbound_webhook(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI);
    const char *zProvider = velt_json_get_str(v->j, "provider", "velt");
    int bCustom = strcmp(zProvider, "custom") == 0;
    int bHmac = strcmp(velt_json_get_str(v->j, "authMode", ""), "hmac") == 0;
    if (!bHmac && strcmp(zProvider, "velt") != 0) {
        issue_at(pI, "authMode", "\"bearer\" is only allowed with provider \"velt\"");
    }
    for (int i = 0; i < VELT_COUNT(azCustomProviderOnly); i++) {
        if (!bCustom && item(v->j, azCustomProviderOnly[i])) {
            issue_at(pI, azCustomProviderOnly[i], "is only used with provider \"custom\"");
        }
    }
    if (bCustom && bHmac) {
        if (item(v->j, "signatureHeader") == 0) {
            issue_at(pI, "signatureHeader", "is required for provider \"custom\"");
        }
        if (item(v->j, "signatureAlgorithm") == 0) {
            issue_at(pI, "signatureAlgorithm", "is required for provider \"custom\"");
        }
    }
    return velt_issue_count(pI) != nBefore;
}

static const VField aSchedule[] = {
    {"cron", VK_STRING, VF_REQUIRED, 1, 200, 0, check_cron},
    {"timezone", VK_STRING, VF_REQUIRED, 1, 64, 0, check_timezone},
    {"enabled", VK_BOOL, VF_REQUIRED, 0, 0, 0, 0},
    {"payloadTemplate", VK_MAP, 0, 0, 0, 0, 0},
};
static const VSchema sSchedule = VELT_SCHEMA(aSchedule);

static const VField aPayloadFilter[] = {
    {"path", VK_STRING, VF_REQUIRED, 1, 500, 0, 0},
    {"in", VK_ARRAY, VF_REQUIRED, 1, 100, &fAnyValue, 0},
};
static const VSchema sPayloadFilter = VELT_SCHEMA(aPayloadFilter);
static const VField fPayloadFilter = {"", VK_OBJECT, 0, 0, 0, &sPayloadFilter, 0};

static const VField aAppTrigger[] = {
    {"provider", VK_ENUM, VF_REQUIRED, 0, 0, azAppProvider, 0},
    {"installationRef", VK_STRING, VF_REQUIRED, 1, 256, 0, 0},
    {"repoFilter", VK_ARRAY, 0, 0, 200, &fFilterEntry, 0},
    {"projectFilter", VK_ARRAY, 0, 0, 200, &fFilterEntry, 0},
    {"allowedEvents", VK_ARRAY, 0, 1, 50, &fEventName, 0},
    {"payloadFilters", VK_ARRAY, 0, 0, 20, &fPayloadFilter, 0},
};
static const VSchema sAppTrigger = VELT_SCHEMA(aAppTrigger);

static const char *const azTriggerMechanism[] = {"inboundWebhook", "schedule", "appTrigger"};

static const VField aTrigger[] = {
    {"triggerId", VK_STRING, VF_REQUIRED, 1, 128, 0, 0},
    {"eventName", VK_STRING, 0, 1, 128, 0, 0},
    {"filters", VK_MAP, 0, 0, 0, 0, 0},
    {"inboundWebhook", VK_OBJECT, 0, 0, 0, &sInboundWebhook, check_inbound_webhook},
    {"schedule", VK_OBJECT, 0, 0, 0, &sSchedule, 0},
    {"appTrigger", VK_OBJECT, 0, 0, 0, &sAppTrigger, 0},
};
static const VSchema sTrigger = VELT_SCHEMA(aTrigger);

/* Upstream APPROVAL_APP_TRIGGER_EXCLUSIVE: one mechanism per trigger. */
static int check_trigger(const VVal *v, VIssues *pI) {
    int n = 0;
    for (int i = 0; i < VELT_COUNT(azTriggerMechanism); i++)
        n += item(v->j, azTriggerMechanism[i]) != 0;
    if (n == 1) return 0;
    return velt_issue(pI, "custom",
                      "must declare exactly one of inboundWebhook, schedule or appTrigger");
}
static const VField fTrigger = {"", VK_OBJECT, 0, 0, 0, &sTrigger, check_trigger};

/* triggerId prefixes the idempotency keys of triggered runs: it must be unique. */
static int check_trigger_ids(const VVal *v, VIssues *pI) {
    int nBefore = velt_issue_count(pI), i = 0;
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, v->j) {
        const char *zId = velt_json_get_str(a, "triggerId", "");
        for (b = v->j->child; b != a; b = b->next) {
            if (strcmp(zId, velt_json_get_str(b, "triggerId", "")) == 0) {
                velt_issue_push_index(pI, i);
                issue_at(pI, "triggerId", "is used by more than one trigger");
                velt_issue_pop(pI);
                break;
            }
        }
        i++;
    }
    return velt_issue_count(pI) != nBefore;
}

/* ---- webhookConfig, scope, the whole request ----------------------------- */

static const VField aWebhookConfig[] = {
    {"url", VK_STRING, VF_REQUIRED, 1, 2000, 0, velt_check_https_url},
    {"secret", VK_STRING, VF_REQUIRED, 16, 512, 0, 0},
    {"eventTypes", VK_ARRAY, 0, 0, 50, &fEventName, 0},
};
static const VSchema sWebhookConfig = VELT_SCHEMA(aWebhookConfig);

static const VField aScope[] = {
    {"level", VK_ENUM, VF_REQUIRED, 0, 0, azScopeLevel, 0},
    {"organizationId", VK_STRING, 0, 1, 256, 0, 0},
    {"documentId", VK_STRING, 0, 1, 256, 0, 0},
};
static const VSchema sScope = VELT_SCHEMA(aScope);

enum {
    F_DEFINITION_ID,
    F_NAME,
    F_DESCRIPTION,
    F_SCOPE,
    F_NODES,
    F_EDGES,
    F_GROUPS,
    F_TRIGGERS,
    F_WEBHOOK_CONFIG,
    F_TAGS,
    F_CUSTOM,
    F_ORGANIZATION_ID,
    F_DOCUMENT_ID
};
static const VField aCreateFields[] = {
    [F_DEFINITION_ID] = {"definitionId", VK_STRING, VF_REQUIRED, 3, 64, 0, check_definition_id},
    [F_NAME] = {"name", VK_STRING, VF_REQUIRED, 1, 200, 0, 0},
    [F_DESCRIPTION] = {"description", VK_STRING, 0, 0, 2000, 0, 0},
    [F_SCOPE] = {"scope", VK_OBJECT, 0, 0, 0, &sScope, 0},
    [F_NODES] = {"nodes", VK_ARRAY, VF_REQUIRED, 1, 100, &fNode, 0},
    [F_EDGES] = {"edges", VK_ARRAY, VF_REQUIRED, 0, 500, &fEdge, 0},
    [F_GROUPS] = {"groups", VK_ARRAY, 0, 0, 100, &fGroup, 0},
    [F_TRIGGERS] = {"triggers", VK_ARRAY, 0, 0, 50, &fTrigger, check_trigger_ids},
    [F_WEBHOOK_CONFIG] = {"webhookConfig", VK_OBJECT, 0, 0, 0, &sWebhookConfig, 0},
    [F_TAGS] = {"tags", VK_ARRAY, 0, 0, 20, &fTag, 0},
    [F_CUSTOM] = {"custom", VK_MAP, 0, 0, 0, 0, 0},
    [F_ORGANIZATION_ID] = {"organizationId", VK_STRING, 0, 1, 256, 0, 0},
    [F_DOCUMENT_ID] = {"documentId", VK_STRING, 0, 1, 256, 0, 0},
};
const VSchema velt_schema_definitions_create = VELT_SCHEMA(aCreateFields);

/* organizationId and documentId are accepted and ignored, as upstream. */
enum { G_DEFINITION_ID, G_ORGANIZATION_ID, G_DOCUMENT_ID };
static const VField aGetFields[] = {
    [G_DEFINITION_ID] = {"definitionId", VK_STRING, VF_REQUIRED, 3, 64, 0, check_definition_id},
    [G_ORGANIZATION_ID] = {"organizationId", VK_STRING, 0, 1, 256, 0, 0},
    [G_DOCUMENT_ID] = {"documentId", VK_STRING, 0, 1, 256, 0, 0},
};
const VSchema velt_schema_definitions_get = VELT_SCHEMA(aGetFields);

/* ============================================================== compilation */

/* An edge endpoint as written: a node id, or a group id (bGroup). NULL zId
** when it is malformed. */
static const char *endpoint_id(const cJSON *pEp, int *pbGroup) {
    *pbGroup = 0;
    if (cJSON_IsString(pEp)) return pEp->valuestring;
    const char *zKind = velt_json_get_str(pEp, "kind", "");
    if (strcmp(zKind, "node") == 0) return velt_json_get_str(pEp, "nodeId", 0);
    *pbGroup = 1;
    return strcmp(zKind, "group") == 0 ? velt_json_get_str(pEp, "groupId", 0) : 0;
}

/* An endpoint resolved to the nodes it stands for: itself, or the members of
** its group in declaration order. */
typedef struct Endpoint {
    const char *zId;       /* node id or group id */
    const cJSON *pMembers; /* the group's memberNodeIds; NULL for a node */
} Endpoint;

static int endpoint_resolve(const cJSON *pEp, const cJSON *pGroups, Endpoint *p) {
    int bGroup;
    p->zId = endpoint_id(pEp, &bGroup);
    p->pMembers = 0;
    if (p->zId == 0 || !bGroup) return p->zId != 0;
    const cJSON *pG;
    cJSON_ArrayForEach(pG, pGroups) {
        if (strcmp(velt_json_get_str(pG, "groupId", ""), p->zId) == 0) {
            p->pMembers = item(pG, "memberNodeIds");
            return cJSON_IsArray(p->pMembers);
        }
    }
    return 0;
}

static int endpoint_count(const Endpoint *p) {
    return p->pMembers ? cJSON_GetArraySize(p->pMembers) : 1;
}

static const char *endpoint_node(const Endpoint *p, int i) {
    if (p->pMembers == 0) return p->zId;
    const cJSON *pM = cJSON_GetArrayItem(p->pMembers, i);
    return cJSON_IsString(pM) ? pM->valuestring : "";
}

/* Do two edges leave from the same endpoint (as written)? */
static int endpoint_same(const cJSON *pA, const cJSON *pB) {
    int bGroupA, bGroupB;
    const char *zA = endpoint_id(pA, &bGroupA);
    const char *zB = endpoint_id(pB, &bGroupB);
    return zA && zB && bGroupA == bGroupB && strcmp(zA, zB) == 0;
}

/* The predicate an edge compiles to: NULL for always, the decision test for
** approve and reject (when.c owns its form), the parsed AST for custom. */
static int edge_predicate(const cJSON *pEdge, int iEdge, cJSON **ppWhen, VeltErr *e) {
    const char *zOn = velt_json_get_str(pEdge, "on", "always");
    *ppWhen = 0;
    if (strcmp(zOn, "custom") == 0) {
        char *zWhy = 0;
        const char *zWhen = velt_json_get_str(pEdge, "when", "");
        if (when_parse(zWhen, ppWhen, &zWhy)) {
            if (zWhy) {
                velt_err(e, VS_INVALID_ARGUMENT, "edges[%d].when is not valid JSON (%s)", iEdge,
                         zWhy);
            } else {
                velt_err_nomem(e);
            }
            sqlite3_free(zWhy);
            return e->status;
        }
    } else if (strcmp(zOn, "approve") == 0 || strcmp(zOn, "reject") == 0) {
        *ppWhen = velt_when_for_role(zOn);
        if (*ppWhen == 0) return velt_err_nomem(e);
    }
    return 0;
}

static int add_string(cJSON *pObj, const char *zKey, const char *zVal) {
    return cJSON_AddStringToObject(pObj, zKey, zVal) != 0;
}

/* Take ownership of pItem and add it to pParent (an object when zKey is set,
** else an array); frees it if that fails. */
/* One compiled forward edge {from, to, role, when[, fromGroupId][, toGroupId]}. */
static int add_forward_edge(cJSON *pArr, const char *zFrom, const char *zTo, const char *zRole,
                            const cJSON *pWhen, const Endpoint *pF, const Endpoint *pT) {
    cJSON *p = cJSON_CreateObject();
    int ok = p && add_string(p, "from", zFrom) && add_string(p, "to", zTo) &&
             add_string(p, "role", zRole) &&
             velt_json_add(p, "when", pWhen ? cJSON_Duplicate(pWhen, 1) : cJSON_CreateNull()) &&
             (pF->pMembers == 0 || add_string(p, "fromGroupId", pF->zId)) &&
             (pT->pMembers == 0 || add_string(p, "toGroupId", pT->zId));
    if (!ok) {
        cJSON_Delete(p);
        return 0;
    }
    return velt_json_add(pArr, 0, p);
}

static int node_index(const cJSON *pNodes, const char *zId) {
    int i = 0;
    const cJSON *pN;
    cJSON_ArrayForEach(pN, pNodes) {
        if (strcmp(velt_json_get_str(pN, "nodeId", ""), zId) == 0) return i;
        i++;
    }
    return -1;
}

/* Mark every node reachable from the marked ones along aA[k] -> aB[k]. The
** graph is small (at most 100 nodes), so a fixpoint is simpler than lists. */
static void mark_reachable(int nEdge, const int *aA, const int *aB, unsigned char *aMark) {
    for (int bChanged = 1; bChanged;) {
        bChanged = 0;
        for (int k = 0; k < nEdge; k++) {
            if (aA[k] >= 0 && aB[k] >= 0 && aMark[aA[k]] && !aMark[aB[k]]) {
                aMark[aB[k]] = 1;
                bChanged = 1;
            }
        }
    }
}

/* Working state of one compilation. */
typedef struct Compile {
    const cJSON *pNodes, *pEdges, *pGroups;
    cJSON *pForward; /* compiled.forwardEdges, built first */
    int nNode, nForward;
    int *aFrom, *aTo;     /* node indexes of each forward edge */
    unsigned char *aMark; /* 2 * nNode: reachable from the entry, reaching the exit */
} Compile;

/* compiled.forwardEdges: every edge except loop back-edges and exhausted
** exits, group endpoints expanded into one edge per member. */
static int compile_forward(Compile *c, VeltErr *e) {
    int i = 0;
    const cJSON *pEdge;
    cJSON_ArrayForEach(pEdge, c->pEdges) {
        const char *zOn = velt_json_get_str(pEdge, "on", "always");
        Endpoint f, t;
        cJSON *pWhen = 0;
        if (item(pEdge, "loop") || strcmp(zOn, "exhausted") == 0) {
            i++;
            continue;
        }
        if (!endpoint_resolve(item(pEdge, "from"), c->pGroups, &f) ||
            !endpoint_resolve(item(pEdge, "to"), c->pGroups, &t)) {
            return velt_err(e, VS_INVALID_ARGUMENT, "edges[%d] names an unknown group", i);
        }
        if (edge_predicate(pEdge, i, &pWhen, e)) return e->status;
        for (int a = 0; a < endpoint_count(&f) && e->status == VS_OK; a++) {
            for (int b = 0; b < endpoint_count(&t); b++) {
                if (!add_forward_edge(c->pForward, endpoint_node(&f, a), endpoint_node(&t, b), zOn,
                                      pWhen, &f, &t)) {
                    velt_err_nomem(e);
                    break;
                }
            }
        }
        cJSON_Delete(pWhen);
        if (e->status) return e->status;
        i++;
    }
    return 0;
}

/* The body of a loop: the nodes on some forward path from its entry to its
** source (the back-edge's from: a node, or every member of a group). */
static cJSON *loop_body(Compile *c, int iEntry, const Endpoint *pSource) {
    unsigned char *aFwd = c->aMark, *aBack = c->aMark + c->nNode;
    memset(c->aMark, 0, (size_t)c->nNode * 2);
    aFwd[iEntry] = 1;
    for (int k = 0; k < endpoint_count(pSource); k++) {
        int iSrc = node_index(c->pNodes, endpoint_node(pSource, k));
        if (iSrc >= 0) aBack[iSrc] = 1;
    }
    mark_reachable(c->nForward, c->aFrom, c->aTo, aFwd);
    mark_reachable(c->nForward, c->aTo, c->aFrom, aBack);
    cJSON *pBody = cJSON_CreateArray();
    int i = 0;
    const cJSON *pN;
    cJSON_ArrayForEach(pN, c->pNodes) {
        if (pBody && aFwd[i] && aBack[i] &&
            !velt_json_add(pBody, 0, cJSON_CreateString(velt_json_get_str(pN, "nodeId", "")))) {
            cJSON_Delete(pBody);
            pBody = 0;
        }
        i++;
    }
    return pBody;
}

/* One compiled.loops entry for the back-edge pEdge (edges[iEdge]). */
static cJSON *compile_loop(Compile *c, const cJSON *pEdge, int iEdge, VeltErr *e) {
    Endpoint f, t;
    if (!endpoint_resolve(item(pEdge, "from"), c->pGroups, &f) ||
        !endpoint_resolve(item(pEdge, "to"), c->pGroups, &t) || t.pMembers != 0 ||
        node_index(c->pNodes, t.zId) < 0) {
        velt_err(e, VS_INVALID_ARGUMENT, "edges[%d]: a loop must go back to a declared node",
                 iEdge);
        return 0;
    }
    const cJSON *pExit = 0, *pOther;
    cJSON_ArrayForEach(pOther, c->pEdges) {
        if (strcmp(velt_json_get_str(pOther, "on", ""), "exhausted") == 0 &&
            endpoint_same(item(pOther, "from"), item(pEdge, "from"))) {
            pExit = pOther;
            break;
        }
    }
    int bGroupTo;
    const char *zRoute = pExit ? endpoint_id(item(pExit, "to"), &bGroupTo) : 0;
    char *zLoopId = sqlite3_mprintf("loop_%s_%s", f.zId, t.zId);
    const cJSON *pMax = item(item(pEdge, "loop"), "maxIterations");
    cJSON *pLoop = cJSON_CreateObject();
    cJSON *pExhausted = zRoute ? cJSON_CreateObject() : cJSON_CreateNull();
    int ok = zLoopId && pLoop && add_string(pLoop, "loopId", zLoopId) &&
             add_string(pLoop, "entryNodeId", t.zId) &&
             velt_json_add(pLoop, "bodyNodeIds", loop_body(c, node_index(c->pNodes, t.zId), &f)) &&
             cJSON_AddNumberToObject(pLoop, "maxIterations",
                                     cJSON_IsNumber(pMax) ? pMax->valuedouble : 1) &&
             (zRoute == 0 || (pExhausted && add_string(pExhausted, "routeToNodeId", zRoute)));
    ok = velt_json_add(pLoop, "onExhausted", pExhausted) && ok;
    sqlite3_free(zLoopId);
    if (!ok) {
        cJSON_Delete(pLoop);
        velt_err_nomem(e);
        return 0;
    }
    return pLoop;
}

int velt_definition_compile(const cJSON *pData, cJSON **ppCompiled, VeltErr *e) {
    Compile c;
    memset(&c, 0, sizeof(c));
    c.pNodes = item(pData, "nodes");
    c.pEdges = item(pData, "edges");
    c.pGroups = item(pData, "groups");
    c.nNode = cJSON_GetArraySize(c.pNodes);
    *ppCompiled = 0;
    cJSON *pOut = cJSON_CreateObject();
    cJSON *pLoops = 0;
    if (pOut == 0 || (c.pForward = cJSON_AddArrayToObject(pOut, "forwardEdges")) == 0 ||
        (pLoops = cJSON_AddArrayToObject(pOut, "loops")) == 0) {
        velt_err_nomem(e);
    } else if (compile_forward(&c, e) == 0) {
        c.nForward = cJSON_GetArraySize(c.pForward);
        c.aFrom = sqlite3_malloc64(sizeof(int) * 2 * ((sqlite3_uint64)c.nForward + 1));
        c.aMark = sqlite3_malloc64((sqlite3_uint64)c.nNode * 2 + 1);
        if (c.aFrom == 0 || c.aMark == 0) velt_err_nomem(e);
    }
    if (e->status == VS_OK) {
        int k = 0;
        const cJSON *pF;
        c.aTo = c.aFrom + c.nForward;
        cJSON_ArrayForEach(pF, c.pForward) {
            c.aFrom[k] = node_index(c.pNodes, velt_json_get_str(pF, "from", ""));
            c.aTo[k++] = node_index(c.pNodes, velt_json_get_str(pF, "to", ""));
        }
        int i = 0;
        const cJSON *pEdge;
        cJSON_ArrayForEach(pEdge, c.pEdges) {
            if (item(pEdge, "loop") && !velt_json_add(pLoops, 0, compile_loop(&c, pEdge, i, e))) {
                velt_err_nomem(e);
                break;
            }
            i++;
        }
    }
    sqlite3_free(c.aFrom);
    sqlite3_free(c.aMark);
    if (e->status != VS_OK) {
        cJSON_Delete(pOut);
        return e->status;
    }
    *ppCompiled = pOut;
    return 0;
}

/* ================================================================ endpoints */

/* The normalized scope {level, organizationId|null, documentId|null}. */
typedef struct Scope {
    const char *zLevel, *zOrg, *zDoc;
} Scope;

/* An INVALID_ARGUMENT about scope.zKey, with its issue in error.details. */
static int scope_error(VeltErr *e, const char *zKey, const char *zWhat) {
    velt_err(e, VS_INVALID_ARGUMENT, "scope.%s %s", zKey, zWhat);
    sqlite3_str *s = sqlite3_str_new(0);
    sqlite3_str_appendall(s, "{\"issues\":[{\"code\":\"custom\",\"path\":[\"scope\",");
    velt_json_str(s, zKey, -1);
    sqlite3_str_appendall(s, "],\"message\":");
    velt_json_str(s, e->zMsg ? e->zMsg : "", -1);
    sqlite3_str_appendall(s, "}]}");
    e->zDetails = sqlite3_str_finish(s);
    return e->status;
}

/* One id of the scope: taken from the scope object or, failing that, from the
** request's top-level field of the same name (upstream documents both). */
static int scope_id(const cJSON *pScope, const VVal *pTop, const char *zKey, const char *zLevel,
                    int bNeeded, const char *zLevels, const char **pz, VeltErr *e) {
    const char *zInScope = velt_json_get_str(pScope, zKey, 0);
    const char *zTop = pTop->t == VT_STRING ? pTop->z : 0;
    *pz = 0;
    if (!bNeeded) {
        if (zInScope == 0) return 0;
        char *zMsg = sqlite3_mprintf("is only allowed when level is %s", zLevels);
        scope_error(e, zKey, zMsg ? zMsg : "is not allowed at this level");
        sqlite3_free(zMsg);
        return e->status;
    }
    if (zInScope && zTop && strcmp(zInScope, zTop) != 0) {
        return scope_error(e, zKey, "differs from the request's top-level value");
    }
    *pz = zInScope ? zInScope : zTop;
    if (*pz == 0) {
        char *zMsg = sqlite3_mprintf("is required when level is \"%s\"", zLevel);
        scope_error(e, zKey, zMsg ? zMsg : "is required at this level");
        sqlite3_free(zMsg);
    }
    return e->status;
}

static int scope_resolve(const VVal *a, Scope *pS, VeltErr *e) {
    const cJSON *pScope = a[F_SCOPE].j;
    pS->zLevel = velt_json_get_str(pScope, "level", "apiKey");
    int bOrg = strcmp(pS->zLevel, "apiKey") != 0;
    int bDoc = strcmp(pS->zLevel, "document") == 0;
    if (scope_id(pScope, &a[F_ORGANIZATION_ID], "organizationId", pS->zLevel, bOrg,
                 "\"organization\" or \"document\"", &pS->zOrg, e)) {
        return e->status;
    }
    return scope_id(pScope, &a[F_DOCUMENT_ID], "documentId", pS->zLevel, bDoc, "\"document\"",
                    &pS->zDoc, e);
}

static char *scope_json(const Scope *pS) {
    sqlite3_str *s = sqlite3_str_new(0);
    sqlite3_str_appendall(s, "{\"level\":");
    velt_json_str(s, pS->zLevel, -1);
    sqlite3_str_appendall(s, ",\"organizationId\":");
    velt_json_opt_str(s, pS->zOrg);
    sqlite3_str_appendall(s, ",\"documentId\":");
    velt_json_opt_str(s, pS->zDoc);
    sqlite3_str_appendchar(s, 1, '}');
    if (sqlite3_str_errcode(s)) {
        sqlite3_free(sqlite3_str_finish(s));
        return 0;
    }
    return sqlite3_str_finish(s);
}

/* Append the DefinitionView of an active definition; NOT_FOUND otherwise.
** create and get both end here, so they return identical shapes. */
static int append_view(VeltConn *p, const char *zId, sqlite3_str *pOut, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_DEF_VIEW, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        const char *zView = (const char *)sqlite3_column_text(pStmt, 0);
        if (zView) {
            sqlite3_str_append(pOut, zView, sqlite3_column_bytes(pStmt, 0));
        } else {
            velt_err_nomem(e);
        }
    } else if (rc == SQLITE_DONE) {
        velt_err(e, VS_NOT_FOUND, "definition '%s' not found", zId);
    } else {
        velt_err_sqlite(e, p->db, rc);
    }
    sqlite3_reset(pStmt);
    return e->status;
}

/* ALREADY_EXISTS while an active definition has the id; a tombstoned one may
** be replaced. */
static int check_id_free(VeltConn *p, const char *zId, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_DEF_HEAD, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        const char *zStatus = (const char *)sqlite3_column_text(pStmt, 0);
        if (zStatus == 0) {
            velt_err_nomem(e);
        } else if (strcmp(zStatus, "active") == 0) {
            velt_err(e, VS_ALREADY_EXISTS, "definition '%s' already exists", zId);
        }
    } else if (rc != SQLITE_DONE) {
        velt_err_sqlite(e, p->db, rc);
    }
    sqlite3_reset(pStmt);
    return e->status;
}

/* The stored parts of a version, in DEF_VERSION_INSERT's parameter order
** from ?5 on: compact JSON text, NULL for an omitted optional part. */
enum {
    P_SCOPE,
    P_NODES,
    P_EDGES,
    P_GROUPS,
    P_TRIGGERS,
    P_TAGS,
    P_CUSTOM,
    P_WEBHOOK,
    P_COMPILED,
    P__COUNT
};

static const int aPartField[P__COUNT] = {
    [P_SCOPE] = -1,
    [P_NODES] = F_NODES,
    [P_EDGES] = F_EDGES,
    [P_GROUPS] = F_GROUPS,
    [P_TRIGGERS] = F_TRIGGERS,
    [P_TAGS] = F_TAGS,
    [P_CUSTOM] = F_CUSTOM,
    [P_WEBHOOK] = F_WEBHOOK_CONFIG,
    [P_COMPILED] = -1,
};

/* Insert version 1 and point the head row at it. */
static int store_definition(VeltConn *p, const VVal *a, char *const *azPart, VeltErr *e) {
    const char *zId = a[F_DEFINITION_ID].z;
    i64 now = velt_now(p);
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_DEF_VERSION_INSERT, e);
    if (pStmt == 0) return e->status;
    int rc = sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(pStmt, 2, 1);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(pStmt, 3, a[F_NAME].z, a[F_NAME].n, SQLITE_STATIC);
    if (rc == SQLITE_OK && a[F_DESCRIPTION].t == VT_STRING) {
        rc = sqlite3_bind_text(pStmt, 4, a[F_DESCRIPTION].z, a[F_DESCRIPTION].n, SQLITE_STATIC);
    }
    for (int i = 0; rc == SQLITE_OK && i < P__COUNT; i++) {
        if (azPart[i]) rc = sqlite3_bind_text(pStmt, 5 + i, azPart[i], -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(pStmt, 14, now);
    if (rc == SQLITE_OK) rc = sqlite3_step(pStmt);
    i64 iVersionId = sqlite3_last_insert_rowid(p->db);
    sqlite3_reset(pStmt);
    sqlite3_clear_bindings(pStmt); /* the bound texts are freed by the caller */
    if (rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);

    pStmt = velt_stmt(p, VELT_STMT_DEF_INSERT, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    sqlite3_bind_int(pStmt, 2, 1);
    sqlite3_bind_int64(pStmt, 3, iVersionId);
    sqlite3_bind_int64(pStmt, 4, now);
    return velt_exec_stmt(p, pStmt, e);
}

/* Lint and compile see the graph parts of the request (all arrays) through a
** small object of references: nothing is copied, and deleting it frees only
** itself. */
static cJSON *graph_view(const VVal *a) {
    static const int aGraphField[] = {F_NODES, F_EDGES, F_GROUPS};
    cJSON *pView = cJSON_CreateObject();
    for (int i = 0; pView && i < VELT_COUNT(aGraphField); i++) {
        const VVal *v = &a[aGraphField[i]];
        if (v->j && !velt_json_add(pView, aCreateFields[aGraphField[i]].zName,
                                   cJSON_CreateArrayReference(v->j->child))) {
            cJSON_Delete(pView);
            pView = 0;
        }
    }
    return pView;
}

int velt_definitions_create(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    Scope scope;
    if (scope_resolve(a, &scope, e)) return e->status;
    cJSON *pGraph = graph_view(a);
    cJSON *pCompiled = 0;
    char *azPart[P__COUNT] = {0};
    char *zScope = 0;
    if (pGraph == 0) {
        velt_err_nomem(e);
    } else if (velt_definition_lint(pGraph, e) == 0 &&
               velt_definition_compile(pGraph, &pCompiled, e) == 0 &&
               check_id_free(p, a[F_DEFINITION_ID].z, e) == 0) {
        zScope = scope_json(&scope);
        int bNoMem = zScope == 0;
        for (int i = 0; i < P__COUNT; i++) {
            const cJSON *pPart = i == P_COMPILED      ? pCompiled
                                 : aPartField[i] >= 0 ? a[aPartField[i]].j
                                                      : 0;
            if (pPart && (azPart[i] = cJSON_PrintUnformatted(pPart)) == 0) bNoMem = 1;
        }
        azPart[P_SCOPE] = zScope;
        if (bNoMem) {
            velt_err_nomem(e);
        } else if (store_definition(p, a, azPart, e) == 0) {
            append_view(p, a[F_DEFINITION_ID].z, pOut, e);
        }
    }
    for (int i = 0; i < P__COUNT; i++) {
        if (i != P_SCOPE) cJSON_free(azPart[i]);
    }
    sqlite3_free(zScope);
    cJSON_Delete(pCompiled);
    cJSON_Delete(pGraph);
    return e->status;
}

int velt_definitions_get(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    return append_view(p, a[G_DEFINITION_ID].z, pOut, e);
}
