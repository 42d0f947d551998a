#!/usr/bin/env python3
"""Helpers of the fault scripts in bench/faults/ (standard library only).

  faults.py port                          print a free 127.0.0.1 TCP port
  faults.py load  [options]               signed HTTP/1.1 load, summary as JSON (see --help)
  faults.py upstream --port P [--delay S] a small HTTP/1.1 upstream: 200 {"ok":true} after S s
  faults.py slowloris --port P --conns N --duration S [--out F]
                                          N connections that send a request head one byte at a
                                          time, reopened whenever the gateway closes one
  faults.py procstat PID                  "rss_kib hwm_kib fds" of a process
  faults.py metric URL NAME               the sum of the series of metric NAME (nothing if absent)
  faults.py status URL                    the HTTP status of GET URL (000 on a connection error)
  faults.py probe --port P --path PATH --secret-file F [--tls]
                                          one signed request; prints its status (000: no answer)
  faults.py drain-watch --pid P --admin PORT --data PORT --stop-file F
                                          SIGTERM to P, then timings of readiness, listener
                                          and exit as JSON (touches F once /readyz is not 200)
  faults.py analyse-gaps LOAD_JSON GAPS_FILE GRACE
                                          failures of a load run outside the upstream's gaps

Signing: Stripe-Signature t=<now>,v1=HMAC-SHA256(secret, "<t>.<body>"), computed for every
request with Python's hmac, the secret read from --secret-file (re-read every 0.2 s, so a
script switches clients to a new secret by rewriting that file).
"""
import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import ssl
import sys
import time
import urllib.request


# ------------------------------------------------------------------ small commands
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procstat(pid: int) -> str:
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else "0"
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return f"{fields.get('VmRSS', '0')} {fields.get('VmHWM', '0')} {fds}"


