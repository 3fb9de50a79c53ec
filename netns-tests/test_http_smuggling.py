"""Request smuggling: the corpus of smuggling.py sent raw (python sockets) through the sidecars to a
backend in pod b that records every byte it receives and frames requests strictly itself
(apps/httpapps.py record-server). Every vector is rejected (4xx/5xx with `x-weft-reason: bad
request: ...`, `connection: close`, then the connection closes) or normalized (the backend gets
exactly the requests the vector means, with their bodies); the backend never frames a hidden
`/smuggled-<name>` request, never receives a head it cannot frame without guessing (CL and TE, two
CLs, TE not chunked, bare CR/LF, obs-fold), and never even receives the hidden bytes of a rejected
vector.

Three paths: pod a (sidecar) -> a's outbound sidecar -> b's inbound sidecar -> backend; pod c (no
sidecar) straight at b's inbound sidecar; and a -> b over mTLS (the inbound side parses what it
decrypted).
"""

import json
import os
import unittest

import smuggling
from httpcase import HTTPHelpers, header
from mtlscase import MTLSTestCase
from weftcase import MeshTestCase

PORT = 8080
REJECT_STATUSES = (400, 413, 414, 431, 501, 505)


class SmugglingChecks(HTTPHelpers):
    """The corpus run and its checks; the classes below choose the mesh."""

    def run_corpus(self, sender, first_proxy, first_dir, inner_proxy=None):
        b = self.pod("b")
        backend = self.record_server(b, PORT)
        vectors = smuggling.corpus()
        self.assertGreaterEqual(len(vectors), 30)
        names = [v.name for v in vectors]
        self.assertEqual(len(names), len(set(names)), "vector names are unique")
        path = self.mesh.log_path("vectors.json")
        out_path = self.mesh.log_path("vector-results.json")
        with open(path, "w") as f:
            json.dump([v.wire() for v in vectors], f)
        run = self.http_app(sender, "raw-client", "--host", b.ip4, "--port", PORT, "--vectors", path, "--out", out_path,
                            "--threads", 8, timeout=180)
        with open(out_path) as f:
            results = {r["name"]: r for r in json.load(f)}

        requests = backend.requests()
        raw = backend.raw_all()
        problems, rejected, normalized = [], [], []
        for v in vectors:
            res = results[v.name]
            responses = res["responses"]
            refusal = [r for r in responses if r["status"] in REJECT_STATUSES and header(r, "x-weft-reason").startswith("bad request:")]
            mine = smuggling.targets_of(v.name, requests)
            got = [t for t, _ in mine]
            tag = "%s (%s)" % (v.name, v.what)
            if refusal:
                rejected.append(v.name)
                r = refusal[0]
                if v.outcome == "normalize":
                    problems.append("%s: rejected (%s), but it is valid and must be forwarded" % (tag, header(r, "x-weft-reason")))
                if "close" not in header(r, "connection").lower():
                    problems.append("%s: the refusal has no `connection: close`: %s" % (tag, r["headers"]))
                if responses[-1] is not r or not (res["eof"] or res["reset"]):
                    problems.append("%s: the connection must close after the refusal: %s" % (tag, res))
                if got != v.prefix:
                    problems.append("%s: rejected, yet the backend got %s (expected only %s)" % (tag, got, v.prefix))
                if [x["status"] for x in responses[:-1]] != [200] * len(v.prefix):
                    problems.append("%s: the requests before the bad one are answered 200 in order: %s"
                                    % (tag, [x["status"] for x in responses]))
                if ("smuggled-%s " % v.name).encode() in raw:
                    problems.append("%s: rejected, but its hidden request's bytes reached the backend" % tag)
            else:
                normalized.append(v.name)
                if v.outcome == "reject":
                    problems.append("%s: must be rejected; responses %s, eof %s, error %r, backend got %s"
                                    % (tag, [(x["status"], header(x, "x-weft-reason")) for x in responses], res["eof"],
                                       res["error"], got))
                    continue
                if got != v.targets:
                    problems.append("%s: the backend should get %s, got %s; responses %s"
                                    % (tag, v.targets, got, [(x["status"], header(x, "x-weft-reason")) for x in responses]))
                for target, req in mine:
                    want = v.bodies.get(target)
                    if want is not None and req["body_sha256"] != smuggling.sha(want):
                        problems.append("%s: %s arrived with a different body: %r" % (tag, target, req["body_head"][:200]))
                    if req["chunk_extensions"]:
                        problems.append("%s: chunk extensions were forwarded (not normalized)" % tag)
                statuses = [x["status"] for x in responses]
                if statuses != [200] * len(v.targets):
                    problems.append("%s: expected %d responses 200, got %s (%s)" % (tag, len(v.targets), statuses, res["error"]))
        hidden = [r for r in requests if "smuggled" in r["target"]]
        if hidden:
            problems.append("the backend framed hidden requests: %s" % [(r["conn"], r["target"]) for r in hidden])
        anomalies = backend.anomalies()
        if anomalies:
            problems.append("the backend received heads it could not frame safely: %s" % anomalies)
        leftovers = [e for e in backend.events("leftover") if e.get("b64")]
        if leftovers:
            problems.append("the backend was left with unframed bytes: %s" % leftovers)
        strays = [r["target"] for r in requests if not any(smuggling.targets_of(v.name, [r]) for v in vectors)]
        if strays:
            problems.append("the backend got requests no vector sent: %s" % strays)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

        # The first sidecar on the path refused every rejected vector itself (an access log line
        # with DPE, 4xx, the reason) and forwarded the rest.
        dpe = first_proxy.request_records(dir=first_dir, response_flags="DPE")
        self.assertEqual(len(dpe), len(rejected), "one DPE record per rejected vector: %s" % dpe)
        for rec in dpe:
            self.assertIn(int(rec["status"]), REJECT_STATUSES, rec)
            self.assertTrue(rec.get("reason", "").startswith("bad request: "), rec)
        if inner_proxy is not None:
            # Behind the outbound sidecar the inbound one only ever sees normalized requests.
            self.assertEqual(inner_proxy.request_records(dir="inbound", response_flags="DPE"), [])
        print("\n    %d vectors: %d rejected, %d normalized (%s); the backend framed %d requests, none hidden"
              % (len(vectors), len(rejected), len(normalized), ", ".join(normalized), len(requests)), end=" ")


class SmugglingThroughSidecars(SmugglingChecks, MeshTestCase):
    PODS = ("a", "b", "c")
    INIT_PODS = ("a", "b")
    PROXY_PODS = ("a", "b")

    def test_vectors_through_both_sidecars(self):
        self.run_corpus(self.pod("a"), self.proxy("a"), "outbound", inner_proxy=self.proxy("b"))

    def test_vectors_straight_at_the_inbound_sidecar(self):
        self.run_corpus(self.pod("c"), self.proxy("b"), "inbound")
        self.assertEqual(self.proxy("a").request_records(), [], "nothing went through a")


class SmugglingOverMutualTLS(SmugglingChecks, MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")

    def test_vectors_through_both_sidecars_over_mtls(self):
        self.run_corpus(self.pod("a"), self.proxy("a"), "outbound", inner_proxy=self.proxy("b"))
        recs = self.proxy("b").connection_records(dir="inbound")
        self.assertTrue(recs and all(r.get("tls") == "mtls" for r in recs), recs[:3])


if __name__ == "__main__":
    unittest.main()
