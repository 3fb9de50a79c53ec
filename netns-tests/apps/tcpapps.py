#!/usr/bin/env python3
"""Small TCP applications the netns scenarios run inside pods (standard library only).

They are ordinary programs that know nothing about Weft: servers bind the wildcard address,
clients connect to a pod's address. Each prints one `RESULT {json}` line that the tests parse.

    echo-server       --port P                 echo every byte back until EOF (asyncio)
    many-client       --host H --port P --count N --size S [--hold]
    halfclose-server  --port P                 read to EOF, then reply "OK <bytes> <sha256>"
    halfclose-client  --host H --port P --bytes N
    banner-server     --port P --banner TEXT   speak first, then answer one line
    banner-client     --host H --port P
    probe-client      --host H --port P        connect, send, report refused/reset/eof/data
    stream-server     --port P --bytes N       both sides send N bytes at once, hash both ways
    stream-client     --host H --port P --bytes N
    drip-server       --port P --chunks N --interval S   a slow response over N*S seconds
    drip-client       --host H --port P
    idle-client       --host H --port P --wait S   one echo, then idle until the peer closes
    reset-server      --port P                 read a line, then reset the connection (RST)
    watch-server      --port P                 report how each peer left: "END <peer> eof|reset <n>"
    rst-client        --host H --port P        send a line, then reset the connection
    exhaust-client    --host H --port P --keep K --flood F   interactive, see below
"""

import argparse
import asyncio
import errno
import hashlib
import json
import resource
import selectors
import socket
import struct
import sys
import threading
import time


