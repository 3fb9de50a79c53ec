"""Packet captures on a mesh's bridge, and what was on the wire (standard library only).

    with Capture(mesh, "tcp port 8080") as cap:       # tcpdump -i <bridge> in the node namespace
        ...traffic...
    flows = cap.flows()                               # {(src, sport, dst, dport): bytes}, reassembled
    tls = parse_tls_stream(flows[key])                # TLS records, ClientHello/ServerHello fields
    cap.contains(b"GET /hello.txt")                   # anywhere in any TCP payload?
    cap.ascii()                                       # `tcpdump -r FILE -nn -A`, for the logs

tcpdump runs in the node namespace, on the bridge every pod is attached to (the bridge is
promiscuous, so it sees frames forwarded between pods), with `--immediate-mode` so nothing is
held in a kernel buffer when it is stopped and `-Z root` so it can write into the test's log
directory. The pcap file stays in the log directory. The parser below reads classic pcap with
Ethernet framing (what `tcpdump -w` writes), IPv4 and IPv6 (no extension headers) and TCP, and
reassembles each direction of each connection by sequence number.
"""

import os
import signal
import struct
import subprocess
import time

from mesh import HarnessError

TLS_CONTENT = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
TLS_GROUPS = {0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001d: "x25519", 0x001e: "x448"}
TLS_SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
              0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256"}


