"""Request ids and W3C trace context through two sidecars: unmodified clients in pod a call the
recording backend in pod b (a's outbound sidecar, then b's inbound sidecar), and the backend logs
the heads it received.

A request without ids reaches the application with a generated `x-request-id` (a UUID v4) and a
new `traceparent` (version 00, flags 00: nothing was sampled), different for every request; a
client's valid `traceparent`, its `tracestate`, its `x-request-id` and its B3 fields arrive
unchanged; an invalid `traceparent` is replaced and its `tracestate` dropped. Both sidecars'
access log lines for a request carry the same `request_id` and `trace_id`, the ones the
application saw, also when b's sidecar answers the request itself (503, no application).
"""

import re
import unittest

from httpcase import HTTPHelpers, header
from weftcase import MeshTestCase, wait_until

PORT = 8080
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-00$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CLIENT_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
B3 = [["X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"], ["X-B3-SpanId", "e457b5a2e4d86bd1"],
      ["X-B3-Sampled", "1"], ["b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"]]


def fields(req, name):
    """The values of field `name` in a head the backend logged."""
    return [v for n, v in req["headers"] if n.lower() == name.lower()]


class TraceContextThroughSidecars(HTTPHelpers, MeshTestCase):
    PODS = ("a", "b")

    def received(self, backend, target):
        reqs = backend.wait_requests(1, target=target)
        self.assertEqual(len(reqs), 1, "%s reached the backend once: %s" % (target, reqs))
        return reqs[0]

    def generated_ids(self, req):
        """(request id, trace id) of a head that must carry generated ones."""
        ids, traces = fields(req, "x-request-id"), fields(req, "traceparent")
        self.assertEqual(len(ids), 1, req["headers"])
        self.assertEqual(len(traces), 1, req["headers"])
        self.assertRegex(ids[0], UUID4)
        self.assertRegex(traces[0], TRACEPARENT, "version 00, lowercase hex, flags 00")
        return ids[0], TRACEPARENT.match(traces[0]).group(1)

    def log_ids(self, path):
        """{direction: (request_id, trace_id)} of the one access log line each sidecar wrote for `path`."""
        out = {}
        for name, direction in (("a", "outbound"), ("b", "inbound")):
            proxy = self.proxy(name)
            recs = wait_until(lambda: proxy.request_records(dir=direction, path=path))
            self.assertTrue(recs, "%s: no access log line for %s" % (direction, path))
            self.assertEqual(len(recs), 1, recs)
            out[direction] = (recs[0].get("request_id"), recs[0].get("trace_id"))
        return out

    def test_ids_are_generated_propagated_and_logged_by_both_sidecars(self):
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, PORT)

        # An unmodified curl sends neither field.
        res = self.curl(a, "http://%s:%d/curl" % (b.ip4, PORT))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(res.stdout.startswith("seen "), res.stdout)

        script = [
            {"path": "/bare-1"},
            {"path": "/bare-2"},
            {"path": "/given", "headers": [["traceparent", CLIENT_TRACE], ["tracestate", "congo=t61rcWkgMzE"],
                                           ["X-Request-Id", "client-chosen-42"]] + B3},
            {"path": "/invalid", "headers": [["traceparent", CLIENT_TRACE.upper()], ["tracestate", "congo=t61rcWkgMzE"]] + B3},
        ]
        out = self.http(a, b.ip4, PORT, script)
        self.assertEqual(out["error"], "", out)
        self.assertEqual([r["status"] for r in out["responses"]], [200] * len(script), out)

        generated = {}
        for target in ("/curl", "/bare-1", "/bare-2"):
            generated[target] = self.generated_ids(self.received(backend, target))
        self.assertEqual(len({ids[0] for ids in generated.values()}), 3, "a request id per request: %s" % generated)
        self.assertEqual(len({ids[1] for ids in generated.values()}), 3, "a trace per request: %s" % generated)

        given = self.received(backend, "/given")
        self.assertEqual(fields(given, "traceparent"), [CLIENT_TRACE], "a valid traceparent arrives unchanged")
        self.assertEqual(fields(given, "tracestate"), ["congo=t61rcWkgMzE"])
        self.assertEqual(fields(given, "x-request-id"), ["client-chosen-42"])
        for name, value in B3:
            self.assertEqual(fields(given, name), [value], "B3 passes through")

        invalid = self.received(backend, "/invalid")
        generated["/invalid"] = self.generated_ids(invalid)
        self.assertNotEqual(generated["/invalid"][1], CLIENT_TRACE.split("-")[1])
        self.assertEqual(fields(invalid, "tracestate"), [], "the tracestate of an invalid traceparent is dropped")
        for name, value in B3:
            self.assertEqual(fields(invalid, name), [value], "B3 passes through")

        # Both sidecars log the ids the application saw.
        expected = dict(generated)
        expected["/given"] = ("client-chosen-42", CLIENT_TRACE.split("-")[1])
        for path, ids in expected.items():
            logged = self.log_ids(path)
            self.assertEqual(logged, {"outbound": ids, "inbound": ids}, path)

    def test_a_request_b_answers_itself_is_logged_with_the_ids_a_gave_it(self):
        a, b = self.pod("a"), self.pod("b")
        self.assertNotIn(8099, b.listening_ports())
        out = self.http(a, b.ip4, 8099, [{"path": "/nobody"}])
        self.assertEqual(out["error"], "", out)
        self.assertProxyAnswer(out["responses"][0], 503, "upstream connect failed: ")
        logged = self.log_ids("/nobody")
        request_id, trace_id = logged["outbound"]
        self.assertRegex(request_id or "", UUID4)
        self.assertRegex(trace_id or "", r"^[0-9a-f]{32}$")
        self.assertEqual(logged["inbound"], logged["outbound"], "b's 503 line has the ids a's sidecar generated")
        self.assertEqual(header(out["responses"][0], "x-request-id"), "", "ids go upstream, not back to the client")


if __name__ == "__main__":
    unittest.main()
