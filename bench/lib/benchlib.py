#!/usr/bin/env python3
"""Helpers for bench/compare.sh and bench/icount.sh (Python 3 standard library only).

  benchlib.py ports N                      N free TCP ports on 127.0.0.1 (bound to :0, then released)
  benchlib.py cpus                         the CPUs this process may run on, e.g. "0 1"
  benchlib.py secret FILE                  write a fresh absec_bench_<32 hex> secret, mode 0600
  benchlib.py sign SECRET_FILE BODY_FILE [--invalid]
                                           a Stripe-Signature value for now: t=<now>,v1=<HMAC>;
                                           --invalid: same shape, last hex digit of v1 changed
  benchlib.py wait-tcp PORT PID SECONDS    until 127.0.0.1:PORT accepts (exit 1 if PID dies / timeout)
  benchlib.py wait-http URL PID SECONDS    until GET URL answers 200
  benchlib.py probe URL SCENARIO [SECRET_FILE BODY_FILE]
                                           one request of the scenario; prints "status=…", exit 1
                                           unless it got what the scenario expects
  benchlib.py snap PGID...                 JSON: CPU ticks and VmHWM summed over the process groups
  benchlib.py cpustat                      JSON: busy, total, task and steal ticks per CPU (/proc/stat)
  benchlib.py failrow META_JSON ERROR      a results.jsonl row for a run that could not be measured
  benchlib.py row KEY=VALUE...             one results.jsonl row from a run's raw measurements
  benchlib.py human ROW_JSON               one line for the log
  benchlib.py report RESULTS.jsonl         the Markdown table (medians over repetitions)
  benchlib.py callgrind-total FILE         the instruction total of a callgrind.out file
"""
import hashlib
import hmac
import http.client
import json
import os
import secrets
import socket
import statistics
import sys
import time

# What each scenario must get, per request.
EXPECTED_STATUS = {"signed": 200, "invalid": 401, "preflight": 204}


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        sys.exit(__doc__)
    return COMMANDS[argv[0]](argv[1:]) or 0


def cmd_ports(args):
    socks = []
    for _ in range(int(args[0])):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_cpus(_args):
    print(" ".join(str(c) for c in sorted(os.sched_getaffinity(0))))


def cmd_secret(args):
    path = args[0]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"absec_bench_{secrets.token_hex(16)}\n")
    os.chmod(path, 0o600)


def signature(secret_file, body_file, invalid=False):
    """Stripe's scheme: v1 = hex(HMAC-SHA256(secret, "<t>." + exact body bytes))."""
    with open(secret_file, encoding="utf-8") as f:
        key = f.read().strip().encode()
    with open(body_file, "rb") as f:
        body = f.read()
    t = int(time.time())
    v1 = hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if invalid:
        # Well-formed and the right length, so the verifier computes the full HMAC and compares.
        v1 = v1[:-1] + ("0" if v1[-1] != "0" else "1")
    return f"t={t},v1={v1}"


def cmd_sign(args):
    print(signature(args[0], args[1], "--invalid" in args[2:]))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by the shell) is not alive for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(check, pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return 0
        if not alive(pid):
            print(f"process {pid} exited", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"not ready after {seconds} s", file=sys.stderr)
    return 1


def cmd_wait_tcp(args):
    port, pid, seconds = int(args[0]), int(args[1]), float(args[2])

    def check():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    return wait_until(check, pid, seconds)


def http_request(url, method="GET", headers=None, body=None):
    assert url.startswith("http://")
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=5)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def cmd_wait_http(args):
    url, pid, seconds = args[0], int(args[1]), float(args[2])

    def check():
        try:
            return http_request(url)[0] == 200
        except OSError:
            return False

    return wait_until(check, pid, seconds)


def cmd_probe(args):
    """One request shaped like the scenario's load; checks what the load run can't see."""
    url, scenario = args[0], args[1]
    expected = EXPECTED_STATUS[scenario]
    if scenario == "preflight":
        headers = {"Origin": "null", "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type,stripe-signature"}
        status, resp_headers, body = http_request(url, "OPTIONS", headers)
    else:
        with open(args[3], "rb") as f:
            payload = f.read()
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": signature(args[2], args[3], scenario == "invalid")}
        status, resp_headers, body = http_request(url, "POST", headers, payload)
    problems = []
    if status != expected:
        problems.append(f"expected {expected}")
    if scenario == "signed" and b'"ok":true' not in body:
        problems.append("body is not the upstream's")
    if scenario == "preflight" and "access-control-allow-origin" not in resp_headers:
        problems.append("no Access-Control-Allow-Origin")
    print(f"status={status}" + (f" ({'; '.join(problems)}: {body[:200]!r})" if problems else ""))
    return 1 if problems else 0


