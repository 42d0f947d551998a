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
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
from loadgen import load, probe  # noqa: E402  (after the line above on purpose)


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
