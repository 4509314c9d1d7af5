#!/usr/bin/env python3
"""harborguard benchmarks. Every figure is measured against a baseline taken in the same run
on this machine, and only 127.0.0.1 is contacted.

API: wrk (64 connections) on GET /api/registries with 1,000 registries vs GET /healthz
(the server's ceiling). Key verification: single-connection mean latency of an authenticated
point lookup minus /healthz's. Idle RSS of `serve` from /proc.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url, key=None, conns=64, threads=2, seconds=10):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    if key:
        cmd[1:1] = ["-H", f"X-API-Key: {key}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    mean = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    mv = float(mean.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[mean.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_err = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "mean_ms": mv,
            "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": socket_err.group(1) if socket_err else ""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/harborguard")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", default="bench/results.json")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="hg-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([args.bin, "serve", "--data-dir", f"{tmp}/data", "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/serve.log", "w"))
    results = []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        time.sleep(1)
        idle_rss = rss_mb(proc.pid)
        key = open(f"{tmp}/data/initial-admin-key").read().strip()
        for i in range(1000):
            body = json.dumps({"name": f"registry-{i:04d}", "provider": "DOCKER_REGISTRY",
                               "url": f"https://registry-{i}.example.test",
                               "credentials": {"username": "u", "password": f"p{i}"}}).encode()
            req = urllib.request.Request(base + "/api/registries", data=body, method="POST",
                                         headers={"X-API-Key": key, "Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
        health = wrk(base + "/healthz", seconds=args.seconds)
        regs = wrk(base + "/api/registries", key=key, seconds=args.seconds)
        one_health = wrk(base + "/healthz", conns=1, threads=1, seconds=max(3, args.seconds // 2))
        one_auth = wrk(base + "/api/jobs/job_000000000000000000000000", key=key, conns=1, threads=1,
                       seconds=max(3, args.seconds // 2))
        loaded_rss = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    ratio = regs["rps"] / health["rps"]
    verify_us = (one_auth["mean_ms"] - one_health["mean_ms"]) * 1000
    results = [
        {"figure": "GET /api/registries (1,000 registries, 64 conns) req/s", "harborguard": round(regs["rps"]),
         "baseline": round(health["rps"]), "baseline_name": "GET /healthz same run", "ratio": round(ratio, 3),
         "target": ">= 0.50", "pass": ratio >= 0.5},
        {"figure": "GET /api/registries p99 latency (ms)", "harborguard": regs["p99_ms"], "baseline": health["p99_ms"],
         "baseline_name": "GET /healthz p99", "ratio": round(regs["p99_ms"] / max(health["p99_ms"], 1e-9), 2),
         "target": "< 25 ms", "pass": regs["p99_ms"] < 25},
        {"figure": "key verification + 1 indexed lookup, added mean latency (us, 1 conn)", "harborguard": round(verify_us, 1),
         "baseline": round(one_health["mean_ms"] * 1000, 1), "baseline_name": "GET /healthz mean (us)",
         "ratio": round(one_auth["mean_ms"] / max(one_health["mean_ms"], 1e-9), 2), "target": "< 50 us",
         "pass": verify_us < 50},
        {"figure": "idle RSS of serve (MB)", "harborguard": round(idle_rss, 1), "baseline": None, "baseline_name": "",
         "ratio": None, "target": "< 60 MB", "pass": idle_rss < 60},
        {"figure": "RSS after the load (MB)", "harborguard": round(loaded_rss, 1), "baseline": round(idle_rss, 1),
         "baseline_name": "idle RSS", "ratio": round(loaded_rss / idle_rss, 2), "target": "(reported)", "pass": True},
        {"figure": "errors under load (non-2xx, socket)", "harborguard": f"{regs['non2xx']} / {regs['socket_errors'] or 0}",
         "baseline": f"{health['non2xx']} / {health['socket_errors'] or 0}", "baseline_name": "GET /healthz",
         "ratio": None, "target": "0", "pass": regs["non2xx"] == 0},
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(),
                   "results": results}, f, indent=2)
    w = max(len(r["figure"]) for r in results)
    print(f"{'figure'.ljust(w)}  {'harborguard':>12}  {'baseline':>12}  {'ratio':>7}  {'target':>9}  result")
    for r in results:
        print(f"{r['figure'].ljust(w)}  {str(r['harborguard']):>12}  {str(r['baseline']):>12}  "
              f"{str(r['ratio']):>7}  {r['target']:>9}  {'pass' if r['pass'] else 'FAIL'}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
