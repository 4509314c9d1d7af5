"""CSV reports on the real binary and the real distribution registry: two registries each with
a scanned image whose advisories carry hostile titles (a spreadsheet formula, a quote and a
line break); the four reports parse with Python's csv module, every formula-looking text cell
is guarded with a leading ', the filters apply, a registry-scoped key exports its registry's
rows only, and a findings export of 1,000,000 rows streams while the server's memory stays flat."""
import csv
import io
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Server, run, wait_job
from registry_harness import Registry
from test_console import browser, browser_session, sign_in, USERS  # noqa: F401  (browser is a fixture)
from test_scan_cli import dpkg, osv
from test_security_credentials import make_key

CVE_TAR = "CVE-2099-100001"
CVE_PY = "CVE-2099-100002"
FORMULA = '=HYPERLINK("https://evil.example/x","click me")'
QUOTED = 'requests "flaw", with\na line break'


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reports")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    for r in [osv("DEBIAN-CVE-2099-100001", "Debian:12", tar_source, tar_version + "+hg1", aliases=[CVE_TAR], summary=FORMULA,
                  severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
              osv("PYSEC-2099-100002", "PyPI", "requests", "2.20.0", aliases=[CVE_PY], summary=QUOTED)]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry()
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"
    reg.push("team/web", "1.0", layers=[base, {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": meta}])
    reg.push("team/db", "2.0", layers=[base])
    data = tmp / "data"
    s = Server(data)
    run("db", "import", str(osv_dir), data_dir=data)
    run("admin", "create-user", "--username", "vic", "--role", "viewer", "--bcrypt-cost", "4", data_dir=data,
        env={"HARBORGUARD_PASSWORD": USERS["vic"][1]})
    regs = {}
    # Two registries on the same distribution registry, one by address and one by name.
    other_host = reg.host.replace("127.0.0.1", "localhost")
    for name, host, repo, tag in [("one", reg.host, "team/web", "1.0"), ("two", other_host, "team/db", "2.0")]:
        r = s.api("POST", "/api/registries", json={"name": name, "provider": "DOCKER_REGISTRY", "url": f"http://{host}", "insecure": True,
                                                    "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        regs[name] = r.json()["data"]["id"]
        r = s.api("POST", "/api/scans", json={"image": f"{host}/{repo}:{tag}"})
        assert r.status_code == 202, r.text
        assert wait_job(s, r.json()["data"]["jobId"])["status"] == "succeeded"
    yield {"server": s, "regs": regs, "data": data, "reg": reg}
    s.stop()
    reg.stop()


def get_csv(s, path, key=None):
    r = s.api("GET", path, key=key)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    body = r.content.decode("utf-8")
    # RFC 4180: every line ends with CRLF (line breaks inside quoted fields are the data's own).
    assert body.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def test_the_four_reports_parse_guard_formulas_and_filter(env):
    s, regs = env["server"], env["regs"]
    header, findings = get_csv(s, "/api/reports/findings.csv")
    assert header[:6] == ["registry", "image", "tags", "digest", "scan_id", "vulnerability_id"]
    by_id = {}
    for f in findings:
        by_id.setdefault(f["vulnerability_id"], []).append(f)
    # The tar advisory hits both images; requests only the web image.
    assert {f["registry"] for f in by_id[CVE_TAR]} == {"one", "two"}
    tar = by_id[CVE_TAR][0]
    # The formula is written with a leading ' and round-trips otherwise unchanged.
    assert tar["title"] == "'" + FORMULA
    assert tar["severity"] == "CRITICAL" and tar["cvss_score"] == "9.8" and tar["priority"] in ("P2", "P3")
    assert tar["cvss_vector"].startswith("CVSS:3.1/") and tar["kev"] == "false" and tar["triage_status"] == "OPEN"
    assert tar["fixed_version"].endswith("+hg1") and tar["fix_state"] == "fixed" and tar["type"] == "deb"
    py = by_id[CVE_PY][0]
    assert py["title"] == QUOTED and py["package"] == "requests" and py["purl"].startswith("pkg:pypi/requests@")
    assert py["image"].endswith("team/web") and py["tags"] == "1.0" and py["aliases"] == "PYSEC-2099-100002"
    # No text cell of the file starts with a formula character.
    for f in findings:
        for k, v in f.items():
            if k not in ("cvss_score", "epss_score", "epss_percentile") and v:
                assert v[0] not in "=+-@\t\r", (k, v)

    # Filters: severity, package, registry; a bad value is the usual validation error.
    _, critical = get_csv(s, "/api/reports/findings.csv?severity=CRITICAL")
    assert {f["vulnerability_id"] for f in critical} == {CVE_TAR}
    _, only_requests = get_csv(s, "/api/reports/findings.csv?package=requests")
    assert [f["vulnerability_id"] for f in only_requests] == [CVE_PY]
    _, two = get_csv(s, f"/api/reports/findings.csv?registryId={regs['two']}")
    assert {f["registry"] for f in two} == {"two"} and len(two) >= 1
    r = s.api("GET", "/api/reports/findings.csv?severity=SEVERE&kev=maybe")
    assert r.status_code == 400 and {i["path"] for i in r.json()["error"]["issues"]} == {"severity", "kev"}, r.text
    assert s.api("GET", "/api/reports/findings.csv?scanId=scn_nope").status_code == 404

    header, vulns = get_csv(s, "/api/reports/vulnerabilities.csv")
    assert header[0] == "vulnerability_id"
    rows = {v["vulnerability_id"]: v for v in vulns}
    assert rows[CVE_TAR]["affected_images"] == "2" and rows[CVE_TAR]["title"] == "'" + FORMULA
    assert rows[CVE_PY]["title"] == QUOTED and rows[CVE_PY]["versions"] == "2.19.0"

    header, images = get_csv(s, "/api/reports/images.csv")
    assert header[:3] == ["id", "registry_id", "image"] and len(images) == 2
    assert {i["image"].split("/", 1)[1] for i in images} == {"team/web", "team/db"}
    assert all(int(i["critical"]) >= 1 for i in images)

    header, fixes = get_csv(s, "/api/reports/fixes.csv")
    assert header[:3] == ["package", "type", "fixed_version"]
    assert any(f["package"] == "requests" and f["fixed_version"] == "2.20.0" for f in fixes), fixes

    # A registry-scoped key exports its own registry's rows, whatever registryId it asks for.
    key = make_key(s, "viewer", registryId=regs["one"])["key"]
    _, scoped = get_csv(s, "/api/reports/findings.csv", key=key)
    assert scoped and {f["registry"] for f in scoped} == {"one"}
    _, other = get_csv(s, f"/api/reports/findings.csv?registryId={regs['two']}", key=key)
    assert other == []
    _, scoped_images = get_csv(s, "/api/reports/images.csv", key=key)
    assert {i["registry_id"] for i in scoped_images} == {regs["one"]}
    _, scoped_fixes = get_csv(s, f"/api/reports/fixes.csv?registryId={regs['two']}", key=key)
    assert scoped_fixes == []


def test_the_console_links_each_list_to_its_csv(env, browser):  # noqa: F811
    s = env["server"]
    sign_in(browser, s.base, "vic")
    for page, report in [("/console/images", "images.csv"), ("/console/vulnerabilities?severity=critical", "vulnerabilities.csv"),
                         ("/console", "fixes.csv")]:
        browser.get(s.base + page)
        link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a[download]") if report in a.get_attribute("href"))
        # The signed-in viewer's session downloads it; the list's filters go along.
        r = browser_session(browser).get(link.get_attribute("href"), timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), (page, r.text[:200])
        rows = list(csv.reader(io.StringIO(r.content.decode(), newline="")))
        assert len(rows) >= 2, (page, rows)
        if "severity=critical" in page:
            assert "severity=critical" in link.get_attribute("href")
            assert {row[2] for row in rows[1:]} == {"CRITICAL"}
    image_id = s.api("GET", "/api/images?search=web").json()["data"][0]["id"]
    browser.get(s.base + f"/console/images/{image_id}?severity=critical")
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a[download]") if "findings.csv" in a.get_attribute("href"))
    r = browser_session(browser).get(link.get_attribute("href"), timeout=30)
    rows = list(csv.reader(io.StringIO(r.content.decode(), newline="")))
    assert r.status_code == 200 and [row[5] for row in rows[1:]] == [CVE_TAR], rows


def test_printable_reports(env, browser):  # noqa: F811
    import base64
    import os
    s = env["server"]
    # A decision in force, with its owner, for the reports' triage section.
    r = s.api("PUT", f"/api/vulnerabilities/{CVE_PY}/triage",
              json={"status": "ACKNOWLEDGED", "note": "upgrade planned for sprint 12", "expiresAt": "2099-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    sign_in(browser, s.base, "vic")
    browser.get(s.base + "/console")
    browser.find_element(By.LINK_TEXT, "Printable posture report").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url.endswith("/console/reports/posture"))
    text = browser.find_element(By.TAG_NAME, "main").text
    for heading in ("Summary", "Open critical and high, last 30 days", "Top fixes", "Registries", "Most vulnerable images",
                    "Triage decisions in force"):
        assert heading in text, heading
    assert "upgrade planned for sprint 12" in text and CVE_PY in text and "2.20.0" in text
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart"), "the trend chart"
    # Print media: the console's navigation and buttons are not printed; the PDF is made.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "[data-print]").is_displayed()
    assert browser.find_element(By.ID, "r-fix").is_displayed()
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    shots = os.environ.get("HARBORGUARD_SCREENSHOTS")
    if shots:
        browser.save_screenshot(f"{shots}/report-posture.png")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    image_id = s.api("GET", "/api/images?search=web").json()["data"][0]["id"]
    browser.get(s.base + f"/console/images/{image_id}")
    browser.find_element(By.LINK_TEXT, "Printable report").click()
    WebDriverWait(browser, 15).until(lambda b: "/console/reports/images/" in b.current_url)
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Image report" in browser.title and "team/web" in text
    for needle in ("Top fixes", "Findings, most urgent first", CVE_TAR, CVE_PY, "requests", "ACKNOWLEDGED"):
        assert needle in text, needle
    if shots:
        browser.save_screenshot(f"{shots}/report-image.png")
    # Another organization's image, or none: not found, nothing rendered.
    browser.get(s.base + "/console/reports/images/img_nope")
    assert "No such image." in browser.find_element(By.TAG_NAME, "main").text


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.sqlite_only
def test_a_million_rows_stream_in_flat_memory(env):
    s, data = env["server"], env["data"]
    scan_id = s.api("GET", "/api/scans?status=completed&limit=1").json()["data"][0]["id"]
    # A million findings on that scan, written into the appliance database directly (the
    # server's own writer is idle); each a valid stored finding.
    con = sqlite3.connect(str(data / "harborguard.db"), timeout=30)
    seq0 = con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM findings WHERE scan_id = ?", (scan_id,)).fetchone()[0]
    total = 1_000_000

    def rows():
        for i in range(total):
            vid = f"CVE-2098-{i:07d}"
            detail = json.dumps({"vulnerabilityId": vid, "aliases": [], "severity": "HIGH", "cvss": 7.5,
                                 "package": {"name": f"pkg{i % 5000}", "version": "1.0", "type": "deb", "purl": f"pkg:deb/debian/pkg{i % 5000}@1.0"},
                                 "fixedVersion": "1.1", "fixState": "fixed", "title": f"=cmd|' /C calc'!A{i}", "references": [],
                                 "sources": ["native"], "advisoryIds": [vid], "priority": "P3"})
            yield (scan_id, seq0 + i, vid, 3, 1, f"pkg{i % 5000}", "1.0", "deb", detail, 3, 0, None, None, None, "1.1")
    con.executemany(
        "INSERT INTO findings (scan_id, seq, vulnerability_id, severity_rank, fixable, pkg_name, pkg_version, pkg_type, detail,"
        " priority_rank, kev, epss, epss_percentile, severity_source, fix_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    con.commit()
    con.close()

    pid = s.proc.pid
    before = rss_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    lines = 0
    guarded = 0
    started = time.time()
    try:
        with requests.get(s.base + f"/api/reports/findings.csv?scanId={scan_id}", headers={"X-API-Key": s.admin_key},
                          stream=True, timeout=300, verify=False) as r:
            assert r.status_code == 200
            for line in r.iter_lines(chunk_size=1 << 16, delimiter=b"\r\n"):
                lines += 1
                if b",'=cmd|' /C calc'!A" in line:
                    guarded += 1
    finally:
        done.set()
        t.join()
    seconds = time.time() - started
    assert lines >= total + 1, lines  # the header, the million, the scan's own findings
    assert guarded == total
    growth_mb = (peak[0] - before) / 1024
    print(f"1,000,000-row export: {seconds:.1f} s, server RSS {before / 1024:.0f} MB → peak {peak[0] / 1024:.0f} MB")
    assert growth_mb < 30, f"server RSS grew by {growth_mb:.0f} MB during the export"