def read_proc_groups(pgids):
    """Sum utime+stime (ticks) and VmHWM (kB) over every process in the given process groups."""
    pgids = {int(p) for p in pgids}
    ticks = hwm_kb = 0
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[0] is field 3 (state) of proc(5): pgrp = 5, utime = 14, stime = 15
            if int(fields[2]) not in pgids:
                continue
            ticks += int(fields[11]) + int(fields[12])
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm_kb += int(line.split()[1])
            pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return {"ticks": ticks, "hwm_kb": hwm_kb, "pids": sorted(pids)}


def cmd_snap(args):
    print(json.dumps(read_proc_groups(args)))


def cmd_cpustat(_args):
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in vals] + [0] * 8
                # user nice system idle iowait irq softirq steal (proc(5)), in USER_HZ ticks
                out[name[3:]] = {"busy": sum(v[:8]) - v[3] - v[4], "total": sum(v[:8]),
                                 "tasks": v[0] + v[1] + v[2], "steal": v[7]}
    print(json.dumps(out))


def cpu_list(text):
    """A taskset list ("0,2-3") as a set of CPU names as /proc/stat spells them ("0", "2", "3")."""
    cpus = set()
    for part in filter(None, text.replace(" ", ",").split(",")):
        lo, _, hi = part.partition("-")
        cpus.update(str(c) for c in range(int(lo), int(hi or lo) + 1))
    return cpus