def metric(url: str, name: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        base = series.split("{", 1)[0]
        if base == name:
            total += float(value)
            found = True
    if not found:
        return ""
    return str(int(total)) if total.is_integer() else repr(total)


def status(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.status)
    except urllib.error.HTTPError as err:
        return str(err.code)
    except OSError:
        return "000"


# ------------------------------------------------------------------ HTTP/1.1 client
class Secret:
    """The signing secret, re-read from its file at most every 0.2 s."""

    def __init__(self, path: str):
        self.path, self.value, self.read_at = path, b"", 0.0

    def get(self) -> bytes:
        now = time.monotonic()
        if now - self.read_at > 0.2:
            try:
                with open(self.path, encoding="utf-8") as f:
                    value = f.read().strip().encode()
                if value:
                    self.value = value
            except OSError:
                pass
            self.read_at = now
        return self.value


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    keep = headers.get("connection", "").lower() != "close"
    return status, keep


class Load:
    def __init__(self, args):
        self.args = args
        self.secret = Secret(args.secret_file)
        self.statuses: dict[str, int] = {}
        self.latencies: list[float] = []
        self.failures: list[tuple[float, str]] = []
        self.started = 0
        self.done = 0
        self.certs: dict[str, list] = {}
        self.stop = False
        self.tokens: asyncio.Queue | None = None
        self.ssl = None
        if args.tls:
            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE

    def request(self, n: int) -> bytes:
        if self.args.kind == "webhook":
            body = json.dumps({"id": f"evt_load_{os.getpid()}_{n}", "object": "event",
                               "type": "invoice.paid", "livemode": True,
                               "account": "acct_load"}, separators=(",", ":")).encode()
        else:
            body = json.dumps({"user_id": "usr_load", "account_id": "acct_load", "n": n},
                              separators=(",", ":")).encode()
        t = int(time.time())
        sig = hmac.new(self.secret.get(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return (f"POST {self.args.path} HTTP/1.1\r\nHost: {self.args.host}:{self.args.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Stripe-Signature: t={t},v1={sig}\r\n\r\n").encode() + body

    def count(self, key: str, started: float):
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if key == "200":
            self.latencies.append(time.monotonic() - started)
        else:
            self.failures.append((time.time(), key))

    async def connect(self):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.args.host, self.args.port, ssl=self.ssl), 5)
        if self.ssl is not None:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            digest = hashlib.sha256(der).hexdigest()[:16]
            seen = self.certs.setdefault(digest, [time.time(), 0])
            seen[1] += 1
        return reader, writer

    async def worker(self):
        reader = writer = None
        used = 0
        while not self.stop:
            if self.tokens is not None:
                await self.tokens.get()
                if self.stop:
                    break
            n = self.started
            self.started += 1
            started = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await self.connect()
                    used = 0
                writer.write(self.request(n))
                status, keep = await asyncio.wait_for(read_response(reader),
                                                      self.args.timeout)
                used += 1
                self.count(str(status), started)
                if not keep or (self.args.reconnect_every and used >= self.args.reconnect_every):
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    asyncio.LimitOverrunError, ValueError, ssl.SSLError) as err:
                kind = "timeout" if isinstance(err, asyncio.TimeoutError) else type(err).__name__
                self.count(f"error:{kind}", started)
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
            self.done += 1
        if writer is not None:
            writer.close()

    async def pace(self):
        interval = 1.0 / self.args.rate
        next_at = time.monotonic()
        while not self.stop:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.tokens.qsize() < self.args.conns * 4:
                self.tokens.put_nowait(None)

    async def run(self) -> dict:
        args = self.args
        if args.rate:
            self.tokens = asyncio.Queue()
        began = time.time()
        workers = [asyncio.create_task(self.worker()) for _ in range(args.conns)]
        pacer = asyncio.create_task(self.pace()) if args.rate else None
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            await asyncio.sleep(0.05)
        self.stop = True
        if pacer:
            pacer.cancel()
            for _ in workers:
                self.tokens.put_nowait(None)
        # In-flight requests finish (each has its own timeout).
        await asyncio.wait(workers, timeout=args.timeout + 5)
        lat = sorted(self.latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        failed = sum(n for k, n in self.statuses.items() if k != "200")
        return {
            "started_at": began, "ended_at": time.time(), "requests": self.done,
            "unfinished": self.started - self.done, "ok": self.statuses.get("200", 0),
            "failed": failed, "statuses": self.statuses, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 2) if lat else None,
            "certs": self.certs, "failures": self.failures[:500_000],
        }


def load(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py load")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/api/load")
    p.add_argument("--kind", choices=["app", "webhook"], default="app")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--rate", type=float, default=0, help="requests/s in total (0: closed loop)")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--stop-file", help="stop issuing requests once this file exists")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--reconnect-every", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result = asyncio.run(Load(args).run())
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


def probe(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py probe")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/api/probe")
    p.add_argument("--kind", choices=["app", "webhook"], default="app")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--timeout", type=float, default=5)
    args = p.parse_args(argv)
    client = Load(args)

    async def once():
        reader, writer = await client.connect()
        try:
            writer.write(client.request(0))
            return (await asyncio.wait_for(read_response(reader), args.timeout))[0]
        finally:
            writer.close()

    try:
        print(asyncio.run(once()))
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
        print("000")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1:2] for line in f)
    except OSError:
        return False


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def drain_watch(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py drain-watch")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--admin", type=int, required=True)
    p.add_argument("--data", type=int, required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--lb-lag", type=float, default=1.0,
                   help="seconds between /readyz turning and the clients stopping")
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args(argv)
    admin = f"http://127.0.0.1:{args.admin}"
    in_flight = metric(f"{admin}/metrics", "stripe_app_gateway_in_flight_requests")
    out = {"in_flight_at_sigterm": float(in_flight or 0)}
    start = time.time()
    os.kill(args.pid, 15)
    out["sigterm_at"] = start
    while alive(args.pid) and time.time() - start < args.timeout:
        now = time.time()
        if "ready_down_at" not in out:
            code = status(f"{admin}/readyz")
            if code != "200":
                out["ready_down_at"], out["ready_status"] = now, code
        elif "clients_stopped_at" not in out and now >= out["ready_down_at"] + args.lb_lag:
            open(args.stop_file, "w").close()
            out["clients_stopped_at"] = now
        if "listener_closed_at" not in out and not accepts(args.data):
            out["listener_closed_at"] = now
            try:
                value = metric(f"{admin}/metrics", "stripe_app_gateway_in_flight_requests")
                out["in_flight_at_close"] = float(value or 0)
            except OSError:
                pass
        time.sleep(0.01)
    out["exited_at"] = time.time() if not alive(args.pid) else None
    print(json.dumps(out))


