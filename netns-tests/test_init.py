"""Scenario 9: `weft init` installs, replaces, verifies and removes the interception ruleset.

Each test builds its own network namespaces (named wf-init-<pid>-<random>) and deletes them in a
cleanup that runs even when the test fails. Weft itself never runs nft; the tests use nft only to
read what the kernel holds (and, in one test, to delete a rule by hand and to compare with nft's own
compilation of the dry-run text). The addresses used for real traffic are the documentation ranges
192.0.2.0/24 (RFC 5737) and 2001:db8::/32 (RFC 3849) on veth pairs between the test's own
namespaces: a packet that is not redirected stays inside them.

Run as root: python3 -m unittest discover -s netns-tests -p 'test_*.py'
The binary comes from $WEFT_BIN (default <repo>/.build/debug/weft).
"""

import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEFT = os.environ.get("WEFT_BIN", os.path.join(REPO, ".build", "debug", "weft"))
# The proxy's identity without any capability: what an unprivileged init container would be.
UNPRIVILEGED = ["setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all"]
TIMEOUT = 30


def run(args, check=False, timeout=TIMEOUT):
    """Runs a command, capturing text output; never inherits the test's stdin."""
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=check)


def host_has_weft_table():
    return "table inet weft" in run(["nft", "list", "tables"], check=True).stdout


def normalize_listing(text):
    """`nft list` output without counter values, handles and blank-line differences."""
    text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
    text = re.sub(r" # handle \d+", "", text)
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip()) + "\n"


def plan_table(dry_run_output):
    """The `table inet weft { ... }` block of `weft init --dry-run` (its comments and the
    replace prologue `table inet weft` / `delete table inet weft` removed)."""
    start = dry_run_output.index("table inet weft {")
    return dry_run_output[start:]


