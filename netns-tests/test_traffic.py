"""HTTP traffic management at the client's outbound sidecar (issue 5): Services, EndpointSlices,
HTTPRoutes and DestinationRules in `weft proxy --config DIR`, changed at run time through the
admin API (127.0.0.1:15000) or by rewriting a file.

Pod `client` is meshed and sends with unmodified programs (curl, and the load client of
apps/trafficapps.py) to the Service `reviews` at 10.96.0.10:9080, a cluster IP no pod has: only
the sidecar can answer it. Pods v1, v2 and v3 run the backend of apps/trafficapps.py on 8080
(no sidecar), which answers with its name (body and `x-served-by`) and records the headers it
got. Pod `ext` has no sidecar and backs no Service.

    HTTPRoute default/reviews (parent: Service reviews, port 9080)
      rule 0: header x-canary: "true"  -> reviews-v3:8080
      rule 1: everything else          -> reviews-v1:8080 weight 80, reviews-v2:8080 weight 20

The scenarios about one Service's endpoints (a killed endpoint, Peak EWMA) route `reviews` to
`reviews-all` instead, whose EndpointSlice lists both v1 and v2.

The first test checks the setup alone (the backends, the documents `weft check` accepts, a
sidecar that starts with them); a scenario whose sidecar does not route fails fast at its first
request to the cluster IP ("the client sidecar does not route ..."). `MeshedTrafficManagement`
puts sidecars on v1 and v2 as well, so the client's pooled upstream connections are mTLS.
"""

import collections
import json
import os
import time
import unittest

from trafficcase import (BACKEND_PORT, FEATURE, OUTLIER, RETRY, REVIEWS_URL, ROUTE_FILE, TrafficTestCase,
                         VERSIONS, canary_rules, destination_rule_yaml, documents_of, route_weights, route_yaml, rule,
                         sidecar_yaml, summarize)
import mesh as meshlib
import pki
from mtlscase import MTLSTestCase
from weftcase import wait_until

WEIGHTS_PATH = "/routes/default/reviews/weights"


def served(results):
    return collections.Counter(s for _, s, _ in results)


