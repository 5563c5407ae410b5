/*
** Outbound URLs: the static part of upstream's SSRF guard.
**
** Every URL the engine might call one day (webhook nodes, webhookConfig,
** Slack incoming webhooks, dispatch's webhookUrl) must be https, carry no
** credentials, and must not name a private, loopback, link-local or metadata
** host, however the address is spelled: 127.0.0.1, 2130706433, 0x7f.1,
** [::ffff:127.0.0.1], localhost., *.internal. DNS is never resolved: the
** embedded engine delivers nothing itself (see README), so the hosted
** service's delivery-time check has no counterpart here.
*/
#include "velt_int.h"

#include <stdint.h>
#include <string.h>

/* Literal IPv4 ranges an outbound call may never reach: "this network",
** RFC 1918, carrier-grade NAT, loopback, link-local, multicast, reserved. */
static const struct {
    uint32_t base;
    int bits;
} aBlockedV4[] = {
    {0x00000000u, 8},  {0x0A000000u, 8},  {0x64400000u, 10}, {0x7F000000u, 8},
    {0xA9FE0000u, 16}, {0xAC100000u, 12}, {0xC0A80000u, 16}, {0xE0000000u, 3},
};

static int ipv4_blocked(uint32_t a) {
    for (int i = 0; i < VELT_COUNT(aBlockedV4); i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - aBlockedV4[i].bits);
        if ((a & mask) == aBlockedV4[i].base) return 1;
    }
    return 0;
}

/* A host as URL parsers read IPv4: 1 to 4 dot-separated numbers, each
** decimal, octal (leading 0) or hex (0x), the last one filling the remaining
** bytes. So 2130706433, 0x7f.1 and 0177.0.0.1 are all 127.0.0.1; checking
** only dotted quads would let those through. Returns 0 on success. */
static int ipv4_parse(const char *z, uint32_t *pAddr) {
    uint64_t aPart[4];
    int nPart = 0;
    while (*z) {
        if (nPart == 4) return 1;
        int base = 10;
        if (z[0] == '0' && (z[1] == 'x' || z[1] == 'X')) {
            base = 16;
            z += 2;
        } else if (z[0] == '0' && velt_is_digit(z[1])) {
            base = 8;
            z++;
        }
        uint64_t v = 0;
        int nDigit = 0;
        for (; *z && *z != '.'; z++, nDigit++) {
            int d = velt_hex_value((unsigned char)*z);
            if (d < 0 || d >= base) return 1;
            v = v * (uint64_t)base + (uint64_t)d;
            if (v > 0xFFFFFFFFu) return 1;
        }
        if (nDigit == 0 && base != 16) return 1;
        aPart[nPart++] = v;
        if (*z == '.') z++;
    }
    if (nPart == 0) return 1;
    uint64_t a = 0;
    for (int i = 0; i < nPart - 1; i++) {
        if (aPart[i] > 255) return 1;
        a |= aPart[i] << (8 * (3 - i));
    }
    if (aPart[nPart - 1] >= ((uint64_t)1 << (8 * (5 - nPart)))) return 1;
    *pAddr = (uint32_t)(a | aPart[nPart - 1]);
    return 0;
}

/* Does the host's last label look like a number? Then URL parsers treat the
** whole host as an IPv4 address, and so must we. */
static int host_is_numeric(const char *z) {
    size_t n = strlen(z);
    if (n && z[n - 1] == '.') n--;
    size_t i = n;
    while (i > 0 && z[i - 1] != '.')
        i--;
    if (i == n) return 0;
    if (n - i >= 2 && z[i] == '0' && (z[i + 1] == 'x' || z[i + 1] == 'X')) {
        for (size_t k = i + 2; k < n; k++) {
            if (velt_hex_value((unsigned char)z[k]) < 0) return 0;
        }
        return 1;
    }
    for (size_t k = i; k < n; k++) {
        if (!velt_is_digit(z[k])) return 0;
    }
    return 1;
}

static int ipv4_dotted(const char *z, uint32_t *pAddr) {
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        int v = 0, nDigit = 0;
        while (velt_is_digit(*z) && nDigit < 3)
            v = v * 10 + (*z++ - '0'), nDigit++;
        if (nDigit == 0 || v > 255 || (i < 3 && *z++ != '.')) return 1;
        a = (a << 8) | (uint32_t)v;
    }
    *pAddr = a;
    return *z != 0;
}

