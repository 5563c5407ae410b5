"""definitions/create: the strict request schema (reference 2.1: top-level
fields, scope, nodes and each config type, edges, groups, triggers,
webhookConfig, tags, custom) and the DefinitionView it stores and returns.

Every refused request must be INVALID_ARGUMENT with Zod-style issues in
error.details.issues; the first issue's path names the offending field, its
message starts with that path written as text ("nodes[1].config.url ...")
and is the error's message. Values at a limit are accepted, one past it is
refused. Accepted variants round-trip through definitions/get and the
velt_definitions table.

The cases are tables; one test method is generated per case, named after it.
"""
import copy
import json
import unittest

from velt_helpers import DbTest, VeltAssertions, define, unsynced, velt, velt_api

DELETE = object()  # a change that removes the key

# Node positions in BASE.
H, A, N, W = 0, 1, 2, 3


def base():
    """A valid definition with one node of each type."""
    return {
        "definitionId": "order-flow",
        "name": "Order flow",
        "nodes": [
            {"nodeId": "review", "type": "human",
             "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}},
            {"nodeId": "publish", "type": "agent",
             "config": {"agentId": "__mock__", "url": "https://agents.example.com/run"}},
            {"nodeId": "notify", "type": "notification",
             "config": {"channel": "email", "recipients": ["buyer@example.com"],
                        "bodyTemplate": "Rejected: {{input.decision}}"}},
            {"nodeId": "hook", "type": "webhook",
             "config": {"url": "https://hooks.example.com/in"}},
        ],
        "edges": [
            {"from": "review", "to": "publish", "on": "approve"},
            {"from": "review", "to": "notify", "on": "reject"},
            {"from": "publish", "to": "hook"},
        ],
    }


def group_base():
    """A valid definition with a parallel group of two mock agents."""
    return {
        "definitionId": "group-flow",
        "name": "Group flow",
        "nodes": [
            {"nodeId": "start", "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}},
            {"nodeId": "m1", "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}},
            {"nodeId": "m2", "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}},
        ],
        "edges": [{"from": "start", "to": {"kind": "group", "groupId": "g"}}],
        "groups": [{"groupId": "g", "memberNodeIds": ["m1", "m2"], "expectedSteps": 2, "quorum": 1}],
    }


def apply(d, changes):
    """changes: [(path tuple, value)], value DELETE removes the key."""
    for path, value in changes:
        target = d
        for k in path[:-1]:
            target = target[k]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(value)
    return d


def path_text(path):
    out = ""
    for i, k in enumerate(path):
        out += f"[{k}]" if isinstance(k, int) else (("." if i else "") + k)
    return out


def agent(node_id, agent_id="__mock__"):
    return {"nodeId": node_id, "type": "agent", "config": {"agentId": agent_id, "url": "https://a.example.com"}}


def emails(n):
    return [f"user{i}@example.com" for i in range(n)]


def headers(n):
    return {f"X-H{i}": "v" for i in range(n)}


def when_of_length(n):
    """A valid `when` AST string of exactly n characters."""
    head = '{"op":"eq","args":[{"var":"output.decision"},"'
    tail = '"]}'
    return head + "a" * (n - len(head) - len(tail)) + tail


CFG = lambda i, *k: ("nodes", i, "config") + k  # noqa: E731
INBOUND = ("triggers", 0, "inboundWebhook")
SCHEDULE = ("triggers", 0, "schedule")
APP = ("triggers", 0, "appTrigger")


def trig(mechanism, body, trigger_id="t1"):
    return {"triggerId": trigger_id, mechanism: body}


INBOUND_OK = {"authMode": "hmac", "secret": "s" * 16}
SCHEDULE_OK = {"cron": "0 9 * * 1-5", "timezone": "UTC", "enabled": True}
APP_OK = {"provider": "github", "installationRef": "inst-1"}


def with_trigger(mechanism, body):
    return [(("triggers",), [trig(mechanism, body)])]


def inbound(**kw):
    return with_trigger("inboundWebhook", {**INBOUND_OK, **kw})


def schedule(**kw):
    return with_trigger("schedule", {**SCHEDULE_OK, **kw})


def app(**kw):
    return with_trigger("appTrigger", {**APP_OK, **kw})


def webhook_config(**kw):
    return [(("webhookConfig",), {"url": "https://events.example.com/velt", "secret": "k" * 16, **kw})]


def group(**kw):
    g = {"groupId": "g", "memberNodeIds": ["m1", "m2"], "expectedSteps": 2, "quorum": 1}
    g.update(kw)
    return [(("groups", 0), {k: v for k, v in g.items() if v is not DELETE})]


# ---------------------------------------------------------------------------
# Refused requests: name -> (changes, path of the first issue, code or None,
# text the message must end with or None). Changes apply to base().
# ---------------------------------------------------------------------------
INVALID = {
    # ---- definitionId: required string ^[a-z0-9][a-z0-9-]{2,63}$
    "definition_id_missing": ([(("definitionId",), DELETE)], ["definitionId"], "invalid_type", "is required"),
    "definition_id_null": ([(("definitionId",), None)], ["definitionId"], "invalid_type", None),
    "definition_id_number": ([(("definitionId",), 123)], ["definitionId"], "invalid_type", None),
    "definition_id_2_chars": ([(("definitionId",), "ab")], ["definitionId"], "too_small", None),
    "definition_id_65_chars": ([(("definitionId",), "a" * 65)], ["definitionId"], "too_big", None),
    "definition_id_uppercase": ([(("definitionId",), "Order-flow")], ["definitionId"], "invalid_string", None),
    "definition_id_leading_hyphen": ([(("definitionId",), "-order")], ["definitionId"], "invalid_string", None),
    "definition_id_underscore": ([(("definitionId",), "order_flow")], ["definitionId"], "invalid_string", None),
    "definition_id_space": ([(("definitionId",), "order flow")], ["definitionId"], "invalid_string", None),
    "definition_id_non_ascii": ([(("definitionId",), "ordér")], ["definitionId"], "invalid_string", None),
    "definition_id_leading_tilde": ([(("definitionId",), "~order")], ["definitionId"], "invalid_string", None),
    "definition_id_brace_inside": ([(("definitionId",), "or{der")], ["definitionId"], "invalid_string", None),
    # ---- name 1-200, description 0-2000
    "name_missing": ([(("name",), DELETE)], ["name"], "invalid_type", "is required"),
    "name_empty": ([(("name",), "")], ["name"], "too_small", None),
    "name_201_chars": ([(("name",), "n" * 201)], ["name"], "too_big", None),
    "name_201_emoji": ([(("name",), "\U0001F600" * 201)], ["name"], "too_big", None),
    "name_null": ([(("name",), None)], ["name"], "invalid_type", None),
    "name_number": ([(("name",), 7)], ["name"], "invalid_type", None),
    "description_2001_chars": ([(("description",), "d" * 2001)], ["description"], "too_big", None),
    "description_null": ([(("description",), None)], ["description"], "invalid_type", None),
    "description_number": ([(("description",), 1)], ["description"], "invalid_type", None),
    # ---- unknown and server-owned top-level keys
    "unknown_top_level_key": ([(("owner",), "me")], [], "unrecognized_keys", "has an unknown field 'owner'"),
    "server_owned_version": ([(("version",), 1)], [], "unrecognized_keys", None),
    "server_owned_compiled": ([(("compiled",), {})], [], "unrecognized_keys", None),
    "server_owned_status": ([(("status",), "active")], [], "unrecognized_keys", None),
    # ---- scope
    "scope_not_object": ([(("scope",), "apiKey")], ["scope"], "invalid_type", None),
    "scope_level_missing": ([(("scope",), {})], ["scope", "level"], "invalid_type", None),
    "scope_level_unknown": ([(("scope",), {"level": "team"})], ["scope", "level"], "invalid_enum_value", None),
    "scope_unknown_key": ([(("scope",), {"level": "apiKey", "teamId": "t"})], ["scope"], "unrecognized_keys", None),
    "scope_organization_without_organization_id": (
        [(("scope",), {"level": "organization"})], ["scope", "organizationId"], "custom",
        'is required when level is "organization"'),
    "scope_document_without_document_id": (
        [(("scope",), {"level": "document", "organizationId": "org-1"})], ["scope", "documentId"], "custom",
        'is required when level is "document"'),
    "scope_document_without_any_id": (
        [(("scope",), {"level": "document"})], ["scope", "organizationId"], "custom", None),
    "scope_api_key_with_organization_id": (
        [(("scope",), {"level": "apiKey", "organizationId": "org-1"})], ["scope", "organizationId"], "custom",
        'is only allowed when level is "organization" or "document"'),
    "scope_organization_with_document_id": (
        [(("scope",), {"level": "organization", "organizationId": "o", "documentId": "d"})],
        ["scope", "documentId"], "custom", 'is only allowed when level is "document"'),
    "scope_organization_id_differs_from_top_level": (
        [(("scope",), {"level": "organization", "organizationId": "o1"}), (("organizationId",), "o2")],
        ["scope", "organizationId"], "custom", "differs from the request's top-level value"),
    "scope_document_id_differs_from_top_level": (
        [(("scope",), {"level": "document", "organizationId": "o", "documentId": "d1"}), (("documentId",), "d2")],
        ["scope", "documentId"], "custom", None),
    "scope_organization_id_empty": (
        [(("scope",), {"level": "organization", "organizationId": ""})], ["scope", "organizationId"], "too_small", None),
    "scope_organization_id_257_chars": (
        [(("scope",), {"level": "organization", "organizationId": "o" * 257})], ["scope", "organizationId"],
        "too_big", None),
    "scope_document_id_number": (
        [(("scope",), {"level": "document", "organizationId": "o", "documentId": 5})], ["scope", "documentId"],
        "invalid_type", None),
    "top_level_organization_id_257_chars": ([(("organizationId",), "o" * 257)], ["organizationId"], "too_big", None),
    "top_level_organization_id_null": ([(("organizationId",), None)], ["organizationId"], "invalid_type", None),
    "top_level_document_id_number": ([(("documentId",), 3)], ["documentId"], "invalid_type", None),
    # ---- nodes 1-100, edges 0-500, groups 0-100, triggers 0-50, tags 0-20 of 1-64
    "nodes_missing": ([(("nodes",), DELETE)], ["nodes"], "invalid_type", "is required"),
    "nodes_empty": ([(("nodes",), [])], ["nodes"], "too_small", None),
    "nodes_not_array": ([(("nodes",), {})], ["nodes"], "invalid_type", None),
    "nodes_101": ([(("nodes",), [agent("a")] * 101)], ["nodes"], "too_big", None),
    "node_not_object": ([(("nodes", 1), "publish")], ["nodes", 1], "invalid_type", None),
    "edges_missing": ([(("edges",), DELETE)], ["edges"], "invalid_type", "is required"),
    "edges_null": ([(("edges",), None)], ["edges"], "invalid_type", None),
    "edges_not_array": ([(("edges",), {})], ["edges"], "invalid_type", None),
    "edges_501": ([(("edges",), [{"from": "publish", "to": "hook"}] * 501)], ["edges"], "too_big", None),
    "groups_not_array": ([(("groups",), {})], ["groups"], "invalid_type", None),
    "groups_101": ([(("groups",), [{"groupId": "g", "memberNodeIds": ["hook"], "expectedSteps": 1, "quorum": 1}] * 101)],
                   ["groups"], "too_big", None),
    "triggers_not_array": ([(("triggers",), {})], ["triggers"], "invalid_type", None),
    "triggers_51": ([(("triggers",), [trig("schedule", SCHEDULE_OK, f"t{i}") for i in range(51)])],
                    ["triggers"], "too_big", None),
    "tags_not_array": ([(("tags",), "a,b")], ["tags"], "invalid_type", None),
    "tags_21": ([(("tags",), [f"t{i}" for i in range(21)])], ["tags"], "too_big", None),
    "tag_65_chars": ([(("tags",), ["ok", "t" * 65])], ["tags", 1], "too_big", None),
    "tag_empty": ([(("tags",), [""])], ["tags", 0], "too_small", None),
    "tag_number": ([(("tags",), [1])], ["tags", 0], "invalid_type", None),
    "custom_array": ([(("custom",), [1])], ["custom"], "invalid_type", None),
    "custom_string": ([(("custom",), "x")], ["custom"], "invalid_type", None),
    "custom_null": ([(("custom",), None)], ["custom"], "invalid_type", None),
    # ---- node fields
    "node_id_missing": ([(("nodes", A, "nodeId"), DELETE)], ["nodes", A, "nodeId"], "invalid_type", None),
    "node_id_empty": ([(("nodes", A, "nodeId"), "")], ["nodes", A, "nodeId"], "too_small", None),
    "node_id_65_chars": ([(("nodes", A, "nodeId"), "n" * 65)], ["nodes", A, "nodeId"], "too_big", None),
    "node_id_number": ([(("nodes", A, "nodeId"), 1)], ["nodes", A, "nodeId"], "invalid_type", None),
    "node_type_missing": ([(("nodes", A, "type"), DELETE)], ["nodes", A, "type"], "invalid_type", None),
    "node_type_unknown": ([(("nodes", A, "type"), "robot")], ["nodes", A, "type"], "invalid_enum_value",
                          "must be one of 'agent', 'human', 'notification', 'webhook'"),
    "node_unknown_key": ([(("nodes", A, "owner"), "x")], ["nodes", A], "unrecognized_keys", None),
    "node_config_not_object": ([(CFG(A), "x")], ["nodes", A, "config"], "invalid_type", None),
    "node_config_array": ([(CFG(A), [])], ["nodes", A, "config"], "invalid_type", None),
    "node_config_null": ([(CFG(A), None)], ["nodes", A, "config"], "invalid_type", None),
    "node_sla_ms_zero": ([(("nodes", A, "slaMs"), 0)], ["nodes", A, "slaMs"], "too_small", None),
    "node_sla_ms_7_days_plus_1": ([(("nodes", A, "slaMs"), 604800001)], ["nodes", A, "slaMs"], "too_big", None),
    "node_sla_ms_fraction": ([(("nodes", A, "slaMs"), 1.5)], ["nodes", A, "slaMs"], "invalid_type",
                             "must be an integer"),
    "node_sla_ms_string": ([(("nodes", A, "slaMs"), "1000")], ["nodes", A, "slaMs"], "invalid_type", None),
    "node_require_non_empty_output_string": ([(("nodes", A, "requireNonEmptyOutput"), "yes")],
                                             ["nodes", A, "requireNonEmptyOutput"], "invalid_type", None),
    "node_name_empty": ([(("nodes", A, "name"), "")], ["nodes", A, "name"], "too_small", None),
    "node_name_201_chars": ([(("nodes", A, "name"), "n" * 201)], ["nodes", A, "name"], "too_big", None),
    "node_description_2001_chars": ([(("nodes", A, "description"), "d" * 2001)], ["nodes", A, "description"],
                                    "too_big", None),
    # ---- agent config
    "agent_id_missing": ([(CFG(A, "agentId"), DELETE)], ["nodes", A, "config", "agentId"], "invalid_type", None),
    "agent_id_empty": ([(CFG(A, "agentId"), "")], ["nodes", A, "config", "agentId"], "too_small", None),
    "agent_id_257_chars": ([(CFG(A, "agentId"), "a" * 257)], ["nodes", A, "config", "agentId"], "too_big", None),
    "agent_without_url_or_url_path": ([(CFG(A, "url"), DELETE)], ["nodes", A, "config"], "custom",
                                      'agent node requires either a static "url" or a "urlPath"'),
    "agent_url_empty": ([(CFG(A, "url"), "")], ["nodes", A, "config", "url"], "too_small", None),
    "agent_url_2001_chars": ([(CFG(A, "url"), "https://a.example.com/" + "p" * 1979)],
                             ["nodes", A, "config", "url"], "too_big", None),
    "agent_url_path_empty": ([(CFG(A, "urlPath"), "")], ["nodes", A, "config", "urlPath"], "too_small", None),
    "agent_url_path_501_chars": ([(CFG(A, "urlPath"), "p" * 501)], ["nodes", A, "config", "urlPath"], "too_big", None),
    "agent_cross_page_execute_string": ([(CFG(A, "crossPageExecute"), "true")],
                                        ["nodes", A, "config", "crossPageExecute"], "invalid_type", None),
    "agent_max_urls_to_process_0": ([(CFG(A, "maxUrlsToProcess"), 0)],
                                    ["nodes", A, "config", "maxUrlsToProcess"], "too_small", None),
    "agent_max_urls_to_process_501": ([(CFG(A, "maxUrlsToProcess"), 501)],
                                      ["nodes", A, "config", "maxUrlsToProcess"], "too_big", None),
    "agent_user_context_mapping_array": ([(CFG(A, "userContextMapping"), [])],
                                         ["nodes", A, "config", "userContextMapping"], "invalid_type", None),
    "agent_user_context_mapping_value_number": ([(CFG(A, "userContextMapping"), {"user": 1})],
                                                ["nodes", A, "config", "userContextMapping", "user"],
                                                "invalid_type", None),
    "agent_user_context_mapping_value_empty": ([(CFG(A, "userContextMapping"), {"user": ""})],
                                               ["nodes", A, "config", "userContextMapping", "user"],
                                               "too_small", None),
    "agent_user_context_mapping_value_501_chars": ([(CFG(A, "userContextMapping"), {"user": "p" * 501})],
                                                   ["nodes", A, "config", "userContextMapping", "user"],
                                                   "too_big", None),
    "agent_prompt_override_8001_chars": ([(CFG(A, "promptOverride"), "p" * 8001)],
                                         ["nodes", A, "config", "promptOverride"], "too_big", None),
    "agent_input_mapping_array": ([(CFG(A, "inputMapping"), [1])],
                                  ["nodes", A, "config", "inputMapping"], "invalid_type", None),
    "agent_poll_interval_4999": ([(CFG(A, "pollIntervalMs"), 4999)],
                                 ["nodes", A, "config", "pollIntervalMs"], "too_small", None),
    "agent_poll_interval_60001": ([(CFG(A, "pollIntervalMs"), 60001)],
                                  ["nodes", A, "config", "pollIntervalMs"], "too_big", None),
    "agent_max_runtime_0": ([(CFG(A, "agentMaxRuntimeMs"), 0)],
                            ["nodes", A, "config", "agentMaxRuntimeMs"], "too_small", None),
    "agent_max_runtime_24h_plus_1": ([(CFG(A, "agentMaxRuntimeMs"), 86400001)],
                                     ["nodes", A, "config", "agentMaxRuntimeMs"], "too_big", None),
    "agent_blocking_string": ([(CFG(A, "blocking"), "true")], ["nodes", A, "config", "blocking"],
                              "invalid_type", None),
    "agent_blocking_without_resolution_policy": ([(CFG(A, "blocking"), True)], ["nodes", A, "config"], "custom",
                                                 "resolutionPolicy required when blocking === true"),
    "agent_resolution_policy_kind_missing": ([(CFG(A, "resolutionPolicy"), {"minCount": 1})],
                                             ["nodes", A, "config", "resolutionPolicy", "kind"],
                                             "invalid_type", None),
    "agent_resolution_policy_kind_unknown": ([(CFG(A, "resolutionPolicy"), {"kind": "anyResolved"})],
                                             ["nodes", A, "config", "resolutionPolicy", "kind"],
                                             "invalid_enum_value", None),
    "agent_resolution_policy_min_resolved_without_min_count": (
        [(CFG(A, "resolutionPolicy"), {"kind": "minResolved"})], ["nodes", A, "config", "resolutionPolicy"],
        "custom", 'minCount required when kind === "minResolved"'),
    "agent_resolution_policy_min_count_0": ([(CFG(A, "resolutionPolicy"), {"kind": "minResolved", "minCount": 0})],
                                            ["nodes", A, "config", "resolutionPolicy", "minCount"],
                                            "too_small", None),
    "agent_resolution_policy_min_count_1001": (
        [(CFG(A, "resolutionPolicy"), {"kind": "minResolved", "minCount": 1001})],
        ["nodes", A, "config", "resolutionPolicy", "minCount"], "too_big", None),
    "agent_resolution_policy_unknown_key": ([(CFG(A, "resolutionPolicy"), {"kind": "allResolved", "x": 1})],
                                            ["nodes", A, "config", "resolutionPolicy"], "unrecognized_keys", None),
    "agent_config_unknown_key": ([(CFG(A, "model"), "gpt")], ["nodes", A, "config"], "unrecognized_keys", None),
    "agent_config_with_a_human_field": ([(CFG(A, "reviewers"), [])], ["nodes", A, "config"],
                                        "unrecognized_keys", None),
    # ---- human config
    "human_without_reviewers_or_reviewer_ids": (
        [(CFG(H), {})], ["nodes", H, "config"], "custom",
        "at least one of reviewerIds or reviewers must be provided"),
    "human_with_reviewers_and_reviewer_ids": (
        [(CFG(H, "reviewerIds"), ["u2"])], ["nodes", H, "config"], "custom",
        "cannot set both reviewerIds and reviewers, use one"),
    "human_duplicate_reviewers": (
        [(CFG(H, "reviewers"), [{"userId": "u1", "mandatory": True}, {"userId": "u1", "mandatory": False}])],
        ["nodes", H, "config"], "custom", "reviewer userIds must be unique"),
    "human_duplicate_reviewer_ids": (
        [(CFG(H), {"reviewerIds": ["u1", "u2", "u1"]})], ["nodes", H, "config"], "custom",
        "reviewer userIds must be unique"),
    "human_no_mandatory_reviewer": (
        [(CFG(H, "reviewers"), [{"userId": "u1", "mandatory": False}, {"userId": "u2", "mandatory": False}])],
        ["nodes", H, "config"], "custom", "reviewers must include at least one mandatory reviewer"),
    "human_mandatory_omitted": (
        [(CFG(H, "reviewers"), [{"userId": "u1"}])], ["nodes", H, "config"], "custom",
        "reviewers must include at least one mandatory reviewer"),
    "human_reviewers_empty": (
        [(CFG(H, "reviewers"), [])], ["nodes", H, "config"], "custom",
        "reviewers must include at least one mandatory reviewer"),
    "human_reviewers_101": (
        [(CFG(H, "reviewers"), [{"userId": f"u{i}", "mandatory": True} for i in range(101)])],
        ["nodes", H, "config", "reviewers"], "too_big", None),
    "human_reviewers_not_array": ([(CFG(H, "reviewers"), {"userId": "u1"})], ["nodes", H, "config", "reviewers"],
                                  "invalid_type", None),
    "human_reviewer_not_object": ([(CFG(H, "reviewers"), ["u1"])], ["nodes", H, "config", "reviewers", 0],
                                  "invalid_type", None),
    "human_reviewer_user_id_missing": ([(CFG(H, "reviewers"), [{"mandatory": True}])],
                                       ["nodes", H, "config", "reviewers", 0, "userId"], "invalid_type", None),
    "human_reviewer_user_id_empty": ([(CFG(H, "reviewers"), [{"userId": "", "mandatory": True}])],
                                     ["nodes", H, "config", "reviewers", 0, "userId"], "too_small", None),
    "human_reviewer_user_id_257_chars": ([(CFG(H, "reviewers"), [{"userId": "u" * 257, "mandatory": True}])],
                                         ["nodes", H, "config", "reviewers", 0, "userId"], "too_big", None),
    "human_reviewer_mandatory_string": ([(CFG(H, "reviewers"), [{"userId": "u1", "mandatory": "yes"}])],
                                        ["nodes", H, "config", "reviewers", 0, "mandatory"], "invalid_type", None),
    "human_reviewer_unknown_key": ([(CFG(H, "reviewers"), [{"userId": "u1", "mandatory": True, "role": "x"}])],
                                   ["nodes", H, "config", "reviewers", 0], "unrecognized_keys", None),
    "human_reviewer_ids_empty": ([(CFG(H), {"reviewerIds": []})], ["nodes", H, "config", "reviewerIds"],
                                 "too_small", None),
    "human_reviewer_ids_101": ([(CFG(H), {"reviewerIds": [f"u{i}" for i in range(101)]})],
                               ["nodes", H, "config", "reviewerIds"], "too_big", None),
    "human_reviewer_id_empty": ([(CFG(H), {"reviewerIds": ["u1", ""]})], ["nodes", H, "config", "reviewerIds", 1],
                                "too_small", None),
    "human_reviewer_id_number": ([(CFG(H), {"reviewerIds": [7]})], ["nodes", H, "config", "reviewerIds", 0],
                                 "invalid_type", None),
    "human_reviewer_emails_51": ([(CFG(H, "reviewerEmails"), emails(51))], ["nodes", H, "config", "reviewerEmails"],
                                "too_big", None),
    "human_comment_body_8001_chars": ([(CFG(H, "commentBody"), "c" * 8001)], ["nodes", H, "config", "commentBody"],
                                      "too_big", None),
    "human_config_unknown_key": ([(CFG(H, "quorum"), 1)], ["nodes", H, "config"], "unrecognized_keys", None),
    # ---- notification config
    "notification_channel_missing": ([(CFG(N, "channel"), DELETE)], ["nodes", N, "config", "channel"],
                                     "invalid_type", None),
    "notification_channel_unknown": ([(CFG(N, "channel"), "sms")], ["nodes", N, "config", "channel"],
                                     "invalid_enum_value", None),
    "notification_body_template_missing": ([(CFG(N, "bodyTemplate"), DELETE)],
                                           ["nodes", N, "config", "bodyTemplate"], "invalid_type", None),
    "notification_body_template_empty": ([(CFG(N, "bodyTemplate"), "")], ["nodes", N, "config", "bodyTemplate"],
                                         "too_small", None),
    "notification_body_template_16001_chars": ([(CFG(N, "bodyTemplate"), "b" * 16001)],
                                               ["nodes", N, "config", "bodyTemplate"], "too_big", None),
    "notification_email_without_recipients": ([(CFG(N, "recipients"), DELETE)],
                                              ["nodes", N, "config", "recipients"], "custom",
                                              'is required when channel is "email"'),
    "notification_recipients_empty": ([(CFG(N, "recipients"), [])], ["nodes", N, "config", "recipients"],
                                      "too_small", None),
    "notification_recipients_51": ([(CFG(N, "recipients"), emails(51))], ["nodes", N, "config", "recipients"],
                                   "too_big", None),
    "notification_recipient_not_email": ([(CFG(N, "recipients"), ["ok@example.com", "buyer"])],
                                         ["nodes", N, "config", "recipients", 1], "invalid_string",
                                         "must be an e-mail address"),
    "notification_subject_template_2001_chars": ([(CFG(N, "subjectTemplate"), "s" * 2001)],
                                                 ["nodes", N, "config", "subjectTemplate"], "too_big", None),
    "notification_slack_without_slack_target": ([(CFG(N, "channel"), "slack"), (CFG(N, "recipients"), DELETE)],
                                                ["nodes", N, "config", "slackTarget"], "custom",
                                                'is required when channel is "slack"'),
    "notification_email_with_slack_blocks": ([(CFG(N, "format"), "slack-blocks")],
                                             ["nodes", N, "config", "format"], "custom",
                                             '"slack-blocks" requires channel "slack"'),
    "notification_format_unknown": ([(CFG(N, "format"), "markdown")], ["nodes", N, "config", "format"],
                                    "invalid_enum_value", None),
    "notification_config_unknown_key": ([(CFG(N, "cc"), ["x@example.com"])], ["nodes", N, "config"],
                                        "unrecognized_keys", None),
    # ---- webhook config
    "webhook_url_missing": ([(CFG(W, "url"), DELETE)], ["nodes", W, "config", "url"], "invalid_type", None),
    "webhook_url_empty": ([(CFG(W, "url"), "")], ["nodes", W, "config", "url"], "too_small", None),
    "webhook_url_2001_chars": ([(CFG(W, "url"), "https://h.example.com/" + "p" * 1979)],
                               ["nodes", W, "config", "url"], "too_big", None),
    "webhook_url_http": ([(CFG(W, "url"), "http://hooks.example.com/in")], ["nodes", W, "config", "url"],
                         "custom", "must use https scheme"),
    "webhook_mode_unknown": ([(CFG(W, "mode"), "batch")], ["nodes", W, "config", "mode"], "invalid_enum_value", None),
    "webhook_method_put": ([(CFG(W, "method"), "PUT")], ["nodes", W, "config", "method"], "invalid_enum_value", None),
    "webhook_method_lowercase": ([(CFG(W, "method"), "post")], ["nodes", W, "config", "method"],
                                 "invalid_enum_value", None),
    "webhook_auth_mode_unknown": ([(CFG(W, "authMode"), "basic")], ["nodes", W, "config", "authMode"],
                                  "invalid_enum_value", None),
    "webhook_token_without_auth_token_header": ([(CFG(W, "authMode"), "token")],
                                                ["nodes", W, "config", "authTokenHeader"], "custom",
                                                'is required when authMode is "token"'),
    "webhook_auth_token_header_not_a_header_name": (
        [(CFG(W, "authMode"), "token"), (CFG(W, "authTokenHeader"), "Api Token")],
        ["nodes", W, "config", "authTokenHeader"], "custom", "is not an HTTP header name"),
    "webhook_auth_token_header_x_velt": (
        [(CFG(W, "authMode"), "token"), (CFG(W, "authTokenHeader"), "X-Velt-Token")],
        ["nodes", W, "config", "authTokenHeader"], "custom", "is reserved: x-velt-* headers are set by velt"),
    "webhook_auth_token_header_reserved": (
        [(CFG(W, "authMode"), "token"), (CFG(W, "authTokenHeader"), "Content-Type")],
        ["nodes", W, "config", "authTokenHeader"], "custom", "is a reserved header name"),
    "webhook_auth_token_header_empty": ([(CFG(W, "authTokenHeader"), "")],
                                        ["nodes", W, "config", "authTokenHeader"], "too_small", None),
    "webhook_auth_token_header_257_chars": ([(CFG(W, "authTokenHeader"), "h" * 257)],
                                            ["nodes", W, "config", "authTokenHeader"], "too_big", None),
    "webhook_timeout_999": ([(CFG(W, "timeoutMs"), 999)], ["nodes", W, "config", "timeoutMs"], "too_small", None),
    "webhook_timeout_60001": ([(CFG(W, "timeoutMs"), 60001)], ["nodes", W, "config", "timeoutMs"], "too_big", None),
    "webhook_timeout_fraction": ([(CFG(W, "timeoutMs"), 1500.5)], ["nodes", W, "config", "timeoutMs"],
                                 "invalid_type", None),
    "webhook_expected_status_codes_21": ([(CFG(W, "expectedStatusCodes"), [200] * 21)],
                                         ["nodes", W, "config", "expectedStatusCodes"], "too_big", None),
    "webhook_expected_status_code_99": ([(CFG(W, "expectedStatusCodes"), [200, 99])],
                                        ["nodes", W, "config", "expectedStatusCodes", 1], "too_small", None),
    "webhook_expected_status_code_600": ([(CFG(W, "expectedStatusCodes"), [600])],
                                         ["nodes", W, "config", "expectedStatusCodes", 0], "too_big", None),
    "webhook_expected_status_code_string": ([(CFG(W, "expectedStatusCodes"), ["200"])],
                                            ["nodes", W, "config", "expectedStatusCodes", 0], "invalid_type", None),
    "webhook_body_template_unknown": ([(CFG(W, "bodyTemplate"), "raw")], ["nodes", W, "config", "bodyTemplate"],
                                      "invalid_enum_value", None),
    "webhook_body_template_none_with_default_post": ([(CFG(W, "bodyTemplate"), "none")],
                                                     ["nodes", W, "config", "bodyTemplate"], "custom",
                                                     '"none" requires method "GET"'),
    "webhook_body_template_none_with_post": ([(CFG(W, "bodyTemplate"), "none"), (CFG(W, "method"), "POST")],
                                             ["nodes", W, "config", "bodyTemplate"], "custom", None),
    "webhook_request_headers_array": ([(CFG(W, "requestHeaders"), [])], ["nodes", W, "config", "requestHeaders"],
                                      "invalid_type", None),
    "webhook_request_headers_51": ([(CFG(W, "requestHeaders"), headers(51))],
                                   ["nodes", W, "config", "requestHeaders"], "too_big", None),
    "webhook_request_header_x_velt": ([(CFG(W, "requestHeaders"), {"X-Velt-Signature": "forged"})],
                                      ["nodes", W, "config", "requestHeaders", "X-Velt-Signature"], "custom",
                                      "is reserved: x-velt-* headers are set by velt"),
    "webhook_request_header_host": ([(CFG(W, "requestHeaders"), {"host": "evil.example"})],
                                    ["nodes", W, "config", "requestHeaders", "host"], "custom",
                                    "is a reserved header name"),
    "webhook_request_header_content_length_mixed_case": (
        [(CFG(W, "requestHeaders"), {"Content-LENGTH": "1"})],
        ["nodes", W, "config", "requestHeaders", "Content-LENGTH"], "custom", "is a reserved header name"),
    "webhook_request_header_transfer_encoding": (
        [(CFG(W, "requestHeaders"), {"Transfer-Encoding": "chunked"})],
        ["nodes", W, "config", "requestHeaders", "Transfer-Encoding"], "custom", "is a reserved header name"),
    "webhook_request_header_proxy_authorization": (
        [(CFG(W, "requestHeaders"), {"Proxy-Authorization": "x"})],
        ["nodes", W, "config", "requestHeaders", "Proxy-Authorization"], "custom", "is a reserved header name"),
    "webhook_request_header_not_a_header_name": ([(CFG(W, "requestHeaders"), {"X Trace": "1"})],
                                                 ["nodes", W, "config", "requestHeaders", "X Trace"], "custom",
                                                 "is not an HTTP header name"),
    "webhook_request_header_empty_name": ([(CFG(W, "requestHeaders"), {"": "1"})],
                                          ["nodes", W, "config", "requestHeaders", ""], "custom",
                                          "is not an HTTP header name"),
    "webhook_request_header_value_number": ([(CFG(W, "requestHeaders"), {"X-Num": 1})],
                                            ["nodes", W, "config", "requestHeaders", "X-Num"], "invalid_type",
                                            "must be a string"),
    "webhook_request_header_value_with_line_break": (
        [(CFG(W, "requestHeaders"), {"X-Trace": "a\r\nX-Injected: 1"})],
        ["nodes", W, "config", "requestHeaders", "X-Trace"], "invalid_string", "must not contain line breaks"),
    "webhook_request_header_value_4097_chars": ([(CFG(W, "requestHeaders"), {"X-Big": "v" * 4097})],
                                                ["nodes", W, "config", "requestHeaders", "X-Big"], "too_big", None),
    "webhook_require_non_empty_output_number": ([(CFG(W, "requireNonEmptyOutput"), 1)],
                                                ["nodes", W, "config", "requireNonEmptyOutput"], "invalid_type", None),
    "webhook_node_config_unknown_key": ([(CFG(W, "secret"), "s" * 20)], ["nodes", W, "config"],
                                   "unrecognized_keys", None),
    # ---- edges
    "edge_not_object": ([(("edges", 2), "publish->hook")], ["edges", 2], "invalid_type", None),
    "edge_from_missing": ([(("edges", 2, "from"), DELETE)], ["edges", 2, "from"], "invalid_type", "is required"),
    "edge_to_missing": ([(("edges", 2, "to"), DELETE)], ["edges", 2, "to"], "invalid_type", "is required"),
    "edge_from_empty": ([(("edges", 2, "from"), "")], ["edges", 2, "from"], "too_small", None),
    "edge_to_65_chars": ([(("edges", 2, "to"), "h" * 65)], ["edges", 2, "to"], "too_big", None),
    "edge_from_number": ([(("edges", 2, "from"), 1)], ["edges", 2, "from"], "invalid_type", None),
    "edge_to_array": ([(("edges", 2, "to"), ["hook"])], ["edges", 2, "to"], "invalid_type", None),
    "edge_from_null": ([(("edges", 2, "from"), None)], ["edges", 2, "from"], "invalid_type", None),
    "edge_endpoint_without_kind": ([(("edges", 2, "from"), {"nodeId": "publish"})], ["edges", 2, "from", "kind"],
                                   "invalid_type", None),
    "edge_endpoint_unknown_kind": ([(("edges", 2, "from"), {"kind": "step", "nodeId": "publish"})],
                                   ["edges", 2, "from", "kind"], "invalid_enum_value", None),
    "edge_node_endpoint_without_node_id": ([(("edges", 2, "to"), {"kind": "node"})], ["edges", 2, "to", "nodeId"],
                                           "invalid_type", None),
    "edge_node_endpoint_with_group_id": ([(("edges", 2, "to"), {"kind": "node", "groupId": "hook"})],
                                         ["edges", 2, "to"], "unrecognized_keys", None),
    "edge_node_endpoint_node_id_empty": ([(("edges", 2, "to"), {"kind": "node", "nodeId": ""})],
                                         ["edges", 2, "to", "nodeId"], "too_small", None),
    "edge_group_endpoint_without_group_id": ([(("edges", 2, "to"), {"kind": "group"})],
                                             ["edges", 2, "to", "groupId"], "invalid_type", None),
    "edge_group_endpoint_group_id_65_chars": ([(("edges", 2, "to"), {"kind": "group", "groupId": "g" * 65})],
                                              ["edges", 2, "to", "groupId"], "too_big", None),
    "edge_group_endpoint_with_node_id": ([(("edges", 2, "to"), {"kind": "group", "groupId": "g", "nodeId": "x"})],
                                         ["edges", 2, "to"], "unrecognized_keys", None),
    "edge_on_unknown": ([(("edges", 2, "on"), "maybe")], ["edges", 2, "on"], "invalid_enum_value",
                        "must be one of 'approve', 'reject', 'always', 'exhausted', 'custom'"),
    "edge_on_null": ([(("edges", 2, "on"), None)], ["edges", 2, "on"], "invalid_type", None),
    "edge_when_without_on": ([(("edges", 2, "when"), '{"var":"output.ok"}')], ["edges", 2, "when"], "custom",
                             'is only allowed when on is "custom"'),
    "edge_when_with_on_approve": ([(("edges", 0, "when"), '{"var":"output.ok"}')], ["edges", 0, "when"], "custom",
                                  'is only allowed when on is "custom"'),
    "edge_custom_without_when": ([(("edges", 2, "on"), "custom")], ["edges", 2, "when"], "custom",
                                 'is required when on is "custom"'),
    "edge_when_infix_string": ([(("edges", 2, "on"), "custom"), (("edges", 2, "when"), "output.ok == true")],
                               ["edges", 2, "when"], "custom", None),
    "edge_when_empty": ([(("edges", 2, "on"), "custom"), (("edges", 2, "when"), "")], ["edges", 2, "when"],
                        "too_small", None),
    "edge_when_1001_chars": ([(("edges", 2, "on"), "custom"), (("edges", 2, "when"), when_of_length(1001))],
                             ["edges", 2, "when"], "too_big", None),
    "edge_when_object_not_string": ([(("edges", 2, "on"), "custom"), (("edges", 2, "when"), {"var": "output.ok"})],
                                    ["edges", 2, "when"], "invalid_type", None),
    "edge_loop_on_approve": ([(("edges", 0, "loop"), {"maxIterations": 3})], ["edges", 0, "loop"], "custom",
                             'is only allowed when on is "reject"'),
    "edge_loop_on_default_always": ([(("edges", 2, "loop"), {"maxIterations": 3})], ["edges", 2, "loop"], "custom",
                                    'is only allowed when on is "reject"'),
    "edge_loop_max_iterations_0": ([(("edges", 1, "loop"), {"maxIterations": 0})],
                                   ["edges", 1, "loop", "maxIterations"], "too_small", None),
    "edge_loop_max_iterations_21": ([(("edges", 1, "loop"), {"maxIterations": 21})],
                                    ["edges", 1, "loop", "maxIterations"], "too_big", None),
    "edge_loop_max_iterations_missing": ([(("edges", 1, "loop"), {})], ["edges", 1, "loop", "maxIterations"],
                                         "invalid_type", None),
    "edge_loop_unknown_key": ([(("edges", 1, "loop"), {"maxIterations": 2, "when": "x"})], ["edges", 1, "loop"],
                              "unrecognized_keys", None),
    "edge_loop_not_object": ([(("edges", 1, "loop"), 3)], ["edges", 1, "loop"], "invalid_type", None),
    "edge_unknown_key": ([(("edges", 2, "label"), "next")], ["edges", 2], "unrecognized_keys", None),
    # ---- groups
    "group_not_object": ([(("groups",), ["g"])], ["groups", 0], "invalid_type", None),
    "group_id_missing": (group(groupId=DELETE), ["groups", 0, "groupId"], "invalid_type", None),
    "group_id_empty": (group(groupId=""), ["groups", 0, "groupId"], "too_small", None),
    "group_id_65_chars": (group(groupId="g" * 65), ["groups", 0, "groupId"], "too_big", None),
    "group_member_node_ids_missing": (group(memberNodeIds=DELETE), ["groups", 0, "memberNodeIds"],
                                      "invalid_type", None),
    "group_member_node_ids_empty": (group(memberNodeIds=[]), ["groups", 0, "memberNodeIds"], "too_small", None),
    "group_member_node_ids_501": (group(memberNodeIds=["m1"] * 501), ["groups", 0, "memberNodeIds"], "too_big", None),
    "group_member_node_id_empty": (group(memberNodeIds=["m1", ""]), ["groups", 0, "memberNodeIds", 1],
                                   "too_small", None),
    "group_member_node_id_number": (group(memberNodeIds=[1]), ["groups", 0, "memberNodeIds", 0],
                                    "invalid_type", None),
    "group_expected_steps_missing": (group(expectedSteps=DELETE), ["groups", 0, "expectedSteps"],
                                     "invalid_type", None),
    "group_expected_steps_0": (group(expectedSteps=0), ["groups", 0, "expectedSteps"], "too_small", None),
    "group_expected_steps_501": (group(expectedSteps=501), ["groups", 0, "expectedSteps"], "too_big", None),
    "group_expected_steps_fraction": (group(expectedSteps=1.5), ["groups", 0, "expectedSteps"],
                                      "invalid_type", None),
    "group_quorum_missing": (group(quorum=DELETE), ["groups", 0, "quorum"], "invalid_type", None),
    "group_quorum_0": (group(quorum=0), ["groups", 0, "quorum"], "too_small", None),
    "group_quorum_501": (group(quorum=501), ["groups", 0, "quorum"], "too_big", None),
    "group_on_quorum_met_unknown": (group(onQuorumMet="firstWins"), ["groups", 0, "onQuorumMet"],
                                    "invalid_enum_value", None),
    "group_required_node_ids_not_array": (group(requiredNodeIds="m1"), ["groups", 0, "requiredNodeIds"],
                                          "invalid_type", None),
    "group_required_node_ids_501": (group(requiredNodeIds=["m1"] * 501), ["groups", 0, "requiredNodeIds"],
                                    "too_big", None),
    "group_unknown_key": (group(policy="all"), ["groups", 0], "unrecognized_keys", None),
    # ---- triggers: common fields and exactly one mechanism
    "trigger_not_object": ([(("triggers",), ["t1"])], ["triggers", 0], "invalid_type", None),
    "trigger_id_missing": ([(("triggers",), [{"schedule": SCHEDULE_OK}])], ["triggers", 0, "triggerId"],
                           "invalid_type", None),
    "trigger_id_empty": ([(("triggers",), [trig("schedule", SCHEDULE_OK, "")])], ["triggers", 0, "triggerId"],
                         "too_small", None),
    "trigger_id_129_chars": ([(("triggers",), [trig("schedule", SCHEDULE_OK, "t" * 129)])],
                             ["triggers", 0, "triggerId"], "too_big", None),
    "trigger_event_name_empty": ([(("triggers",), [{**trig("schedule", SCHEDULE_OK), "eventName": ""}])],
                                 ["triggers", 0, "eventName"], "too_small", None),
    "trigger_event_name_129_chars": ([(("triggers",), [{**trig("schedule", SCHEDULE_OK), "eventName": "e" * 129}])],
                                     ["triggers", 0, "eventName"], "too_big", None),
    "trigger_filters_array": ([(("triggers",), [{**trig("schedule", SCHEDULE_OK), "filters": []}])],
                              ["triggers", 0, "filters"], "invalid_type", None),
    "trigger_without_mechanism": ([(("triggers",), [{"triggerId": "t1"}])], ["triggers", 0], "custom",
                                  "must declare exactly one of inboundWebhook, schedule or appTrigger"),
    "trigger_with_two_mechanisms": ([(("triggers",), [{"triggerId": "t1", "schedule": SCHEDULE_OK,
                                                       "appTrigger": APP_OK}])],
                                    ["triggers", 0], "custom",
                                    "must declare exactly one of inboundWebhook, schedule or appTrigger"),
    "trigger_with_three_mechanisms": ([(("triggers",), [{"triggerId": "t1", "schedule": SCHEDULE_OK,
                                                         "appTrigger": APP_OK, "inboundWebhook": INBOUND_OK}])],
                                      ["triggers", 0], "custom", None),
    "trigger_duplicate_trigger_id": ([(("triggers",), [trig("schedule", SCHEDULE_OK, "t1"),
                                                       trig("appTrigger", APP_OK, "t2"),
                                                       trig("inboundWebhook", INBOUND_OK, "t1")])],
                                     ["triggers", 2, "triggerId"], "custom", "is used by more than one trigger"),
    "trigger_unknown_key": ([(("triggers",), [{**trig("schedule", SCHEDULE_OK), "enabled": True}])],
                            ["triggers", 0], "unrecognized_keys", None),
    # ---- inboundWebhook
    "inbound_not_object": (with_trigger("inboundWebhook", "velt"), list(INBOUND), "invalid_type", None),
    "inbound_auth_mode_missing": (with_trigger("inboundWebhook", {"secret": "s" * 16}), list(INBOUND) + ["authMode"],
                                  "invalid_type", None),
    "inbound_auth_mode_unknown": (inbound(authMode="token"), list(INBOUND) + ["authMode"], "invalid_enum_value", None),
    "inbound_secret_missing": (with_trigger("inboundWebhook", {"authMode": "hmac"}), list(INBOUND) + ["secret"],
                               "invalid_type", None),
    "inbound_secret_15_chars": (inbound(secret="s" * 15), list(INBOUND) + ["secret"], "too_small", None),
    "inbound_secret_513_chars": (inbound(secret="s" * 513), list(INBOUND) + ["secret"], "too_big", None),
    "inbound_provider_unknown": (inbound(provider="gitlab"), list(INBOUND) + ["provider"], "invalid_enum_value", None),
    "inbound_bearer_with_github": (inbound(authMode="bearer", provider="github"), list(INBOUND) + ["authMode"],
                                   "custom", '"bearer" is only allowed with provider "velt"'),
    "inbound_bearer_with_custom": (inbound(authMode="bearer", provider="custom"), list(INBOUND) + ["authMode"],
                                   "custom", '"bearer" is only allowed with provider "velt"'),
    "inbound_signature_header_with_velt": (inbound(signatureHeader="X-Sig"), list(INBOUND) + ["signatureHeader"],
                                           "custom", 'is only used with provider "custom"'),
    "inbound_signature_algorithm_with_github": (inbound(provider="github", signatureAlgorithm="sha256"),
                                                list(INBOUND) + ["signatureAlgorithm"], "custom",
                                                'is only used with provider "custom"'),
    "inbound_signature_prefix_with_vercel": (inbound(provider="vercel", signaturePrefix="sha1="),
                                             list(INBOUND) + ["signaturePrefix"], "custom", None),
    "inbound_event_name_header_with_velt": (inbound(eventNameHeader="X-Event"),
                                            list(INBOUND) + ["eventNameHeader"], "custom", None),
    "inbound_custom_without_signature_header": (inbound(provider="custom", signatureAlgorithm="sha256"),
                                                list(INBOUND) + ["signatureHeader"], "custom",
                                                'is required for provider "custom"'),
    "inbound_custom_without_signature_algorithm": (inbound(provider="custom", signatureHeader="X-Sig"),
                                                   list(INBOUND) + ["signatureAlgorithm"], "custom",
                                                   'is required for provider "custom"'),
    "inbound_signature_header_not_a_header_name": (inbound(provider="custom", signatureHeader="X Sig",
                                                           signatureAlgorithm="sha1"),
                                                   list(INBOUND) + ["signatureHeader"], "invalid_string",
                                                   "must be an HTTP header name"),
    "inbound_signature_algorithm_md5": (inbound(provider="custom", signatureHeader="X-Sig",
                                                signatureAlgorithm="md5"),
                                        list(INBOUND) + ["signatureAlgorithm"], "invalid_enum_value", None),
    "inbound_signature_prefix_65_chars": (inbound(provider="custom", signatureHeader="X-Sig",
                                                  signatureAlgorithm="sha1", signaturePrefix="p" * 65),
                                          list(INBOUND) + ["signaturePrefix"], "too_big", None),
    "inbound_allowed_events_empty": (inbound(allowedEvents=[]), list(INBOUND) + ["allowedEvents"], "too_small", None),
    "inbound_allowed_events_51": (inbound(allowedEvents=[f"e{i}" for i in range(51)]),
                                  list(INBOUND) + ["allowedEvents"], "too_big", None),
    "inbound_allowed_event_129_chars": (inbound(allowedEvents=["e" * 129]), list(INBOUND) + ["allowedEvents", 0],
                                        "too_big", None),
    "inbound_event_name_header_not_a_header_name": (
        inbound(provider="custom", signatureHeader="X-Sig", signatureAlgorithm="sha1", eventNameHeader="X:Event"),
        list(INBOUND) + ["eventNameHeader"], "invalid_string", None),
    "inbound_idempotency_header_not_a_header_name": (inbound(idempotencyHeader="Id (x)"),
                                                     list(INBOUND) + ["idempotencyHeader"], "invalid_string", None),
    "inbound_idempotency_body_path_empty": (inbound(idempotencyBodyPath=""),
                                            list(INBOUND) + ["idempotencyBodyPath"], "too_small", None),
    "inbound_idempotency_body_path_501_chars": (inbound(idempotencyBodyPath="p" * 501),
                                                list(INBOUND) + ["idempotencyBodyPath"], "too_big", None),
    "inbound_payload_mapping_unknown": (inbound(payloadMapping="merge"), list(INBOUND) + ["payloadMapping"],
                                        "invalid_enum_value", None),
    "inbound_unknown_key": (inbound(url="https://x.example.com"), list(INBOUND), "unrecognized_keys", None),
    # ---- schedule
    "schedule_not_object": (with_trigger("schedule", "0 9 * * *"), list(SCHEDULE), "invalid_type", None),
    "schedule_cron_missing": (with_trigger("schedule", {"timezone": "UTC", "enabled": True}),
                              list(SCHEDULE) + ["cron"], "invalid_type", None),
    "schedule_timezone_missing": (with_trigger("schedule", {"cron": "* * * * *", "enabled": True}),
                                  list(SCHEDULE) + ["timezone"], "invalid_type", None),
    "schedule_enabled_missing": (with_trigger("schedule", {"cron": "* * * * *", "timezone": "UTC"}),
                                 list(SCHEDULE) + ["enabled"], "invalid_type", None),
    "schedule_enabled_string": (schedule(enabled="yes"), list(SCHEDULE) + ["enabled"], "invalid_type", None),
    "schedule_payload_template_array": (schedule(payloadTemplate=[]), list(SCHEDULE) + ["payloadTemplate"],
                                        "invalid_type", None),
    "schedule_cron_empty": (schedule(cron=""), list(SCHEDULE) + ["cron"], "too_small", None),
    "schedule_cron_201_chars": (schedule(cron="0 9 * * " + "1," * 96 + "1"), list(SCHEDULE) + ["cron"],
                                "too_big", None),
    "schedule_timezone_empty": (schedule(timezone=""), list(SCHEDULE) + ["timezone"], "too_small", None),
    "schedule_timezone_65_chars": (schedule(timezone="A" * 65), list(SCHEDULE) + ["timezone"], "too_big", None),
    "schedule_unknown_key": (schedule(jitterMs=5), list(SCHEDULE), "unrecognized_keys", None),
    # ---- appTrigger
    "app_not_object": (with_trigger("appTrigger", []), list(APP), "invalid_type", None),
    "app_provider_missing": (with_trigger("appTrigger", {"installationRef": "i"}), list(APP) + ["provider"],
                             "invalid_type", None),
    "app_provider_unknown": (app(provider="gitlab"), list(APP) + ["provider"], "invalid_enum_value", None),
    "app_installation_ref_missing": (with_trigger("appTrigger", {"provider": "github"}),
                                     list(APP) + ["installationRef"], "invalid_type", None),
    "app_installation_ref_empty": (app(installationRef=""), list(APP) + ["installationRef"], "too_small", None),
    "app_installation_ref_257_chars": (app(installationRef="i" * 257), list(APP) + ["installationRef"],
                                       "too_big", None),
    "app_repo_filter_201": (app(repoFilter=[f"r{i}" for i in range(201)]), list(APP) + ["repoFilter"],
                            "too_big", None),
    "app_repo_filter_entry_empty": (app(repoFilter=[""]), list(APP) + ["repoFilter", 0], "too_small", None),
    "app_repo_filter_entry_201_chars": (app(repoFilter=["r" * 201]), list(APP) + ["repoFilter", 0], "too_big", None),
    "app_project_filter_not_array": (app(projectFilter="p"), list(APP) + ["projectFilter"], "invalid_type", None),
    "app_allowed_events_empty": (app(allowedEvents=[]), list(APP) + ["allowedEvents"], "too_small", None),
    "app_payload_filters_21": (app(payloadFilters=[{"path": "a", "in": [1]}] * 21), list(APP) + ["payloadFilters"],
                               "too_big", None),
    "app_payload_filter_path_missing": (app(payloadFilters=[{"in": [1]}]),
                                        list(APP) + ["payloadFilters", 0, "path"], "invalid_type", None),
    "app_payload_filter_in_missing": (app(payloadFilters=[{"path": "a"}]),
                                      list(APP) + ["payloadFilters", 0, "in"], "invalid_type", None),
    "app_payload_filter_in_empty": (app(payloadFilters=[{"path": "a", "in": []}]),
                                    list(APP) + ["payloadFilters", 0, "in"], "too_small", None),
    "app_payload_filter_in_101": (app(payloadFilters=[{"path": "a", "in": list(range(101))}]),
                                  list(APP) + ["payloadFilters", 0, "in"], "too_big", None),
    "app_payload_filter_unknown_key": (app(payloadFilters=[{"path": "a", "in": [1], "op": "eq"}]),
                                       list(APP) + ["payloadFilters", 0], "unrecognized_keys", None),
    "app_unknown_key": (app(secret="s" * 16), list(APP), "unrecognized_keys", None),
    # ---- webhookConfig {url, secret, eventTypes?}
    "webhook_config_not_object": ([(("webhookConfig",), "https://events.example.com")], ["webhookConfig"],
                                  "invalid_type", None),
    "webhook_config_url_missing": ([(("webhookConfig",), {"secret": "k" * 16})], ["webhookConfig", "url"],
                                   "invalid_type", None),
    "webhook_config_url_http": (webhook_config(url="http://events.example.com"), ["webhookConfig", "url"],
                                "custom", "must use https scheme"),
    "webhook_config_url_2001_chars": (webhook_config(url="https://e.example.com/" + "p" * 1979),
                                      ["webhookConfig", "url"], "too_big", None),
    "webhook_config_secret_missing": ([(("webhookConfig",), {"url": "https://events.example.com"})],
                                      ["webhookConfig", "secret"], "invalid_type", None),
    "webhook_config_secret_15_chars": (webhook_config(secret="k" * 15), ["webhookConfig", "secret"],
                                       "too_small", None),
    "webhook_config_secret_513_chars": (webhook_config(secret="k" * 513), ["webhookConfig", "secret"],
                                        "too_big", None),
    "webhook_config_event_types_51": (webhook_config(eventTypes=[f"e.{i}" for i in range(51)]),
                                      ["webhookConfig", "eventTypes"], "too_big", None),
    "webhook_config_event_type_empty": (webhook_config(eventTypes=[""]), ["webhookConfig", "eventTypes", 0],
                                        "too_small", None),
    "webhook_config_event_type_129_chars": (webhook_config(eventTypes=["e" * 129]),
                                            ["webhookConfig", "eventTypes", 0], "too_big", None),
    "webhook_config_unknown_key": (webhook_config(headers={}), ["webhookConfig"], "unrecognized_keys", None),
}

# Group cases apply to group_base(), the rest to base().
GROUP_CASES = {name for name in INVALID if name.startswith("group_")}

# Bad e-mail addresses in human reviewerEmails (each its own case).
BAD_EMAILS = {
    "no_at": "buyer.example.com",
    "at_first": "@example.com",
    "two_ats": "a@b@example.com",
    "no_dot_in_domain": "a@example",
    "domain_starts_with_dot": "a@.example.com",
    "ends_with_dot": "a@example.com.",
    "space": "a b@example.com",
    "angle_bracket": "<a@example.com>",
    "parenthesis": "a(b)@example.com",
    "comma": "a,b@example.com",
    "control_character": "a\x7f@example.com",
    "too_short": "a@",
}
for _k, _v in BAD_EMAILS.items():
    INVALID["human_reviewer_email_" + _k] = ([(CFG(H, "reviewerEmails"), ["ok@example.com", _v])],
                                             ["nodes", H, "config", "reviewerEmails", 1], None, None)
INVALID["human_reviewer_email_321_chars"] = ([(CFG(H, "reviewerEmails"), ["a" * 309 + "@example.com"])],
                                             ["nodes", H, "config", "reviewerEmails", 0], "too_big", None)

# Bad Slack targets: a channel id (optionally #name) of <= 80 characters
# [A-Za-z0-9._-], or an https incoming-webhook URL.
BAD_SLACK_TARGETS = {
    "hash_only": "#",
    "space": "team channel",
    "exclamation": "alerts!",
    "81_chars": "C" * 81,
    "http_webhook": "http://hooks.slack.com/services/T0/B0/x",
    "localhost_webhook": "https://localhost/services/T0/B0/x",
    "hash_then_space": "# x",
}
for _k, _v in BAD_SLACK_TARGETS.items():
    INVALID["notification_slack_target_" + _k] = (
        [(CFG(N, "channel"), "slack"), (CFG(N, "recipients"), DELETE), (CFG(N, "slackTarget"), _v)],
        ["nodes", N, "config", "slackTarget"], "custom", None)
INVALID["notification_slack_target_empty"] = (
    [(CFG(N, "channel"), "slack"), (CFG(N, "recipients"), DELETE), (CFG(N, "slackTarget"), "")],
    ["nodes", N, "config", "slackTarget"], "too_small", None)

# Cron expressions: 5 fields, each *, N or N-M (names for month and day of
# week), comma lists, /STEP. Every one refused at triggers[0].schedule.cron.
BAD_CRONS = {
    "minute_60": "60 * * * *",
    "hour_24": "* 24 * * *",
    "day_of_month_0": "* * 0 * *",
    "day_of_month_32": "* * 32 * *",
    "month_0": "* * * 0 *",
    "month_13": "* * * 13 *",
    "day_of_week_8": "* * * * 8",
    "four_fields": "* * * *",
    "six_fields": "* * * * * *",
    "descending_range": "5-1 * * * *",
    "step_0": "*/0 * * * *",
    "step_60": "*/60 * * * *",
    "step_999": "*/999 * * * *",
    "step_empty": "*/ * * * *",
    "trailing_comma": "1, * * * *",
    "leading_comma": ",1 * * * *",
    "double_comma": "1,,2 * * * *",
    "letters_in_minute": "a * * * *",
    "month_name_in_minute": "jan * * * *",
    "unknown_month_name": "* * * foo *",
    "full_day_name": "* * * * monday",
    "range_to_star": "1-* * * * *",
    "star_range": "*-5 * * * *",
    "macro": "@daily",
    "blank": "   ",
    "huge_number": "99999999999 * * * *",
}
for _k, _v in BAD_CRONS.items():
    INVALID["schedule_cron_" + _k] = (schedule(cron=_v), list(SCHEDULE) + ["cron"], "custom", None)

BAD_TIMEZONES = {
    "double_slash": "America//Chicago",
    "trailing_slash": "America/",
    "leading_slash": "/UTC",
    "leading_digit": "1UTC",
    "space": "Europe/Paris Time",
    "punctuation": "UTC!",
}
for _k, _v in BAD_TIMEZONES.items():
    INVALID["schedule_timezone_" + _k] = (schedule(timezone=_v), list(SCHEDULE) + ["timezone"], "custom",
                                          "must be an IANA time zone name such as America/Los_Angeles")


# ---------------------------------------------------------------------------
# Accepted variants: name -> changes (to base(), or to group_base() for
# names starting "group_").
# ---------------------------------------------------------------------------
VALID = {
    "definition_id_3_chars": [(("definitionId",), "abc")],
    "definition_id_64_chars": [(("definitionId",), "a" * 64)],
    "definition_id_leading_digit": [(("definitionId",), "1-order")],
    "definition_id_trailing_hyphen": [(("definitionId",), "order-")],
    "name_1_char": [(("name",), "n")],
    "name_200_chars": [(("name",), "n" * 200)],
    "name_200_emoji": [(("name",), "\U0001F600" * 200)],
    "description_empty": [(("description",), "")],
    "description_2000_chars": [(("description",), "d" * 2000)],
    "scope_api_key": [(("scope",), {"level": "apiKey"})],
    "scope_organization": [(("scope",), {"level": "organization", "organizationId": "org-1"})],
    "scope_organization_id_top_level": [(("scope",), {"level": "organization"}), (("organizationId",), "org-1")],
    "scope_organization_id_in_both_places_agreeing": [
        (("scope",), {"level": "organization", "organizationId": "org-1"}), (("organizationId",), "org-1")],
    "scope_document": [(("scope",), {"level": "document", "organizationId": "org-1", "documentId": "doc-1"})],
    "scope_document_ids_top_level": [(("scope",), {"level": "document"}), (("organizationId",), "org-1"),
                                     (("documentId",), "doc-1")],
    "scope_organization_id_256_chars": [(("scope",), {"level": "organization", "organizationId": "o" * 256})],
    "nodes_1": [(("nodes",), [agent("solo")]), (("edges",), [])],
    "nodes_100": [(("nodes",), [agent(f"n{i}") for i in range(100)]), (("edges",), [])],
    "edges_empty": [(("nodes",), [agent("solo"), agent("other")]), (("edges",), [])],
    "edges_500": [(("edges",), [{"from": "review", "to": "notify", "on": "reject"}]
                   + [{"from": "publish", "to": "hook"}] * 499)],
    "groups_empty": [(("groups",), [])],
    "triggers_empty": [(("triggers",), [])],
    "triggers_50": [(("triggers",), [trig("schedule", SCHEDULE_OK, f"t{i}") for i in range(50)])],
    "tags_empty": [(("tags",), [])],
    "tags_20_of_64_chars": [(("tags",), [f"{i:02d}" + "t" * 62 for i in range(20)])],
    "custom_empty": [(("custom",), {})],
    "custom_nested": [(("custom",), {"team": "ops", "cost": {"center": 42, "tags": ["a", None]}})],
    # node fields
    "node_id_64_chars": [(("nodes", W, "nodeId"), "h" * 64), (("edges", 2, "to"), "h" * 64)],
    "node_sla_ms_1": [(("nodes", A, "slaMs"), 1)],
    "node_sla_ms_7_days": [(("nodes", A, "slaMs"), 604800000)],
    "node_sla_ms_on_leaf": [(("nodes", W, "slaMs"), 1000)],
    "node_name_and_description": [(("nodes", A, "name"), "n" * 200), (("nodes", A, "description"), "d" * 2000)],
    "node_description_empty": [(("nodes", A, "description"), "")],
    "node_require_non_empty_output": [(("nodes", W, "requireNonEmptyOutput"), True),
                                      (("nodes", A, "requireNonEmptyOutput"), False)],
    # agent config
    "agent_url_path_only": [(CFG(A, "url"), DELETE), (CFG(A, "urlPath"), "documentUrl")],
    "agent_url_and_url_path": [(CFG(A, "urlPath"), "documentUrl")],
    "agent_url_without_scheme": [(CFG(A, "url"), "agents.example.com/run")],
    "agent_url_2000_chars": [(CFG(A, "url"), "https://a.example.com/" + "p" * 1978)],
    "agent_url_path_500_chars": [(CFG(A, "urlPath"), "p" * 500)],
    "agent_id_256_chars": [(CFG(A, "agentId"), "a" * 256)],
    "agent_every_optional_field": [(CFG(A), {
        "agentId": "copy-agent", "url": "https://a.example.com", "urlPath": "doc.url", "crossPageExecute": True,
        "maxUrlsToProcess": 500, "userContextMapping": {"user": "p" * 500, "team": "t"},
        "promptOverride": "p" * 8000, "inputMapping": {"k": [1, {"x": None}]}, "pollIntervalMs": 60000,
        "agentMaxRuntimeMs": 86400000, "blocking": False, "requireNonEmptyOutput": True})],
    "agent_lower_limits": [(CFG(A, "maxUrlsToProcess"), 1), (CFG(A, "pollIntervalMs"), 5000),
                           (CFG(A, "agentMaxRuntimeMs"), 1), (CFG(A, "promptOverride"), "")],
    "agent_blocking_with_all_resolved": [(CFG(A, "blocking"), True),
                                         (CFG(A, "resolutionPolicy"), {"kind": "allResolved"})],
    "agent_blocking_with_min_resolved": [(CFG(A, "blocking"), True),
                                         (CFG(A, "resolutionPolicy"), {"kind": "minResolved", "minCount": 1000})],
    "agent_resolution_policy_without_blocking": [(CFG(A, "resolutionPolicy"), {"kind": "minResolved",
                                                                                "minCount": 1})],
    "agent_user_context_mapping_empty": [(CFG(A, "userContextMapping"), {})],
    # human config
    "human_reviewer_ids": [(CFG(H), {"reviewerIds": ["u1", "u2"]})],
    "human_reviewer_ids_100": [(CFG(H), {"reviewerIds": [f"u{i}" for i in range(100)]})],
    "human_reviewers_100_one_mandatory": [(CFG(H, "reviewers"), [{"userId": f"u{i}", "mandatory": i == 99}
                                                                 for i in range(100)])],
    "human_reviewers_mixed_mandatory": [(CFG(H, "reviewers"), [{"userId": "u1", "mandatory": False},
                                                               {"userId": "u2", "mandatory": True}])],
    "human_reviewer_user_id_256_chars": [(CFG(H, "reviewers"), [{"userId": "u" * 256, "mandatory": True}])],
    "human_reviewer_emails_50": [(CFG(H, "reviewerEmails"), emails(50))],
    "human_reviewer_emails_empty": [(CFG(H, "reviewerEmails"), [])],
    "human_reviewer_email_plus_and_subdomain": [(CFG(H, "reviewerEmails"), ["first.last+tag@mail.example.co.uk"])],
    "human_reviewer_email_3_chars_minimum_shape": [(CFG(H, "reviewerEmails"), ["a@b.c"])],
    "human_comment_body_8000_chars": [(CFG(H, "commentBody"), "c" * 8000)],
    "human_require_non_empty_output": [(CFG(H, "requireNonEmptyOutput"), True)],
    # notification config
    "notification_recipients_50": [(CFG(N, "recipients"), emails(50))],
    "notification_body_template_16000_chars": [(CFG(N, "bodyTemplate"), "b" * 16000)],
    "notification_subject_template_2000_chars": [(CFG(N, "subjectTemplate"), "s" * 2000)],
    "notification_email_html": [(CFG(N, "format"), "html")],
    "notification_email_text": [(CFG(N, "format"), "text")],
    "notification_slack_channel_id": [(CFG(N), {"channel": "slack", "slackTarget": "C0123ABC", "bodyTemplate": "b"})],
    "notification_slack_hash_name": [(CFG(N), {"channel": "slack", "slackTarget": "#team-alerts_1.x",
                                               "bodyTemplate": "b"})],
    "notification_slack_target_80_chars": [(CFG(N), {"channel": "slack", "slackTarget": "C" * 80,
                                                     "bodyTemplate": "b"})],
    "notification_slack_incoming_webhook": [(CFG(N), {
        "channel": "slack", "slackTarget": "https://hooks.slack.com/services/T0/B0/xyz", "bodyTemplate": "b"})],
    "notification_slack_blocks": [(CFG(N), {"channel": "slack", "slackTarget": "C1", "bodyTemplate": "[]",
                                            "format": "slack-blocks"})],
    "notification_slack_with_recipients": [(CFG(N), {"channel": "slack", "slackTarget": "C1", "bodyTemplate": "b",
                                                     "recipients": ["a@example.com"]})],
    "notification_require_non_empty_output": [(CFG(N, "requireNonEmptyOutput"), False)],
    # webhook config
    "webhook_every_optional_field": [(CFG(W), {
        "url": "https://hooks.example.com/in", "mode": "async", "method": "POST", "authMode": "token",
        "authTokenHeader": "X-Api-Token", "timeoutMs": 60000, "expectedStatusCodes": [100, 599],
        "bodyTemplate": "pass-through", "requestHeaders": {"X-Trace": "abc", "Authorization": "Bearer t"},
        "requireNonEmptyOutput": True})],
    "webhook_get_with_body_none": [(CFG(W, "method"), "GET"), (CFG(W, "bodyTemplate"), "none")],
    "webhook_auth_none": [(CFG(W, "authMode"), "none")],
    "webhook_auth_hmac": [(CFG(W, "authMode"), "hmac"), (CFG(W, "mode"), "sync")],
    "webhook_timeout_1000": [(CFG(W, "timeoutMs"), 1000)],
    "webhook_expected_status_codes_20": [(CFG(W, "expectedStatusCodes"), list(range(200, 220)))],
    "webhook_expected_status_codes_empty": [(CFG(W, "expectedStatusCodes"), [])],
    "webhook_body_template_envelope": [(CFG(W, "bodyTemplate"), "envelope")],
    "webhook_request_headers_50": [(CFG(W, "requestHeaders"), headers(50))],
    "webhook_request_headers_empty": [(CFG(W, "requestHeaders"), {})],
    "webhook_request_header_value_4096_chars": [(CFG(W, "requestHeaders"), {"X-Big": "v" * 4096})],
    "webhook_request_header_token_characters": [(CFG(W, "requestHeaders"), {"X-A!#$%&'*+-.^_`|~1": "v"})],
    "webhook_request_header_velt_without_dash": [(CFG(W, "requestHeaders"), {"X-Veltish": "v"})],
    "webhook_url_2000_chars": [(CFG(W, "url"), "https://h.example.com/" + "p" * 1978)],
    # edges
    "edge_object_node_endpoints": [(("edges", 2), {"from": {"kind": "node", "nodeId": "publish"},
                                                   "to": {"kind": "node", "nodeId": "hook"}})],
    "edge_on_always_explicit": [(("edges", 2, "on"), "always")],
    "edge_custom_with_when": [(("edges", 2, "on"), "custom"), (("edges", 2, "when"), '{"var":"output.ok"}')],
    "edge_when_1000_chars": [(("edges", 2, "on"), "custom"), (("edges", 2, "when"), when_of_length(1000))],
    "edge_when_1_char": [(("edges", 2, "on"), "custom"), (("edges", 2, "when"), "1")],
    # groups (group_base)
    "group_minimal": [],
    "group_wait_all": group(onQuorumMet="waitAll"),
    "group_cancel_on_quorum": group(onQuorumMet="cancelOnQuorum"),
    "group_join_on_quorum": group(onQuorumMet="joinOnQuorum"),
    "group_required_node_ids": group(requiredNodeIds=["m1"]),
    "group_required_node_ids_empty": group(requiredNodeIds=[]),
    "group_quorum_equals_expected": group(quorum=2),
    "group_id_64_chars": group(groupId="g" * 64) + [(("edges", 0, "to", "groupId"), "g" * 64)],
    # triggers
    "inbound_velt_hmac": inbound(),
    "inbound_velt_bearer": inbound(authMode="bearer"),
    "inbound_github": inbound(provider="github"),
    "inbound_vercel": inbound(provider="vercel"),
    "inbound_custom_every_field": inbound(provider="custom", signatureHeader="X-Hub-Signature-256",
                                          signatureAlgorithm="sha256", signaturePrefix="sha256=",
                                          eventNameHeader="X-GitHub-Event", idempotencyHeader="X-Delivery",
                                          idempotencyBodyPath="p" * 500, payloadMapping="wrap",
                                          allowedEvents=[f"e{i}" for i in range(50)], secret="s" * 512),
    "inbound_custom_sha1_empty_prefix": inbound(provider="custom", signatureHeader="X-Sig",
                                                signatureAlgorithm="sha1", signaturePrefix=""),
    "inbound_pass_through": inbound(payloadMapping="pass-through", allowedEvents=["e" * 128]),
    "trigger_with_event_name_and_filters": [(("triggers",), [{"triggerId": "t" * 128, "eventName": "e" * 128,
                                                              "filters": {"repo": "x"}, "schedule": SCHEDULE_OK}])],
    "schedule_payload_template": schedule(payloadTemplate={"kind": "nightly"}, enabled=False),
    "app_github_every_field": app(repoFilter=["org/repo"] * 200, projectFilter=["p" * 200],
                                  allowedEvents=["push"], installationRef="i" * 256,
                                  payloadFilters=[{"path": "ref", "in": ["main", 1, 2.5, True]}] * 20),
    "app_vercel_minimal": app(provider="vercel"),
    "three_triggers_one_of_each": [(("triggers",), [trig("schedule", SCHEDULE_OK, "a"),
                                                    trig("appTrigger", APP_OK, "b"),
                                                    trig("inboundWebhook", INBOUND_OK, "c")])],
    # webhookConfig
    "webhook_config_minimal": webhook_config(),
    "webhook_config_limits": webhook_config(secret="k" * 512, eventTypes=["e" * 128] * 50),
    "webhook_config_event_types_empty": webhook_config(eventTypes=[]),
}

GOOD_CRONS = {
    "every_minute": "* * * * *",
    "weekdays_nine": "0 9 * * 1-5",
    "every_15_minutes": "*/15 * * * *",
    "names": "0 0 1 jan mon",
    "uppercase_name_ranges": "0 0 1 JAN-DEC sun-sat",
    "lists_ranges_steps": "0,30 8-18/2 * * *",
    "upper_bounds": "59 23 31 12 7",
    "sunday_zero": "0 0 * * 0",
    "surrounding_spaces": "  0 9 * * 1  ",
    "tabs": "0\t9\t*\t*\t*",
    "trailing_tab": "0 9 * * *\t",
    "range_step_59": "0-59/59 * * * *",
}
for _k, _v in GOOD_CRONS.items():
    VALID["schedule_cron_" + _k] = schedule(cron=_v)

GOOD_TIMEZONES = {
    "utc": "UTC",
    "area_location": "America/Los_Angeles",
    "etc_offset_plus": "Etc/GMT+5",
    "etc_offset_minus": "Etc/GMT-14",
    "three_parts": "America/Argentina/Buenos_Aires",
    "64_chars": "A" * 64,
}
for _k, _v in GOOD_TIMEZONES.items():
    VALID["schedule_timezone_" + _k] = schedule(timezone=_v)


def _add(cls, name, fn):
    fn.__name__ = name
    assert not hasattr(cls, name), name
    setattr(cls, name, fn)


class SchemaBase(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def create_api(self, d):
        return velt_api(self.conn, "definitions/create", {"data": d})

    def expect_issue(self, d, path, code, tail):
        resp = self.create_api(d)
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        issues = err["details"].get("issues")
        self.assertTrue(issues, f"a schema failure carries details.issues: {err}")
        first = issues[0]
        self.assertEqual(set(first), {"code", "path", "message"}, first)
        self.assertEqual(first["path"], path, err)
        if code is not None:
            self.assertEqual(first["code"], code, err)
        self.assertEqual(err["message"], first["message"])
        if path:
            self.assertTrue(first["message"].startswith(path_text(path) + " "),
                            f"the message names the field: {first['message']!r}")
        if tail is not None:
            self.assertTrue(first["message"].endswith(tail), f"{first['message']!r} should end with {tail!r}")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_definitions").fetchone()[0], 0,
                         "a refused definition is not stored")
        return issues


def _make_invalid(changes, path, code, tail, group_case):
    def test(self):
        d = apply(group_base() if group_case else base(), changes)
        self.expect_issue(d, path, code, tail)
    return test


class SchemaRuleTest(SchemaBase):
    """One refused request per case of INVALID."""


for _name, (_changes, _path, _code, _tail) in INVALID.items():
    _add(SchemaRuleTest, "test_refuses_" + _name,
         _make_invalid(_changes, _path, _code, _tail, _name in GROUP_CASES))


class SchemaDetailsTest(SchemaBase):
    """Several issues at once, and the raising form."""

    def test_every_issue_is_listed_in_details(self):
        d = base()
        apply(d, [(("name",), ""), (CFG(A, "pollIntervalMs"), 1), (("tags",), [""])])
        resp = self.create_api(d)
        issues = self.assertApiError(resp, "INVALID_ARGUMENT")["details"]["issues"]
        self.assertEqual([i["path"] for i in issues],
                         [["name"], ["nodes", A, "config", "pollIntervalMs"], ["tags", 0]])

    def test_unknown_keys_are_each_an_issue(self):
        d = base()
        d["owner"] = "me"
        d["team"] = "ops"
        issues = self.expect_issue(d, [], "unrecognized_keys", None)
        self.assertEqual(len(issues), 2)

    def test_custom_provider_without_signature_fields_reports_both(self):
        d = apply(base(), inbound(provider="custom"))
        issues = self.expect_issue(d, list(INBOUND) + ["signatureHeader"], "custom", None)
        self.assertEqual([i["path"] for i in issues],
                         [list(INBOUND) + ["signatureHeader"], list(INBOUND) + ["signatureAlgorithm"]])

    def test_agent_without_url_and_blocking_without_policy_reports_both(self):
        d = apply(base(), [(CFG(A, "url"), DELETE), (CFG(A, "blocking"), True)])
        issues = self.expect_issue(d, ["nodes", A, "config"], "custom", None)
        self.assertEqual(len(issues), 2)
        self.assertTrue(issues[1]["message"].endswith("resolutionPolicy required when blocking === true"))

    def test_notification_slack_blocks_on_email_without_recipients_reports_both(self):
        d = apply(base(), [(CFG(N, "recipients"), DELETE), (CFG(N, "format"), "slack-blocks")])
        issues = self.expect_issue(d, ["nodes", N, "config", "recipients"], "custom", None)
        self.assertEqual(issues[1]["path"], ["nodes", N, "config", "format"])

    def test_webhook_token_without_header_and_none_body_with_post_reports_both(self):
        d = apply(base(), [(CFG(W, "authMode"), "token"), (CFG(W, "bodyTemplate"), "none")])
        issues = self.expect_issue(d, ["nodes", W, "config", "authTokenHeader"], "custom", None)
        self.assertEqual(issues[1]["path"], ["nodes", W, "config", "bodyTemplate"])

    def test_two_duplicate_trigger_ids_are_each_reported(self):
        d = apply(base(), [(("triggers",), [trig("schedule", SCHEDULE_OK, "a"), trig("schedule", SCHEDULE_OK, "a"),
                                            trig("schedule", SCHEDULE_OK, "a")])])
        issues = self.expect_issue(d, ["triggers", 1, "triggerId"], "custom", None)
        self.assertEqual([i["path"] for i in issues], [["triggers", 1, "triggerId"], ["triggers", 2, "triggerId"]])

    def test_cron_message_names_the_field_and_its_range(self):
        d = apply(base(), schedule(cron="0 25 * * *"))
        issues = self.expect_issue(d, list(SCHEDULE) + ["cron"], "custom", None)
        self.assertIn("hour field '25' is out of range 0-23", issues[0]["message"])

    def test_cron_with_wrong_field_count_names_the_shape(self):
        d = apply(base(), schedule(cron="0 9 * *"))
        issues = self.expect_issue(d, list(SCHEDULE) + ["cron"], "custom", None)
        self.assertIn("must be a 5-field cron expression", issues[0]["message"])

    def test_null_in_optional_field_says_to_omit_it(self):
        d = apply(base(), [(("tags",), None)])
        self.expect_issue(d, ["tags"], "invalid_type", "must not be null (omit the field instead)")

    def test_schema_error_through_velt_raises_operational_error_code_1(self):
        d = apply(base(), [(("name",), "")])
        # assertVeltRaises checks the class (OperationalError) and code (SQLITE_ERROR).
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('definitions/create', ?)", (json.dumps(d),),
                              message="INVALID_ARGUMENT: name must be at least 1 character")

    def test_scope_error_through_velt_api_has_a_scope_issue(self):
        d = apply(base(), [(("scope",), {"level": "organization"})])
        issues = self.expect_issue(d, ["scope", "organizationId"], "custom", None)
        self.assertEqual(issues[0]["message"], 'scope.organizationId is required when level is "organization"')

    def test_refused_create_leaves_an_enclosing_transaction_usable(self):
        self.conn.execute("BEGIN")
        define(self.conn, base())
        self.expect_invalid_in_txn()
        self.conn.execute("COMMIT")
        self.assertEqual(self.conn.execute("SELECT definition_id FROM velt_definitions").fetchall(),
                         [("order-flow",)])

    def expect_invalid_in_txn(self):
        d = apply(base(), [(("definitionId",), "other-flow"), (("name",), "")])
        resp = self.create_api(d)
        self.assertApiError(resp, "INVALID_ARGUMENT")


class ValidVariantTest(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def check_round_trip(self, d):
        view = define(self.conn, d)
        self.assertEqual(view["definitionId"], d["definitionId"])
        self.assertEqual(view["version"], 1)
        self.assertEqual(view["status"], "active")
        self.assertEqual(view["nodes"], d["nodes"], "nodes are echoed as authored")
        self.assertEqual(view["edges"], d["edges"], "edges are echoed as authored")
        for key in ("groups", "triggers", "tags", "custom", "description"):
            self.assertEqual(view[key], d.get(key), key)
        self.assertNotIn("webhookConfig", view, "webhookConfig is write-only")
        got = velt(self.conn, "definitions/get", {"definitionId": d["definitionId"]})
        self.assertEqual(got, view, "definitions/get returns what create returned")
        (stored,) = self.conn.execute("SELECT definition FROM velt_definitions WHERE definition_id = ?",
                                      (d["definitionId"],)).fetchone()
        self.assertEqual(json.loads(stored), view)
        return view


def _make_valid(changes, group_case):
    def test(self):
        d = apply(group_base() if group_case else base(), changes)
        self.check_round_trip(d)
    return test


for _name, _changes in VALID.items():
    _add(ValidVariantTest, "test_accepts_" + _name, _make_valid(_changes, _name.startswith("group_")))


class DefinitionViewTest(DbTest, VeltAssertions):
    """The DefinitionView (reference 2.1) of accepted definitions."""

    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def test_view_has_exactly_the_documented_keys(self):
        view = define(self.conn, base())
        self.assertEqual(set(view), {"definitionId", "name", "description", "version", "scope", "nodes", "edges",
                                     "groups", "compiled", "triggers", "tags", "custom", "createdAt", "updatedAt",
                                     "status"})

    def test_omitted_optional_parts_are_null(self):
        view = define(self.conn, base())
        for key in ("description", "groups", "triggers", "tags", "custom"):
            self.assertIsNone(view[key], key)

    def test_default_scope_is_api_key_with_null_ids(self):
        view = define(self.conn, base())
        self.assertEqual(view["scope"], {"level": "apiKey", "organizationId": None, "documentId": None})

    def test_organization_scope_takes_the_top_level_id(self):
        view = define(self.conn, apply(base(), [(("scope",), {"level": "organization"}),
                                                (("organizationId",), "org-9")]))
        self.assertEqual(view["scope"], {"level": "organization", "organizationId": "org-9", "documentId": None})

    def test_document_scope_merges_scope_and_top_level_ids(self):
        view = define(self.conn, apply(base(), [(("scope",), {"level": "document", "organizationId": "org-9"}),
                                                (("documentId",), "doc-3")]))
        self.assertEqual(view["scope"], {"level": "document", "organizationId": "org-9", "documentId": "doc-3"})

    def test_top_level_organization_id_without_a_scope_needing_it_is_ignored(self):
        view = define(self.conn, apply(base(), [(("organizationId",), "org-9")]))
        self.assertEqual(view["scope"], {"level": "apiKey", "organizationId": None, "documentId": None})

    def test_webhook_config_is_stored_but_never_returned(self):
        d = apply(base(), webhook_config())
        view = define(self.conn, d)
        self.assertNotIn("webhookConfig", view)
        self.assertNotIn("k" * 16, json.dumps(view))
        got = velt(self.conn, "definitions/get", {"definitionId": "order-flow"})
        self.assertNotIn("webhookConfig", got)

    def test_created_and_updated_at_come_from_the_clock(self):
        self.conn.execute("SELECT velt_set_clock(1700000000123)")
        view = define(self.conn, base())
        self.assertEqual((view["createdAt"], view["updatedAt"]), (1700000000123, 1700000000123))

    def test_velt_definitions_row_columns(self):
        self.conn.execute("SELECT velt_set_clock(1700000000123)")
        define(self.conn, base())
        row = self.conn.execute("SELECT definition_id, name, version, status, created_at, updated_at"
                                " FROM velt_definitions").fetchone()
        self.assertEqual(row, ("order-flow", "Order flow", 1, "active", 1700000000123, 1700000000123))

    def test_get_with_ignored_organization_and_document_ids(self):
        view = define(self.conn, base())
        got = velt(self.conn, "definitions/get", {"definitionId": "order-flow", "organizationId": "o",
                                                  "documentId": "d"})
        self.assertEqual(got, view)

    def test_get_refuses_an_invalid_definition_id(self):
        resp = velt_api(self.conn, "definitions/get", {"data": {"definitionId": "Bad_Id"}})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        self.assertEqual(err["details"]["issues"][0]["path"], ["definitionId"])

    def test_get_refuses_an_unknown_key(self):
        resp = velt_api(self.conn, "definitions/get", {"data": {"definitionId": "order-flow", "version": 1}})
        self.assertApiError(resp, "INVALID_ARGUMENT")

    def test_get_of_a_missing_definition_is_not_found(self):
        define(self.conn, base())
        resp = velt_api(self.conn, "definitions/get", {"data": {"definitionId": "other-flow"}})
        err = self.assertApiError(resp, "NOT_FOUND")
        self.assertEqual(err["message"], "definition 'other-flow' not found")

    def test_create_of_an_active_id_is_already_exists_with_code_1043(self):
        define(self.conn, base())
        d = apply(base(), [(("name",), "Another")])
        # IntegrityError with SQLITE_CONSTRAINT_FUNCTION (1043), checked by assertVeltRaises.
        self.assertVeltRaises("ALREADY_EXISTS", "SELECT velt('definitions/create', ?)", (json.dumps(d),),
                              message="ALREADY_EXISTS: definition 'order-flow' already exists")


class TombstonedDefinitionTest(DbTest, VeltAssertions):
    """A definition marked deleted in storage (status 'tombstoned', as a
    delete leaves it) is hidden, not dispatchable, and its id is free."""

    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, base())
        self.conn.execute("UPDATE _velt_definitions SET status = 'tombstoned' WHERE definition_id = 'order-flow'")
        self.conn.commit()

    def test_get_of_a_tombstoned_definition_is_not_found(self):
        self.assertApiError(velt_api(self.conn, "definitions/get", {"data": {"definitionId": "order-flow"}}),
                            "NOT_FOUND")

    def test_dispatch_of_a_tombstoned_definition_is_failed_precondition(self):
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "order-flow"}),),
                              message="FAILED_PRECONDITION: definition 'order-flow' is deleted")

    def test_create_replaces_a_tombstoned_definition_at_version_1(self):
        view = define(self.conn, apply(base(), [(("name",), "Order flow again")]))
        self.assertEqual((view["version"], view["status"], view["name"]), (1, "active", "Order flow again"))
        self.assertEqual(velt(self.conn, "definitions/get", {"definitionId": "order-flow"}), view)


