"""AuthorizationPolicy at pod b's inbound sidecar (Istio semantics), with principals from mTLS.

Pods a, b and c are meshed (identities spiffe://cluster.local/ns/default/sa/{a,b,c} from `weft ca`,
`weft init`, `weft proxy`); pod d has no sidecar (plaintext, no principal). Pod b's sidecar holds
these policies (in the same file as its Sidecar, or in a directory of their own):

    default/public-get         ALLOW  from principal .../sa/a  to GET /public/*
    default/deny-public-admin  DENY   to port 8080, path /public/admin
    default/allow-db-from-a    ALLOW  from principal .../sa/a  to port 5432
    default/no-db-from-c       DENY   from principal .../sa/c  to port 5432

(Istio's rule for TCP: a DENY rule's HTTP-only fields are ignored, so without its port the
deny-public-admin rule would deny every TCP connection; an ALLOW rule with HTTP-only fields never
matches TCP.) The application behind b is the recording backend of apps/httpapps.py (it answers 200 to every
request and logs each one), so "denied" also means "never reached the application".
"""

import unittest

import pki
from httpcase import HTTPHelpers, header
from mesh import same_endpoint
from mtlscase import MTLSTestCase

HTTP_PORT = 8080
DB_PORT = 5432
DEFAULT_DENY = "default deny: no ALLOW policy matched"