/* An IPv6 literal (without brackets) into 16 bytes. Returns 0 on success. */
static int ipv6_parse(const char *z, unsigned char *aOut) {
    unsigned aWord[8];
    int n = 0, iGap = -1;
    if (z[0] == ':') {
        if (z[1] != ':') return 1;
        iGap = 0;
        z += 2;
    }
    while (*z) {
        if (n == 8) return 1;
        size_t nGroup = strcspn(z, ":");
        if (memchr(z, '.', nGroup)) {
            uint32_t v4;
            if (z[nGroup] || n > 6 || ipv4_dotted(z, &v4)) return 1;
            aWord[n++] = v4 >> 16;
            aWord[n++] = v4 & 0xFFFF;
            break;
        }
        unsigned v = 0;
        int nDigit = 0;
        for (; velt_hex_value((unsigned char)*z) >= 0; z++) {
            if (++nDigit > 4) return 1;
            v = v * 16 + (unsigned)velt_hex_value((unsigned char)*z);
        }
        if (nDigit == 0) return 1;
        aWord[n++] = v;
        if (*z == 0) break;
        if (*z++ != ':') return 1;
        if (*z == ':') {
            if (iGap >= 0) return 1;
            iGap = n;
            z++;
        } else if (*z == 0) {
            return 1;
        }
    }
    if (iGap < 0 ? n != 8 : n > 7) return 1;
    int nZero = 8 - n;
    for (int i = 0, k = 0; i < 8; i++) {
        unsigned w = (iGap >= 0 && i >= iGap && i < iGap + nZero) ? 0 : aWord[k++];
        aOut[2 * i] = (unsigned char)(w >> 8);
        aOut[2 * i + 1] = (unsigned char)(w & 0xFF);
    }
    return 0;
}

static int ipv6_blocked(const unsigned char *a) {
    static const unsigned char aV4Prefix[][12] = {
        {0},                                           /* ::a.b.c.d, ::, ::1 */
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},    /* IPv4-mapped */
        {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0}, /* NAT64 */
    };
    if (a[0] == 0xFF) return 1;                          /* multicast */
    if ((a[0] & 0xFE) == 0xFC) return 1;                 /* unique local fc00::/7 */
    if (a[0] == 0xFE && (a[1] & 0x80) == 0x80) return 1; /* link- and site-local */
    for (int i = 0; i < VELT_COUNT(aV4Prefix); i++) {
        if (memcmp(a, aV4Prefix[i], 12) == 0) {
            uint32_t v4 =
                (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
            return ipv4_blocked(v4);
        }
    }
    return 0;
}

static const char *const azBlockedHost[] = {"localhost", "metadata", "metadata.google.internal"};
static const char *const azBlockedSuffix[] = {".localhost", ".internal"};
static const char zBlockedMsg[] = "host resolves to a private, loopback, or link-local address";

/* Why an outbound URL is refused, or NULL. */
const char *velt_url_problem(const char *zUrl) {
    if (sqlite3_strnicmp(zUrl, "https://", 8) != 0) return "must use https scheme";
    for (const unsigned char *c = (const unsigned char *)zUrl; *c; c++) {
        if (*c <= 0x20 || *c == 0x7F) return "must not contain spaces or control characters";
    }
    const char *zAuth = zUrl + 8;
    size_t nAuth = strcspn(zAuth, "/?#\\");
    char zHost[256];
    if (memchr(zAuth, '@', nAuth)) return "must not carry credentials (user@host)";
    if (nAuth == 0 || nAuth >= sizeof(zHost)) return "must name a valid host";
    for (size_t i = 0; i < nAuth; i++) {
        char c = zAuth[i];
        zHost[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    zHost[nAuth] = 0;
    char *zName = zHost, *zPort = 0;
    if (zHost[0] == '[') {
        char *zEnd = strchr(zHost, ']');
        if (zEnd == 0 || (zEnd[1] && zEnd[1] != ':')) return "must name a valid host";
        *zEnd = 0;
        zName = zHost + 1;
        if (zEnd[1]) zPort = zEnd + 2;
    } else if ((zPort = strchr(zHost, ':')) != 0) {
        *zPort++ = 0;
    }
    if (zPort && *zPort) {
        long port = 0;
        for (const char *c = zPort; *c; c++) {
            if (!velt_is_digit(*c) || (port = port * 10 + (*c - '0')) > 65535)
                return "has an invalid port";
        }
        if (port == 0) return "has an invalid port";
    }
    if (zName != zHost) {
        unsigned char a6[16];
        if (ipv6_parse(zName, a6)) return "must name a valid host";
        return ipv6_blocked(a6) ? zBlockedMsg : 0;
    }
    size_t n = strlen(zName);
    if (n && zName[n - 1] == '.') zName[--n] = 0; /* "localhost." is localhost */
    if (n == 0) return "must name a valid host";
    if (host_is_numeric(zName)) {
        uint32_t a4;
        if (ipv4_parse(zName, &a4)) return "must name a valid host";
        return ipv4_blocked(a4) ? zBlockedMsg : 0;
    }
    for (const unsigned char *c = (const unsigned char *)zName; *c; c++) {
        if (!(velt_is_alpha(*c) || velt_is_digit(*c) || *c == '-' || *c == '.' || *c == '_' ||
              *c >= 0x80)) {
            return "must name a valid host";
        }
    }
    for (int i = 0; i < VELT_COUNT(azBlockedHost); i++) {
        if (strcmp(zName, azBlockedHost[i]) == 0) return zBlockedMsg;
    }
    for (int i = 0; i < VELT_COUNT(azBlockedSuffix); i++) {
        size_t nSuffix = strlen(azBlockedSuffix[i]);
        if (n > nSuffix && strcmp(zName + n - nSuffix, azBlockedSuffix[i]) == 0) return zBlockedMsg;
    }
    return 0;
}

int velt_check_https_url(const VVal *v, VIssues *pI) {
    const char *zWhy = velt_url_problem(v->z);
    return zWhy ? velt_issue(pI, "custom", "%s", zWhy) : 0;
}