class TrafficManagement(TrafficTestCase):

    # -- what works without the feature --------------------------------------------------------

    def test_backends_answer_directly_and_weft_check_accepts_the_documents(self):
        ext, client = self.pod("ext"), self.pod("client")
        # Every variant of the documents the scenarios use is valid for `weft check` (the retry
        # of an HTTPRoute rule and the Sidecar's outboundTrafficPolicy are not in this list:
        # their readers are being written).
        variants = {
            "canary 80/20": self.config_files(),
            "weights 0/100": self.config_files(rules=canary_rules(0, 100)),
            "request timeout": self.config_files(rules=[rule([("reviews-v1", None)], timeout="500ms")]),
            "outlier detection": self.config_files(
                rules=[rule([("reviews-all", None)])], with_all=True,
                destination_rules=[destination_rule_yaml("reviews-all", outlier=OUTLIER, load_balancer={"simple": "ROUND_ROBIN"}),
                                   destination_rule_yaml("reviews-v1", outlier=OUTLIER)]),
            "reviews-all": self.config_files(rules=[rule([("reviews-all", None)])], with_all=True),
        }
        for what, files in variants.items():
            rc, out = self.check_config(files)
            self.assertEqual(rc, 0, "weft check refuses the %s documents:\n%s" % (what, out))
        rc, out = self.check_config(variants["canary 80/20"])
        self.assertIn("rule 0 to reviews-v3, rule 1 to reviews-v1 80% and reviews-v2 20%", out)

        # Each backend answers with its name, straight from a pod without a sidecar, and records
        # the headers it got.
        for v in VERSIONS:
            status, by, body, _ = self.direct_get(ext, self.pod(v), "/direct")
            self.assertEqual((status, by, body), (200, v, v + "\n"), "backend %s from pod ext" % v)
            reqs = self.backends[v].requests()
            self.assertEqual([(r["method"], r["target"]) for r in reqs], [("GET", "/direct")], reqs)
            self.assertIn("user-agent", {n.lower() for n, _ in reqs[0]["headers"]}, reqs[0])
            self.assertEqual(self.backends[v].attempt_counts(), [""], "no sidecar, no attempt count")
        # A slow answer on request.
        status, by, _, elapsed = self.direct_get(ext, self.pod("v2"), "/?delay=0.3")
        self.assertEqual((status, by), (200, "v2"))
        self.assertGreaterEqual(elapsed, 0.3)

        # The client's sidecar starts with the documents in its --config directory and still
        # passes a pod address through (ALLOW_ANY, the default).
        proxy = self.start_client(self.config_files())
        status, by, body, _ = self.direct_get(client, self.pod("v1"), "/through-the-sidecar")
        self.assertEqual((status, by), (200, "v1"), body)
        self.assertTrue(wait_until(lambda: proxy.request_records(dir="outbound"), timeout=3),
                        "the client sidecar logged no request; log tail:\n%s" % proxy.tail(20))

    # -- the scenarios ----------------------------------------------------------------------------

    def test_weighted_split_80_20_and_canary_header_to_v3(self):
        proxy = self.start_client(self.config_files())
        self.require_routing()
        results = self.curl_many(REVIEWS_URL, 2000)
        bad = [r for r in results if r[0] != 200]
        self.assertFalse(bad, "%d of 2000 requests failed, the first: %s" % (len(bad), bad[:3]))
        counts = served(results)
        self.assertEqual(set(counts), {"v1", "v2"}, counts)
        self.assertShare(counts, "v1", 0.80, 0.03)
        self.assertShare(counts, "v2", 0.20, 0.03)
        print("\n    split: v1 %d, v2 %d of 2000" % (counts["v1"], counts["v2"]), end=" ")

        canary = self.curl_many(REVIEWS_URL, 50, headers=["x-canary: true"])
        self.assertEqual(collections.Counter((s, by) for s, by, _ in canary), {(200, "v3"): 50}, canary[:5])
        # What the backends got: every request once, each the first attempt.
        got = {v: len(self.backends[v].requests()) for v in VERSIONS}
        self.assertEqual(got["v3"], 50, got)
        self.assertEqual(got["v1"] + got["v2"], 2001, "2000 and the first probe: %s" % got)
        for v in VERSIONS:
            self.assertEqual(set(self.backends[v].attempt_counts()), {"1"},
                             "x-weft-attempt-count at %s: %s" % (v, collections.Counter(self.backends[v].attempt_counts())))
        # The access log names the route, the backend Service and the endpoint of each request.
        ips = {"default/reviews-%s" % v: "%s:%d" % (self.pod(v).ip4, BACKEND_PORT) for v in VERSIONS}
        def routed():
            return [r for r in proxy.request_records() if r.get("route") == "default/reviews"]
        wait_until(lambda: len(routed()) >= 2051, timeout=5, interval=0.2)
        recs = routed()
        self.assertEqual(len(recs), 2051, "access log lines with route=default/reviews (of %d request lines); one: %s"
                         % (len(proxy.request_records()), (proxy.request_records() or [None])[-1]))
        for r in recs:
            self.assertIn(r.get("service"), ips, r)
            self.assertEqual(r.get("endpoint"), ips[r["service"]], r)
            self.assertEqual((r.get("status"), r.get("attempts")), ("200", "1"), r)
        by_service = collections.Counter(r["service"] for r in recs)
        self.assertEqual(by_service["default/reviews-v3"], 50, by_service)

    def test_weights_changed_via_api_move_every_later_request_to_v2_without_errors(self):
        self.start_client(self.config_files())
        self.require_routing()
        load = self.start_load(duration=15, concurrency=2)
        if not load.wait_count(150, timeout=8):
            self.fail("the load loop made no progress: %s" % summarize(load.records()))
        t_call = time.monotonic()
        self.admin_ok("POST", WEIGHTS_PATH, '{"weights": {"reviews-v1": 0, "reviews-v2": 100}}')
        t_ok = time.monotonic()
        enough = wait_until(lambda: sum(1 for r in load.records() if r["t0"] > t_ok) >= 300, timeout=8)
        load.stop()
        recs = load.records()
        self.assertTrue(enough, "too few requests after the change: %s" % summarize(recs))
        self.assertNoFailures(recs, "while the weights change")
        before = [r for r in recs if r["t1"] < t_call]
        after = [r for r in recs if r["t0"] > t_ok]
        self.assertIn("v1", {r["served_by"] for r in before}, "the split was active before: %s" % summarize(before))
        self.assertEqual(collections.Counter(r["served_by"] for r in after), {"v2": len(after)},
                         "every request started after the 200 goes to v2: %s" % summarize(after))
        print("\n    %d requests before the change, %d after (all v2), %.0f ms for the API call"
              % (len(before), len(after), (t_ok - t_call) * 1000), end=" ")
        self.assertEqual(route_weights(self.config_dump()["documents"]), {"reviews-v1": 0, "reviews-v2": 100})
        # An unknown route, and weights that name no backend of the route or are no numbers.
        status, text = self.admin("POST", "/routes/default/no-such-route/weights", '{"weights": {"reviews-v1": 1}}')
        self.assertEqual(status, 404, text)
        for body in ('{"weights": {"reviews-v9": 100}}', '{"weights": {"reviews-v1": "many"}}', '{"weights": [1, 2]}', "{"):
            status, text = self.admin("POST", WEIGHTS_PATH, body)
            self.assertEqual(status, 400, "%s -> %s" % (body, text))
            self.assertTrue(text.strip(), "a 400 says why (%s)" % body)
        self.assertEqual(route_weights(self.config_dump()["documents"]), {"reviews-v1": 0, "reviews-v2": 100})

    def test_killed_endpoint_is_retried_ejected_and_readmitted_after_restart(self):
        # The route's one backend is `reviews-all` (v1 and v2), so a retry has another endpoint
        # of the same Service to go to: a Service whose only endpoint is dead and ejected has no
        # healthy endpoint, and a retry stays with the backend its request was sent to (Envoy's
        # and Istio's semantics). Round robin, so that v1's return is seen at once (Peak EWMA
        # might keep it out for a while after its failures, which is not what is tested here).
        files = self.config_files(rules=[rule([("reviews-all", None)], retry=RETRY)], with_all=True,
                                  destination_rules=[destination_rule_yaml("reviews-all", outlier=OUTLIER,
                                                                           load_balancer={"simple": "ROUND_ROBIN"})])
        self.start_client(files)
        self.require_routing()
        v1 = "%s:%d" % (self.pod("v1").ip4, BACKEND_PORT)
        service = "default/reviews-all"
        load = self.start_load(duration=30, concurrency=2)
        if not load.wait_count(100, timeout=8):
            self.fail("the load loop made no progress: %s" % summarize(load.records()))
        t_kill = time.monotonic()
        self.backends["v1"].kill()

        seen = {}

        def ejected():
            for e in self.endpoints():
                if e["service"].split(":")[0] == service and e["endpoint"] == v1:
                    seen["endpoint"] = e
            samples = self.metrics()
            seen["counter"] = self.metric("weft_outlier_ejections_total", samples, service=service, endpoint=v1)
            seen["gauge"] = self.metric("weft_endpoint_ejected", samples, service=service, endpoint=v1)
            return seen.get("endpoint", {}).get("ejected") == "1" or seen["counter"] > 0
        ok = wait_until(ejected, timeout=5, interval=0.1)
        t_ejected = time.monotonic()
        if not ok:
            load.stop()
            self.fail("v1 (%s) was not ejected within 5 s of being killed: /endpoints line %s, "
                      "weft_outlier_ejections_total %s; load: %s"
                      % (v1, seen.get("endpoint"), seen.get("counter"), summarize(load.records())))
        self.start_backends({"v1": 0.0})
        t_restart = time.monotonic()
        # Back after baseEjectionTime (3 s; 6 s if it was ejected a second time meanwhile).
        back = wait_until(lambda: len(self.backends["v1"].requests()) >= 5, timeout=10, interval=0.1)
        t_back = time.monotonic()
        load.stop()
        recs = load.records()
        self.assertNoFailures(recs, "the client sees none while v1 dies")
        self.assertTrue(back, "v1 got %d requests within 10 s of its restart (ejected %.1f s after the kill)"
                        % (len(self.backends["v1"].requests()), t_ejected - t_kill))
        self.assertTrue(any(r["served_by"] == "v1" and r["t0"] > t_restart for r in recs), summarize(recs))
        self.assertFalse(any(r["served_by"] == "v1" and t_kill < r["t0"] and r["t1"] < t_restart for r in recs),
                         "v1 answered while it was dead?")
        print("\n    ejected %.2f s after the kill (/endpoints %s, ejections_total %s, ejected gauge %s); "
              "v1 served again %.1f s after its restart; %s"
              % (t_ejected - t_kill, seen.get("endpoint"), seen.get("counter"), seen.get("gauge"),
                 t_back - t_restart, summarize(recs)), end=" ")
        # Requests that met the dead v1 were retried: a second attempt reached a backend.
        retried = [c for v in VERSIONS for c in self.backends[v].attempt_counts() if c not in ("", "1")]
        self.assertTrue(retried, "no backend got x-weft-attempt-count > 1: %s"
                        % {v: collections.Counter(self.backends[v].attempt_counts()) for v in VERSIONS})
        attempts = collections.Counter(r.get("attempts") for r in self.client_proxy().request_records()
                                       if r.get("route") == "default/reviews")
        self.assertTrue(any(a not in (None, "1") for a in attempts), "access log attempts: %s" % attempts)

    def test_killed_canary_backend_fails_over_to_the_other_backend_of_the_route(self):
        # The canary topology: an 80/20 route across two Services with one pod each. When v1's
        # only endpoint dies, a retry goes to the route's other backend (the whole route is
        # retried, as Linkerd does), and once v1 is ejected its share goes to v2 at once.
        files = self.config_files(rules=canary_rules(retry=RETRY),
                                  destination_rules=[destination_rule_yaml("reviews-v1", outlier=OUTLIER)])
        self.start_client(files)
        self.require_routing()
        v1 = "%s:%d" % (self.pod("v1").ip4, BACKEND_PORT)
        load = self.start_load(duration=30, concurrency=2)
        if not load.wait_count(100, timeout=8):
            self.fail("the load loop made no progress: %s" % summarize(load.records()))
        t_kill = time.monotonic()
        self.backends["v1"].kill()
        ok = wait_until(lambda: any(e["service"].split(":")[0] == "default/reviews-v1" and e["endpoint"] == v1
                                    and e["ejected"] == "1" for e in self.endpoints()), timeout=5, interval=0.1)
        self.assertTrue(ok, "v1 was not ejected within 5 s: %s" % self.endpoints())
        time.sleep(1.0)
        self.start_backends({"v1": 0.0})
        t_restart = time.monotonic()
        back = wait_until(lambda: len(self.backends["v1"].requests()) >= 5, timeout=12, interval=0.1)
        load.stop()
        recs = load.records()
        self.assertNoFailures(recs, "the client sees none while the canary's v1 dies")
        self.assertTrue(back, "v1 got %d requests within 12 s of its restart" % len(self.backends["v1"].requests()))
        during = [r for r in recs if t_kill + 0.5 < r["t0"] and r["t1"] < t_restart]
        self.assertTrue(during and all(r["served_by"] == "v2" for r in during),
                        "while v1 was dead everything went to v2: %s" % summarize(during))
        print("\n    %d requests while v1 was dead, all on v2; %s" % (len(during), summarize(recs)), end=" ")

    def test_opaque_tcp_to_a_cluster_ip_is_balanced_per_connection(self):
        # Port 5432 is declared opaque (the default list): no HTTP parsing, so the sidecar
        # chooses an endpoint per connection. The Service maps 5432 to the pods' 8080.
        service = ("apiVersion: v1\nkind: Service\nmetadata: {name: tcp-all, namespace: default}\n"
                   "spec:\n  clusterIP: 10.96.0.30\n  ports: [{name: pg, port: 5432, targetPort: 8080}]\n")
        eps = "\n".join("  - addresses: [%s]\n    conditions: {ready: true}" % self.pod(v).ip4 for v in ("v1", "v2"))
        slice_doc = ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                     "metadata: {name: tcp-all-slice, namespace: default, labels: {kubernetes.io/service-name: tcp-all}}\n"
                     "addressType: IPv4\nports: [{name: pg, port: 8080}]\nendpoints:\n%s\n" % eps)
        files = self.config_files()
        files["50-tcp.yaml"] = service + "---\n" + slice_doc
        proxy = self.start_client(files)
        served = collections.Counter()
        for i in range(40):
            status, by, reason, body, elapsed = self.get("http://10.96.0.30:5432/tcp/%d" % i, timeout=5)
            self.assertEqual(status, 200, "connection %d: %s %r" % (i, status, reason))
            served[by] += 1
        self.assertEqual(set(served), {"v1", "v2"}, served)
        self.assertTrue(all(n >= 8 for n in served.values()), "spread over both endpoints: %s" % served)
        recs = proxy.wait_records(lambda r: r.get("dst") == "10.96.0.30:5432", count=40, timeout=10)
        endpoints = collections.Counter(r.get("endpoint") for r in recs)
        self.assertEqual(set(endpoints), {"%s:8080" % self.pod(v).ip4 for v in ("v1", "v2")}, endpoints)
        self.assertTrue(all(r.get("detection") == "declared-opaque" and r.get("relay") != "http" for r in recs), recs[:2])
        print("\n    40 connections: %s" % dict(served), end=" ")

    def test_connection_limits_queue_then_refuse_with_upstream_overflow(self):
        # One worker, so the DestinationRule's per-worker limits are the proxy's: one connection
        # to v1 and one request waiting for it; v1 takes 1 s per request. Of six requests sent
        # at once, one is served, one waits its turn, and four are refused at once.
        self.start_backends({"v1": 1.0})
        pool = ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews-v1, namespace: default}\n"
                "spec:\n  host: reviews-v1.default.svc.cluster.local\n  trafficPolicy:\n    connectionPool:\n"
                "      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1}\n")
        files = self.config_files(rules=[rule([("reviews-v1", None)])], sidecar=sidecar_yaml(extra_spec="  workers: 1"),
                                  destination_rules=[pool])
        self.start_client(files)
        script = ("for i in 1 2 3 4 5 6; do curl -s -o /dev/null --max-time 8 -w '%{http_code} %{time_total}\\n' "
                  "http://10.96.0.10:9080/pool/$i & done; wait")
        res = self.pod("client").run(["sh", "-c", script], timeout=20)
        lines = [line.split() for line in res.stdout.strip().splitlines()]
        statuses = collections.Counter(line[0] for line in lines)
        self.assertEqual(statuses, {"200": 2, "503": 4}, res.stdout)
        refused = [float(line[1]) for line in lines if line[0] == "503"]
        self.assertTrue(all(t < 0.5 for t in refused), "refused at once, not after waiting: %s" % refused)
        served = sorted(float(line[1]) for line in lines if line[0] == "200")
        self.assertTrue(served[1] > 1.8, "the second waited for the first (one connection): %s" % served)
        recs = [r for r in self.client_proxy().request_records() if r.get("status") == "503"]
        self.assertTrue(recs and all(r.get("response_flags") == "UO" and "overflow" in r.get("reason", "") for r in recs), recs[:2])

    def test_endpoints_that_are_not_ready_get_no_traffic(self):
        eps = ("  - addresses: [%s]\n    conditions: {ready: true}\n  - addresses: [%s]\n    conditions: {ready: false}"
               % (self.pod("v1").ip4, self.pod("v2").ip4))
        files = self.config_files(rules=[rule([("reviews-all", None)])], with_all=True)
        slices = files["20-endpointslices.yaml"].split("---\n")
        slices = [d for d in slices if "name: reviews-all-slice" not in d]
        slices.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                      "metadata: {name: reviews-all-slice, namespace: default, labels: {kubernetes.io/service-name: reviews-all}}\n"
                      "addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n%s\n" % eps)
        files["20-endpointslices.yaml"] = "---\n".join(slices)
        self.start_client(files)
        results = self.curl_many(REVIEWS_URL, 100)
        served = collections.Counter(r[1] for r in results)
        self.assertEqual(served, {"v1": 100}, served)
        lines = {e["endpoint"]: e for e in self.endpoints() if e["service"].startswith("default/reviews-all")}
        self.assertEqual(lines["%s:8080" % self.pod("v2").ip4]["ready"], "0", lines)

    def test_websocket_through_a_routed_service_becomes_a_tunnel(self):
        # The upgrade is routed like any request; the pooled connection it went over becomes the
        # tunnel's (it never returns to the pool), and the frames flow both ways.
        self.backends["v1"].kill()
        v1 = self.pod("v1")
        log_path = self.mesh.log_path("v1-ws-backend.jsonl")
        server = v1.spawn([meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "httpapps.py"), "record-server",
                           "--port", str(BACKEND_PORT), "--log", log_path], "ws-backend")
        v1.wait_listen(BACKEND_PORT, proc=server)
        proxy = self.start_client(self.config_files(rules=[rule([("reviews-v1", None)])]))
        res = self.pod("client").run([meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "httpapps.py"), "ws-client",
                                      "--host", "10.96.0.10", "--port", "9080"], timeout=60)
        results = [json.loads(line[len("RESULT "):]) for line in res.stdout.splitlines() if line.startswith("RESULT ")]
        self.assertTrue(results, "ws-client printed no result (exit %s): %s" % (res.returncode, res.stderr[-2000:]))
        out = results[-1]
        self.assertEqual(out["status"], 101, out)
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["greeting"], "welcome", "the frame sent with the 101 arrives: %s" % out)
        reqs = [r for r in proxy.request_records() if r.get("route") == "default/reviews"]
        self.assertTrue(reqs and reqs[0].get("status") == "101" and reqs[0].get("service") == "default/reviews-v1", reqs)
        rec = proxy.wait_records(lambda r: r.get("dst") == "10.96.0.10:9080")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertGreater(int(rec["sent"]), 70000, "the frames went through the tunnel: %s" % rec)

    def test_slow_endpoint_answers_504_after_the_request_timeout(self):
        self.start_backends({"v1": 2.0})
        proxy = self.start_client(self.config_files(rules=[rule([("reviews-v1", None)], timeout="500ms")]))
        for i in range(3):
            status, by, reason, body, elapsed = self.get(REVIEWS_URL + "slow/%d" % i, timeout=5)
            self.assertEqual(status, 504, "request %d: status %s, x-weft-reason %r, body %r after %.2f s (%s)"
                             % (i, status, reason, body[:200], elapsed, FEATURE))
            self.assertIn("timeout", reason.lower().replace("timed out", "timeout"), "x-weft-reason says why: %r" % reason)
            self.assertTrue(0.4 <= elapsed <= 1.2, "answered after %.2f s, not about 0.5 s" % elapsed)
        # The requests did reach v1 (which answered 2 s later, to nobody).
        self.assertTrue(wait_until(lambda: len(self.backends["v1"].requests()) >= 3, timeout=4),
                        self.backends["v1"].requests())
        recs = [r for r in proxy.request_records() if r.get("route") == "default/reviews"]
        self.assertEqual([r.get("status") for r in recs], ["504"] * 3, recs)

    def test_peak_ewma_gives_the_slow_endpoint_a_small_minority(self):
        # One Service with both pods, so the balancer (not the route's weights) chooses: v1
        # answers in 100 ms, v2 in 10 ms. No DestinationRule: Peak EWMA is the default.
        self.start_backends({"v1": 0.1, "v2": 0.01})
        self.start_client(self.config_files(rules=[rule([("reviews-all", None)])], with_all=True))
        self.require_routing()
        listed = {(e["service"].split(":")[0], e["endpoint"]) for e in self.endpoints()}
        for v in ("v1", "v2"):
            self.assertIn(("default/reviews-all", "%s:%d" % (self.pod(v).ip4, BACKEND_PORT)), listed)
        load = self.start_load(count=600, duration=20, concurrency=4)
        load.proc.wait(25)
        load.stop()
        recs = load.records()
        self.assertNoFailures(recs)
        self.assertEqual(len(recs), 600, summarize(recs))
        counts = collections.Counter(r["served_by"] for r in recs)
        share = counts["v1"] / len(recs)
        print("\n    v1 (100 ms) %d, v2 (10 ms) %d of 600" % (counts["v1"], counts["v2"]), end=" ")
        self.assertLess(share, 0.20, "the 10x slower endpoint got %.0f%%: %s" % (share * 100, counts))

    def test_invalid_config_is_rejected_and_traffic_keeps_the_old_split(self):
        proxy = self.start_client(self.config_files())
        self.require_routing()
        dump = self.config_dump()
        version = dump["version"]
        self.assertEqual(route_weights(dump["documents"]), {"reviews-v1": 80, "reviews-v2": 20}, dump)
        load = self.start_load(duration=30, concurrency=1)
        if not load.wait_count(50, timeout=8):
            self.fail("the load loop made no progress: %s" % summarize(load.records()))

        # Through the API: a backendRef that names no Service, and YAML that does not parse.
        bad_rules = [rule([("reviews-v9", None)], header=("x-canary", "true"))] + canary_rules()[1:]
        bad = self.traffic_files(rules=bad_rules)
        start = len(proxy.log_lines())
        status, text = self.admin("PUT", "/config", documents_of(bad))
        if status == 0:
            self.fail("the client sidecar's admin API does not answer PUT /config (%s): %s" % (FEATURE, text))
        self.assertEqual(status, 400, text)
        self.assertIn("reviews-v9", text, "the 400 says what is wrong")
        self.wait_event("config rejected", start, source="api")
        status, text = self.admin("PUT", "/config", "apiVersion: v1\nkind: Service\nmetadata: {name: broken\nspec: [\n")
        self.assertEqual(status, 400, text)
        self.assertTrue(text.strip(), "the 400 says what is wrong")
        dump = self.config_dump()
        self.assertEqual(dump["version"], version, "the old configuration stays")
        self.assertEqual(route_weights(dump["documents"]), {"reviews-v1": 80, "reviews-v2": 20})
        self.assertEqual(self.metric("weft_config_changes_total", source="api", result="rejected"), 2)

        # Through the file.
        start = len(proxy.log_lines())
        self.rewrite_config_file(ROUTE_FILE, route_yaml(bad_rules))
        event, _ = self.wait_event("config rejected", start, source="file")
        self.assertIn("reviews-v9", event.get("reason", ""), event)
        self.assertFalse([line for line in proxy.log_lines()[start:] if 'msg="config applied"' in line])
        t_rejected = time.monotonic()
        dump = self.config_dump()
        self.assertEqual(dump["version"], version, "the old configuration stays")
        self.assertEqual(self.metric("weft_config_changes_total", source="file", result="rejected"), 1)

        enough = wait_until(lambda: sum(1 for r in load.records() if r["t0"] > t_rejected) >= 600, timeout=10)
        load.stop()
        recs = load.records()
        self.assertNoFailures(recs)
        after = [r for r in recs if r["t0"] > t_rejected]
        self.assertTrue(enough, "too few requests after the rejections: %s" % summarize(after))
        self.assertShare(collections.Counter(r["served_by"] for r in after), "v1", 0.80, 0.06, "after the rejections")
        self.assertShare(collections.Counter(r["served_by"] for r in recs), "v1", 0.80, 0.05, "over the whole run")

    def test_registry_only_refuses_destinations_outside_the_registry_allow_any_passes(self):
        ext, v1 = self.pod("ext"), self.pod("v1")
        self.start_backends({"ext": 0.0})
        echo = ext.spawn_python(["echo-server", "--port", "7000"], "echo")
        ext.wait_listen(7000, proc=echo)
        ext_url = "http://%s:%d/" % (ext.ip4, BACKEND_PORT)

        def tcp_probe():
            return self.app(self.pod("client"), "probe-client", "--host", ext.ip4, "--port", "7000",
                            "--send", "hello\n", "--timeout", "5")

        # ALLOW_ANY (the default): a pod that is no Service's is reached as before.
        self.start_client(self.config_files())
        status, by, reason, body, _ = self.get(ext_url)
        self.assertEqual((status, by), (200, "ext"), (reason, body))
        out = tcp_probe()
        self.assertEqual((out["outcome"], out["data"]), ("data", "hello\n"), out)

        # REGISTRY_ONLY: only Services.
        self.start_client(self.config_files(sidecar=sidecar_yaml("REGISTRY_ONLY")))
        before = len(self.backends["ext"].requests())
        for url, what in ((ext_url, "pod ext (no Service's)"), ("http://%s:%d/" % (v1.ip4, BACKEND_PORT), "pod v1's address")):
            status, by, reason, body, _ = self.get(url)
            self.assertEqual(status, 502, "%s under REGISTRY_ONLY: status %s, served by %r, reason %r" % (what, status, by, reason))
            self.assertTrue(any(w in reason.lower() for w in ("registry", "service")),
                            "x-weft-reason says the destination is no Service: %r" % reason)
        self.assertEqual(len(self.backends["ext"].requests()), before, "nothing reached pod ext")
        self.require_routing()
        out = tcp_probe()
        self.assertEqual((out["outcome"], out["data"]), ("reset", ""), "a TCP connection outside the registry is reset: %s" % out)

        # ALLOW_ANY said explicitly.
        self.start_client(self.config_files(sidecar=sidecar_yaml("ALLOW_ANY")))
        status, by, reason, body, _ = self.get(ext_url)
        self.assertEqual((status, by), (200, "ext"), (reason, body))

    def test_weights_follow_a_rewritten_httproute_file(self):
        proxy = self.start_client(self.config_files())
        self.require_routing()
        version = self.config_dump()["version"]
        load = self.start_load(duration=20, concurrency=2)
        if not load.wait_count(100, timeout=8):
            self.fail("the load loop made no progress: %s" % summarize(load.records()))
        start = len(proxy.log_lines())
        t_write = time.monotonic()
        self.rewrite_config_file(ROUTE_FILE, route_yaml(canary_rules(0, 100)))
        # inotify: within about a second.
        event, t_seen = self.wait_event("config applied", start, timeout=2, source="file")
        enough = wait_until(lambda: sum(1 for r in load.records() if r["t0"] > t_seen) >= 300, timeout=8)
        load.stop()
        recs = load.records()
        self.assertNoFailures(recs)
        after = [r for r in recs if r["t0"] > t_seen]
        self.assertTrue(enough, "too few requests after the reload: %s" % summarize(after))
        self.assertEqual(collections.Counter(r["served_by"] for r in after), {"v2": len(after)}, summarize(after))
        print("\n    applied %.2f s after the rename" % (t_seen - t_write), end=" ")
        dump = self.config_dump()
        self.assertGreater(int(dump["version"]), int(version), dump["version"])
        self.assertEqual(str(dump["version"]), event.get("version"), event)
        self.assertEqual(route_weights(dump["documents"]), {"reviews-v1": 0, "reviews-v2": 100})


