"""Outgoing webhooks on the real binary: a local receiver checks the HMAC signature of each
body; a scan of an image with a critical finding sends scan_complete, critical_cve and
new_image; a failing endpoint is retried on the documented schedule."""
import datetime
import hashlib
import hmac
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from conftest import Server, run
from registry_harness import Registry
from test_scan_cli import dpkg, osv

SECRET = "webhook-secret-0123456789"


class Receiver:
    def __init__(self):
        self.received = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self, path="/ok"):
        return [json.loads(r["body"]) for r in self.received if r["path"] == path]

    def wait(self, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            time.sleep(0.2)
        return False


def test_webhooks_are_signed_sent_on_events_and_retried(tmp_path):
    rx = Receiver()
    reg = Registry()
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "a.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1",
                                                   aliases=["CVE-2099-0001"], severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")))
    reg.push("apps/web", "1.0", layers=[{"etc/os-release": Path("/etc/os-release").read_bytes(),
                                         "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}])
    data = tmp_path / "data"
    # The receiver is on 127.0.0.1: channels reach it only with --allow-private-targets.
    s = Server(data, extra=("--allow-private-targets",))
    try:
        run("db", "import", str(osv_dir), data_dir=data)
        base = {"name": "ops", "url": rx.url + "/ok", "events": ["scan_complete", "critical_cve", "new_image"]}
        # Validation first.
        bad = s.api("POST", "/api/notification-channels", json={**base, "url": "ftp://x"})
        assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "url"
        bad = s.api("POST", "/api/notification-channels", json={**base, "events": ["scan_done"]})
        assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "events[0]"
        assert s.api("POST", "/api/notification-channels", json={**base, "secret": "short"}).status_code == 400
        assert s.api("POST", "/api/notification-channels", json={**base, "bogus": 1}).status_code == 400
        ch = s.api("POST", "/api/notification-channels", json={**base, "secret": SECRET})
        assert ch.status_code == 201, ch.text
        ch = ch.json()["data"]
        assert ch["hasSecret"] is True and SECRET not in json.dumps(ch)
        assert s.api("POST", "/api/notification-channels", json={**base, "secret": SECRET}).status_code == 409
        failing = s.api("POST", "/api/notification-channels", json={"name": "down", "url": rx.url + "/fail",
                                                                    "events": ["scan_complete"]}).json()["data"]

        # The test endpoint delivers synchronously.
        t = s.api("POST", f"/api/notification-channels/{ch['id']}/test").json()["data"]
        assert t["delivered"] is True and t["statusClass"] == "2xx" and "statusCode" not in t, t
        down = s.api("POST", f"/api/notification-channels/{failing['id']}/test").json()["data"]
        assert down["delivered"] is False and down["statusClass"] == "5xx" and down["error"] == "HTTP 5xx"

        r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        scan = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"}).json()["data"]
        assert rx.wait(lambda: {"scan_complete", "critical_cve"} <= {e["event"] for e in rx.events()}), rx.events()
        for r_ in [r_ for r_ in rx.received if r_["path"] == "/ok"]:
            want = "sha256=" + hmac.new(SECRET.encode(), r_["body"], hashlib.sha256).hexdigest()
            assert r_["headers"]["X-HarborGuard-Signature"] == want
        by_event = {e["event"]: e for e in rx.events()}
        for e in by_event.values():
            assert {"event", "severity", "title", "message", "timestamp"} <= set(e)
        assert by_event["scan_complete"]["scanId"] == scan["id"]
        assert "CVE-2099-0001" in by_event["critical_cve"]["vulnerabilityIds"]
        assert by_event["critical_cve"]["severity"] == "critical"
        assert rx.wait(lambda: "new_image" in {e["event"] for e in rx.events()})
        assert not any(r_["path"] == "/ok" and "X-HarborGuard-Signature" not in r_["headers"] for r_ in rx.received)

        # A rescan of the same tag: scan_complete again, but no *new* critical finding.
        n_critical = sum(1 for e in rx.events() if e["event"] == "critical_cve")
        s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"})
        assert rx.wait(lambda: sum(1 for e in rx.events() if e["event"] == "scan_complete") >= 2)
        time.sleep(1)
        assert sum(1 for e in rx.events() if e["event"] == "critical_cve") == n_critical

        # The failing endpoint: first attempt recorded, next one scheduled 30 s later, not lost.
        assert rx.wait(lambda: len([x for x in rx.received if x["path"] == "/fail"]) >= 2)  # test + first delivery
        log = s.api("GET", f"/api/notification-channels/{failing['id']}/deliveries").json()["data"]
        d = log[0]
        assert d["status"] == "pending" and d["attempts"] >= 1 and d["statusClass"] == "5xx", d
        nxt = datetime.datetime.fromisoformat(d["nextAttemptAt"].replace("Z", "+00:00"))
        upd = datetime.datetime.fromisoformat(d["updatedAt"].replace("Z", "+00:00"))
        assert 28 <= (nxt - upd).total_seconds() <= 31
        ok_log = s.api("GET", f"/api/notification-channels/{ch['id']}/deliveries").json()["data"]
        assert all(x["status"] == "delivered" for x in ok_log) and ok_log
        # The secret is sealed: not in the database files.
        for f in data.glob("harborguard.db*"):
            assert SECRET.encode() not in f.read_bytes()
        # Disable, delete.
        assert s.api("PUT", f"/api/notification-channels/{ch['id']}", json={"enabled": False}).json()["data"]["enabled"] is False
        assert s.api("DELETE", f"/api/notification-channels/{ch['id']}").status_code == 200
        assert s.api("GET", f"/api/notification-channels/{ch['id']}").status_code == 404
    finally:
        s.stop()
        reg.stop()
        rx.httpd.shutdown()
