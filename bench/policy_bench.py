"""Benchmarks of the CI check (`POST /api/policy/check`), called from bench/run.py's main().

Two figures, on one server with 10 enabled policies (every rule type) and two images seeded
straight into the app database (as run.py's insert_scanned_image does), each with a completed
scan of a digest:
- the check of an already-scanned digest (an image with 100 findings), p99 at 32 concurrent
  clients with wrk and a Lua POST script, against GET /healthz at 32 clients in the same run;
- the check of an image with 10,000 findings (reading them, evaluating the 10 policies and
  answering), one client, p50 and p99 of the whole request (the evaluation is most of it; the
  figure says what was timed).
A digest reference makes no registry call, so no registry is needed."""
import json
import random
import shutil
import sqlite3
import tempfile
import time
import urllib.request

POLICIES = [
    {"name": "no criticals", "action": "fail", "rules": [{"type": "severity", "level": "CRITICAL"}]},
    {"name": "fixable highs", "action": "warn", "rules": [{"type": "severity", "level": "HIGH", "fixableOnly": True}]},
    {"name": "kev", "action": "fail", "rules": [{"type": "kev"}]},
    {"name": "epss", "action": "warn", "rules": [{"type": "epss", "percentile": 0.95}]},
    {"name": "sla critical 7d", "action": "fail", "rules": [{"type": "sla", "severity": "CRITICAL", "days": 7}]},
    {"name": "sla high 30d", "action": "warn", "rules": [{"type": "sla", "severity": "HIGH", "days": 30}]},
    {"name": "denied pyyaml", "action": "fail", "rules": [{"type": "package", "purl": "pkg:pypi/pyyaml", "versions": "<5.4"}]},
    {"name": "denied pkg042", "action": "fail", "rules": [{"type": "package", "purl": "pkg:deb/debian/pkg042"}]},
    {"name": "at most 10 highs", "action": "warn", "rules": [{"type": "count", "severity": "HIGH", "max": 10}]},
    {"name": "mixed", "action": "fail", "scope": {"repositories": ["app*"]},
     "rules": [{"type": "severity", "level": "CRITICAL", "fixableOnly": True}, {"type": "count", "severity": "MEDIUM", "max": 5000}]},
]

SEVERITY_RANKS = {4: "CRITICAL", 3: "HIGH", 2: "MEDIUM", 1: "LOW", 0: "UNKNOWN"}


