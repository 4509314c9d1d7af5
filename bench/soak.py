#!/usr/bin/env python3
"""Soak: wrk for 60 s at 64 connections on the list endpoints while scans run.

Starts the real distribution registry and `serve` on 127.0.0.1 (with bench/run.py's and
Tests/e2e/registry_harness.py's helpers), pushes a few images, syncs them, then keeps
requesting scans (several API keys, so the 10 scans/min limit per key is not what is
measured) while wrk cycles through GET /api/registries, /api/images, /api/scans and
/api/vulnerabilities. Reports requests, errors (non-2xx and socket errors; both must be 0),
p50/p99 latency, scans finished during the load, and the server's RSS before and after
(growth must stay within 10%), split into anonymous and file-backed pages (the mapped
executable), with a once-a-second timeline and the RSS at rest once the scans are done. Writes bench/soak.json and prints a table; exits 1 when a
target is missed.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "e2e"))

from run import api, start_serve, stop, wrk  # noqa: E402
from registry_harness import Registry  # noqa: E402

PATHS = ["/api/registries", "/api/images", "/api/scans", "/api/vulnerabilities"]

LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
""" % ", ".join(f'"{p}"' for p in PATHS)


def rss_parts(pid):
    """VmRSS and its anonymous and file-backed parts (MB). File-backed pages are the mapped
    executable: they grow as more of its code runs and the kernel can drop them at will."""
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                parts[key] = int(value.split()[0]) / 1024
    return parts