def result(obj):
    sys.stdout.write("RESULT " + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


def listener(port, backlog=1024):
    """A dual-stack listener on [::]:port (v4 clients arrive v4-mapped)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(backlog)
    return s


def connect(host, port, timeout=10.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def peer_host(addr):
    host = addr[0]
    return host[7:] if host.startswith("::ffff:") else host


def serve_threads(port, handler):
    """Accepts forever, one thread per connection."""
    ls = listener(port)
    say("LISTENING %d" % port)
    while True:
        conn, addr = ls.accept()
        threading.Thread(target=handler, args=(conn, addr), daemon=True).start()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_line(s, limit=65536):
    buf = bytearray()
    while not buf.endswith(b"\n") and len(buf) < limit:
        chunk = s.recv(1)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def pattern_block(seed, size):
    """A pseudo-random block derived from `seed` (deterministic, cheap to build once)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s-%d" % (seed.encode(), counter)).digest()
        counter += 1
    return out[:size]


# -- echo --------------------------------------------------------------------------------------

def echo_server(args):
    raise_nofile()

    async def handle(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, host=None, port=args.port, backlog=4096, reuse_address=True)
        say("LISTENING %d" % args.port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def many_client(args):
    """Opens `count` connections at once, then echoes `size` bytes on each; with --hold, keeps
    them all open until a line arrives on stdin."""
    raise_nofile()

    async def main():
        t0 = time.monotonic()

        async def open_one(i):
            try:
                return await asyncio.wait_for(asyncio.open_connection(args.host, args.port), 30)
            except Exception as e:  # noqa: BLE001 - reported, not raised
                return e

        conns = await asyncio.gather(*(open_one(i) for i in range(args.count)))
        ok_conns = [c for c in conns if not isinstance(c, Exception)]
        errors = {}
        for c in conns:
            if isinstance(c, Exception):
                errors[type(c).__name__] = errors.get(type(c).__name__, 0) + 1
        say("CONNECTED %d" % len(ok_conns))

        async def echo(i, rw):
            reader, writer = rw
            payload = (b"%08d" % i) * (args.size // 8)
            writer.write(payload)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(payload)), 60)
            return got == payload

        echoed = await asyncio.gather(*(echo(i, rw) for i, rw in enumerate(ok_conns)), return_exceptions=True)
        ok = sum(1 for e in echoed if e is True)
        for e in echoed:
            if isinstance(e, Exception):
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            elif e is False:
                errors["mismatch"] = errors.get("mismatch", 0) + 1
        say("ECHOED %d" % ok)
        if args.hold:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for _, writer in ok_conns:
            writer.close()
        for _, writer in ok_conns:
            try:
                await writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass
        result({"connected": len(ok_conns), "ok": ok, "errors": errors, "elapsed": time.monotonic() - t0})

    asyncio.run(main())


# -- half-close --------------------------------------------------------------------------------

def halfclose_server(args):
    def handle(conn, addr):
        h, n = hashlib.sha256(), 0
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            # The peer has shut down its write side; the reply still has to reach it.
            conn.sendall(b"OK %d %s\n" % (n, h.hexdigest().encode()))
    serve_threads(args.port, handle)


def halfclose_client(args):
    s = connect(args.host, args.port, timeout=30)
    block = pattern_block("halfclose", 65536)
    h, sent = hashlib.sha256(), 0
    while sent < args.bytes:
        chunk = block[: min(len(block), args.bytes - sent)]
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
    s.shutdown(socket.SHUT_WR)
    reply = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    result({"sent": sent, "sha256": h.hexdigest(), "reply": reply.decode(errors="replace")})


# -- server speaks first -----------------------------------------------------------------------

def banner_server(args):
    def handle(conn, addr):
        with conn:
            conn.sendall(("220 %s\r\n" % args.banner).encode())
            line = recv_line(conn)
            conn.sendall(b"ECHO " + line)
    serve_threads(args.port, handle)


def banner_client(args):
    t0 = time.monotonic()
    s = connect(args.host, args.port, timeout=10)
    banner = recv_line(s)  # the client says nothing until the server has spoken
    t_banner = time.monotonic() - t0
    s.sendall(b"hello from the client\n")
    reply = recv_line(s)
    s.close()
    result({"banner": banner.decode(errors="replace"), "banner_s": t_banner,
            "reply": reply.decode(errors="replace")})


# -- probe (refused / reset / eof) -------------------------------------------------------------

def probe_client(args):
    t0 = time.monotonic()
    outcome, detail, data = None, "", b""
    try:
        s = connect(args.host, args.port, timeout=args.timeout)
    except ConnectionRefusedError:
        outcome = "refused"
    except ConnectionResetError:  # accepted and reset before connect() returned
        outcome = "reset"
    except socket.timeout:
        outcome = "connect-timeout"
    except OSError as e:
        outcome, detail = "connect-error", errno.errorcode.get(e.errno, str(e))
    else:
        try:
            s.settimeout(args.timeout)
            s.sendall(args.send.encode())
            data = s.recv(65536)
            outcome = "data" if data else "eof"
        except ConnectionResetError:
            outcome = "reset"
        except BrokenPipeError:
            outcome = "reset"
        except socket.timeout:
            outcome = "timeout"
        except OSError as e:
            outcome, detail = "error", errno.errorcode.get(e.errno, str(e))
        s.close()
    result({"outcome": outcome, "detail": detail, "elapsed": time.monotonic() - t0,
            "data": data.decode(errors="replace")})


# -- bulk stream, both ways at once ------------------------------------------------------------

BLOCK = 65536


def _send_blocks(sock, total, seed, out):
    """Sends `total` bytes in blocks that carry their index at both ends, hashing what was sent."""
    block = pattern_block(seed, BLOCK)
    h, sent, i = hashlib.sha256(), 0, 0
    while sent < total:
        struct.pack_into(">Q", block, 0, i)
        struct.pack_into(">Q", block, BLOCK - 8, i)
        n = min(BLOCK, total - sent)
        view = memoryview(block)[:n]
        sock.sendall(view)
        h.update(view)
        sent += n
        i += 1
    sock.shutdown(socket.SHUT_WR)
    out["sent"], out["sent_sha256"] = sent, h.hexdigest()


def _recv_all(sock, out):
    h, got = hashlib.sha256(), 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        n = sock.recv_into(buf)
        if n == 0:
            break
        h.update(view[:n])
        got += n
    out["received"], out["received_sha256"] = got, h.hexdigest()


def _duplex(sock, total, seed):
    out = {}
    t0 = time.monotonic()
    sender = threading.Thread(target=_send_blocks, args=(sock, total, seed, out))
    sender.start()
    _recv_all(sock, out)
    sender.join()
    out["elapsed"] = time.monotonic() - t0
    return out


def stream_server(args):
    ls = listener(args.port)
    say("LISTENING %d" % args.port)
    conn, addr = ls.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    out = _duplex(conn, args.bytes, "server")
    out["peer"] = peer_host(addr)
    conn.close()
    result(out)


def stream_client(args):
    s = connect(args.host, args.port, timeout=None)
    s.settimeout(None)
    out = _duplex(s, args.bytes, "client")
    s.close()
    result(out)


# -- slow, long-lived response -----------------------------------------------------------------

def drip_server(args):
    def handle(conn, addr):
        with conn:
            try:
                for i in range(args.chunks):
                    conn.sendall(b"chunk %d\n" % i)
                    time.sleep(args.interval)
                conn.sendall(b"END\n")
            except OSError:
                pass
    serve_threads(args.port, handle)


def drip_client(args):
    t0 = time.monotonic()
    s = connect(args.host, args.port, timeout=30)
    data = bytearray()
    started = False
    error = ""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if not started:
                started = True
                say("STARTED")
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e))
    s.close()
    lines = data.decode(errors="replace").splitlines()
    result({"lines": len(lines), "end": bool(lines) and lines[-1] == "END", "error": error,
            "elapsed": time.monotonic() - t0})


# -- resets -------------------------------------------------------------------------------------