if __name__ == "__main__":
    unittest.main()


class MeshedTrafficManagement(TrafficTestCase, MTLSTestCase):
    """The same routing with sidecars on both ends: the client sidecar balances over endpoints
    that are in the mesh, so every upstream connection it pools is mTLS to the endpoint's own
    sidecar, which sees the client's SPIFFE identity."""
    PODS = ("client", "v1", "v2", "v3", "ext")
    MESHED = ("client", "v1", "v2")
    INIT_PODS = ("client", "v1", "v2")
    PROXY_PODS = ()
    START_PROXIES = False

    def test_routed_requests_reach_meshed_endpoints_over_mtls_with_the_client_identity(self):
        servers = {name: self.restart_proxy(name, config_yaml=self.sidecar_yaml(name)) for name in ("v1", "v2")}
        client_sidecar = self.sidecar_yaml("client", mode=None)
        files = self.config_files(rules=canary_rules(v1=50, v2=50), sidecar=client_sidecar)
        proxy = self.start_client(files)
        self.require_routing()
        results = self.curl_many(REVIEWS_URL, 200)
        statuses = collections.Counter(r[0] for r in results)
        self.assertEqual(statuses, {200: 200}, statuses)
        served = collections.Counter(r[1] for r in results)
        self.assertTrue(served["v1"] > 50 and served["v2"] > 50, served)
        client_id = pki.spiffe_id("client")
        connections = 0
        for name, server in servers.items():
            recs = []

            def logged(server=server, name=name):
                recs[:] = server.request_records()
                return len(recs) >= served[name]
            self.assertTrue(wait_until(logged, timeout=10), "%s's sidecar logged %d of %d requests" % (name, len(recs), served[name]))
            self.assertTrue(all(r.get("dir") == "inbound" and r.get("peer") == client_id for r in recs),
                            "%s's sidecar saw requests without the client's identity: %s" % (name, recs[:3]))
            connections += len({r.get("client") for r in recs})
        routed = [r for r in proxy.request_records() if r.get("route") == "default/reviews"]
        peers = collections.Counter(r.get("upstream_peer") for r in routed)
        self.assertEqual(set(peers), {pki.spiffe_id("v1"), pki.spiffe_id("v2")},
                         "the client's log names the identity each endpoint proved: %s" % peers)
        # Keep-alive reuse: far fewer upstream connections than requests.
        opened = self.metric("weft_upstream_connections_total", self.metrics(), result="opened")
        reused = self.metric("weft_upstream_connections_total", self.metrics(), result="reused")
        self.assertGreater(reused, opened, "opened %s, reused %s" % (opened, reused))
        print("\n    %s; %d mTLS connections to the endpoints' sidecars for 200 requests (opened %s, reused %s)"
              % (dict(served), connections, opened, reused), end=" ")
