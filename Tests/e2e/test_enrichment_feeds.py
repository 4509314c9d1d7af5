"""The enrichment feeds (NVD, EPSS, CISA KEV, the Debian security tracker) through the real
binary: `db update --source …` against a loopback HTTP server that answers with ETag and
Last-Modified (and 304), `db status`, `db import DIR`, and the server's `vulndb_update` job
through `POST /api/vulndb/update` and `GET /api/vulndb`. Files are generated in each
upstream's format; only 127.0.0.1 is contacted."""
import email.utils
import gzip
import hashlib
import http.server
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import Server, run, wait_job

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def nvd_feed(cves):
    return json.dumps({
        "resultsPerPage": len(cves), "startIndex": 0, "totalResults": len(cves), "format": "NVD_CVE", "version": "2.0",
        "timestamp": "2026-12-01T03:00:00.000",
        "vulnerabilities": [{"cve": {
            "id": cve, "published": "2024-01-02T10:15:08.423", "lastModified": modified, "vulnStatus": "Analyzed",
            "descriptions": [{"lang": "en", "value": f"{cve}: a flaw."}],
            "metrics": {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
                "version": "3.1", "vectorString": V31, "baseScore": 9.8, "baseSeverity": "CRITICAL"}}]},
        }} for cve, modified in cves],
    }).encode()


def write_nvd(directory: Path, name: str, cves):
    raw = nvd_feed(cves)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"nvdcve-2.0-{name}.json.gz").write_bytes(gzip.compress(raw))
    sha = hashlib.sha256(raw).hexdigest().upper()
    (directory / f"nvdcve-2.0-{name}.meta").write_text(
        f"lastModifiedDate:2026-12-01T03:00:00-05:00\r\nsize:{len(raw)}\r\nzipSize:0\r\ngzSize:0\r\nsha256:{sha}\r\n")


def epss_csv(rows):
    text = "#model_version:v2025.03.14,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\n"
    return gzip.compress((text + "".join(f"{c},{e},{p}\n" for c, e, p in rows)).encode())


KEV = {"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
       "dateReleased": "2026-12-01T15:00:00.000Z", "count": 1,
       "vulnerabilities": [{"cveID": "CVE-2024-0002", "vendorProject": "Example", "product": "Widget",
                            "vulnerabilityName": "Widget RCE", "dateAdded": "2024-06-01", "shortDescription": "x",
                            "requiredAction": "Apply updates.", "dueDate": "2024-06-22",
                            "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-787"]}]}

TRACKER = {
    "openssl": {"CVE-2024-0001": {"description": "x", "scope": "remote",
                                  "releases": {"bookworm": {"status": "open", "urgency": "high", "repositories": {"bookworm": "3.0.15-1"}}}}},
    "zlib": {"CVE-2022-37434": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1:1.2.13.dfsg-1", "urgency": "low"}}},
             "TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}},
}


class FeedHandler(http.server.BaseHTTPRequestHandler):
    """Serves files under `root` with a content ETag and the file's Last-Modified; answers
    304 to a matching If-None-Match. Every request is logged as (path, status)."""
    root: Path = None
    log: list = None

    def do_GET(self):
        path = (self.root / self.path.split("?")[0].lstrip("/")).resolve()
        if not str(path).startswith(str(self.root)) or not path.is_file():
            self.log.append((self.path, 404))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = path.read_bytes()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        if self.headers.get("If-None-Match") == etag:
            self.log.append((self.path, 304))
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.log.append((self.path, 200))
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(path.stat().st_mtime, usegmt=True))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feeds(tmp_path):
    root = (tmp_path / "feeds").resolve()
    write_nvd(root / "nvd", "2024", [("CVE-2024-0001", "2024-02-01T00:00:00.000"), ("CVE-2024-0002", "2024-02-01T00:00:00.000")])
    write_nvd(root / "nvd", "modified", [("CVE-2024-0003", "2026-11-30T00:00:00.000")])
    (root / "epss").mkdir()
    (root / "epss" / "epss_scores-current.csv.gz").write_bytes(epss_csv([("CVE-2024-0001", 0.91, 0.995), ("CVE-2024-0002", 0.01, 0.2)]))
    (root / "kev").mkdir()
    (root / "kev" / "known_exploited_vulnerabilities.json").write_text(json.dumps(KEV))
    (root / "tracker").mkdir()
    (root / "tracker" / "json").write_text(json.dumps(TRACKER))
    log = []
    handler = type("Handler", (FeedHandler,), {"root": root, "log": log})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    urls = {"nvd": f"{base}/nvd", "epss": f"{base}/epss/epss_scores-current.csv.gz",
            "kev": f"{base}/kev/known_exploited_vulnerabilities.json", "debian-tracker": f"{base}/tracker/json"}
    yield root, urls, log
    httpd.shutdown()


