"""Outbound URLs (reference 2.1 webhook url "https, allowlisted", webhookConfig
"url must be https and is SSRF-guarded", Slack "an https incoming-webhook
URL", 3.2 dispatch webhookUrl "must be https and is SSRF-checked"; the
literal messages "webhookUrl must use https scheme" and "webhookUrl host
resolves to a private, loopback, or link-local address"; README "Outbound URL
checks"; ext/url.c).

Every URL must be https, carry no credentials, have a valid host and port,
and must not name a private, loopback, link-local, CGNAT, multicast or
metadata host however the address is spelled. Each case runs through the
four places an outbound URL is written: a webhook node's url, the
definition's webhookConfig.url, a Slack notification's slackTarget, and
dispatch's webhookUrl. One test per (case, place).
"""
import json
import unittest

from velt_helpers import DbTest, VeltAssertions, define, unsynced, velt_api

SCHEME = "must use https scheme"
BLOCKED = "host resolves to a private, loopback, or link-local address"
CREDENTIALS = "must not carry credentials (user@host)"
HOST = "must name a valid host"
PORT = "has an invalid port"
SPACES = "must not contain spaces or control characters"

ACCEPTED = {
    "plain_host": "https://example.com",
    "path_query_fragment": "https://example.com/hooks/in?x=1&y=2#frag",
    "uppercase_host": "https://HOOKS.Example.COM/in",
    "uppercase_scheme": "HTTPS://example.com/in",
    "explicit_port": "https://example.com:8443/in",
    "port_65535": "https://example.com:65535",
    "port_1": "https://example.com:1/",
    "empty_port": "https://example.com:/in",
    "trailing_dot_host": "https://example.com./in",
    "subdomains": "https://a.b.c.example.co.uk",
    "underscore_and_hyphen": "https://my_host-1.example.com",
    "punycode": "https://xn--bcher-kva.example",
    "unicode_host": "https://b\u00fccher.example",
    "host_then_query": "https://example.com?x=1",
    "host_then_fragment": "https://example.com#x",
    "public_ipv4": "https://93.184.216.34/in",
    "public_ipv4_8_8_8_8": "https://8.8.8.8",
    "ipv4_below_cgnat": "https://100.63.255.255",
    "ipv4_above_cgnat": "https://100.128.0.1",
    "ipv4_below_172_16": "https://172.15.255.255",
    "ipv4_above_172_31": "https://172.32.0.1",
    "ipv4_192_169": "https://192.169.0.1",
    "ipv4_169_253": "https://169.253.255.255",
    "ipv4_11": "https://11.0.0.1",
    "ipv4_223_255": "https://223.255.255.255",
    "ipv4_hex_public": "https://0x8.0x8.0x8.0x8",
    "ipv4_decimal_public": "https://134744072",
    "ipv4_short_form_public": "https://8.8.2056",
    "ipv4_three_part_public": "https://1.2.3",
    "ipv4_with_port": "https://8.8.8.8:443/x",
    "ipv6_public": "https://[2606:4700:4700::1111]/in",
    "ipv6_documentation": "https://[2001:db8::1]",
    "ipv6_full_form": "https://[2001:db8:0:0:0:0:0:1]",
    "ipv6_with_port": "https://[2001:db8::1]:8443/in",
    "ipv6_uppercase_hex": "https://[2001:DB8::ABCD]",
    "ipv6_trailing_gap": "https://[2001:db8::]",
    "ipv6_fe00_not_link_local": "https://[fe00::1]",
    "ipv6_mapped_public_ipv4": "https://[::ffff:8.8.8.8]",
    "ipv6_nat64_public_ipv4": "https://[64:ff9b::808:808]",
    "ipv6_embedded_ipv4_at_end": "https://[2001:db8::1.2.3.4]",
    "metadata_as_subdomain_label": "https://metadata.example.com",
    "internal_as_first_label": "https://internal.example.com",
    "localhost_as_first_label": "https://localhost.example.com",
    "internal_without_dot": "https://corpinternal",
    "localhost_suffix_without_dot": "https://mylocalhost",
    "name_ending_in_non_hex_0x_label": "https://example.0xg",
}