def parse_wrk(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("BENCHJSON "):
                return json.loads(line[len("BENCHJSON "):])
    raise SystemExit(f"no BENCHJSON line in {path}")


def cmd_row(args):
    """Turns one measured run into a row. Keys: meta, wrk, warm (optional), tg0, tg1, up0, up1,
    cpu0, cpu1 (JSON), wrk_time (bash `time`: wall user sys), lg_cpus and rig_cpus (taskset
    lists, may be empty), log_lines."""
    kv = dict(a.split("=", 1) for a in args)
    row = json.loads(kv["meta"])
    w = parse_wrk(kv["wrk"])
    hz = os.sysconf("SC_CLK_TCK")
    tg0, tg1 = json.loads(kv["tg0"]), json.loads(kv["tg1"])
    up0, up1 = json.loads(kv["up0"]), json.loads(kv["up1"])
    n = max(w["requests"], 1)
    secs = w["duration_us"] / 1e6
    row.update(
        requests=w["requests"],
        seconds=round(secs, 3),
        rps=round(w["requests"] / secs, 1) if secs else 0.0,
        cpu_us_per_req=round((tg1["ticks"] - tg0["ticks"]) / hz * 1e6 / n, 2),
        upstream_cpu_us_per_req=round((up1["ticks"] - up0["ticks"]) / hz * 1e6 / n, 2),
        p50_ms=round(w["p50_us"] / 1000, 3),
        p99_ms=round(w["p99_us"] / 1000, 3),
        max_ms=round(w["max_us"] / 1000, 3),
        peak_rss_mb=round(tg1["hwm_kb"] / 1024, 1),
        target_pids=tg1["pids"],
        socket_errors=w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"],
        status_ge_400=w["err_status"],
    )
    if kv.get("log_lines"):
        row["log_lines"] = int(kv["log_lines"])
    # Statuses: counted exactly in the warm-up (or in this run when there was no warm-up);
    # in the measured run wrk only counts responses >= 400, which must be all or none.
    statuses = w["statuses"] or (parse_wrk(kv["warm"])["statuses"] if kv.get("warm") else {})
    row["statuses"] = statuses
    expected = EXPECTED_STATUS[row["scenario"]]
    flags = []
    if set(statuses) - {str(expected)}:
        flags.append("STATUS")
    if (row["status_ge_400"] != 0) if expected < 400 else (row["status_ge_400"] != w["requests"]):
        flags.append("STATUS")
    if row["socket_errors"] > 0.001 * n:
        flags.append("ERR")
    lg = sorted(cpu_list(kv.get("lg_cpus", "")))
    if lg:
        c0, c1 = json.loads(kv["cpu0"]), json.loads(kv["cpu1"])
        busy = sum(c1[c]["busy"] - c0[c]["busy"] for c in lg if c in c0)
        total = sum(c1[c]["total"] - c0[c]["total"] for c in lg if c in c0)
        row["loadgen_cpu_busy_pct"] = round(100 * busy / total, 1) if total else None
        if total and busy / total >= 0.9:
            flags.append("LG")
    wrk_ticks = None
    if kv.get("wrk_time"):
        try:
            with open(kv["wrk_time"]) as f:
                wall, user, system = (float(x) for x in f.read().split()[-3:])
            row["wrk_cpu_pct"] = round(100 * (user + system) / wall, 1)
            wrk_ticks = (user + system) * hz
        except (OSError, ValueError):
            pass
    # Other programs on the CPUs of the rig: task time (and the hypervisor's steal) on those
    # CPUs that wrk, the target and the upstream do not account for.
    c0, c1 = json.loads(kv["cpu0"]), json.loads(kv["cpu1"])
    rig = cpu_list(kv.get("rig_cpus", "")) or set(c0)
    rig &= set(c0) & set(c1)
    if rig and wrk_ticks is not None:
        tasks = sum(c1[c]["tasks"] + c1[c]["steal"] - c0[c]["tasks"] - c0[c]["steal"] for c in rig)
        window = max(c1[c]["total"] - c0[c]["total"] for c in rig)
        ours = wrk_ticks + (tg1["ticks"] - tg0["ticks"]) + (up1["ticks"] - up0["ticks"])
        if window:
            row["other_cpu_pct"] = round(max(0.0, 100 * (tasks - ours) / window), 1)
            if row["other_cpu_pct"] >= 10:
                flags.append("BUSY")
    row["flags"] = sorted(set(flags))
    row["ok"] = True
    print(json.dumps(row))


def cmd_failrow(args):
    row = json.loads(args[0])
    row.update(ok=False, error=args[1])
    print(json.dumps(row))


def cmd_human(args):
    r = json.loads(args[0])
    line = (f"{r['rps']:,.0f} req/s, {r['cpu_us_per_req']} µs CPU/req, p99 {r['p99_ms']} ms, "
            f"peak RSS {r['peak_rss_mb']} MB, statuses {r['statuses']}")
    if "log_lines" in r:
        line += f", {r['log_lines']} log lines"
    if r.get("loadgen_cpu_busy_pct") is not None:
        line += f", load generator CPU(s) {r['loadgen_cpu_busy_pct']}% busy"
    if r.get("wrk_cpu_pct") is not None:
        line += f", wrk {r['wrk_cpu_pct']}% of a CPU"
    if r.get("other_cpu_pct") is not None:
        line += f", other programs {r['other_cpu_pct']}% of a CPU"
    if r["flags"]:
        line += f", flags {' '.join(r['flags'])}"
    print(line)


def cmd_report(args):
    rows = []
    with open(args[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    keys = []
    groups = {}
    for r in rows:
        key = (r["target"], r["scenario"])
        if key not in groups:
            keys.append(key)
        groups.setdefault(key, []).append(r)
    order = {"nginx": 0, "gateway": 1}
    scen = {"signed": 0, "invalid": 1, "preflight": 2}
    keys.sort(key=lambda k: (order.get(k[0], 9), scen.get(k[1], 9)))

    def med(rs, field):
        vals = [r[field] for r in rs if r.get(field) is not None]
        return statistics.median(vals) if vals else None

    base = med([r for r in groups.get(("nginx", "signed"), []) if r.get("ok")], "rps")
    names = {"nginx": "nginx `proxy_pass`, no auth", "gateway": "stripe-app-gateway"}
    print("| target | scenario | req/s | × nginx signed | CPU µs/req | p99 ms | peak RSS MB "
          "| spread | LG CPU | statuses | flags |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for key in keys:
        rs = [r for r in groups[key] if r.get("ok")]
        failed = len(groups[key]) - len(rs)
        name = names.get(key[0], key[0])
        if not rs:
            err = groups[key][0].get("error", "failed")
            print(f"| {name} | {key[1]} | — | — | — | — | — | — | — | — | FAILED: {err} |")
            continue
        rps = med(rs, "rps")
        vals = [r["rps"] for r in rs]
        spread = f"{100 * (max(vals) - min(vals)) / rps:.0f}%" if len(rs) > 1 and rps else "—"
        ratio = f"{rps / base:.2f}" if base else "—"
        statuses = {}
        for r in rs:
            for s, n in r.get("statuses", {}).items():
                statuses[s] = statuses.get(s, 0) + n
        st = ", ".join(f"{s}" if len(statuses) == 1 else f"{s}×{n}"
                       for s, n in sorted(statuses.items())) or "?"
        lg = med(rs, "loadgen_cpu_busy_pct")
        lg = f"{lg:.0f}%" if lg is not None else "—"
        flags = sorted({f for r in rs for f in r.get("flags", [])})
        if failed:
            flags.append(f"{failed} run(s) failed")
        print(f"| {name} | {key[1]} | {rps:,.0f} | {ratio} | {med(rs, 'cpu_us_per_req'):.1f} "
              f"| {med(rs, 'p99_ms'):.2f} | {med(rs, 'peak_rss_mb'):.1f} | {spread} | {lg} | {st} "
              f"| {' '.join(flags)} |")


def cmd_callgrind_total(args):
    with open(args[0]) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                print(line.split()[1])
                return 0
    print(f"no totals/summary line in {args[0]}", file=sys.stderr)
    return 1


COMMANDS = {
    "ports": cmd_ports,
    "cpus": cmd_cpus,
    "secret": cmd_secret,
    "sign": cmd_sign,
    "wait-tcp": cmd_wait_tcp,
    "wait-http": cmd_wait_http,
    "probe": cmd_probe,
    "snap": cmd_snap,
    "cpustat": cmd_cpustat,
    "row": cmd_row,
    "failrow": cmd_failrow,
    "human": cmd_human,
    "report": cmd_report,
    "callgrind-total": cmd_callgrind_total,
}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