class RssSampler(threading.Thread):
    """Samples the server's RSS once a second (the timeline goes into soak.json)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.start_time = pid, [], time.time()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                parts = rss_parts(self.pid)
            except OSError:
                return
            self.samples.append([round(time.time() - self.start_time, 1), round(parts["VmRSS"], 1),
                                 round(parts["RssAnon"], 1), round(parts["RssFile"], 1)])
            self.done.wait(1)


def push_images(reg, count):
    """`count` images of two layers each: a dpkg database from this machine and 2 MB of
    incompressible bytes, so every first scan inflates and reads real layers."""
    status = open("/var/lib/dpkg/status", "rb").read()
    refs = []
    for i in range(count):
        reg.push(f"soak/app{i}", "v1", layers=[
            {"var/lib/dpkg/status": status, "etc/os-release": b'ID=debian\nVERSION_ID="12"\n'},
            {f"opt/app{i}/blob.bin": os.urandom(2 << 20)},
        ])
        refs.append(f"{reg.host}/soak/app{i}:v1")
    return refs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("HARBORGUARD_BIN", ".build/debug/harborguard"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--out", default=os.path.join(HERE, "soak.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")

    tmp = tempfile.mkdtemp(prefix="hg-soak-")
    reg = Registry()
    proc = None
    try:
        refs = push_images(reg, args.images)
        proc, base, key = start_serve(args.bin, f"{tmp}/data", ("--workers", "2"))
        rid = api(base, key, "POST", "/api/registries", {"name": "soak", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                         "insecure": True, "schedule": "manual"})["data"]["id"]
        job = api(base, key, "POST", f"/api/registries/{rid}/sync")["data"]["jobId"]
        deadline = time.time() + 120
        while api(base, key, "GET", f"/api/jobs/{job}")["data"]["status"] not in ("succeeded", "failed"):
            assert time.time() < deadline, "sync did not finish"
            time.sleep(0.5)
        # Scan requesters: one key per 8 scans a minute keeps clear of the per-key limit.
        keys = [api(base, key, "POST", "/api/api-keys", {"name": f"soak-{i}", "role": "admin"})["data"]["key"]
                for i in range(8)]
        requested, refused = [], []
        stop_scans = threading.Event()

        def request_scans():
            n = 0
            while not stop_scans.is_set():
                k = keys[n % len(keys)]
                try:
                    requested.append(api(base, k, "POST", "/api/scans", {"image": refs[n % len(refs)]})["data"]["id"])
                except urllib.error.HTTPError as e:
                    refused.append(e.code)
                n += 1
                stop_scans.wait(max(0.5, 60 / (8 * len(keys))))

        # Warm up: one scan of every image to its end (allocator arenas, SQLite caches, the
        # layer cache) and 5 s of wrk; then take the "before" RSS.
        warm = [api(base, keys[i % len(keys)], "POST", "/api/scans", {"image": ref})["data"]["id"]
                for i, ref in enumerate(refs)]
        deadline = time.time() + 180
        while any(api(base, key, "GET", f"/api/scans/{sid}")["data"]["status"] in ("queued", "running") for sid in warm):
            assert time.time() < deadline, "warm-up scans did not finish"
            time.sleep(1)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(LUA)
            script = f.name
        wrk(base + PATHS[0], key=key, seconds=5, conns=args.connections, script=script)
        time.sleep(1)
        rss_before_parts = rss_parts(proc.pid)
        rss_before = rss_before_parts["VmRSS"]
        sampler = RssSampler(proc.pid)
        sampler.start()
        scanner = threading.Thread(target=request_scans, daemon=True)
        scanner.start()
        load = wrk(base + PATHS[0], key=key, conns=args.connections, seconds=args.seconds, script=script)
        os.unlink(script)
        stop_scans.set()
        scanner.join()
        rss_after_parts = rss_parts(proc.pid)
        rss_after = rss_after_parts["VmRSS"]
        # Let the scans requested during the load finish (up to 3 minutes), then count them.
        deadline = time.time() + 180
        while True:
            finished = {"completed": 0, "failed": 0, "other": 0}
            for sid in requested:
                status = api(base, key, "GET", f"/api/scans/{sid}")["data"]["status"]
                finished[status if status in finished else "other"] += 1
            if finished["other"] == 0 or time.time() > deadline:
                break
            time.sleep(2)
        # At rest again: every scan finished and nothing requested for a few seconds.
        time.sleep(5)
        rss_rest_parts = rss_parts(proc.pid)
        sampler.done.set()
        sampler.join()
        alive = proc.poll() is None
    finally:
        if proc is not None:
            stop(proc)
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    socket_errors = load["socket_errors"] or ""
    socket_total = sum(int(x) for x in __import__("re").findall(r"\d+", socket_errors))
    growth = (rss_after - rss_before) / rss_before
    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(), "binary": args.bin,
        "seconds": args.seconds, "connections": args.connections, "paths": PATHS,
        "requests": load["requests"], "rps": load["rps"], "non2xx": load["non2xx"], "socket_errors": socket_errors,
        "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "mean_ms": load["mean_ms"],
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1), "rss_growth": round(growth, 3),
        "scans_requested": len(requested), "scan_requests_refused": len(refused), "scans": finished,
        "server_alive": alive,
        "rss_parts_mb": {"before": rss_before_parts, "after_load": rss_after_parts, "at_rest": rss_rest_parts},
        "rss_timeline": {"columns": ["seconds", "VmRSS", "RssAnon", "RssFile"], "samples": sampler.samples},
    }
    checks = [
        ("requests", f"{load['requests']:,}", "", True),
        ("throughput (req/s)", f"{load['rps']:,.0f}", "", True),
        ("non-2xx responses", load["non2xx"], "0", load["non2xx"] == 0),
        ("socket errors", socket_errors or "0", "0", socket_total == 0),
        ("p50 latency (ms)", load["p50_ms"], "", True),
        ("p99 latency (ms)", load["p99_ms"], "reported", True),
        ("RSS before / after (MB)", f"{rss_before:.1f} / {rss_after:.1f}", "growth <= 10%", growth <= 0.10),
        ("  of which anonymous (MB)", f"{rss_before_parts['RssAnon']:.1f} / {rss_after_parts['RssAnon']:.1f}", "", True),
        ("RSS at rest afterwards (MB)", f"{rss_rest_parts['VmRSS']:.1f}", "reported", True),
        ("scans requested during the load", len(requested), "> 0", len(requested) > 0),
        ("of which completed / failed / unfinished", f"{finished['completed']} / {finished['failed']} / {finished['other']}",
         "none failed", finished["failed"] == 0 and finished["other"] == 0),
        ("server alive afterwards", alive, "yes", alive),
    ]
    results["pass"] = all(c[3] for c in checks)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    w = max(len(c[0]) for c in checks)
    print(f"soak: {args.seconds} s, {args.connections} connections, {' '.join(PATHS)}, binary {args.bin}")
    for name, value, target, ok in checks:
        print(f"{name.ljust(w)}  {str(value):>20}  {target:>14}  {'pass' if ok else 'FAIL'}")
    print(f"wrote {args.out}")
    sys.exit(0 if results["pass"] else 1)


if __name__ == "__main__":
    main()