def flags(urls, only=None):
    out = []
    for name, url in urls.items():
        if only is None or name in only:
            out += [f"--{name}-url", url]
    return out


def test_db_update_status_and_failures(feeds, tmp_path):
    root, urls, log = feeds
    data = tmp_path / "data"
    run("admin", "init", data_dir=data)
    first = run("db", "update", "--source", "nvd,epss", "--source", "kev", "--source", "debian-tracker", *flags(urls), data_dir=data)
    out = first.stdout
    # What changed is re-matched by the server: a rematch job is queued in the appliance database.
    assert "queued rematch job" in out, out
    assert "nvd: updated, 3 records (2 feed files" in out, out
    assert f"epss: updated, 2 records" in out and f"from {urls['epss']}" in out, out
    assert "kev: updated, 1 records" in out and "debian-tracker: updated, 2 records" in out, out
    # OSV was not selected: no ecosystem line, and nothing but the loopback server was asked.
    assert "Debian:" not in out and "PyPI:" not in out
    assert ("/nvd/nvdcve-2.0-2024.json.gz", 200) in log and ("/nvd/nvdcve-2.0-2023.meta", 404) in log

    # Unchanged upstream: 304 for the files, and NVD's .meta hash spares the feed downloads.
    log.clear()
    again = run("db", "update", "--source", "nvd,epss,kev,debian-tracker", *flags(urls), data_dir=data).stdout
    for name in ("nvd", "epss", "kev", "debian-tracker"):
        assert f"{name}: unchanged" in again, again
    assert "queued rematch job" not in again
    assert ("/kev/known_exploited_vulnerabilities.json", 304) in log and ("/tracker/json", 304) in log, log
    assert not any(p.endswith(".json.gz") for p, _ in log), log

    # A corrupt KEV catalog fails alone with exit 1 and keeps its data; a new EPSS file imports.
    (root / "kev" / "known_exploited_vulnerabilities.json").write_text('{"catalogVersion": "2", "count": 2, "vulnerabilities": [{"cveID": "CVE-')
    (root / "epss" / "epss_scores-current.csv.gz").write_bytes(epss_csv([("CVE-2024-0001", 0.5, 0.7)]))
    bad = run("db", "update", "--source", "epss,kev", *flags(urls), data_dir=data, check=False)
    assert bad.returncode == 1, bad
    assert "kev: failed, 1 records" in bad.stdout and "previous data kept" in bad.stdout, bad.stdout
    assert "epss: updated, 1 records" in bad.stdout
    assert "1 of 2 sources failed: kev" in bad.stdout

    status = run("db", "status", data_dir=data).stdout
    assert f"enrichment nvd: 3 records from {urls['nvd']}/nvdcve-2.0-modified.json.gz" in status, status
    assert "enrichment epss: 1 records" in status and "version v2025.03.14" in status, status
    assert "enrichment kev: 1 records" in status and "version 2026.12.01" in status and "last update failed" in status, status
    assert "enrichment debian-tracker: 2 records" in status and "last checked" in status, status

    unknown = run("db", "update", "--source", "osv,nvdd", data_dir=data, check=False)
    assert unknown.returncode == 64 and "use one of osv, nvd, epss, kev, debian-tracker" in unknown.stderr, unknown.stderr
    bad_url = run("db", "update", "--source", "kev", "--kev-url", "ftp://feeds.example/kev.json", data_dir=data, check=False)
    assert bad_url.returncode == 64 and "--kev-url" in bad_url.stderr, bad_url.stderr

    # The same feeds from a mirror directory (file names as upstream publishes them).
    mirror = run("db", "update", "--source", "kev,debian-tracker", "--kev-url", str(root / "kev"),
                 "--debian-tracker-url", f"file://{root / 'tracker'}", data_dir=tmp_path / "other", check=False).stdout
    assert "kev: failed" in mirror and "debian-tracker: updated, 2 records" in mirror, mirror

    # Without --source, a location names what to update: nothing goes to any other upstream.
    only = run("db", "update", "--debian-tracker-url", urls["debian-tracker"], data_dir=data).stdout
    assert only.startswith("debian-tracker: unchanged") and only.count(": unchanged") == 1, only