class CompiledTest(DbTest):
    """compiled.forwardEdges and compiled.loops (reference 2.1)."""

    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def test_approve_edge_compiles_to_a_decision_test(self):
        fwd = define(self.conn, base())["compiled"]["forwardEdges"]
        self.assertEqual(fwd[0], {"from": "review", "to": "publish", "role": "approve",
                                  "when": {"op": "eq", "args": [{"var": "output.decision"}, "approve"]}})

    def test_reject_edge_compiles_to_a_decision_test(self):
        fwd = define(self.conn, base())["compiled"]["forwardEdges"]
        self.assertEqual(fwd[1], {"from": "review", "to": "notify", "role": "reject",
                                  "when": {"op": "eq", "args": [{"var": "output.decision"}, "reject"]}})

    def test_always_edge_compiles_with_null_when(self):
        fwd = define(self.conn, base())["compiled"]["forwardEdges"]
        self.assertEqual(fwd[2], {"from": "publish", "to": "hook", "role": "always", "when": None})

    def test_custom_edge_compiles_to_its_parsed_ast(self):
        ast = {"op": "and", "args": [{"op": "gt", "args": [{"var": "output.score"}, 0.8]},
                                     {"op": "not", "args": [{"op": "isEmpty", "args": [{"var": "output.notes"}]}]}]}
        d = apply(base(), [(("edges", 2, "on"), "custom"), (("edges", 2, "when"), json.dumps(ast, indent=2))])
        fwd = define(self.conn, d)["compiled"]["forwardEdges"]
        self.assertEqual(fwd[2], {"from": "publish", "to": "hook", "role": "custom", "when": ast})

    def test_custom_edge_keeps_its_authored_when_text_in_edges(self):
        text = '{ "var" : "output.ok" }'
        d = apply(base(), [(("edges", 2, "on"), "custom"), (("edges", 2, "when"), text)])
        view = define(self.conn, d)
        self.assertEqual(view["edges"][2]["when"], text)

    def test_object_node_endpoints_compile_to_node_ids(self):
        d = apply(base(), [(("edges", 2), {"from": {"kind": "node", "nodeId": "publish"},
                                           "to": {"kind": "node", "nodeId": "hook"}, "on": "always"})])
        fwd = define(self.conn, d)["compiled"]["forwardEdges"]
        self.assertEqual(fwd[2], {"from": "publish", "to": "hook", "role": "always", "when": None})

    def test_edge_into_a_group_expands_to_each_member_with_to_group_id(self):
        fwd = define(self.conn, group_base())["compiled"]["forwardEdges"]
        self.assertEqual(fwd, [
            {"from": "start", "to": "m1", "role": "always", "when": None, "toGroupId": "g"},
            {"from": "start", "to": "m2", "role": "always", "when": None, "toGroupId": "g"},
        ])

    def test_edge_from_a_group_expands_to_each_member_with_from_group_id(self):
        d = group_base()
        d["nodes"].append(agent("after"))
        d["edges"].append({"from": {"kind": "group", "groupId": "g"}, "to": "after", "on": "approve"})
        fwd = define(self.conn, d)["compiled"]["forwardEdges"]
        self.assertEqual(fwd[2:], [
            {"from": "m1", "to": "after", "role": "approve",
             "when": {"op": "eq", "args": [{"var": "output.decision"}, "approve"]}, "fromGroupId": "g"},
            {"from": "m2", "to": "after", "role": "approve",
             "when": {"op": "eq", "args": [{"var": "output.decision"}, "approve"]}, "fromGroupId": "g"},
        ])

    def test_group_members_keep_declaration_order(self):
        d = apply(group_base(), group(memberNodeIds=["m2", "m1"]))
        fwd = define(self.conn, d)["compiled"]["forwardEdges"]
        self.assertEqual([e["to"] for e in fwd], ["m2", "m1"])

    def test_definition_without_loops_has_empty_compiled_loops(self):
        self.assertEqual(define(self.conn, base())["compiled"]["loops"], [])

    def loop_definition(self, max_iterations=3, exhausted=True):
        d = {
            "definitionId": "loop-flow", "name": "Loop",
            "nodes": [agent("draft", "drafter"),
                      {"nodeId": "review", "type": "human",
                       "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}},
                      agent("publish"), agent("escalate")],
            "edges": [{"from": "draft", "to": "review"},
                      {"from": "review", "to": "publish", "on": "approve"},
                      {"from": "review", "to": "draft", "on": "reject", "loop": {"maxIterations": max_iterations}}],
        }
        if exhausted:
            d["edges"].append({"from": "review", "to": "escalate", "on": "exhausted"})
        return d

    def test_loop_back_edge_compiles_to_a_loop(self):
        view = define(self.conn, self.loop_definition())
        self.assertEqual(view["compiled"]["loops"], [{
            "loopId": "loop_review_draft", "entryNodeId": "draft", "bodyNodeIds": ["draft", "review"],
            "maxIterations": 3, "onExhausted": {"routeToNodeId": "escalate"}}])

    def test_loop_without_exhausted_edge_has_null_on_exhausted(self):
        view = define(self.conn, self.loop_definition(max_iterations=20, exhausted=False))
        loop = view["compiled"]["loops"][0]
        self.assertEqual((loop["maxIterations"], loop["onExhausted"]), (20, None))

    def test_loop_back_edges_and_exhausted_exits_are_not_forward_edges(self):
        view = define(self.conn, self.loop_definition())
        self.assertEqual([(e["from"], e["to"], e["role"]) for e in view["compiled"]["forwardEdges"]],
                         [("draft", "review", "always"), ("review", "publish", "approve")])

    def test_loop_body_is_every_node_between_entry_and_source(self):
        d = self.loop_definition(max_iterations=1)
        d["nodes"].insert(1, agent("check"))
        d["edges"][0] = {"from": "draft", "to": "check"}
        d["edges"].append({"from": "check", "to": "review"})
        loop = define(self.conn, d)["compiled"]["loops"][0]
        self.assertEqual(loop["bodyNodeIds"], ["draft", "check", "review"])
        self.assertEqual(loop["maxIterations"], 1)

    def test_loop_from_a_join_on_quorum_group(self):
        d = {
            "definitionId": "group-loop", "name": "Group loop",
            "nodes": [agent("draft", "drafter"), agent("r1"), agent("r2")],
            "edges": [{"from": "draft", "to": {"kind": "group", "groupId": "g"}},
                      {"from": {"kind": "group", "groupId": "g"}, "to": "draft", "on": "reject",
                       "loop": {"maxIterations": 2}}],
            "groups": [{"groupId": "g", "memberNodeIds": ["r1", "r2"], "expectedSteps": 2, "quorum": 2,
                        "onQuorumMet": "joinOnQuorum"}],
        }
        loop = define(self.conn, d)["compiled"]["loops"][0]
        self.assertEqual(loop, {"loopId": "loop_g_draft", "entryNodeId": "draft",
                                "bodyNodeIds": ["draft", "r1", "r2"], "maxIterations": 2, "onExhausted": None})

    def test_exhausted_exit_of_a_group_loop_is_its_on_exhausted_route(self):
        d = {
            "definitionId": "group-loop", "name": "Group loop",
            "nodes": [agent("draft", "drafter"), agent("r1"), agent("r2"), agent("give-up")],
            "edges": [{"from": "draft", "to": {"kind": "group", "groupId": "g"}},
                      {"from": {"kind": "group", "groupId": "g"}, "to": "draft", "on": "reject",
                       "loop": {"maxIterations": 2}},
                      {"from": {"kind": "group", "groupId": "g"}, "to": "give-up", "on": "exhausted"}],
            "groups": [{"groupId": "g", "memberNodeIds": ["r1", "r2"], "expectedSteps": 2, "quorum": 2,
                        "onQuorumMet": "joinOnQuorum"}],
        }
        view = define(self.conn, d)
        self.assertEqual(view["compiled"]["loops"][0]["onExhausted"], {"routeToNodeId": "give-up"})
        self.assertEqual([(e["from"], e["to"]) for e in view["compiled"]["forwardEdges"]],
                         [("draft", "r1"), ("draft", "r2")])

    def test_each_loop_takes_the_exhausted_exit_of_its_own_source(self):
        d = {
            "definitionId": "two-loops", "name": "Two loops",
            "nodes": [agent("a", "w"), agent("b", "w"), agent("c", "w"), agent("d", "w"), agent("x"), agent("y")],
            "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "d"},
                      {"from": "d", "to": "y", "on": "exhausted"},
                      {"from": "b", "to": "a", "on": "reject", "loop": {"maxIterations": 2}},
                      {"from": "b", "to": "x", "on": "exhausted"},
                      {"from": "d", "to": "c", "on": "reject", "loop": {"maxIterations": 4}}],
        }
        loops = define(self.conn, d)["compiled"]["loops"]
        self.assertEqual([(lp["loopId"], lp["bodyNodeIds"], lp["maxIterations"], lp["onExhausted"]) for lp in loops],
                         [("loop_b_a", ["a", "b"], 2, {"routeToNodeId": "x"}),
                          ("loop_d_c", ["c", "d"], 4, {"routeToNodeId": "y"})])

    def test_compiled_is_stored_in_velt_definitions(self):
        view = define(self.conn, self.loop_definition())
        (stored,) = self.conn.execute("SELECT definition ->> '$.compiled' FROM velt_definitions").fetchone()
        self.assertEqual(json.loads(stored), view["compiled"])


if __name__ == "__main__":
    unittest.main()