def seed_image(con, org, rid, name, digest, findings, now, rnd):
    """An image with tag 1 whose completed scan of `digest` has `findings` findings."""
    img, scan = f"img_{name}", f"scn_{name}"
    con.execute("INSERT INTO images (id, org_id, registry_id, name, full_name, latest_tag, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, '1', ?, ?)", (img, org, rid, name, f"127.0.0.1:9/{name}", now, now))
    con.execute("INSERT INTO scans (id, org_id, registry_id, image_id, repository, tag, reference, digest, manifest_digest, "
                "status, trigger, queued_at, finished_at) VALUES (?, ?, ?, ?, ?, '1', ?, ?, ?, 'completed', 'manual', ?, ?)",
                (scan, org, rid, img, name, f"127.0.0.1:9/{name}:1", digest, digest, now, now))
    con.execute("INSERT INTO image_tags (image_id, name, digest, first_seen_at, updated_at, last_scan_id) "
                "VALUES (?, '1', ?, ?, ?, ?)", (img, digest, now, now, scan))
    rows = []
    for k in range(findings):
        pkg = rnd.randrange(400)
        vid = f"CVE-2099-{rnd.randrange(20_000):06d}"
        rank = rnd.choice([4, 3, 3, 2, 2, 2, 1, 1, 0])
        fixed = f"1.{pkg % 7}-{1 + pkg % 3}" if k % 4 else None
        purl = f"pkg:deb/debian/pkg{pkg:03d}@1.0-1"
        detail = json.dumps({"vulnerabilityId": vid, "aliases": [], "severity": SEVERITY_RANKS[rank], "package": {
            "name": f"pkg{pkg:03d}", "version": "1.0-1", "type": "deb", "purl": purl},
            "fixedVersion": fixed, "fixState": "fixed" if fixed else "not-fixed", "references": [], "sources": ["native"],
            "advisoryIds": [vid]})
        kev = 1 if k % 211 == 0 else 0
        pct = rnd.random()
        rows.append((scan, k, vid, rank, 1 if fixed else 0, f"pkg{pkg:03d}", "1.0-1", "deb", detail.encode(), purl, 3, kev,
                     pct / 2, pct, "distribution", fixed))
    con.executemany("INSERT OR IGNORE INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, "
                    "pkg_version, pkg_type, detail, purl, priority_rank, kev, epss, epss_percentile, severity_source, fix_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return scan


def check_benchmarks(binary, seconds=10):
    from run import api, start_serve, stop, wrk  # run.py imports this module: import its helpers when called

    tmp = tempfile.mkdtemp(prefix="hg-bench-check-")
    proc = None
    try:
        data = f"{tmp}/data"
        proc, base, key = start_serve(binary, data)
        rid = api(base, key, "POST", "/api/registries", {"name": "check", "provider": "DOCKER_REGISTRY",
                                                         "url": "http://127.0.0.1:9", "insecure": True, "schedule": "manual"})["data"]["id"]
        ci = api(base, key, "POST", "/api/api-keys", {"name": "ci", "role": "ci"})["data"]["key"]
        for p in POLICIES:
            api(base, key, "POST", "/api/policies", p)
        con = sqlite3.connect(f"{data}/harborguard.db", timeout=30)
        org = con.execute("SELECT org_id FROM registries WHERE id = ?", (rid,)).fetchone()[0]
        now = "2099-02-01T00:00:00Z"
        rnd = random.Random(18)
        small_digest, large_digest = "sha256:" + "1" * 64, "sha256:" + "2" * 64
        with con:
            seed_image(con, org, rid, "app-small", small_digest, 100, now, rnd)
            seed_image(con, org, rid, "app-large", large_digest, 10_000, now, rnd)
        con.close()

        def check(image):
            req = urllib.request.Request(base + "/api/policy/check", data=json.dumps({"image": image}).encode(), method="POST",
                                         headers={"X-API-Key": ci, "Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                body = json.loads(r.read())
                status = r.status
            return (time.perf_counter() - t0) * 1000, status, body["data"]

        small = f"127.0.0.1:9/app-small@{small_digest}"
        large = f"127.0.0.1:9/app-large@{large_digest}"
        _, status, small_answer = check(small)
        assert status == 200, small_answer

        # 32 concurrent clients on the already-scanned digest, and /healthz at 32 in the same run.
        script = f"{tmp}/check.lua"
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\n'
                    f'wrk.body = {json.dumps(json.dumps({"image": small}))}\n'
                    'wrk.headers["Content-Type"] = "application/json"\n')
        wrk(base + "/api/policy/check", key=ci, conns=32, threads=2, seconds=2, script=script)  # warm
        health = wrk(base + "/healthz", conns=32, threads=2, seconds=seconds)
        loaded = wrk(base + "/api/policy/check", key=ci, conns=32, threads=2, seconds=seconds, script=script)

        # 10 policies over 10,000 findings: the whole request, one client.
        _, status, large_answer = check(large)
        assert status == 200, large_answer
        times = sorted(check(large)[0] for _ in range(40))

        def pct(xs, p):
            return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

        evaluated = len(large_answer["policies"])
        return [
            {"figure": f"POST /api/policy/check, already-scanned digest (100 findings, {len(small_answer['policies'])} policies), "
                       f"p99 at 32 clients (ms; {loaded['rps']:.0f} req/s, {loaded['non2xx']} non-2xx)",
             "harborguard": round(loaded["p99_ms"], 1), "baseline": round(health["p99_ms"], 1),
             "baseline_name": "GET /healthz p99 at 32 clients, same run",
             "ratio": round(loaded["p99_ms"] / max(health["p99_ms"], 1e-9), 2), "target": "< 50 ms",
             "pass": loaded["p99_ms"] < 50 and loaded["non2xx"] == 0},
            {"figure": f"POST /api/policy/check of an image with 10,000 findings, {evaluated} policies evaluated "
                       f"(verdict {large_answer['verdict']}, {len(large_answer['violations'])} violations): whole request p50 (ms, 1 client)",
             "harborguard": round(pct(times, 50), 1), "baseline": round(pct(times, 99), 1),
             "baseline_name": "the same request, p99 (ms)", "ratio": None, "target": "< 20 ms",
             "pass": pct(times, 50) < 20 and evaluated == len(POLICIES)},
        ]
    finally:
        if proc:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