def test_db_import_recognises_feeds_by_content(feeds, tmp_path):
    root, _, _ = feeds
    d = tmp_path / "import"
    d.mkdir()
    for f in (root / "nvd").iterdir():
        shutil.copy(f, d / f.name)
    shutil.copy(root / "epss" / "epss_scores-current.csv.gz", d / "epss_scores-2026-12-01.csv.gz")
    shutil.copy(root / "kev" / "known_exploited_vulnerabilities.json", d)
    shutil.copy(root / "tracker" / "json", d / "json")
    (d / "osv").mkdir()
    (d / "osv" / "PYSEC-2024-1.json").write_text(json.dumps({
        "schema_version": "1.6.0", "id": "PYSEC-2024-1", "modified": "2026-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
        "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}))
    data = tmp_path / "data"
    out = run("db", "import", str(d), data_dir=data).stdout
    assert "imported 1 records from 1 files: 1 new" in out, out
    assert out.count("imported nvd: ") == 2 and "imported epss: 2 records" in out, out
    assert "imported kev: 1 records" in out and "imported debian-tracker: 2 records" in out, out
    status = run("db", "status", data_dir=data).stdout
    assert "enrichment nvd: 3 records" in status and "enrichment kev: 1 records" in status, status

    # One file alone, named nothing like its upstream.
    one = tmp_path / "scores.bin"
    one.write_bytes(epss_csv([("CVE-2024-0009", 0.3, 0.4)]))
    assert "imported epss: 1 records" in run("db", "import", str(one), data_dir=data).stdout
    # An NVD feed that does not match its .meta fails alone (exit 1), keeping the data.
    (d / "nvdcve-2.0-2024.meta").write_text("sha256:" + "0" * 64 + "\r\n")
    bad = run("db", "import", str(d), data_dir=data, check=False)
    assert bad.returncode == 1 and "nvdcve-2.0-2024.json.gz (nvd)" in bad.stdout, bad.stdout
    assert "enrichment nvd: 3 records" in run("db", "status", data_dir=data).stdout
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    assert run("db", "import", str(junk), data_dir=data, check=False).returncode == 1


@pytest.mark.sqlite_only
def test_server_updates_configured_feeds(feeds, tmp_path):
    root, urls, log = feeds
    # The tracker is left unconfigured: the server never updates it.
    s = Server(tmp_path / "data", extra=("--allow-private-targets", *flags(urls, only=("nvd", "epss", "kev"))))
    try:
        # The scheduler's daily task runs on the first tick for the configured feeds alone.
        deadline = time.time() + 60
        v = {}
        while time.time() < deadline:
            v = s.api("GET", "/api/vulndb").json()["data"]
            kev = next(e for e in v["enrichment"] if e["name"] == "kev")
            if kev["records"] == 1:
                break
            time.sleep(0.3)
        by = {e["name"]: e for e in v["enrichment"]}
        assert by["kev"]["records"] == 1 and by["kev"]["url"] == urls["kev"] and by["kev"]["configured"], v
        assert not by["debian-tracker"]["configured"] and by["debian-tracker"]["records"] == 0, v
        assert not any(p.startswith("/tracker") for p, _ in log), log

        r = s.api("POST", "/api/vulndb/update", json={"sources": ["kev", "bogus", "debian-tracker"]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.text
        issues = {i["path"]: i["message"] for i in r.json()["error"]["issues"]}
        assert set(issues) == {"sources[1]", "sources[2]"}, issues
        assert "--debian-tracker-url" in issues["sources[2]"] and "not configured" in issues["sources[2]"], issues

        r = s.api("POST", "/api/vulndb/update", json={"sources": ["nvd", "epss", "kev"]})
        assert r.status_code == 202, r.text
        body = r.json()["data"]
        assert body["sources"] == ["nvd", "epss", "kev"] and body["notConfigured"] == ["debian-tracker"], body
        job = wait_job(s, body["jobId"])
        assert job["type"] == "vulndb_update" and job["status"] == "succeeded", job
        v = s.api("GET", "/api/vulndb").json()["data"]
        by = {e["name"]: e for e in v["enrichment"]}
        assert by["nvd"]["records"] == 3 and by["epss"]["records"] == 2 and by["kev"]["records"] == 1, v
        assert by["epss"]["version"] == "v2025.03.14" and by["kev"]["lastChecked"] and by["nvd"]["importedAt"], v
        assert by["kev"]["lastOutcome"] in ("updated", "unchanged") and by["kev"]["lastError"] is None, v
        assert not any(x["name"] in by for x in v["sources"]), v
        # The feeds changed the database: the update queued a rematch.
        with sqlite3.connect(tmp_path / "data" / "harborguard.db") as db:
            reasons = [r for (r,) in db.execute("SELECT payload FROM jobs WHERE type = 'rematch'")]
        assert any("vulndb update: nvd, epss, kev" in r for r in reasons), reasons

        # A corrupt feed fails the job, names the source and keeps the data.
        (root / "kev" / "known_exploited_vulnerabilities.json").write_text("{")
        r = s.api("POST", "/api/vulndb/update", json={"sources": ["kev"]})
        assert r.status_code == 202, r.text
        deadline = time.time() + 60
        while time.time() < deadline:
            by = {e["name"]: e for e in s.api("GET", "/api/vulndb").json()["data"]["enrichment"]}
            if by["kev"]["lastOutcome"] == "failed":
                break
            time.sleep(0.3)
        assert by["kev"]["lastOutcome"] == "failed" and by["kev"]["records"] == 1 and by["kev"]["lastError"], by
    finally:
        s.stop()
