#!/usr/bin/env python3
"""Programs for the traffic-management netns scenarios (standard library only). They know nothing
about Weft: a backend that says who it is, and a load client that writes down what every request
got.

    backend     --port P --server-name NAME --log FILE [--delay S]
                    a threaded HTTP/1.1 server with keep-alive. Every request is answered
                    `200` with the body `NAME\\n` and the header `x-served-by: NAME`, after
                    sleeping S seconds (--delay) or `?delay=S` seconds; `?status=N` answers N
                    instead. One JSON line per request goes to FILE, written just
                    before the response is sent:
                    {ev: request, name, conn, n, method, target, headers: [[name, value]],
                     t0, t1 (CLOCK_MONOTONIC seconds), peer, status}
                    and one per connection opened and closed: {ev: open, conn, peer, t},
                    {ev: close, conn, requests, t, leftover (bytes received but not framed)}
    load-client --host H --port P [--path /] [--count N] [--duration S] [--concurrency C]
                [--header "name: value"]... [--out FILE] [--timeout S]
                    C threads, each on its own keep-alive connection (a new one after an error
                    or a `Connection: close`), GET until N requests were made in all, S seconds
                    passed, or SIGTERM/SIGINT. One JSON line per request to FILE:
                    {w, i, t0, t1, status, served_by, reason, body, error}
                    (t0/t1: CLOCK_MONOTONIC seconds, comparable with the test's
                    time.monotonic(); status 0 and `error` set when no response came). Prints
                    RESULT {requests, status: {code: n}, served_by: {name: n}, errors,
                    first_error, elapsed}.
"""

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcpapps import peer_host, result, serve_threads, subcommands  # noqa: E402

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class JsonLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, obj):
        if self.f is None:
            return
        line = json.dumps(obj, sort_keys=True) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()


def read_head(sock, buf):
    """(head bytes, rest) once `buf` (a bytearray, which collects what is received) holds
    `\\r\\n\\r\\n`; None at EOF/reset (then `buf` holds the unframed bytes)."""
    while b"\r\n\r\n" not in buf:
        try:
            data = sock.recv(65536)
        except OSError:
            return None
        if not data:
            return None
        buf += data
        if len(buf) > (1 << 20):
            return None
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    return head, rest


def backend(args):
    log = JsonLog(args.log)
    counter = [0]
    counter_lock = threading.Lock()

    def handle(sock, addr):
        with counter_lock:
            counter[0] += 1
            conn_id = counter[0]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.write({"ev": "open", "conn": conn_id, "peer": peer_host(addr), "t": time.monotonic()})
        buf = bytearray()
        n = 0
        try:
            while True:
                got = read_head(sock, buf)
                if got is None:
                    return
                head, rest = got
                t0 = time.monotonic()
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                method, target, version = parts
                headers = []
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers.append([name.strip(), value.strip()])
                fields = {k.lower(): v for k, v in headers}
                length = int(fields.get("content-length", "0") or "0")
                while len(rest) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    rest += data
                buf = bytearray(rest[length:])
                n += 1
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                delay = float(query.get("delay", [args.delay])[0])
                status = int(query.get("status", ["200"])[0])
                if delay > 0:
                    time.sleep(delay)
                body = (args.server_name + "\n").encode()
                close = fields.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                resp = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nx-served-by: %s\r\n%s\r\n"
                        % (status, REASONS.get(status, "Status"), len(body), args.server_name,
                           "Connection: close\r\n" if close else "")).encode() + body
                log.write({"ev": "request", "name": args.server_name, "conn": conn_id, "n": n, "method": method,
                           "target": target, "headers": headers, "t0": t0, "t1": time.monotonic(),
                           "peer": peer_host(addr), "status": status})
                sock.sendall(resp)
                if close:
                    return
        except OSError:
            return
        finally:
            sock.close()
            log.write({"ev": "close", "conn": conn_id, "requests": n, "t": time.monotonic(),
                       "leftover": bytes(buf[:200]).decode("latin-1")})

    serve_threads(args.port, handle)


def load_client(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out = JsonLog(args.out)
    extra = {}
    for h in args.header or []:
        name, _, value = h.partition(":")
        extra[name.strip()] = value.strip()
    lock = threading.Lock()
    state = {"issued": 0, "requests": 0, "status": {}, "served_by": {}, "errors": 0, "first_error": ""}
    t_start = time.monotonic()
    deadline = t_start + args.duration if args.duration else None

    def take():
        with lock:
            if stop.is_set() or (args.count and state["issued"] >= args.count):
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            state["issued"] += 1
            return state["issued"]

    def worker(w):
        conn = None
        while True:
            i = take()
            if i is None:
                break
            if conn is None:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
            rec = {"w": w, "i": i, "status": 0, "served_by": "", "reason": "", "body": "", "error": ""}
            rec["t0"] = time.monotonic()
            try:
                conn.request("GET", args.path, headers=extra)
                resp = conn.getresponse()
                body = resp.read()
                rec["status"] = resp.status
                rec["served_by"] = resp.getheader("x-served-by", "")
                rec["reason"] = resp.getheader("x-weft-reason", "")
                rec["body"] = body[:200].decode("latin-1")
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
                conn.close()
                conn = None
            rec["t1"] = time.monotonic()
            out.write(rec)
            with lock:
                state["requests"] += 1
                key = str(rec["status"])
                state["status"][key] = state["status"].get(key, 0) + 1
                if rec["served_by"]:
                    state["served_by"][rec["served_by"]] = state["served_by"].get(rec["served_by"], 0) + 1
                if rec["error"] or rec["status"] != 200:
                    state["errors"] += 1
                    if not state["first_error"]:
                        state["first_error"] = rec["error"] or "HTTP %d %s %s" % (rec["status"], rec["reason"], rec["body"].strip())
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.1)
    state.pop("issued")
    state["elapsed"] = time.monotonic() - t_start
    result(state)


def main():
    p, add = subcommands(__doc__)
    add("backend", backend, server=True, server_name={"required": True}, log={"default": ""},
        delay={"type": float, "default": 0.0})
    add("load-client", load_client, path={"default": "/"}, count={"type": int, "default": 0},
        duration={"type": float, "default": 0.0}, concurrency={"type": int, "default": 1},
        header={"action": "append"}, out={"default": ""}, timeout={"type": float, "default": 10.0})
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