REFUSED = {
    # scheme
    "http": ("http://example.com/in", SCHEME),
    "ftp": ("ftp://example.com/in", SCHEME),
    "no_scheme": ("example.com/in", SCHEME),
    "scheme_relative": ("//example.com/in", SCHEME),
    "https_one_slash": ("https:/example.com", SCHEME),
    "javascript": ("javascript:alert(1)", SCHEME),
    # characters, credentials, host, port
    "space_in_host": ("https://exa mple.com", SPACES),
    "tab_in_path": ("https://example.com/a\tb", SPACES),
    "delete_character": ("https://example.com/\x7f", SPACES),
    "user_and_password": ("https://user:pass@example.com/in", CREDENTIALS),
    "user_only": ("https://user@example.com", CREDENTIALS),
    "credentials_hiding_private_host": ("https://example.com@127.0.0.1/", CREDENTIALS),
    "empty_host": ("https://", HOST),
    "empty_host_with_path": ("https:///in", HOST),
    "empty_host_with_query": ("https://?q=1", HOST),
    "host_only_dot": ("https://./in", HOST),
    "host_too_long": ("https://" + "a" * 256 + ".example.com", HOST),
    "invalid_host_character": ("https://exa$mple.com", HOST),
    "invalid_host_percent": ("https://exa%6dple.com", HOST),
    "backslash_ends_host": ("https://\\evil.example", HOST),
    "port_0": ("https://example.com:0/in", PORT),
    "port_65536": ("https://example.com:65536", PORT),
    "port_letters": ("https://example.com:https", PORT),
    "port_huge": ("https://example.com:99999999999999999999", PORT),
    "port_negative": ("https://example.com:-1", PORT),
    # IPv4 loopback, however spelled
    "loopback_dotted": ("https://127.0.0.1/in", BLOCKED),
    "loopback_other": ("https://127.255.0.9", BLOCKED),
    "loopback_trailing_dot": ("https://127.0.0.1./in", BLOCKED),
    "loopback_decimal": ("https://2130706433/in", BLOCKED),
    "loopback_hex": ("https://0x7f000001", BLOCKED),
    "loopback_hex_uppercase": ("https://0X7F.0X0.0X0.0X1", BLOCKED),
    "loopback_hex_short": ("https://0x7f.1", BLOCKED),
    "loopback_octal": ("https://0177.0.0.1", BLOCKED),
    "loopback_octal_whole": ("https://017700000001", BLOCKED),
    "loopback_short_form": ("https://127.1", BLOCKED),
    "loopback_three_part": ("https://127.0.1", BLOCKED),
    "loopback_with_port": ("https://127.0.0.1:8443", BLOCKED),
    "this_network_zero": ("https://0", BLOCKED),
    "this_network_dotted": ("https://0.0.0.0", BLOCKED),
    "hex_prefix_without_digits": ("https://0x", BLOCKED),
    # private, link-local, CGNAT, multicast, reserved
    "private_10": ("https://10.0.0.1", BLOCKED),
    "private_10_top": ("https://10.255.255.255", BLOCKED),
    "private_172_16": ("https://172.16.0.1", BLOCKED),
    "private_172_31": ("https://172.31.255.255", BLOCKED),
    "private_192_168": ("https://192.168.1.1", BLOCKED),
    "private_192_168_decimal": ("https://3232235777", BLOCKED),
    "link_local_metadata_ip": ("https://169.254.169.254/latest/meta-data", BLOCKED),
    "cgnat_bottom": ("https://100.64.0.1", BLOCKED),
    "cgnat_top": ("https://100.127.255.255", BLOCKED),
    "multicast": ("https://224.0.0.1", BLOCKED),
    "reserved_240": ("https://240.0.0.1", BLOCKED),
    "broadcast": ("https://255.255.255.255", BLOCKED),
    # malformed numeric hosts
    "ipv4_part_256": ("https://256.0.0.1", HOST),
    "ipv4_last_part_256": ("https://1.2.3.256", HOST),
    "ipv4_five_parts": ("https://1.2.3.4.5", HOST),
    "ipv4_too_big": ("https://4294967296", HOST),
    "ipv4_short_form_too_big": ("https://1.16777216", HOST),
    "ipv4_bad_octal": ("https://09.1.1.1", HOST),
    "ipv4_bad_hex": ("https://0xg.1.1.1", HOST),
    "ipv4_empty_part": ("https://1..1", HOST),
    "ipv4_huge_part": ("https://99999999999999999999.1", HOST),
    "name_ending_in_number": ("https://example.1", HOST),
    "name_ending_in_hex_number": ("https://example.0x1", HOST),
    # IPv6 literals
    "ipv6_loopback": ("https://[::1]/in", BLOCKED),
    "ipv6_loopback_full": ("https://[0:0:0:0:0:0:0:1]", BLOCKED),
    "ipv6_loopback_with_port": ("https://[::1]:8443", BLOCKED),
    "ipv6_unspecified": ("https://[::]", BLOCKED),
    "ipv6_unique_local_fc": ("https://[fc00::1]", BLOCKED),
    "ipv6_unique_local_fd": ("https://[fd12:3456:789a::1]", BLOCKED),
    "ipv6_link_local": ("https://[fe80::1]", BLOCKED),
    "ipv6_link_local_top": ("https://[febf::1]", BLOCKED),
    "ipv6_site_local": ("https://[fec0::1]", BLOCKED),
    "ipv6_multicast": ("https://[ff02::1]", BLOCKED),
    "ipv6_mapped_loopback": ("https://[::ffff:127.0.0.1]", BLOCKED),
    "ipv6_mapped_loopback_hex": ("https://[::ffff:7f00:1]", BLOCKED),
    "ipv6_mapped_private": ("https://[::ffff:10.0.0.1]", BLOCKED),
    "ipv6_mapped_metadata": ("https://[::ffff:169.254.169.254]", BLOCKED),
    "ipv6_compatible_loopback": ("https://[::127.0.0.1]", BLOCKED),
    "ipv6_nat64_loopback": ("https://[64:ff9b::7f00:1]", BLOCKED),
    "ipv6_nat64_private": ("https://[64:ff9b::192.168.0.1]", BLOCKED),
    "ipv6_uppercase_link_local": ("https://[FE80::1]", BLOCKED),
    "ipv6_aws_metadata": ("https://[fd00:ec2::254]/latest/meta-data", BLOCKED),
    "ipv6_unclosed": ("https://[::1/in", HOST),
    "ipv6_garbage_after_bracket": ("https://[2001:db8::1]x/in", HOST),
    "ipv6_empty": ("https://[]", HOST),
    "ipv6_group_too_long": ("https://[12345::1]", HOST),
    "ipv6_nine_groups": ("https://[1:2:3:4:5:6:7:8:9]", HOST),
    "ipv6_seven_groups": ("https://[1:2:3:4:5:6:7]", HOST),
    "ipv6_two_gaps": ("https://[1::2::3]", HOST),
    "ipv6_leading_single_colon": ("https://[:1::2]", HOST),
    "ipv6_trailing_single_colon": ("https://[2001:db8:]", HOST),
    "ipv6_bad_hex": ("https://[g::1]", HOST),
    "ipv6_short_embedded_ipv4": ("https://[::ffff:1.2.3]", HOST),
    "ipv6_embedded_ipv4_not_last": ("https://[::1.2.3.4:5]", HOST),
    "ipv6_embedded_ipv4_four_digit_part": ("https://[::ffff:1234.1.1.1]", HOST),
    "ipv6_embedded_ipv4_part_256": ("https://[::ffff:256.1.1.1]", HOST),
    "ipv6_embedded_ipv4_too_late": ("https://[1:2:3:4:5:6:7:1.2.3.4]", HOST),
    "ipv6_bad_port": ("https://[2001:db8::1]:99999", PORT),
    "ipv6_zone_id": ("https://[fe80::1%25eth0]", HOST),
    # internal names
    "localhost": ("https://localhost/in", BLOCKED),
    "localhost_uppercase": ("https://LOCALHOST/in", BLOCKED),
    "localhost_trailing_dot": ("https://localhost./in", BLOCKED),
    "localhost_with_port": ("https://localhost:8443", BLOCKED),
    "subdomain_of_localhost": ("https://api.localhost", BLOCKED),
    "metadata": ("https://metadata/computeMetadata/v1", BLOCKED),
    "metadata_google_internal": ("https://metadata.google.internal/computeMetadata/v1", BLOCKED),
    "dot_internal": ("https://db.corp.internal", BLOCKED),
    "dot_internal_uppercase": ("https://DB.INTERNAL", BLOCKED),
    "dot_internal_trailing_dot": ("https://db.internal.", BLOCKED),
}

