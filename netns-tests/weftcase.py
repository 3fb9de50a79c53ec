"""unittest base class for the netns scenarios: one mesh per test class, fresh processes per test.

    class MyScenarios(MeshTestCase):
        PODS = ("a", "b")                       # pod names of this class's mesh
        INIT_ARGS = {"a": ["--exclude-outbound-ports", "9000"]}   # per-pod `weft init` flags
        START_PROXIES = True                    # a fresh `weft proxy` in every pod for every test

        def test_something(self):
            a, b = self.pod("a"), self.pod("b")
            self.proxy("a").connection_records(dir="outbound")

After each test every process the test started is killed (proxies get SIGTERM first), and a proxy
that died without the test asking for it fails the test. On failure the tails of the test's logs
are printed; all logs stay under mesh.LOG_ROOT/<Class>/<test>/.
"""

import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
import unittest

import mesh as meshlib
from mesh import Mesh


class MeshTestCase(unittest.TestCase):
    PODS = ("a", "b")
    INIT_ARGS = {}           # pod name -> extra `weft init` flags (a list, or f(mesh) -> list)
    INIT_PODS = None         # pod names to run `weft init` in (default: all)
    START_PROXIES = True
    PROXY_PODS = None        # pod names that get a per-test proxy (default: all)
    PROXY_CONFIG = None      # YAML for the per-test proxies (None: no --config)
    PROXY_NOFILE = None      # descriptor limit for the per-test proxies (None: inherited)

    mesh = None

    @classmethod
    def setUpClass(cls):
        cls.mesh = Mesh(cls.PODS, log_dir=os.path.join(meshlib.LOG_ROOT, cls.__name__, "_class"))
        cls.addClassCleanup(cls.mesh.close)
        for name in (cls.INIT_PODS if cls.INIT_PODS is not None else cls.PODS):
            args = cls.INIT_ARGS.get(name, [])
            if callable(args):  # flags that name other pods' addresses: f(mesh) -> list
                args = args(cls.mesh)
            cls.mesh.pod(name).init_mesh(*args)

    def setUp(self):
        self.mesh.set_log_dir(os.path.join(meshlib.LOG_ROOT, type(self).__name__, self._testMethodName))
        self.addCleanup(self._end_test)
        self._proxies = {}
        if self.START_PROXIES:
            for pod in self.mesh:
                if self.PROXY_PODS is None or pod.name in self.PROXY_PODS:
                    self._proxies[pod.name] = pod.start_proxy(self.proxy_config(pod), nofile=self.PROXY_NOFILE)

    # -- helpers -------------------------------------------------------------------------------

    def pod(self, name):
        return self.mesh.pod(name)

    def proxy_config(self, pod):
        """The YAML the per-test proxy of `pod` starts with (PROXY_CONFIG; subclasses vary it per pod)."""
        return self.PROXY_CONFIG

    def proxy(self, name):
        return self._proxies[name]

    def restart_proxy(self, name, config_yaml=None, nofile=None, config_files=None):
        """Replaces pod `name`'s proxy by one with another config (a YAML text, or `config_files`
        {filename: yaml} in a directory) or descriptor limit."""
        old = self._proxies.get(name)
        if old is not None and old.alive():
            old.expected_dead = True
            # At once: a draining proxy would keep accepting for its drainDuration (5s).
            old.stop(signal.SIGTERM, timeout=5, now=True)
        self._proxies[name] = self.pod(name).start_proxy(config_yaml, nofile=nofile, config_files=config_files,
                                                         name="proxy-%d" % len(self.pod(name).proxies))
        return self._proxies[name]

    def http_server(self, pod, port=8080, name=None):
        """`python3 -m http.server PORT --bind ::` in `pod`, serving hello.txt with a random token.
        Returns (proc, token)."""
        token = "hello-from-%s-%s" % (pod.name, secrets.token_hex(8))
        root = tempfile.mkdtemp(prefix="weft-www-", dir=self.mesh.log_dir)
        with open(os.path.join(root, "hello.txt"), "w") as f:
            f.write(token + "\n")
        proc = pod.spawn([meshlib.PYTHON, "-u", "-m", "http.server", str(port), "--bind", "::",
                          "--directory", root], name=name or "http-%d" % port)
        pod.wait_listen(port, proc=proc)
        return proc, token

    def curl(self, pod, url, timeout=10, extra=()):
        """An unmodified curl in `pod` (no proxy from the environment)."""
        return pod.run(["curl", "-sS", "-g", "--noproxy", "*", "--max-time", str(timeout)] + list(extra) + [url],
                       timeout=timeout + 5)

    def app(self, pod, *args, timeout=60, **kw):
        """Runs a tcpapps.py subcommand in `pod`, asserts it printed a RESULT, returns the dict."""
        res = pod.python(list(args), timeout=timeout, **kw)
        return self.parse_result(res.stdout, "%s in pod %s (exit %s, stderr: %s)"
                                 % (args[0], pod.name, res.returncode, res.stderr.strip()[-2000:]))

    def parse_result(self, text, what):
        for line in reversed(text.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        self.fail("no RESULT from %s; output:\n%s" % (what, text[-3000:]))

    def proc_result(self, proc, timeout):
        """Waits for a background tcpapps process to exit and returns its RESULT dict."""
        rc = proc.wait(timeout)
        if rc is None:
            self.fail("%s in pod %s did not finish within %ss; log tail:\n%s"
                      % (proc.name, proc.pod.name, timeout, proc.tail()))
        return self.parse_result(proc.log_text(), "%s in pod %s (exit %s)" % (proc.name, proc.pod.name, rc))

    def exchange_bulk(self, client_pod, server_pod, port, size, timeout):
        """Both pods send `size` bytes to each other at once (tcpapps stream-client/-server) and
        the hashes of what each sent and the other received must match; blocks carry their
        index, so lost, duplicated or reordered data changes a hash. Returns (client, server)
        RESULT dicts."""
        server = server_pod.spawn_python(["stream-server", "--port", str(port), "--bytes", str(size)], "stream-server")
        server_pod.wait_listen(port, proc=server)
        client = client_pod.spawn_python(["stream-client", "--host", server_pod.ip4, "--port", str(port),
                                          "--bytes", str(size)], "stream-client")
        c = self.proc_result(client, timeout=timeout)
        s = self.proc_result(server, timeout=30)
        self.assertEqual((c["sent"], s["received"]), (size, size), (c, s))
        self.assertEqual((s["sent"], c["received"]), (size, size), (c, s))
        self.assertEqual(c["sent_sha256"], s["received_sha256"], "client -> server corrupted")
        self.assertEqual(s["sent_sha256"], c["received_sha256"], "server -> client corrupted")
        return c, s

    def wait_line(self, proc, prefix, timeout=10.0):
        """Waits for a background process to print a line starting with `prefix`; returns it."""
        return proc.wait_for_log("^" + re.escape(prefix), timeout=timeout)

    def assertEndpoint(self, value, host, port=None, msg=None):
        if not meshlib.same_endpoint(value, host, port):
            self.fail(msg or "%r is not %s:%s" % (value, host, port))

    # -- teardown ------------------------------------------------------------------------------

    def _end_test(self):
        problems = []
        for name, proxy in self._proxies.items():
            if not proxy.expected_dead and not proxy.alive():
                problems.append("weft proxy in pod %s died during the test (exit %s); log tail:\n%s"
                                % (name, proxy.popen.returncode, proxy.tail(40)))
        failed = problems or self._failed_so_far()
        # Applications first, then the proxies: SIGTERM and a second signal, which ends the drain
        # at once (it would otherwise keep the listeners for drainDuration).
        for pod in self.mesh:
            for proc in pod.procs:
                if not isinstance(proc, meshlib.ProxyProc) and proc.alive():
                    proc.send_signal(signal.SIGKILL)
        for pod in self.mesh:
            for proxy in pod.proxies:
                if proxy.alive():
                    proxy.stop(signal.SIGTERM, timeout=3, now=True)
        self.mesh.kill_processes()
        if failed:
            self._dump_logs()
        if problems:
            raise AssertionError("\n".join(problems))

    def _failed_so_far(self):
        """Whether this test has already failed (cleanups run after the body was reported)."""
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is not None:  # Python >= 3.11 reports failures to the result at once
            return any(test is self for test, _ in list(result.failures) + list(result.errors))
        return any(exc is not None for _, exc in getattr(outcome, "errors", []))

    def _dump_logs(self):
        d = self.mesh.log_dir
        out = ["---- logs of %s (%s) ----" % (self.id(), d)]
        for fn in sorted(os.listdir(d)):
            path = os.path.join(d, fn)
            if not fn.endswith(".log") or not os.path.isfile(path):
                continue
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
            out.append("== %s (%d lines, last 25) ==" % (fn, len(lines)))
            out.extend(lines[-25:])
        sys.stderr.write("\n".join(out) + "\n")


def wait_until(predicate, timeout=5.0, interval=0.05):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes (None)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            return None
        time.sleep(interval)
