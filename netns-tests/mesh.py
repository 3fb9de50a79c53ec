"""Network-namespace harness for Weft's end-to-end tests (Python 3 standard library only).

A `Mesh` is one "node" namespace holding a Linux bridge, plus one namespace per pod. Each pod
is joined to the bridge by a veth pair (pod side `eth0`, created directly inside the pod
namespace) and gets an IPv4 address in a /24 and an IPv6 ULA in a /64, both chosen at random
per mesh so that concurrent runs cannot collide. Nothing is ever created in, or routed through,
the namespace the tests are started from.

    with Mesh(["a", "b"]) as mesh:
        a, b = mesh.pod("a"), mesh.pod("b")
        a.init_mesh()                       # weft init inside pod a (root, its namespace)
        proxy = a.start_proxy()             # weft proxy as uid 1337, no capabilities
        srv = b.spawn(["python3", "-m", "http.server", "8080"], name="http")
        b.wait_listen(8080)
        out = a.run(["curl", "-sS", f"http://{b.ip4}:8080/"])
        proxy.connection_records(dir="outbound")

Cleanup is layered so that nothing survives a failing or interrupted test: the context manager,
an atexit hook and SIGTERM/SIGINT/SIGHUP handlers all kill every process living in the mesh's
namespaces (`ip netns pids`) and delete the namespaces. Namespaces left by an earlier run that
was SIGKILLed (their creator pid is gone) are swept when the next mesh is built.

Environment:
    WEFT_BIN        the weft binary (default <repo>/.build/debug/weft)
    WEFT_TEST_LOGS  where per-test logs go (default /tmp/weft-netns-logs/<run id>)
"""

import atexit
import contextlib
import datetime
import ipaddress
import json
import os
import random
import re
import shutil
import signal
from signal import SIGINT, SIGKILL, SIGTERM
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
PYTHON = sys.executable or "python3"

PROXY_UID = 1337
PROXY_GID = 1337

# Every namespace this harness creates is named NS_PREFIX-<creator pid>-<random>-<role>, so a
# later run can tell which leftovers belong to a dead creator.
NS_PREFIX = "weftt"
_NS_RE = re.compile(r"^%s-(\d+)-[0-9a-f]+-" % NS_PREFIX)

RUN_ID = "%s-%d" % (time.strftime("%Y%m%d-%H%M%S"), os.getpid())
LOG_ROOT = os.environ.get("WEFT_TEST_LOGS") or os.path.join("/tmp/weft-netns-logs", RUN_ID)


class HarnessError(Exception):
    """A step of building or driving the mesh failed (not an assertion about Weft)."""


def weft_bin():
    """Path of the weft binary under test."""
    path = os.environ.get("WEFT_BIN") or os.path.join(REPO, ".build", "debug", "weft")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise HarnessError("weft binary not found at %s (build it, or set WEFT_BIN)" % path)
    return path


def _run(cmd, check=True, timeout=30, input=None):
    """Runs a command in the current namespace and returns the CompletedProcess (text mode)."""
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise HarnessError("timed out after %ss: %s" % (timeout, " ".join(cmd))) from e
    if check and res.returncode != 0:
        raise HarnessError("command failed (exit %d): %s\nstdout: %s\nstderr: %s"
                           % (res.returncode, " ".join(cmd), res.stdout.strip(), res.stderr.strip()))
    return res


