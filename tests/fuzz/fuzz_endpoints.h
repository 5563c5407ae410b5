/*
** Every endpoint path the contract names (SPEC section 5.2), one line each.
**
** The fuzz targets try each of them at start-up and keep the ones this build
** serves (velt_endpoint_find(), the lookup of ext/api.c's endpoint table), so
** an endpoint added to ext/api.c later joins every target by itself, with
** its read/write flag and request schema taken from that table. An endpoint
** that is not in this list must be added here: `make fuzz-build` compares
** this list with the table in ext/api.c and stops with a message if one is
** missing.
**
** X(path) -- keep one path per line.
*/
#ifndef VELT_FUZZ_ENDPOINTS_H
#define VELT_FUZZ_ENDPOINTS_H

/* clang-format off */
#define VELT_FUZZ_ENDPOINTS(X)          \
    X("definitions/create")             \
    X("definitions/update")             \
    X("definitions/delete")             \
    X("definitions/get")                \
    X("definitions/list")               \
    X("executions/dispatch")            \
    X("executions/get")                 \
    X("executions/cancel")              \
    X("executions/getEvents")           \
    X("executions/list")                \
    X("executions/purge")               \
    X("steps/cancel")                   \
    X("steps/recordReviewerDecision")   \
    X("steps/resolve")                  \
    X("steps/recordAgentResolution")    \
    X("steps/start")                    \
    X("steps/complete")                 \
    X("steps/fail")                     \
    X("engine/tick")
/* clang-format on */

#endif