SECRET = "s" * 16


def base(url=None, slack=None, webhook_config=None):
    d = {
        "definitionId": "url-case", "name": "URL case",
        "nodes": [
            {"nodeId": "start", "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}},
            {"nodeId": "hook", "type": "webhook", "config": {"url": url or "https://hooks.example.com/in"}},
            {"nodeId": "ping", "type": "notification",
             "config": {"channel": "slack", "slackTarget": slack or "C0123ABC", "bodyTemplate": "b"}},
        ],
        "edges": [{"from": "start", "to": "hook"}, {"from": "start", "to": "ping"}],
    }
    if webhook_config is not None:
        d["webhookConfig"] = {"url": webhook_config, "secret": SECRET}
    return d


def _add(cls, name, fn):
    fn.__name__ = name
    assert not hasattr(cls, name), name
    setattr(cls, name, fn)


class UrlTest(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def create(self, d):
        return velt_api(self.conn, "definitions/create", {"data": d})

    def dispatch(self, url, secret=SECRET):
        data = {"definitionId": "url-case", "webhookUrl": url}
        if secret is not None:
            data["webhookSecret"] = secret
        return velt_api(self.conn, "executions/dispatch", {"data": data})

    def refused_at(self, resp, path, why):
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        issue = err["details"]["issues"][0]
        self.assertEqual(issue["path"], path, err)
        self.assertEqual(issue["code"], "custom", err)
        self.assertTrue(issue["message"].endswith(" " + why), f"{issue['message']!r} should end with {why!r}")
        return issue


# ---- the four places ---------------------------------------------------------

def _accept_webhook_node(url):
    def test(self):
        view = self.create(base(url=url))["result"]
        self.assertEqual(view["nodes"][1]["config"]["url"], url)
    return test


def _refuse_webhook_node(url, why):
    def test(self):
        issue = self.refused_at(self.create(base(url=url)), ["nodes", 1, "config", "url"], why)
        self.assertEqual(issue["message"], "nodes[1].config.url " + why)
    return test


def _accept_webhook_config(url):
    def test(self):
        self.assertIn("result", self.create(base(webhook_config=url)))
    return test


def _refuse_webhook_config(url, why):
    def test(self):
        issue = self.refused_at(self.create(base(webhook_config=url)), ["webhookConfig", "url"], why)
        self.assertEqual(issue["message"], "webhookConfig.url " + why)
    return test


def _accept_slack(url):
    def test(self):
        view = self.create(base(slack=url))["result"]
        self.assertEqual(view["nodes"][2]["config"]["slackTarget"], url)
    return test


def _refuse_slack(url, why):
    def test(self):
        resp = self.create(base(slack=url))
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        issue = err["details"]["issues"][0]
        self.assertEqual(issue["path"], ["nodes", 2, "config", "slackTarget"], err)
        # A value without "://" is read as a channel id, which these are not.
        if "://" in url:
            self.assertEqual(issue["message"], "nodes[2].config.slackTarget " + why)
    return test


def _accept_dispatch(url):
    def test(self):
        define(self.conn, base())
        result = self.dispatch(url)["result"]
        self.assertFalse(result["deduplicated"])
    return test


def _refuse_dispatch(url, why):
    def test(self):
        define(self.conn, base())
        issue = self.refused_at(self.dispatch(url), ["webhookUrl"], why)
        self.assertEqual(issue["message"], "webhookUrl " + why)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_executions").fetchone()[0], 0)
    return test


class WebhookNodeUrlTest(UrlTest):
    pass


class WebhookConfigUrlTest(UrlTest):
    pass


class SlackTargetUrlTest(UrlTest):
    pass


class DispatchWebhookUrlTest(UrlTest):
    def test_refused_message_is_upstreams_literal_for_http(self):
        define(self.conn, base())
        err = self.assertApiError(self.dispatch("http://example.com/in"), "INVALID_ARGUMENT")
        self.assertEqual(err["message"], "webhookUrl must use https scheme")

    def test_refused_message_is_upstreams_literal_for_private_hosts(self):
        define(self.conn, base())
        err = self.assertApiError(self.dispatch("https://10.1.2.3/in"), "INVALID_ARGUMENT")
        self.assertEqual(err["message"], "webhookUrl host resolves to a private, loopback, or link-local address")

    def test_url_without_secret_is_refused(self):
        define(self.conn, base())
        err = self.assertApiError(self.dispatch("https://example.com/in", secret=None), "INVALID_ARGUMENT")
        self.assertEqual(err["message"], "webhookUrl and webhookSecret must be provided together")

    def test_secret_without_url_is_refused(self):
        define(self.conn, base())
        resp = velt_api(self.conn, "executions/dispatch",
                        {"data": {"definitionId": "url-case", "webhookSecret": SECRET}})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        self.assertEqual(err["message"], "webhookUrl and webhookSecret must be provided together")

    def test_secret_15_chars_is_refused(self):
        define(self.conn, base())
        err = self.assertApiError(self.dispatch("https://example.com/in", secret="s" * 15), "INVALID_ARGUMENT")
        self.assertEqual(err["details"]["issues"][0]["path"], ["webhookSecret"])

    def test_secret_512_chars_is_accepted(self):
        define(self.conn, base())
        self.assertIn("result", self.dispatch("https://example.com/in", secret="s" * 512))

    def test_secret_513_chars_is_refused(self):
        define(self.conn, base())
        err = self.assertApiError(self.dispatch("https://example.com/in", secret="s" * 513), "INVALID_ARGUMENT")
        self.assertEqual(err["details"]["issues"][0]["path"], ["webhookSecret"])

    def test_refused_url_raises_through_velt(self):
        define(self.conn, base())
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "url-case", "webhookUrl": "https://[::1]/",
                                           "webhookSecret": SECRET}),),
                              message="INVALID_ARGUMENT: webhookUrl " + BLOCKED)


for _name, _url in ACCEPTED.items():
    _add(WebhookNodeUrlTest, "test_accepts_" + _name, _accept_webhook_node(_url))
    _add(WebhookConfigUrlTest, "test_accepts_" + _name, _accept_webhook_config(_url))
    _add(SlackTargetUrlTest, "test_accepts_" + _name, _accept_slack(_url))
    _add(DispatchWebhookUrlTest, "test_accepts_" + _name, _accept_dispatch(_url))

for _name, (_url, _why) in REFUSED.items():
    _add(WebhookNodeUrlTest, "test_refuses_" + _name, _refuse_webhook_node(_url, _why))
    _add(WebhookConfigUrlTest, "test_refuses_" + _name, _refuse_webhook_config(_url, _why))
    _add(SlackTargetUrlTest, "test_refuses_" + _name, _refuse_slack(_url, _why))
    _add(DispatchWebhookUrlTest, "test_refuses_" + _name, _refuse_dispatch(_url, _why))


if __name__ == "__main__":
    unittest.main()