def require_root():
    if os.geteuid() != 0:
        raise HarnessError("the netns tests must run as root (they create network namespaces)")
    for tool in ("ip", "ss", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            raise HarnessError("%s is not installed (Scripts/test installs what the tests need)" % tool)


# ---------------------------------------------------------------------------------------------
# Global registry and cleanup (context manager + atexit + signal handlers).

_registry_lock = threading.RLock()
_live_meshes = []
_handlers_installed = False
_shared_dir = None        # world-readable scratch for what uid 1337 must read (removed at exit)
_runnable_as_proxy = {}  # weft binary -> the path uid 1337 runs it from


def cleanup_all():
    """Tears down every mesh this process still has. Safe to call more than once."""
    with _registry_lock:
        meshes = list(_live_meshes)
    for mesh in meshes:
        with contextlib.suppress(Exception):
            mesh.close()
    global _shared_dir
    if _shared_dir:
        shutil.rmtree(_shared_dir, ignore_errors=True)
        _shared_dir = None
        _runnable_as_proxy.clear()


def _on_signal(signum, frame):
    cleanup_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(cleanup_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _on_signal)


def _ns_pids(ns):
    res = _run(["ip", "netns", "pids", ns], check=False, timeout=10)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _kill_ns_processes(ns, deadline=5.0):
    """SIGKILLs every process whose network namespace is `ns`, until none is left."""
    end = time.monotonic() + deadline
    while True:
        pids = _ns_pids(ns)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > end:
            return
        time.sleep(0.05)


def _delete_ns(ns):
    _kill_ns_processes(ns)
    _run(["ip", "netns", "del", ns], check=False, timeout=10)


def list_namespaces():
    res = _run(["ip", "netns", "list"], check=False, timeout=10)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def sweep_stale_namespaces():
    """Deletes namespaces left by earlier harness runs whose creating process no longer exists."""
    for ns in list_namespaces():
        m = _NS_RE.match(ns)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            _delete_ns(ns)


def shared_dir():
    """A directory uid 1337 can read (mode 0755), removed when the process exits."""
    global _shared_dir
    if _shared_dir is None:
        _shared_dir = tempfile.mkdtemp(prefix="weft-netns-")
        os.chmod(_shared_dir, 0o755)
    return _shared_dir


def _proxy_binary():
    """The weft binary as uid 1337 can execute it.

    The checkout may live where uid 1337 cannot traverse (a clone under /root), so if a probe run
    as 1337 fails the binary is copied to a world-readable temporary directory. Its RUNPATH names
    the toolchain by absolute path, so the copy loads the same libraries."""
    path = weft_bin()
    if path in _runnable_as_proxy:
        return _runnable_as_proxy[path]
    probe = _run(_setpriv_prefix() + [path, "version"], check=False, timeout=20)
    if probe.returncode == 0:
        _runnable_as_proxy[path] = path
        return path
    copy = os.path.join(shared_dir(), "weft")
    shutil.copy2(path, copy)
    os.chmod(copy, 0o755)
    _runnable_as_proxy[path] = copy
    return copy


def _setpriv_prefix():
    return ["setpriv", "--reuid", str(PROXY_UID), "--regid", str(PROXY_GID), "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]


# ---------------------------------------------------------------------------------------------
# Log parsing.

_LOGFMT_RE = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    """Parses one logfmt line (`k=v k2="v with spaces"`) into a dict of strings."""
    out = {}
    for key, value in _LOGFMT_RE.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        out[key] = value
    return out


def parse_access_line(line):
    """One JSON access log line as a dict of strings with `msg` set from its `kind`; None if the
    line is not an access record."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    kind = rec.get("kind")
    if kind not in ("tcp", "http"):
        return None
    out = {k: str(v) for k, v in rec.items() if v is not None}
    out["msg"] = "connection" if kind == "tcp" else "request"
    # `ts`, as on the logfmt lines: when the record was written (its end).
    try:
        start = datetime.datetime.strptime(rec["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        end = start + datetime.timedelta(milliseconds=int(rec.get("duration_ms") or 0))
        out["ts"] = end.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (end.microsecond // 1000)
    except (KeyError, ValueError):
        pass
    return out


def split_hostport(value):
    """'10.0.0.1:80' / '[fd00::1]:80' / 'fd00::1:80' -> (ip_address, port); None for '-'."""
    if not value or value == "-":
        return None
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
    else:
        host, _, port = value.rpartition(":")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr, int(port)


def same_endpoint(value, host, port=None):
    """True when a logged `host:port` names `host` (any textual form) and, if given, `port`."""
    hp = split_hostport(value)
    if hp is None:
        return False
    want = ipaddress.ip_address(host)
    if isinstance(want, ipaddress.IPv6Address) and want.ipv4_mapped is not None:
        want = want.ipv4_mapped
    return hp[0] == want and (port is None or hp[1] == int(port))


# ---------------------------------------------------------------------------------------------
# Processes.

class Proc:
    """A background process started in a pod, its output captured to a log file."""

    def __init__(self, pod, name, popen, log_path):
        self.pod = pod
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log_text().splitlines()

    def wait_for_log(self, pattern, timeout=10.0, start=0):
        """Waits until a log line (from line index `start` on) matches the regex `pattern`;
        returns the line. Raises HarnessError on timeout or if the process exits first."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            for line in self.log_lines()[start:]:
                if rx.search(line):
                    return line
            if time.monotonic() > end:
                raise HarnessError("%s in pod %s: no log line matching %r within %ss; log tail:\n%s"
                                   % (self.name, self.pod.name, pattern, timeout, self.tail()))
            if not self.alive():
                # One last read: the line may have been written just before exiting.
                for line in self.log_lines()[start:]:
                    if rx.search(line):
                        return line
                raise HarnessError("%s in pod %s exited (code %s) before logging %r; log tail:\n%s"
                                   % (self.name, self.pod.name, self.popen.returncode, pattern, self.tail()))
            time.sleep(0.05)

    def tail(self, n=30):
        return "\n".join(self.log_lines()[-n:])

    def send_signal(self, sig):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code (negative signal number if killed) or None."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, signal=SIGTERM, timeout=5.0, now=False):
        """Sends `signal`, waits up to `timeout` seconds, then SIGKILLs. Returns the exit code
        (negative: killed by that signal), or None if it had to be SIGKILLed after the timeout.
        `now`: a second termination signal right after the first, which a weft proxy reads as
        "stop at once" instead of draining for its drainDuration."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        self.send_signal(signal)
        if now:
            self.send_signal(SIGINT if signal != SIGINT else SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.send_signal(SIGKILL)
            self.popen.wait(timeout=10)
            return None
        return rc

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def fd_kinds(self):
        """Counts open descriptors by kind: socket, pipe, anon_inode:[eventpoll], file, ..."""
        kinds = {}
        base = "/proc/%d/fd" % self.pid
        for fd in os.listdir(base):
            try:
                target = os.readlink(os.path.join(base, fd))
            except OSError:
                continue
            if target.startswith("socket:"):
                kind = "socket"
            elif target.startswith("pipe:"):
                kind = "pipe"
            elif target.startswith("anon_inode:"):
                kind = target
            else:
                kind = "file"
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads), in seconds."""
        with open("/proc/%d/stat" % self.pid) as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of proc(5)

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.pid))