class Namespace:
    """A network namespace of this test run, with lo up (as in any pod)."""

    def __init__(self, role):
        self.name = f"wf-init-{os.getpid()}-{role}-{secrets.token_hex(3)}"
        run(["ip", "netns", "add", self.name], check=True)
        self.deleted = False
        self.exec(["ip", "link", "set", "lo", "up"], check=True)

    def exec(self, args, check=False, timeout=TIMEOUT):
        return run(["ip", "netns", "exec", self.name] + args, check=check, timeout=timeout)

    def popen(self, args):
        return subprocess.Popen(["ip", "netns", "exec", self.name] + args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def delete(self):
        if not self.deleted:
            self.deleted = True
            run(["ip", "netns", "delete", self.name])


# Listens on the given ports (both families) and answers each connection with one line:
# "<local port> <original destination or 'none'>", reading SO_ORIGINAL_DST (80) like the proxy.
LISTENER = r"""
import select, socket, struct, sys
SO_ORIGINAL_DST = 80
listeners = []
for port in map(int, sys.argv[1:]):
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((address, port))
        s.listen(16)
        listeners.append(s)
print("ready", flush=True)
while True:
    readable, _, _ = select.select(listeners, [], [])
    for s in readable:
        conn, peer = s.accept()
        port = conn.getsockname()[1]
        try:
            if s.family == socket.AF_INET:
                raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
                original = "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack("!H", raw[2:4])[0])
            else:
                raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
                original = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, raw[8:24]), struct.unpack("!H", raw[2:4])[0])
        except OSError:
            original = "none"
        conn.sendall(("%d %s\n" % (port, original)).encode())
        conn.close()
"""


class InitScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("netns tests need root (ip netns, nftables)")
        for tool in ("ip", "nft", "setpriv"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"{tool} is not installed")
        if not os.access(WEFT, os.X_OK):
            raise AssertionError(f"weft binary not found at {WEFT}: build it (swift build) or set WEFT_BIN")
        # uid 1337 may not be able to reach a binary under /root: give it a world-readable copy.
        cls.tmp = tempfile.mkdtemp(prefix="wf-init-")
        os.chmod(cls.tmp, 0o755)
        cls.weft_copy = os.path.join(cls.tmp, "weft")
        shutil.copy2(WEFT, cls.weft_copy)
        os.chmod(cls.weft_copy, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        cls.host_had_table = host_has_weft_table()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.pod = self.namespace("pod")

    def tearDown(self):
        if not self.host_had_table:
            self.assertFalse(host_has_weft_table(), "a test left table inet weft in the host namespace")

    def namespace(self, role):
        ns = Namespace(role)
        self.addCleanup(ns.delete)
        return ns

    def weft(self, *args, ns=None, unprivileged=False):
        command = (UNPRIVILEGED + [self.weft_copy] if unprivileged else [WEFT]) + ["init"] + list(args)
        return (ns or self.pod).exec(command)

    def assertExit(self, result, code, message=""):
        self.assertEqual(result.returncode, code,
                         f"{message}\nstdout: {result.stdout}\nstderr: {result.stderr}")

    def listing(self, ns=None):
        return normalize_listing((ns or self.pod).exec(["nft", "list", "table", "inet", "weft"], check=True).stdout)

    def tables(self, ns=None):
        return [line for line in (ns or self.pod).exec(["nft", "list", "tables"], check=True).stdout.splitlines() if line.strip()]

    # --- install, replace, compare with the plan -----------------------------------------------

    def test_twice_gives_the_same_single_table(self):
        first = self.weft()
        self.assertExit(first, 0)
        self.assertRegex(first.stdout, r"applied table inet weft \(2 chains, 16 rules.*\) in \d+\.\d+ ms")
        before = self.listing()
        self.assertExit(self.weft(), 0)
        self.assertEqual(self.tables(), ["table inet weft"])
        self.assertEqual(self.listing(), before)
        self.assertEqual(before.count(" counter "), 16)

    def test_listing_equals_dry_run_and_nft_accepts_it(self):
        self.assertExit(self.weft(), 0)
        dry_run = self.weft("--dry-run")
        self.assertExit(dry_run, 0)
        self.assertEqual(self.listing(), normalize_listing(plan_table(dry_run.stdout)))
        script = os.path.join(self.tmp, f"plan-{self.pod.name}.nft")
        with open(script, "w") as f:
            f.write(dry_run.stdout)
        self.addCleanup(os.remove, script)
        checked = self.pod.exec(["nft", "-c", "-f", script])
        self.assertExit(checked, 0, "nft -c -f refused the dry-run text")

    def test_kernel_bytecode_equals_nft_compiling_the_dry_run(self):
        flags = ["--exclude-inbound-ports", "22", "--exclude-outbound-ports", "53",
                 "--include-outbound-cidrs", "192.168.0.0/16,2001:db8::/33,0.0.0.0/0",
                 "--exclude-outbound-cidrs", "10.0.0.0/8,10.16.0.0/12,fd00::/8,203.0.113.7"]
        self.assertExit(self.weft(*flags), 0)
        debug = ["nft", "--debug=netlink", "list", "table", "inet", "weft"]
        # Rule header lines end in the handle (and position); drop them, they differ by design.
        strip = lambda text: re.sub(r"(?m)^(inet weft \w+)( \d+)+$", r"\1", text)
        ours = strip(self.pod.exec(debug, check=True).stdout)
        script = os.path.join(self.tmp, f"bytecode-{self.pod.name}.nft")
        with open(script, "w") as f:
            f.write(self.weft("--dry-run", *flags).stdout)
        self.addCleanup(os.remove, script)
        self.pod.exec(["nft", "-f", script], check=True)
        theirs = strip(self.pod.exec(debug, check=True).stdout)
        self.assertIn("[ bitwise reg 1", theirs)
        self.assertEqual(ours, theirs)

    # --- remove ---------------------------------------------------------------------------------

    def test_remove_deletes_the_table_and_succeeds_when_there_is_none(self):
        self.assertExit(self.weft(), 0)
        self.assertExit(self.weft("--remove"), 0)
        self.assertEqual(self.tables(), [])
        self.assertExit(self.weft("--remove"), 0, "a second --remove must succeed")
        self.assertEqual(self.tables(), [])
        missing = self.weft("--verify")
        self.assertExit(missing, 1)
        self.assertIn("table inet weft is missing", missing.stdout)

    # --- verify ---------------------------------------------------------------------------------

    def test_verify_detects_a_rule_deleted_by_hand(self):
        self.assertExit(self.weft(), 0)
        self.assertExit(self.weft("--verify"), 0)
        chain = self.pod.exec(["nft", "-a", "list", "chain", "inet", "weft", "output"], check=True).stdout
        match = re.search(r"^\s*meta skuid 1337 counter packets \d+ bytes \d+ return # handle (\d+)$", chain, re.M)
        self.assertIsNotNone(match, chain)
        self.pod.exec(["nft", "delete", "rule", "inet", "weft", "output", "handle", match.group(1)], check=True)
        verify = self.weft("--verify")
        self.assertExit(verify, 1)
        self.assertIn("chain output: missing rule 8: `meta skuid 1337 counter return`", verify.stdout)
        self.assertIn("differs from the plan", verify.stderr)
        self.assertExit(self.weft(), 0)
        self.assertExit(self.weft("--verify"), 0, "weft init must restore the deleted rule")

    def test_verify_detects_a_rule_added_by_hand_and_other_flags(self):
        self.assertExit(self.weft(), 0)
        self.pod.exec(["nft", "add", "rule", "inet", "weft", "prerouting", "udp", "dport", "53", "counter", "accept"], check=True)
        verify = self.weft("--verify")
        self.assertExit(verify, 1)
        self.assertRegex(verify.stdout, r"chain prerouting: unexpected rule \(handle \d+\): \[ meta load l4proto => reg 1 \]")
        self.pod.exec(["nft", "delete", "table", "inet", "weft"], check=True)
        self.assertExit(self.weft(), 0)
        other = self.weft("--verify", "--outbound-port", "15002")
        self.assertExit(other, 1, "a table built from other flags must not verify")
        self.assertIn("redirect to :15002", other.stdout)

    def test_verify_checks_the_ipv6_passthrough_address(self):
        self.assertExit(self.weft(), 0)
        self.assertIn("::6/128", self.pod.exec(["ip", "-6", "addr", "show", "dev", "lo"], check=True).stdout)
        self.pod.exec(["ip", "-6", "addr", "del", "::6/128", "dev", "lo"], check=True)
        verify = self.weft("--verify")
        self.assertExit(verify, 1)
        self.assertIn("address ::6/128 is missing on lo", verify.stdout)

    # --- refusals ---------------------------------------------------------------------------------

    def test_invalid_flags_exit_2_with_the_reason(self):
        cases = [
            (["--include-outbound-cidrs", "10.0.0.0/33"], "--include-outbound-cidrs", "prefix length"),
            (["--exclude-outbound-cidrs", "10.1.2.3/8"], "--exclude-outbound-cidrs", "host bits"),
            (["--exclude-outbound-cidrs", "not-an-address"], "--exclude-outbound-cidrs", "not a CIDR"),
            (["--outbound-port", "0"], "--outbound-port", "1 to 65535"),
            (["--inbound-port", "70000"], "--inbound-port", "1 to 65535"),
            (["--exclude-inbound-ports", "22,0"], "--exclude-inbound-ports", "1 to 65535"),
            (["--inbound-port", "15001"], "--inbound-port", "both 15001"),
            (["--outbound-port", "15006"], "--inbound-port", "both 15006"),
            (["--proxy-uid", "x"], "--proxy-uid", "numeric id"),
            (["--remove", "--verify"], "--remove and --verify", "cannot be combined"),
        ]
        for args, flag, reason in cases:
            with self.subTest(args=args):
                result = self.weft(*args)
                self.assertExit(result, 2)
                self.assertIn(flag, result.stderr)
                self.assertIn(reason, result.stderr)
        self.assertEqual(self.tables(), [], "an invalid invocation changed the kernel")

    def test_without_capabilities_exits_3(self):
        for args in ([], ["--verify"], ["--remove"]):
            with self.subTest(args=args):
                result = self.weft(*args, unprivileged=True)
                self.assertExit(result, 3)
                self.assertIn("needs CAP_NET_ADMIN", result.stderr)
                self.assertIn("NET_ADMIN", result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, "one line of cause and remedy")
        # Without IPv6 on lo the first netlink message is the nftables batch itself.
        self.pod.exec(["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6"], check=True)
        result = self.weft(unprivileged=True)
        self.assertExit(result, 3)
        self.assertIn("install table inet weft", result.stderr)
        self.assertEqual(self.tables(), [])

    def test_refuses_the_host_namespace_before_any_netlink_message(self):
        # This test runs weft init in the machine's real network namespace. It is safe because the
        # refusal comes before any netlink socket is opened (InitCommand.run checks the namespace
        # first); the steps below make sure of that before ever running with full privileges.
        self.assertFalse(self.host_had_table, "the host already has table inet weft; not touching it")
        # 1. Without CAP_NET_ADMIN nothing could change anyway; exit 2 (not 3) shows the refusal
        #    precedes the kernel.
        unprivileged = run(["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", WEFT, "init"])
        self.assertExit(unprivileged, 2)
        self.assertIn("host's initial network namespace", unprivileged.stderr)
        # 2. As root, but with every socket() failing (strace fault injection): weft must refuse
        #    without even trying to open one. Nothing is ever run in the host namespace with
        #    working sockets and full privileges, so a regression cannot install rules here.
        traced = run(["strace", "-f", "-e", "trace=socket", "-e", "inject=socket:error=EACCES", WEFT, "init"])
        self.assertExit(traced, 2)
        self.assertIn("--allow-host-namespace", traced.stderr)
        self.assertNotIn("socket(AF_NETLINK", traced.stderr)
        self.assertFalse(host_has_weft_table())

    def test_dry_run_is_allowed_anywhere_and_mentions_the_ipv6_address(self):
        host = run([WEFT, "init", "--dry-run"])
        self.assertExit(host, 0)
        self.assertIn("table inet weft {", host.stdout)
        pod = self.weft("--dry-run")
        self.assertIn("adds ::6/128 to lo", pod.stdout)
        self.assertEqual(self.tables(), [])

    # --- the rules redirect for real -----------------------------------------------------------

    def start_listener(self, ns, *ports):
        listener = ns.popen([sys.executable, "-c", LISTENER] + [str(port) for port in ports])

        def stop():
            listener.send_signal(signal.SIGTERM)
            listener.communicate(timeout=TIMEOUT)
        self.addCleanup(stop)
        self.assertEqual(listener.stdout.readline().strip(), "ready", "listener did not start")

    def connect(self, ns, host, port, unprivileged=False):
        """One line from host:port, or 'no answer' (bash /dev/tcp, so uid 1337 needs no Python)."""
        script = f"exec 3<>/dev/tcp/{host}/{port} && head -n 1 <&3"
        command = ["timeout", "2", "bash", "-c", script]
        result = ns.exec((UNPRIVILEGED if unprivileged else []) + command)
        return result.stdout.strip() or "no answer"

    def veth(self, left, left_address, right, right_address):
        """A veth pair between two test namespaces; an address of None leaves that end bare."""
        names = (f"wfp{secrets.token_hex(2)}", f"wfq{secrets.token_hex(2)}")
        run(["ip", "link", "add", names[0], "netns", left.name, "type", "veth", "peer", "name", names[1],
             "netns", right.name], check=True)
        for ns, device, addresses in ((left, names[0], left_address), (right, names[1], right_address)):
            for address in addresses or []:
                ns.exec(["ip", "addr", "add", address, "dev", device, "nodad"], check=True)
            ns.exec(["ip", "link", "set", device, "up"], check=True)

    def test_outbound_connections_are_redirected_except_the_proxys_own(self):
        pod = self.pod
        # A route off the pod into a namespace that has no addresses: an unredirected SYN waits
        # for an ARP/ND answer that never comes, so nothing is delivered anywhere.
        self.veth(pod, ["192.0.2.2/24", "2001:db8::2/64"], self.namespace("sink"), None)
        self.assertExit(self.weft(), 0)
        self.start_listener(pod, 15001)
        self.assertEqual(self.connect(pod, "192.0.2.1", 80), "15001 192.0.2.1:80")
        self.assertEqual(self.connect(pod, "2001:db8::1", 443), "15001 [2001:db8::1]:443")
        self.assertEqual(self.connect(pod, "192.0.2.1", 80, unprivileged=True), "no answer",
                         "uid 1337 (the proxy) must not be redirected")
        # Loopback traffic of the application is never intercepted: for a tracked but un-NATed
        # connection SO_ORIGINAL_DST returns the listener's own address.
        self.assertEqual(self.connect(pod, "127.0.0.1", 15001), "15001 127.0.0.1:15001")

    def test_inbound_connections_are_redirected_except_excluded_ports(self):
        pod, peer = self.pod, self.namespace("peer")
        self.veth(pod, ["192.0.2.1/24"], peer, ["192.0.2.2/24"])
        self.assertExit(self.weft("--exclude-inbound-ports", "8081"), 0)
        self.start_listener(pod, 15006, 15021, 8081)
        self.assertEqual(self.connect(peer, "192.0.2.1", 8080), "15006 192.0.2.1:8080")
        self.assertEqual(self.connect(peer, "192.0.2.1", 15021), "15021 192.0.2.1:15021",
                         "health checks reach 15021 directly")
        self.assertEqual(self.connect(peer, "192.0.2.1", 8081), "8081 192.0.2.1:8081",
                         "--exclude-inbound-ports is honoured")


if __name__ == "__main__":
    unittest.main()