POLICIES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: public-get, namespace: default}
spec:
  action: ALLOW
  rules:
    - from: [{source: {principals: ["cluster.local/ns/default/sa/a"]}}]
      to: [{operation: {methods: ["GET"], paths: ["/public/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-public-admin, namespace: default}
spec:
  action: DENY
  rules:
    - to: [{operation: {ports: ["8080"], paths: ["/public/admin"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-db-from-a, namespace: default}
spec:
  action: ALLOW
  rules:
    - from: [{source: {principals: ["cluster.local/ns/default/sa/a"]}}]
      to: [{operation: {ports: ["5432"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-db-from-c, namespace: default}
spec:
  action: DENY
  rules:
    - from: [{source: {principals: ["cluster.local/ns/default/sa/c"]}}]
      to: [{operation: {ports: ["5432"]}}]
"""


def conn(host, port, client=None):
    return lambda r: same_endpoint(r.get("dst"), host, port) and (client is None or same_endpoint(r.get("client"), client))


class AuthorizationPolicies(HTTPHelpers, MTLSTestCase):
    PODS = ("a", "b", "c", "d")
    MESHED = ("a", "b", "c")

    def proxy_config(self, pod):
        if pod.name == "b":
            return self.sidecar_yaml("b") + "---\n" + POLICIES
        return super().proxy_config(pod)

    def _decisions(self):
        """{(policy, decision): count} from b's metrics."""
        out = {}
        for (m, labels), value in self.metrics("b").items():
            if m == "weft_authorization_decisions_total" and value:
                d = dict(labels)
                out[(d.get("policy"), d.get("decision"))] = int(value)
        return out

    def _the_policy_table_holds(self):
        a, b, c, d = (self.pod(n) for n in "abcd")
        backend = self.record_server(b, HTTP_PORT)
        # One keep-alive connection from a: allowed, denied (method, path, explicit DENY), allowed.
        script = [{"path": "/public/x"},
                  {"method": "POST", "path": "/public/x", "body": "a body that must not arrive"},
                  {"path": "/private"},
                  {"path": "/public/admin"},
                  {"path": "/public/y"}]
        out = self.http(a, b.ip4, HTTP_PORT, script)
        self.assertEqual(out["error"], "", out)
        got = [(r["status"], header(r, "x-weft-reason")) for r in out["responses"]]
        self.assertEqual(got, [(200, ""), (403, "denied by " + DEFAULT_DENY), (403, "denied by " + DEFAULT_DENY),
                               (403, "denied by default/deny-public-admin"), (200, "")], out)
        for r in out["responses"]:
            if r["status"] == 403:
                self.assertEqual(r["body"], "RBAC: access denied", r)
                self.assertNotIn("close", header(r, "connection").lower(), "a 403 keeps the connection: %s" % r)
        self.assertFalse(out["closed"], "the connection stays usable after a 403")
        # The two allowed requests reached the application on one upstream connection, in order.
        self.assertEqual(out["responses"][0]["body"].split()[1], out["responses"][4]["body"].split()[1], out)
        self.assertEqual([(r["method"], r["target"]) for r in backend.requests()],
                         [("GET", "/public/x"), ("GET", "/public/y")], backend.requests())

        # Another identity, and no identity at all.
        for pod in (c, d):
            out = self.http(pod, b.ip4, HTTP_PORT, [{"path": "/public/x"}])
            self.assertEqual(out["error"], "", out)
            self.assertProxyAnswer(out["responses"][0], 403, "denied by " + DEFAULT_DENY)
            self.assertEqual(out["responses"][0]["body"], "RBAC: access denied")
        self.assertEqual(len(backend.requests()), 2, "denied requests never reach the application: %s" % backend.requests())

        # Every decision is in b's access log with the deciding policy.
        pb = self.proxy("b")
        recs = pb.request_records(dir="inbound")
        self.assertEqual(len(recs), 7, recs)
        seen = sorted((r.get("peer", "-"), r["method"], r["path"], r["status"], r.get("decision"), r.get("policy"),
                       r["response_flags"]) for r in recs)
        pa, pc = pki.spiffe_id("a"), pki.spiffe_id("c")
        want = sorted([
            (pa, "GET", "/public/x", "200", "allow", "default/public-get", "-"),
            (pa, "POST", "/public/x", "403", "deny", DEFAULT_DENY, "DENIED"),
            (pa, "GET", "/private", "403", "deny", DEFAULT_DENY, "DENIED"),
            (pa, "GET", "/public/admin", "403", "deny", "default/deny-public-admin", "DENIED"),
            (pa, "GET", "/public/y", "200", "allow", "default/public-get", "-"),
            (pc, "GET", "/public/x", "403", "deny", DEFAULT_DENY, "DENIED"),
            ("-", "GET", "/public/x", "403", "deny", DEFAULT_DENY, "DENIED"),
        ])
        self.assertEqual(seen, want)
        for r in recs:
            if r["status"] == "403":
                self.assertEqual(r.get("reason"), "denied by " + r["policy"], r)
        # a's outbound sidecar passes the 403s on (its own records carry no decision).
        outs = self.proxy("a").request_records(dir="outbound")
        self.assertEqual([r["status"] for r in outs], ["200", "403", "403", "403", "200"], outs)
        self.assertTrue(all("decision" not in r for r in outs), outs)
        # The per-policy counters match the requests sent.
        self.assertEqual(self._decisions(), {("default/public-get", "allow"): 2,
                                             (DEFAULT_DENY, "deny"): 4,
                                             ("default/deny-public-admin", "deny"): 1})
        # The connection records say http/1.1 and carry the peers.
        for client, peer in ((a, pa), (c, pc)):
            rec = pb.wait_records(conn(b.ip4, HTTP_PORT, client.ip4), dir="inbound")[0]
            self.assertEqual((rec.get("protocol"), rec.get("detection")), ("http/1.1", "http/1.1"), rec)
            self.assertMTLSRecord(rec, peer)
        self.assertEqual(self.metric("b", "weft_protocol_detections_total", direction="inbound", protocol="http/1.1"), 3)

    def test_get_public_from_a_only_and_403_keeps_the_connection(self):
        self._the_policy_table_holds()

    def test_policies_in_a_directory_of_their_own(self):
        # `weft proxy --config DIR`: the Sidecar in one file, the policies in another.
        self.restart_proxy("b", config_files={"10-sidecar.yaml": self.sidecar_yaml("b"), "20-policies.yaml": POLICIES})
        self._the_policy_table_holds()

    def test_tcp_rule_closes_c_on_5432_and_lets_a_through(self):
        a, b, c, d = (self.pod(n) for n in "abcd")
        srv = b.spawn_python(["echo-server", "--port", str(DB_PORT)], "db-echo")
        b.wait_listen(DB_PORT, proc=srv)
        out = self.app(a, "probe-client", "--host", b.ip4, "--port", str(DB_PORT), "--send", "SELECT 1;\n", "--timeout", "5")
        self.assertEqual((out["outcome"], out["data"]), ("data", "SELECT 1;\n"), out)
        for pod in (c, d):
            out = self.app(pod, "probe-client", "--host", b.ip4, "--port", str(DB_PORT), "--send", "SELECT 1;\n",
                           "--timeout", "5")
            self.assertIn(out["outcome"], ("eof", "reset"), "a denied connection is closed: %s" % out)
            self.assertEqual(out["data"], "", out)
            self.assertLess(out["elapsed"], 3.0, out)
        pb = self.proxy("b")
        ra = pb.wait_records(conn(b.ip4, DB_PORT, a.ip4), dir="inbound")[0]
        self.assertEqual((ra["end"], ra.get("decision"), ra.get("policy"), ra.get("protocol")),
                         ("closed", "allow", "default/allow-db-from-a", "opaque"), ra)
        self.assertEqual(ra.get("detection"), "declared-opaque", "5432 is a default opaque port: %s" % ra)
        rc = pb.wait_records(conn(b.ip4, DB_PORT, c.ip4), dir="inbound")[0]
        self.assertEqual((rc["end"], rc.get("decision"), rc.get("policy")), ("denied", "deny", "default/no-db-from-c"), rc)
        self.assertMTLSRecord(rc, pki.spiffe_id("c"))
        self.assertEqual(rc["sent"], "0", "nothing of c's reached the database: %s" % rc)
        rd = pb.wait_records(conn(b.ip4, DB_PORT, d.ip4), dir="inbound")[0]
        self.assertEqual((rd["end"], rd.get("decision"), rd.get("policy")), ("denied", "deny", DEFAULT_DENY), rd)
        self.assertEqual(rd.get("response_flags"), "DENIED", rd)
        self.assertEqual(self.metric("b", "weft_connections_closed_total", direction="inbound", end="denied"), 2)
        self.assertEqual(self._decisions(), {("default/allow-db-from-a", "allow"): 1,
                                             ("default/no-db-from-c", "deny"): 1, (DEFAULT_DENY, "deny"): 1})


if __name__ == "__main__":
    unittest.main()