class ProxyProc(Proc):
    """A running `weft proxy` (uid 1337, no capabilities) with helpers for its logfmt log."""

    def __init__(self, pod, name, popen, log_path, config_path, ports):
        super().__init__(pod, name, popen, log_path)
        self.config_path = config_path
        self.outbound_port, self.inbound_port = ports
        self.expected_dead = False

    def events(self):
        """Every parsed log line that carries a `msg`: the logfmt diagnostics on stderr, and the
        JSON access log on stdout (a `kind: tcp` line becomes `msg=connection`, a `kind: http`
        line `msg=request`; values become strings, null becomes absent)."""
        out = []
        for line in self.log_lines():
            if line.startswith("{"):
                rec = parse_access_line(line)
                if rec is not None:
                    out.append(rec)
                continue
            rec = parse_logfmt(line)
            if "msg" in rec:
                out.append(rec)
        return out

    def request_records(self, **match):
        """`kind: http` access log records (one per HTTP request), filtered like connection_records."""
        recs = [r for r in self.events() if r.get("msg") == "request"]
        return [r for r in recs if all(r.get(k) == str(v) for k, v in match.items())]

    def connection_records(self, **match):
        """`msg=connection` records, optionally filtered by exact field values (dir="outbound")."""
        recs = [r for r in self.events() if r.get("msg") == "connection"]
        return [r for r in recs if all(r.get(k) == str(v) for k, v in match.items())]

    def wait_records(self, predicate=None, count=1, timeout=10.0, **match):
        """Waits until at least `count` connection records satisfy `match` and `predicate`;
        returns them. Raises HarnessError with the log tail on timeout."""
        end = time.monotonic() + timeout
        while True:
            recs = [r for r in self.connection_records(**match) if predicate is None or predicate(r)]
            if len(recs) >= count:
                return recs
            if time.monotonic() > end:
                raise HarnessError("proxy in pod %s: %d of %d connection records matching %s within %ss; log tail:\n%s"
                                   % (self.pod.name, len(recs), count, match, timeout, self.tail(40)))
            time.sleep(0.05)

    def kill(self):
        """SIGKILL on purpose (the test expects it dead afterwards)."""
        self.expected_dead = True
        self.send_signal(SIGKILL)
        self.popen.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# Pods and the mesh.