def _abort(s):
    """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def reset_server(args):
    """Reads one line, then resets the connection."""
    def handle(conn, addr):
        recv_line(conn)
        _abort(conn)
    serve_threads(args.port, handle)


def watch_server(args):
    """Reads until the peer goes away and says how: "END <peer> eof|reset <bytes>"."""
    def handle(conn, addr):
        n, how = 0, "eof"
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                n += len(chunk)
        except ConnectionResetError:
            how = "reset"
        conn.close()
        say("END %s %s %d" % (peer_host(addr), how, n))
    serve_threads(args.port, handle)


def rst_client(args):
    """Sends a line, waits, then resets its connection."""
    s = connect(args.host, args.port, timeout=10)
    s.sendall(b"hello before the reset\n")
    time.sleep(args.linger)
    _abort(s)
    result({"sent": 23})


# -- idle ----------------------------------------------------------------------------------------

def idle_client(args):
    s = connect(args.host, args.port, timeout=10)
    s.sendall(b"ping\n")
    echoed = recv_exact(s, 5)
    t_idle = time.monotonic()
    s.settimeout(args.wait)
    try:
        data = s.recv(65536)
        outcome = "data" if data else "eof"
    except ConnectionResetError:
        outcome = "reset"
    except socket.timeout:
        outcome = "still-open"
    s.close()
    result({"echoed": echoed.decode(errors="replace"), "outcome": outcome, "idle_s": time.monotonic() - t_idle})


# -- descriptor exhaustion -----------------------------------------------------------------------

def exhaust_client(args):
    """Driven over stdin/stdout:
        -> opens `keep` connections, echoes on each, prints "KEPT <ok>"
        -> opens `flood` more (connect may succeed from the kernel's backlog alone), sends a line
           on each, prints "FLOODED <connected>"
        <- "check": echoes again on the kept connections, prints "CHECK <ok>"
        <- "close": closes everything, prints "CLOSED"
        <- "new":   a fresh connection (retrying for up to 15 s), prints "NEW <ok> <seconds>"
    """
    raise_nofile()
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET

    def echo(s, tag):
        try:
            msg = ("echo %s\n" % tag).encode()
            s.settimeout(5)
            s.sendall(msg)
            return recv_exact(s, len(msg)) == msg
        except OSError:
            return False

    kept = []
    for i in range(args.keep):
        kept.append(connect(args.host, args.port, timeout=5))
    say("KEPT %d" % sum(echo(s, "kept-%d" % i) for i, s in enumerate(kept)))

    # All at once and non-blocking: if the proxy's accept queue is full the kernel drops SYNs,
    # and blocking connects would then serialise into minutes of retransmissions.
    flood, pending = [], {}
    sel = selectors.DefaultSelector()
    for i in range(args.flood):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((args.host, args.port))
        flood.append(s)
        pending[s] = i
        sel.register(s, selectors.EVENT_WRITE)
    connected = 0
    deadline = time.monotonic() + 3
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s = key.fileobj
            sel.unregister(s)
            i = pending.pop(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    s.send(b"flood %d\n" % i)
                    connected += 1
                except OSError:
                    pass
    sel.close()
    say("FLOODED %d" % connected)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "check":
            say("CHECK %d" % sum(echo(s, "check-%d" % i) for i, s in enumerate(kept)))
        elif cmd == "close":
            for s in kept + flood:
                s.close()
            kept, flood = [], []
            say("CLOSED")
        elif cmd == "new":
            t0 = time.monotonic()
            ok = False
            while time.monotonic() - t0 < 15 and not ok:
                try:
                    s = connect(args.host, args.port, timeout=3)
                    ok = echo(s, "new")
                    s.close()
                except OSError:
                    pass
                if not ok:
                    time.sleep(0.2)
            say("NEW %d %.3f" % (ok, time.monotonic() - t0))
        elif cmd == "quit":
            break


def subcommands(doc):
    """An argparse parser of subcommands and `add(name, fn, server=False, **flags)`: every
    subcommand takes --port, clients also --host, and each keyword becomes a --flag with those
    argparse options. Shared by the apps in this directory."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, server=False, **extra):
        sp = sub.add_parser(name)
        if not server:
            sp.add_argument("--host", required=True)
        sp.add_argument("--port", type=int, required=True)
        for flag, kw in extra.items():
            sp.add_argument("--" + flag.replace("_", "-"), **kw)
        sp.set_defaults(fn=fn)
    return p, add


def main():
    p, add = subcommands(__doc__)

    add("echo-server", echo_server, server=True)
    add("many-client", many_client, count={"type": int, "default": 1000}, size={"type": int, "default": 4096},
        hold={"action": "store_true"})
    add("halfclose-server", halfclose_server, server=True)
    add("halfclose-client", halfclose_client, bytes={"type": int, "default": 8 << 20})
    add("banner-server", banner_server, server=True, banner={"default": "weft-banner"})
    add("banner-client", banner_client)
    add("probe-client", probe_client, send={"default": "hello\n"}, timeout={"type": float, "default": 10.0})
    add("stream-server", stream_server, server=True, bytes={"type": int, "default": 1 << 30})
    add("stream-client", stream_client, bytes={"type": int, "default": 1 << 30})
    add("drip-server", drip_server, server=True, chunks={"type": int, "default": 12},
        interval={"type": float, "default": 0.25})
    add("drip-client", drip_client)
    add("reset-server", reset_server, server=True)
    add("watch-server", watch_server, server=True)
    add("rst-client", rst_client, linger={"type": float, "default": 0.3})
    add("idle-client", idle_client, wait={"type": float, "default": 10.0})
    add("exhaust-client", exhaust_client, keep={"type": int, "default": 3}, flood={"type": int, "default": 60})
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