class Capture:
    """`tcpdump -i <bridge> -w <log dir>/<name>.pcap FILTER` in the mesh's node namespace."""

    def __init__(self, mesh, bpf="tcp", name="bridge", snaplen=0):
        self.mesh = mesh
        self.bpf = bpf
        self.path = mesh.log_path("%s.pcap" % name)
        self.err_path = mesh.log_path("%s-tcpdump.log" % name)
        self.snaplen = snaplen
        self.popen = None
        self._packets = None

    def start(self, timeout=10.0):
        if os.path.exists(self.path):
            os.unlink(self.path)
        cmd = ["ip", "netns", "exec", self.mesh.node_ns, "tcpdump", "-i", self.mesh.bridge, "-nn",
               "-s", str(self.snaplen), "-U", "--immediate-mode", "-B", "8192", "-Z", "root",
               "-w", self.path] + self.bpf.split()
        errf = open(self.err_path, "wb", buffering=0)
        try:
            self.popen = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        finally:
            errf.close()
        end = time.monotonic() + timeout
        while True:
            with open(self.err_path, errors="replace") as f:
                text = f.read()
            if "listening on" in text:
                return self
            if self.popen.poll() is not None or time.monotonic() > end:
                self.stop()
                raise HarnessError("tcpdump did not start on %s in %s: %s" % (self.mesh.bridge, self.mesh.node_ns, text))
            time.sleep(0.05)

    def stop(self):
        """Stops tcpdump (SIGINT: it writes what it holds and its statistics). Idempotent."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            time.sleep(0.2)  # let the last frames through the bridge first
            os.kill(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self.popen = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def stats(self):
        with open(self.err_path, errors="replace") as f:
            return f.read().strip()

    # -- reading ---------------------------------------------------------------------------------

    def packets(self):
        if self._packets is None:
            with open(self.path, "rb") as f:
                self._packets = list(read_pcap(f.read()))
        return self._packets

    def flows(self):
        """Every TCP direction's payload, reassembled: {(src, sport, dst, dport): bytes}."""
        return reassemble(self.packets())

    def contains(self, needle):
        """Whether `needle` (bytes) occurs in any packet's TCP payload or in any reassembled flow
        (so that it is found even when split across segments)."""
        if any(needle in p.payload for p in self.packets()):
            return True
        return any(needle in data for data in self.flows().values())

    def ascii(self, limit=200):
        """tcpdump's own reading of the file (`-nn -A`), first `limit` lines."""
        res = subprocess.run(["tcpdump", "-r", self.path, "-nn", "-A"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace", timeout=30)
        return "\n".join(res.stdout.splitlines()[:limit])


class Packet:
    __slots__ = ("ts", "src", "dst", "sport", "dport", "seq", "flags", "payload")

    def __init__(self, ts, src, dst, sport, dport, seq, flags, payload):
        self.ts, self.src, self.dst, self.sport, self.dport = ts, src, dst, sport, dport
        self.seq, self.flags, self.payload = seq, flags, payload

    @property
    def syn(self):
        return bool(self.flags & 0x02)

    def key(self):
        return (self.src, self.sport, self.dst, self.dport)


def _ip6(b):
    import ipaddress
    return str(ipaddress.IPv6Address(b))


def read_pcap(data):
    """Yields a Packet for every TCP segment of a classic pcap file with Ethernet framing."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise HarnessError("not a pcap file (magic %s)" % magic.hex())
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise HarnessError("pcap link type %d, expected Ethernet (1)" % linktype)
    off = 24
    while off + 16 <= len(data):
        ts_sec, ts_frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        l3 = frame[14:]
        if ethertype == 0x8100 and len(frame) >= 18:  # one VLAN tag
            ethertype = struct.unpack("!H", frame[16:18])[0]
            l3 = frame[18:]
        if ethertype == 0x0800 and len(l3) >= 20:
            ihl = (l3[0] & 0x0f) * 4
            total = struct.unpack("!H", l3[2:4])[0] or len(l3)  # 0 for some offloaded frames
            if l3[9] != 6:
                continue
            src, dst = ".".join(map(str, l3[12:16])), ".".join(map(str, l3[16:20]))
            l4 = l3[ihl:min(total, len(l3))]
        elif ethertype == 0x86DD and len(l3) >= 40:
            if l3[6] != 6:
                continue
            plen = struct.unpack("!H", l3[4:6])[0] or (len(l3) - 40)
            src, dst = _ip6(l3[8:24]), _ip6(l3[24:40])
            l4 = l3[40:40 + plen]
        else:
            continue
        if len(l4) < 20:
            continue
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        doff = (l4[12] >> 4) * 4
        flags = l4[13]
        yield Packet(ts_sec + ts_frac / 1e6, src, dst, sport, dport, seq, flags, bytes(l4[doff:]))


def reassemble(packets):
    """Each TCP direction's payload in sequence order, retransmissions and overlaps removed."""
    by_key, isn = {}, {}
    for p in packets:
        if p.syn:
            isn.setdefault(p.key(), p.seq)
        if p.payload:
            by_key.setdefault(p.key(), []).append(p)
    out = {}
    for key, segs in by_key.items():
        base = isn[key] + 1 if key in isn else min(s.seq for s in segs)
        rel = sorted((((s.seq - base) & 0xffffffff), s.payload) for s in segs)
        buf, end = bytearray(), 0
        for start, payload in rel:
            if start + len(payload) <= end:
                continue
            if start > end:  # a hole: the capture missed something; mark it and go on
                buf += b"\x00" * (start - end)
                end = start
            buf += payload[end - start:]
            end = start + len(payload)
        out[key] = bytes(buf)
    return out


def flows_between(flows, client_host, server_host, server_port=None):
    """[(client->server bytes, server->client bytes, client port)] for every connection from
    `client_host` to `server_host` (optionally to `server_port`)."""
    out = []
    for (src, sport, dst, dport), data in flows.items():
        if src == client_host and dst == server_host and (server_port is None or dport == server_port):
            back = flows.get((dst, dport, src, sport), b"")
            out.append((data, back, sport))
    return out


# -- TLS ------------------------------------------------------------------------------------------

class TLSStream:
    """One direction of a TLS connection, as records. `complete` is False when the bytes do not
    parse as a sequence of TLS records from the first byte to the last."""

    def __init__(self, data):
        self.records = []          # [(content type, length)]
        self.complete = True
        self.error = ""
        self.hello = None          # the parsed ClientHello/ServerHello of the first record, if any
        off = 0
        while off < len(data):
            if off + 5 > len(data):
                self.complete, self.error = False, "truncated record header at %d" % off
                break
            ctype, major, minor, length = data[off], data[off + 1], data[off + 2], struct.unpack("!H", data[off + 3:off + 5])[0]
            if ctype not in TLS_CONTENT or major != 3 or length > (1 << 14) + 256:
                self.complete, self.error = False, "not a TLS record at %d: %s" % (off, data[off:off + 16].hex())
                break
            if off + 5 + length > len(data):
                self.complete, self.error = False, "record at %d runs past the end of the capture" % off
                self.records.append((ctype, length))
                break
            self.records.append((ctype, length))
            if off == 0 and ctype == 22:
                self.hello = parse_hello(data[5:5 + length])
            off += 5 + length

    def types(self):
        return [TLS_CONTENT.get(t, str(t)) for t, _ in self.records]


def parse_hello(body):
    """The fields of a ClientHello or ServerHello handshake message (RFC 8446 §4.1.2, §4.1.3)
    that a reviewer wants to see: type, legacy version, cipher suites, ALPN, SNI, supported
    versions, key-share groups, extension types, and whether a ServerHello accepts a pre-shared
    key (`resumed`: a resumed session)."""
    out = {"type": None}
    try:
        if len(body) < 4:
            return out
        htype = body[0]
        out["type"] = {1: "client_hello", 2: "server_hello"}.get(htype, str(htype))
        msg = body[4:4 + int.from_bytes(body[1:4], "big")]
        p = 2 + 32                                      # legacy_version, random
        sid_len = msg[p]
        p += 1 + sid_len
        if htype == 1:
            n = struct.unpack("!H", msg[p:p + 2])[0]
            out["cipher_suites"] = [struct.unpack("!H", msg[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
            p += 2 + n
            p += 1 + msg[p]                             # compression methods
        else:
            out["cipher_suite"] = struct.unpack("!H", msg[p:p + 2])[0]
            out["cipher"] = TLS_SUITES.get(out["cipher_suite"], hex(out["cipher_suite"]))
            p += 3
        ext_end = p + 2 + struct.unpack("!H", msg[p:p + 2])[0]
        p += 2
        out["extensions"] = []
        while p + 4 <= ext_end:
            etype, elen = struct.unpack("!HH", msg[p:p + 4])
            ext = msg[p + 4:p + 4 + elen]
            p += 4 + elen
            out["extensions"].append(etype)
            if etype == 41 and htype == 2:              # pre_shared_key: the server resumes
                out["resumed"] = True
            if etype == 16:                             # ALPN
                names, q = [], 2
                while q < len(ext):
                    names.append(ext[q + 1:q + 1 + ext[q]].decode(errors="replace"))
                    q += 1 + ext[q]
                out["alpn"] = names
            elif etype == 0 and htype == 1 and len(ext) > 5:  # server_name
                out["sni"] = ext[5:5 + struct.unpack("!H", ext[3:5])[0]].decode(errors="replace")
            elif etype == 43:                           # supported_versions
                if htype == 1:
                    out["versions"] = [struct.unpack("!H", ext[1 + i:3 + i])[0] for i in range(0, ext[0], 2)]
                else:
                    out["version"] = struct.unpack("!H", ext[:2])[0]
            elif etype == 51:                           # key_share
                if htype == 1:
                    groups, q = [], 2
                    while q + 4 <= len(ext):
                        g, klen = struct.unpack("!HH", ext[q:q + 4])
                        groups.append(TLS_GROUPS.get(g, hex(g)))
                        q += 4 + klen
                    out["key_share_groups"] = groups
                else:
                    out["group"] = TLS_GROUPS.get(struct.unpack("!H", ext[:2])[0], hex(struct.unpack("!H", ext[:2])[0]))
    except (IndexError, struct.error):
        out["parse_error"] = True
    return out