class Pod:
    """One pod: a network namespace with `eth0` on the node bridge and `lo`."""

    def __init__(self, mesh, name, index, ns, ip4, ip6, node_if):
        self.mesh = mesh
        self.name = name
        self.index = index
        self.ns = ns
        self.ip4 = ip4
        self.ip6 = ip6
        self.node_if = node_if
        self.procs = []
        self.proxies = []

    def __repr__(self):
        return "Pod(%s, %s, %s)" % (self.name, self.ip4, self.ip6)

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def run(self, cmd, check=False, timeout=30, input=None):
        """Runs `cmd` (a list) in this pod as root and waits. Returns the CompletedProcess (text)
        with an extra `elapsed` attribute in seconds; on timeout, `returncode` is None."""
        start = time.monotonic()
        try:
            res = subprocess.run(self.exec_prefix() + list(cmd), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, timeout=timeout, input=input,
                                 stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            res = subprocess.CompletedProcess(cmd, None, _text(e.stdout), _text(e.stderr))
        res.elapsed = time.monotonic() - start
        if check and res.returncode != 0:
            raise HarnessError("in pod %s, command failed (exit %s): %s\nstdout: %s\nstderr: %s"
                               % (self.name, res.returncode, " ".join(cmd), res.stdout.strip(), res.stderr.strip()))
        return res

    def python(self, script_args, **kw):
        """Runs one of netns-tests/apps/tcpapps.py's subcommands in this pod and waits."""
        return self.run([PYTHON, "-u", os.path.join(APPS, "tcpapps.py")] + list(script_args), **kw)

    def spawn(self, cmd, name, stdin=False, cls=Proc, **extra):
        """Starts `cmd` in this pod in the background, stdout+stderr to `<log dir>/<pod>-<name>.log`.
        With stdin=True the process's stdin is a pipe (`proc.popen.stdin`)."""
        log_path = self.mesh.log_path("%s-%s.log" % (self.name, name))
        logf = open(log_path, "ab", buffering=0)
        try:
            popen = subprocess.Popen(self.exec_prefix() + list(cmd), stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     start_new_session=True)
        finally:
            logf.close()
        proc = cls(self, name, popen, log_path, **extra)
        self.procs.append(proc)
        return proc

    def spawn_python(self, script_args, name, **kw):
        """Starts a tcpapps.py subcommand in the background (see `spawn`)."""
        return self.spawn([PYTHON, "-u", os.path.join(APPS, "tcpapps.py")] + list(script_args), name, **kw)

    def listening_ports(self):
        res = self.run(["ss", "-ltnH"], check=True, timeout=10)
        ports = set()
        for line in res.stdout.splitlines():
            cols = line.split()
            if len(cols) >= 4 and ":" in cols[3]:
                port = cols[3].rsplit(":", 1)[1]
                if port.isdigit():
                    ports.add(int(port))
        return ports

    def wait_listen(self, *ports, timeout=10.0, proc=None):
        """Waits until TCP `ports` all listen in this pod (polls `ss -ltnH`). If `proc` is given
        and exits first, fails at once with its log."""
        end = time.monotonic() + timeout
        while True:
            have = self.listening_ports()
            if all(int(p) in have for p in ports):
                return
            if proc is not None and not proc.alive():
                raise HarnessError("%s in pod %s exited (code %s) before listening on %s; log tail:\n%s"
                                   % (proc.name, self.name, proc.popen.returncode, ports, proc.tail()))
            if time.monotonic() > end:
                raise HarnessError("pod %s: ports %s not listening after %ss (listening: %s)%s"
                                   % (self.name, ports, timeout, sorted(have),
                                      ("; log tail of %s:\n%s" % (proc.name, proc.tail())) if proc else ""))
            time.sleep(0.05)

    def init_mesh(self, *extra_args, check=True):
        """Runs `weft init EXTRA_ARGS` in this pod as root; asserts exit 0 unless check=False.
        Returns the CompletedProcess."""
        res = self.run([weft_bin(), "init"] + [str(a) for a in extra_args], timeout=30)
        with open(self.mesh.log_path("%s-init.log" % self.name), "a") as f:
            f.write("$ weft init %s\nexit %s\n%s%s\n" % (" ".join(map(str, extra_args)), res.returncode, res.stdout, res.stderr))
        if check and res.returncode != 0:
            raise AssertionError("weft init %s in pod %s exited %s\nstdout: %s\nstderr: %s"
                                 % (" ".join(map(str, extra_args)), self.name, res.returncode, res.stdout, res.stderr))
        return res

    def start_proxy(self, config_yaml=None, nofile=None, name="proxy", ready_timeout=20.0, wait_ready=True,
                    config_files=None):
        """Starts `weft proxy [--config FILE]` in this pod as uid/gid 1337 with no capabilities
        (empty inheritable and bounding sets, no_new_privs), optionally under `prlimit --nofile`
        (an int, or a (soft, hard) pair). Waits until the pod listens on the proxy's ports (15001
        and 15006, or those of the config). Returns a ProxyProc.

        `config_files` ({filename: yaml}) instead of `config_yaml`: the files go into one directory
        and `--config` names the directory."""
        cmd = _setpriv_prefix()
        if nofile is not None:
            soft, hard = (nofile, nofile) if isinstance(nofile, int) else nofile
            cmd += ["prlimit", "--nofile=%d:%d" % (soft, hard), "--"]
        cmd += [_proxy_binary(), "proxy"]
        config_path = None
        ports = (15001, 15006)
        if config_files is not None:
            config_path = os.path.join(shared_dir(), "%s-%s-%s-config.d" % (self.ns, name, len(self.proxies)))
            os.makedirs(config_path, exist_ok=True)
            os.chmod(config_path, 0o755)
            for filename, text in config_files.items():
                for path in (os.path.join(config_path, filename), self.mesh.log_path("%s-%s-%s" % (self.name, name, filename))):
                    with open(path, "w") as f:
                        f.write(text)
                    os.chmod(path, 0o644)
            cmd += ["--config", config_path]
            config_yaml = None
            text = "\n".join(config_files.values())
            m_out = re.search(r"outbound:\s*(\d+)", text)
            m_in = re.search(r"inbound:\s*(\d+)", text)
            ports = (int(m_out.group(1)) if m_out else 15001, int(m_in.group(1)) if m_in else 15006)
        if config_yaml is not None:
            # The proxy (uid 1337) reads it from a world-readable place; a copy sits in the logs.
            filename = "%s-%s-%s-config.yaml" % (self.ns, name, len(self.proxies))
            config_path = os.path.join(shared_dir(), filename)
            for path in (config_path, self.mesh.log_path("%s-%s-config.yaml" % (self.name, name))):
                with open(path, "w") as f:
                    f.write(config_yaml)
                os.chmod(path, 0o644)
            cmd += ["--config", config_path]
            m_out = re.search(r"outbound:\s*(\d+)", config_yaml)
            m_in = re.search(r"inbound:\s*(\d+)", config_yaml)
            ports = (int(m_out.group(1)) if m_out else 15001, int(m_in.group(1)) if m_in else 15006)
        proxy = self.spawn(cmd, name, cls=ProxyProc, config_path=config_path, ports=ports)
        self.proxies.append(proxy)
        if wait_ready:
            self.wait_listen(*ports, timeout=ready_timeout, proc=proxy)
        return proxy

    def nft_rules(self, table="weft", family="inet"):
        """The rules of `table` as [{chain, text, packets, bytes}] (reads counters with nft)."""
        res = self.run(["nft", "list", "table", family, table], check=True, timeout=10)
        rules, chain = [], None
        for raw in res.stdout.splitlines():
            line = raw.strip()
            m = re.match(r"chain (\S+) \{", line)
            if m:
                chain = m.group(1)
                continue
            m = re.search(r"counter packets (\d+) bytes (\d+)", line)
            if m and chain:
                rules.append({"chain": chain, "text": line, "packets": int(m.group(1)), "bytes": int(m.group(2))})
        return rules

    def nft_rule(self, chain_substr, *needles):
        """The one rule whose chain name contains `chain_substr` and whose text has all `needles`."""
        found = [r for r in self.nft_rules() if chain_substr in r["chain"] and all(n in r["text"] for n in needles)]
        if len(found) != 1:
            raise HarnessError("pod %s: expected one rule in chain *%s* with %s, found %d:\n%s"
                               % (self.name, chain_substr, needles, len(found),
                                  self.run(["nft", "list", "table", "inet", "weft"]).stdout))
        return found[0]

    def kill_processes(self):
        """Stops every process this harness started in the pod (proxies first get SIGTERM)."""
        for proc in self.procs:
            if proc.alive():
                proc.send_signal(SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.popen.wait(timeout=5)
            if proc.popen.stdin:
                with contextlib.suppress(Exception):
                    proc.popen.stdin.close()
        self.procs = []
        self.proxies = []


def _text(b):
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


class Mesh:
    """A node namespace with a bridge and one namespace per pod (see the module docstring)."""

    def __init__(self, pod_names=("a", "b"), log_dir=None):
        require_root()
        _install_handlers()
        sweep_stale_namespaces()
        self.tag = "%s-%d-%s" % (NS_PREFIX, os.getpid(), "%06x" % random.getrandbits(24))
        short = self.tag.rsplit("-", 1)[1]
        self.node_ns = self.tag + "-node"
        self.bridge = "wb" + short
        self.log_dir = log_dir or os.path.join(LOG_ROOT, "mesh-" + short)
        os.makedirs(self.log_dir, exist_ok=True)
        # 10.<x>.<y>.0/24 and fdXX:XXXX:XXXX:<y>::/64, random per mesh.
        x, y = random.randint(96, 250), random.randint(0, 255)
        self.net4 = ipaddress.ip_network("10.%d.%d.0/24" % (x, y))
        g = random.getrandbits(40)
        self.net6 = ipaddress.ip_network("fd%02x:%04x:%04x:%x::/64" % (g >> 32, (g >> 16) & 0xffff, g & 0xffff, y))
        self.pods = {}
        self._order = []
        self.closed = False
        self._namespaces = []
        with _registry_lock:
            _live_meshes.append(self)
        try:
            self._build(list(pod_names))
        except BaseException:
            self.close()
            raise

    # -- building ------------------------------------------------------------------------------

    def _ns_add(self, ns):
        _run(["ip", "netns", "add", ns])
        self._namespaces.append(ns)

    def _build(self, names):
        self._ns_add(self.node_ns)
        node = ["ip", "-n", self.node_ns]
        _run(node + ["link", "set", "lo", "up"])
        _run(node + ["link", "add", self.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0",
                     "mcast_snooping", "0"])
        _run(node + ["link", "set", self.bridge, "up"])
        for i, name in enumerate(names, start=2):
            ns = "%s-%s" % (self.tag, name)
            self._ns_add(ns)
            node_if = "%s%d" % (self.bridge.replace("wb", "wv", 1), i)  # e.g. wv1a2b3c2 (<= 15 chars)
            # Created from inside the node namespace, both ends placed directly: nothing ever
            # appears in the namespace the tests run from.
            _run(node + ["link", "add", node_if, "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run(node + ["link", "set", node_if, "master", self.bridge, "up"])
            ip4 = str(self.net4.network_address + i)
            ip6 = str(self.net6.network_address + i)
            pod = ["ip", "-n", ns]
            _run(pod + ["link", "set", "lo", "up"])
            _run(pod + ["addr", "add", "%s/%d" % (ip4, self.net4.prefixlen), "dev", "eth0"])
            _run(pod + ["addr", "add", "%s/%d" % (ip6, self.net6.prefixlen), "dev", "eth0", "nodad"])
            _run(pod + ["link", "set", "eth0", "up"])
            p = Pod(self, name, i, ns, ip4, ip6, node_if)
            self.pods[name] = p
            self._order.append(p)

    # -- use -----------------------------------------------------------------------------------

    def pod(self, name):
        return self.pods[name]

    def __iter__(self):
        return iter(self._order)

    def set_log_dir(self, path):
        """Where logs of processes started from now on go (one directory per test)."""
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        self.log_dir = path

    def log_path(self, filename):
        os.makedirs(self.log_dir, exist_ok=True)
        return os.path.join(self.log_dir, filename)

    def kill_processes(self):
        for pod in self._order:
            pod.kill_processes()

    # -- teardown ------------------------------------------------------------------------------

    def close(self):
        """Kills every process in the mesh's namespaces and deletes them. Idempotent, and safe to
        re-enter from a signal handler that interrupted an earlier call."""
        self.closed = True
        for pod in self._order:
            with contextlib.suppress(Exception):
                pod.kill_processes()
        while self._namespaces:
            ns = self._namespaces[-1]
            with contextlib.suppress(Exception):
                _delete_ns(ns)
            with contextlib.suppress(ValueError):
                self._namespaces.remove(ns)
        with _registry_lock:
            if self in _live_meshes:
                _live_meshes.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def url_host(addr):
    """'10.0.0.2' -> '10.0.0.2', 'fd00::2' -> '[fd00::2]' (for URLs and host:port)."""
    return "[%s]" % addr if ":" in addr else addr
