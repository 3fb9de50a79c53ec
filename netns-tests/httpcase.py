"""Helpers for the L7 (HTTP/1.1) scenarios, mixed into MeshTestCase or MTLSTestCase:

    class MyScenarios(HTTPHelpers, MeshTestCase):
        def test_x(self):
            backend = self.record_server(self.pod("b"), 8080)     # apps/httpapps.py record-server
            out = self.http(self.pod("a"), self.pod("b").ip4, 8080, [{"path": "/x"}])
            backend.requests()                                   # what reached the application

`http` runs `httpapps.py http-client` (every request of the script on one connection, the
responses parsed in order); `header(resp, name)` reads a response field; `backend.requests()`
and `backend.anomalies()` read the record-server's log.
"""

import base64
import json
import os

import mesh as meshlib
from weftcase import wait_until

APPS_HTTP = os.path.join(meshlib.APPS, "httpapps.py")


class Backend:
    """A running record-server and its log."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.log_path = log_path

    def events(self, ev=None):
        try:
            with open(self.log_path) as f:
                recs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [r for r in recs if ev is None or r["ev"] == ev]

    def requests(self, **match):
        return [r for r in self.events("request") if all(r.get(k) == v for k, v in match.items())]

    def anomalies(self):
        return self.events("anomaly")

    def raw(self):
        """Every byte the backend received (up to its per-connection cap), by connection id."""
        out = {}
        for r in self.events("raw"):
            out[r["conn"]] = out.get(r["conn"], b"") + base64.b64decode(r["b64"])
        return out

    def raw_all(self):
        return b"".join(self.raw().values())

    def wait_requests(self, count, timeout=10.0, **match):
        return wait_until(lambda: len(self.requests(**match)) >= count and self.requests(**match), timeout=timeout) or self.requests(**match)


def header(resp, name):
    """The value of field `name` in a parsed response ('' if absent; several joined by ', ')."""
    values = [v for n, v in resp.get("headers", []) if n.lower() == name.lower()]
    return ", ".join(values)


class HTTPHelpers:
    """Mixin for MeshTestCase / MTLSTestCase."""

    def record_server(self, pod, port, name=None):
        name = name or "backend-%d" % port
        log_path = self.mesh.log_path("%s-%s.jsonl" % (pod.name, name))
        proc = pod.spawn([meshlib.PYTHON, "-u", APPS_HTTP, "record-server", "--port", str(port), "--log", log_path], name)
        pod.wait_listen(port, proc=proc)
        return Backend(proc, log_path)

    def http_app(self, pod, *args, timeout=60):
        res = pod.run([meshlib.PYTHON, "-u", APPS_HTTP] + [str(a) for a in args], timeout=timeout)
        return self.parse_result(res.stdout, "%s in pod %s (exit %s, stderr: %s)"
                                 % (args[0], pod.name, res.returncode, res.stderr.strip()[-2000:]))

    def http(self, pod, host, port, script, pipeline=False, repeat=1, summary=False, timeout=60, linger=0.3):
        """Sends the requests of `script` ({method, path, headers: [[n, v]], body} or {raw}) on one
        connection from `pod`; returns {responses, closed, error, elapsed}."""
        args = ["http-client", "--host", host, "--port", port, "--script", json.dumps(script),
                "--linger", linger]
        if pipeline:
            args.append("--pipeline")
        if repeat > 1:
            args += ["--repeat", repeat]
        if summary:
            args.append("--summary")
        return self.http_app(pod, *args, timeout=timeout)

    def assertProxyAnswer(self, resp, status, reason_prefix):
        """A response the proxy wrote itself: its status and an `x-weft-reason` saying why."""
        self.assertEqual(resp["status"], status, resp)
        self.assertTrue(header(resp, "x-weft-reason").startswith(reason_prefix),
                        "x-weft-reason should start with %r: %s" % (reason_prefix, resp))
