"""`harborguard db update` on the real binary against Python's http.server on 127.0.0.1,
serving OSV archives laid out like the public bucket and built from the real Go records
in Debian's golang-x-vuln test data."""
import functools
import http.server
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import run

GO_VULNDB = Path("/usr/share/gocode/src/golang.org/x/vuln/client/testdata/vulndb/ID")


def write_archive(path: Path, records, age=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for r in records:
            z.write(r, r.name)
    # http.server's Last-Modified has one-second resolution: make each version distinct.
    t = time.time() - age
    os.utime(path, (t, t))


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "osv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.skipif(not GO_VULNDB.exists(), reason="golang-golang-x-vuln-dev is not installed")
def test_update_import_unchanged_removal_and_failure(mirror, tmp_path):
    root, base = mirror
    records = sorted(GO_VULNDB.glob("GO-*.json"))
    write_archive(root / "Go" / "all.zip", records, age=60)
    data = tmp_path / "data"

    first = run("db", "update", "--url", base, "--ecosystem", "Go", "--ecosystem", "Rocky Linux", data_dir=data)
    assert f"Go: updated, {len(records)} records ({len(records)} new" in first.stdout, first.stdout
    assert "Rocky Linux: skipped" in first.stdout and "Rocky%20Linux/all.zip" in first.stdout

    again = run("db", "update", "--url", base, "--ecosystem", "Go", data_dir=data)
    assert f"Go: unchanged, {len(records)} records" in again.stdout, again.stdout

    # Upstream drops one record (a newer archive): it disappears here too.
    write_archive(root / "Go" / "all.zip", records[1:])
    dropped = run("db", "update", "--url", base, "--ecosystem", "Go", data_dir=data)
    assert "1 removed" in dropped.stdout, dropped.stdout
    status = run("db", "status", data_dir=data).stdout
    assert f"source osv:Go: {len(records) - 1} records from {base}/Go/all.zip" in status, status

    # A corrupt archive fails with exit status 1 and keeps the data.
    (root / "Go" / "all.zip").write_bytes(b"PK\x03\x04 not really a zip")
    later = time.time() + 5
    os.utime(root / "Go" / "all.zip", (later, later))
    bad = run("db", "update", "--url", base, "--ecosystem", "Go", data_dir=data, check=False)
    assert bad.returncode == 1
    assert "Go: failed" in bad.stdout and "previous osv:Go data kept" in bad.stdout, bad.stdout
    assert f"source osv:Go: {len(records) - 1} records" in run("db", "status", data_dir=data).stdout

    bad_url = run("db", "update", "--url", "ftp://mirror.example/osv", data_dir=data, check=False)
    assert bad_url.returncode == 64 and "invalid vulnerability database URL" in bad_url.stderr


def test_serve_with_vulndb_url_updates_daily_and_on_request(mirror, tmp_path):
    import json
    from conftest import Server
    root, base = mirror
    rec = {"schema_version": "1.6.0", "id": "PYSEC-2099-1", "modified": "2026-11-01T00:00:00Z", "aliases": ["CVE-2099-4242"],
           "summary": "test", "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.0"}]}]}]}
    src = tmp_path / "PYSEC-2099-1.json"
    src.write_text(json.dumps(rec))
    write_archive(root / "PyPI" / "all.zip", [src], age=60)
    # The mirror is on 127.0.0.1: the server's feed reaches it only with --allow-private-targets.
    s = Server(tmp_path / "data", extra=("--vulndb-url", base, "--allow-private-targets"))
    try:
        # The scheduler's daily task runs on the first tick: the database fills without a request.
        deadline = time.time() + 60
        v = {}
        while time.time() < deadline:
            v = s.api("GET", "/api/vulndb").json()["data"]
            if v["ecosystems"].get("PyPI") == 1:
                break
            time.sleep(0.3)
        assert v["ecosystems"].get("PyPI") == 1, v
        assert any(x["name"] == "osv:PyPI" and x["location"] == f"{base}/PyPI/all.zip" for x in v["sources"]), v
        assert s.api("POST", "/api/vulndb/update", json={"ecosystems": "PyPI"}).status_code == 400
        r = s.api("POST", "/api/vulndb/update", json={"ecosystems": ["PyPI"]})
        assert r.status_code == 202 and r.json()["data"]["url"] == base, r.text
        deadline = time.time() + 60
        while time.time() < deadline:
            job = s.api("GET", r.headers["Location"]).json()["data"]
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert job["type"] == "vulndb_update" and job["status"] == "succeeded", job
    finally:
        s.stop()
