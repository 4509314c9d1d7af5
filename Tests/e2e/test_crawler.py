"""The crawler against the real distribution registry: test-connection statuses, sync of 50
repositories and 250 tags, re-sync after pushes, the registry's own push notifications, and
a sync that survives kill -9 of the server."""
import http.server
import json
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

from conftest import free_port, wait_job
from registry_harness import Registry


@pytest.fixture
def open_registry():
    r = Registry()
    yield r
    r.stop()


@pytest.fixture
def auth_registry():
    r = Registry(user="ci", password="registry-pass-123")
    yield r
    r.stop()


def tc(s, body):
    t0 = time.time()
    r = s.api("POST", "/api/registries/test-connection", json=body)
    assert r.status_code == 200, r.text
    assert time.time() - t0 < 16
    return r.json()["data"]


class Silent:
    """Accepts TCP connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_test_connection_statuses(tmp_path, data_dir, server_factory, auth_registry):
    s = server_factory(data_dir)
    auth_registry.push("team/app", "v1")
    base = {"provider": "DOCKER_REGISTRY", "url": auth_registry.url, "insecure": True}
    ok = tc(s, {**base, "credentials": {"username": "ci", "password": "registry-pass-123"}})
    assert ok["ok"] is True and ok["status"] == "ok" and ok["authScheme"] == "basic", ok
    assert "team/app" in ok["repositories"]
    bad = tc(s, {**base, "credentials": {"username": "ci", "password": "wrong"}})
    assert bad["status"] == "auth_failed" and bad["ok"] is False
    assert "wrong" not in json.dumps(bad)
    closed = tc(s, {"provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{free_port()}", "insecure": True})
    assert closed["status"] == "unreachable", closed

    # A TLS port with a self-signed certificate, without `insecure`.
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tls = tc(s, {"provider": "DOCKER_REGISTRY", "url": f"https://127.0.0.1:{httpd.server_address[1]}"})
    assert tls["status"] == "tls_error", tls
    httpd.shutdown()

    # An HTTP server that is not a registry.
    plain = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    nar = tc(s, {"provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{plain.server_address[1]}", "insecure": True})
    assert nar["status"] == "not_a_registry", nar
    plain.shutdown()

    silent = Silent()
    t0 = time.time()
    to = tc(s, {"provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{silent.port}", "insecure": True})
    assert to["status"] == "timeout", to
    assert time.time() - t0 <= 15.5
    silent.close()

    # The saved-registry form decrypts the stored credentials.
    reg = s.api("POST", "/api/registries", json={**base, "name": "saved",
                                                 "credentials": {"username": "ci", "password": "registry-pass-123"}}).json()["data"]
    assert tc(s, {"registryId": reg["id"]})["status"] == "ok"
    # Invalid requests are 400, not a test result.
    r = s.api("POST", "/api/registries/test-connection", json={"provider": "HARBOR"})
    assert r.status_code == 400 and r.json()["error"]["issues"][0]["path"] == "url"


@pytest.mark.sqlite_only
def test_sync_pages_through_50_repositories_and_enqueues_only_new_and_changed(data_dir, server_factory, open_registry):
    reg_srv = open_registry
    for i in range(50):
        for t in range(5):
            reg_srv.push(f"proj/app{i:02d}", f"v{t}", chunked=(i % 10 == 0))
    s = server_factory(data_dir)
    reg = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg_srv.url,
                                                 "insecure": True, "excludeTags": "*-dev",
                                                 "schedule": "on_push", "scanners": ["native"]}).json()["data"]
    reg_srv.push("proj/app00", "v9-dev")  # excluded by the filter
    r = s.api("POST", f"/api/registries/{reg['id']}/sync")
    assert r.status_code == 202, r.text
    job_id = r.json()["data"]["jobId"]
    assert r.headers["Location"] == f"/api/jobs/{job_id}"
    # A second request while it is queued or running returns the same job.
    again = s.api("POST", f"/api/registries/{reg['id']}/sync").json()["data"]
    if again["created"] is False:
        assert again["jobId"] == job_id
    j = wait_job(s, job_id)
    assert j["status"] == "succeeded", j
    assert j["progress"] == {"done": 50, "total": 50}
    got = s.api("GET", f"/api/registries/{reg['id']}").json()["data"]
    assert got["imageCount"] == 50
    assert got["health"]["status"] == "healthy" and got["health"]["score"] == 100 and got["health"]["lastSyncAt"]
    images = s.api("GET", f"/api/images?registryId={reg['id']}&limit=200&sort=name:asc").json()
    assert images["meta"]["total"] == 50
    first = images["data"][0]
    assert first["name"] == "proj/app00" and first["tagCount"] == 5
    assert first["fullName"] == f"{reg_srv.host}/proj/app00"
    detail = s.api("GET", f"/api/images/{first['id']}").json()["data"]
    assert sorted(t["name"] for t in detail["tags"]) == ["v0", "v1", "v2", "v3", "v4"]
    assert all(t["digest"].startswith("sha256:") for t in detail["tags"])

    # New tag, changed tag, then sync again: exactly those two digests are scanned again.
    new_digest = reg_srv.push("proj/app07", "v5")
    changed_digest = reg_srv.push("proj/app08", "v1")
    j2 = wait_job(s, s.api("POST", f"/api/registries/{reg['id']}/sync").json()["data"]["jobId"])
    assert j2["status"] == "succeeded"
    # The scans run meanwhile; wait until none is active, then compare with the scans table.
    import sqlite3
    deadline = time.time() + 180
    while time.time() < deadline:
        active = sum(s.api("GET", f"/api/scans?status={st}").json()["meta"]["total"] for st in ("queued", "running"))
        if active == 0:
            break
        time.sleep(0.5)
    assert active == 0
    con = sqlite3.connect(f"file:{data_dir}/harborguard.db?mode=ro", uri=True)
    rows = con.execute("SELECT repository, tag, digest, status FROM scans ORDER BY queued_at, rowid").fetchall()
    con.close()
    by_tag = {}
    for repo, tag, digest, status in rows:
        by_tag.setdefault((repo, tag), []).append((digest, status))
    assert len(by_tag) == 250 + 1  # every never-scanned tag, plus the new tag
    assert all(st == "completed" for v in by_tag.values() for _, st in v), [v for v in by_tag.values() if v[-1][1] != "completed"][:3]
    assert by_tag[("proj/app07", "v5")] == [(new_digest, "completed")]
    # The changed tag's latest scan is of the new digest (a queued scan is retargeted, a
    # running one is followed by another); unchanged tags were scanned exactly once.
    assert by_tag[("proj/app08", "v1")][-1][0] == changed_digest
    assert sum(len(v) for k, v in by_tag.items() if k != ("proj/app08", "v1")) == 250
    assert ("proj/app00", "v9-dev") not in by_tag


def test_registry_notifications_enqueue_a_scan_on_push(data_dir, server_factory):
    s = server_factory(data_dir)
    reg = s.api("POST", "/api/registries", json={"name": "notify", "provider": "DOCKER_REGISTRY",
                                                 "url": "http://127.0.0.1:1", "insecure": True,
                                                 "schedule": "on_push"}).json()["data"]
    endpoint = {"name": "harborguard", "url": reg["webhookUrl"], "headers": {"Authorization": [f"Bearer {reg['webhookToken']}"]},
                "timeout": "5s", "threshold": 3, "backoff": "1s"}
    rs = Registry(notifications=[endpoint])
    try:
        # The registry's address is known only now; the receiver confirms each pushed digest with it.
        moved = s.api("PUT", f"/api/registries/{reg['id']}", json={"url": rs.url})
        assert moved.status_code == 200, moved.text
        digest = rs.push("team/notified", "v1")
        deadline = time.time() + 30
        found = None
        while time.time() < deadline and not found:
            imgs = s.api("GET", "/api/images?search=team/notified").json()["data"]
            found = imgs[0] if imgs else None
            time.sleep(0.3)
        assert found, "no push event arrived"
        detail = s.api("GET", f"/api/images/{found['id']}").json()["data"]
        assert detail["tags"][0]["digest"] == digest
        log = s.api("GET", "/api/audit-log").json()["data"]
        assert any(e["action"] == "registry.push_event" and e["actor"] == "webhook:distribution" for e in log)
    finally:
        rs.stop()


@pytest.mark.sqlite_only
def test_sync_survives_kill_9_of_the_server(data_dir, server_factory, open_registry):
    for i in range(30):
        for t in range(4):
            open_registry.push(f"big/app{i:02d}", f"t{t}")
    s = server_factory(data_dir, extra=("--job-lease", "3"))
    reg = s.api("POST", "/api/registries", json={"name": "k", "provider": "DOCKER_REGISTRY", "url": open_registry.url,
                                                 "insecure": True}).json()["data"]
    job_id = s.api("POST", f"/api/registries/{reg['id']}/sync").json()["data"]["jobId"]
    # Kill it while the job is claimed (or still queued): nothing may be lost either way.
    deadline = time.time() + 10
    while time.time() < deadline:
        if s.api("GET", f"/api/jobs/{job_id}").json()["data"]["status"] == "running":
            break
        time.sleep(0.02)
    s.stop(signal.SIGKILL)
    s2 = server_factory(data_dir, extra=("--job-lease", "3"))
    j = wait_job(s2, job_id, timeout=90)
    assert j["status"] == "succeeded", j
    assert s2.api("GET", f"/api/registries/{reg['id']}").json()["data"]["imageCount"] == 30
    # One sync job, and the database is intact after the kill.
    import sqlite3
    s2.stop()
    con = sqlite3.connect(str(data_dir / "harborguard.db"))
    assert con.execute("SELECT COUNT(*) FROM jobs WHERE type = 'sync'").fetchone()[0] == 1
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