# ------------------------------------------------------------------ upstream
def upstream(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py upstream")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0)
    args = p.parse_args(argv)
    body = b'{"ok":true}'
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if args.delay:
                    await asyncio.sleep(args.delay)
                writer.write(reply)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", args.port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------ slowloris
def slowloris(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="faults.py slowloris")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between bytes")
    p.add_argument("--out")
    args = p.parse_args(argv)
    head = (b"POST /api/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 40) for i in range(200)))
    stats = {"opened": 0, "closed_by_gateway": 0, "connect_errors": 0, "peak_open": 0}
    open_now = 0

    async def one(deadline):
        nonlocal open_now
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", args.port), 10)
            except (OSError, asyncio.TimeoutError):
                stats["connect_errors"] += 1
                await asyncio.sleep(0.5)
                continue
            stats["opened"] += 1
            open_now += 1
            stats["peak_open"] = max(stats["peak_open"], open_now)
            try:
                for i in range(len(head)):
                    if time.monotonic() >= deadline:
                        break
                    writer.write(head[i:i + 1])
                    await writer.drain()
                    # A closed connection shows as EOF (or a reset) on read.
                    try:
                        data = await asyncio.wait_for(reader.read(1024), args.interval)
                        if not data:
                            stats["closed_by_gateway"] += 1
                            break
                    except asyncio.TimeoutError:
                        pass
            except OSError:
                stats["closed_by_gateway"] += 1
            finally:
                open_now -= 1
                writer.close()

    async def main():
        deadline = time.monotonic() + args.duration
        await asyncio.gather(*(one(deadline) for _ in range(args.conns)))

    asyncio.run(main())
    text = json.dumps(stats)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)


# ------------------------------------------------------------------ gap analysis
def analyse_gaps(load_json: str, gaps_file: str, grace: float) -> None:
    """Prints a JSON verdict: failures inside a gap (plus grace) with 502/504 are expected;
    anything else is not."""
    with open(load_json, encoding="utf-8") as f:
        result = json.load(f)
    gaps = []
    with open(gaps_file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                down, up = map(float, line.split())
                gaps.append((down, up + grace))
    in_gap, unexpected = 0, []
    for at, what in result["failures"]:
        inside = any(down <= at <= up for down, up in gaps)
        if inside and what in ("502", "504"):
            in_gap += 1
        else:
            unexpected.append((round(at, 3), what, inside))
    print(json.dumps({"in_gap": in_gap, "unexpected": len(unexpected),
                      "unexpected_sample": unexpected[:10]}))


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "port":
        print(free_port())
    elif command == "load":
        load(rest)
    elif command == "drain-watch":
        drain_watch(rest)
    elif command == "probe":
        probe(rest)
    elif command == "upstream":
        upstream(rest)
    elif command == "slowloris":
        slowloris(rest)
    elif command == "procstat":
        print(procstat(int(rest[0])))
    elif command == "metric":
        print(metric(rest[0], rest[1]))
    elif command == "status":
        print(status(rest[0]))
    elif command == "analyse-gaps":
        analyse_gaps(rest[0], rest[1], float(rest[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
