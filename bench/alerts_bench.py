"""Benchmark of the CVE watch and the channels, called from bench/run.py's main().

100 images (one tag each, scanned by the server) hold the same ten Debian packages; an OSV
import then adds one advisory per package, so the rematch it queues finds 1,000 new findings
(10 per image). Three channels listen to `finding_new` on loopback receivers: Slack and Teams
in `immediate` digest mode, and a signed webhook (one delivery per event). The figures: the
seconds from the rematch job's end to the last Slack and Teams message (target: within 5 s,
one message per channel) and to the webhook's 1,000th delivery (reported)."""
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

import run


class Receiver:
    def __init__(self):
        self.received = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((time.time(), self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def at(self, path):
        return [(t, b) for t, p, b in self.received if p == path]


def alerts_benchmark(binary, images=100, packages=10, workers=4):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e"))
    from registry_harness import Registry
    tmp = tempfile.mkdtemp(prefix="hg-bench-alerts-")
    reg = Registry(log_level="info")
    rx = Receiver()
    proc = None
    try:
        status = "".join(
            f"Package: pkg{k:04d}\nStatus: install ok installed\nArchitecture: amd64\nSource: src{k:05d}\n"
            f"Version: 1.1-2\nDescription: synthetic\n\n" for k in range(packages)).encode()
        os_release = b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
        for i in range(images):
            reg.push(f"al/app{i:03d}", f"t{i % workers}", layers=[{"etc/os-release": os_release, "var/lib/dpkg/status": status,
                                                                   "etc/hostname": f"app{i}\n".encode()}])
        data = f"{tmp}/data"
        osv = f"{tmp}/osv"
        os.makedirs(osv)
        # One unrelated advisory, so the database exists before the first scan.
        rec = {"schema_version": "1.6.0", "id": "DEBIAN-CVE-2098-000000", "modified": "2099-01-01T00:00:00Z",
               "aliases": ["CVE-2098-000000"], "affected": [{"package": {"ecosystem": "Debian:12", "name": "other"},
                                                              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
        open(f"{osv}/base.json", "w").write(json.dumps(rec))
        subprocess.run([binary, "db", "import", osv, "--data-dir", data], check=True, capture_output=True)
        proc, base, key = run.start_serve(binary, data, ("--workers", str(workers), "--allow-private-targets"))
        run.sync_and_scan_all(base, key, reg, "al", workers, images)
        for name, kind in (("slack", "slack"), ("teams", "teams"), ("hook", "webhook")):
            body = {"name": name, "type": kind, "url": f"{rx.url}/{name}", "events": ["finding_new"]}
            if kind != "webhook":
                body["delivery"] = "immediate"
            run.api(base, key, "POST", "/api/notification-channels", body)
        for k in range(packages):
            rec = {"schema_version": "1.6.0", "id": f"DEBIAN-CVE-2099-{k:06d}", "modified": "2099-01-01T00:00:00Z",
                   "aliases": [f"CVE-2099-{k:06d}"], "summary": f"synthetic {k}",
                   "affected": [{"package": {"ecosystem": "Debian:12", "name": f"src{k:05d}"},
                                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-3"}]}]}]}
            open(f"{osv}/{rec['id']}.json", "w").write(json.dumps(rec))
        imp = subprocess.run([binary, "db", "import", osv, "--data-dir", data], capture_output=True, text=True)
        m = re.search(r"rematch job (job_[0-9a-f]+)", imp.stdout)
        job = None
        deadline = time.time() + 600
        while m and time.time() < deadline:
            con = sqlite3.connect(f"file:{data}/harborguard.db?mode=ro", uri=True)
            row = con.execute("SELECT status, finished_at, result FROM jobs WHERE id = ?", (m.group(1),)).fetchone()
            con.close()
            if row and row[0] in ("succeeded", "failed", "cancelled"):
                job = row
                break
            time.sleep(0.1)
        alerts = json.loads(job[2] or "{}").get("alerts", 0) if job else 0
        wanted = images * packages
        while time.time() < deadline and (len(rx.at("/hook")) < wanted or not rx.at("/slack") or not rx.at("/teams")):
            time.sleep(0.1)
        time.sleep(3)  # anything that would come late (a second digest message) comes now
        end = datetime.fromisoformat(job[1].replace("Z", "+00:00")).timestamp() if job else float("nan")

        def after(path):
            got = rx.at(path)
            return (round(max(t for t, _ in got) - end, 2) if got else float("nan")), len(got)

        slack, n_slack = after("/slack")
        teams, n_teams = after("/teams")
        hook, n_hook = after("/hook")
        digest_ok = n_slack == 1 and n_teams == 1 and slack <= 5 and teams <= 5
        return [
            {"figure": f"CVE watch: {alerts:,} finding_new after an import (100 images); last Slack / Teams digest message, "
                       f"s after the rematch ({n_slack} / {n_teams} messages)",
             "harborguard": max(slack, teams), "baseline": None, "baseline_name": "", "ratio": None,
             "target": "<= 5 s, 1 message each", "pass": digest_ok and alerts == wanted},
            {"figure": f"CVE watch: the same on a signed webhook (one delivery per event: {n_hook:,}), last delivery, s after the rematch",
             "harborguard": hook, "baseline": None, "baseline_name": "", "ratio": None, "target": "(reported)",
             "pass": n_hook == wanted},
        ]
    finally:
        if proc:
            run.stop(proc)
        reg.stop()
        rx.httpd.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
