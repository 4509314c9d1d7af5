"""Priority data end to end on the real binary and the real distribution registry: an image is
scanned by the server, then NVD, EPSS and KEV files (generated in their upstream formats) are
imported with `harborguard db import`; the rematch that import queues re-ranks the stored
findings without pulling anything (the registry's own access log counts blob GETs), the API
and the fix groups show the new priorities, and the console (headless Chromium) shows the
finding as P1 with its KEV badge and the fix at the top of the overview's "Fix first" list."""
import json
import re
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from conftest import Server, run, wait_job
from registry_harness import Registry
from test_console import browser, sign_in, USERS  # noqa: F401  (browser is a fixture)
from test_scan_cli import dpkg, osv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import feeds  # noqa: E402  (generates NVD/EPSS/KEV files in the upstream formats)

CVE = "CVE-2099-000001"  # feeds.cve_id(1)
CVE_PY = "CVE-2099-000002"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("priority")
    tar_version, tar_source = dpkg("tar")
    fixed = tar_version + "+hg1"
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    # No severity in either record: OSV alone leaves them UNKNOWN, as Debian's records are.
    for r in [osv("DEBIAN-CVE-2099-000001", "Debian:12", tar_source, fixed, aliases=[CVE], summary="tar flaw (test)"),
              osv("PYSEC-2099-2", "PyPI", "requests", "2.20.0", aliases=[CVE_PY], summary="requests flaw (test)")]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry(log_level="info")
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"
    reg.push("apps/web", "1.0", layers=[base, {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": meta}])
    data = tmp / "data"
    s = Server(data)
    run("db", "import", str(osv_dir), data_dir=data)
    run("admin", "create-user", "--username", "ada", "--role", "admin", "--bcrypt-cost", "4", data_dir=data,
        env={"HARBORGUARD_PASSWORD": USERS["ada"][1]})
    yield {"server": s, "reg": reg, "tmp": tmp, "data": data, "tar_source": tar_source, "fixed": fixed}
    s.stop()
    reg.stop()


def wait_cli_job(data, job_id, timeout=120):
    """A job the CLI queued belongs to no organization, so the API does not show it: read
    the appliance database (read-only) until it has finished."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        con = sqlite3.connect(f"file:{data}/harborguard.db?mode=ro", uri=True)
        row = con.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        con.close()
        if row and row[0] in ("succeeded", "failed", "cancelled"):
            return row[0]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def findings_by_id(s, scan_id):
    r = s.api("GET", f"/api/scans/{scan_id}/findings?limit=100")
    assert r.status_code == 200, r.text
    return {f["vulnerabilityId"]: f for f in r.json()["data"]}


def latest_scan(s):
    return s.api("GET", "/api/scans?status=completed&limit=1").json()["data"][0]


@pytest.mark.sqlite_only
def test_an_epss_and_kev_update_raises_a_finding_to_p1_without_a_pull(env, browser):  # noqa: F811
    s, reg, tmp = env["server"], env["reg"], env["tmp"]
    r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                "insecure": True, "schedule": "manual", "scanners": ["native"]})
    assert r.status_code == 201, r.text
    r = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"})
    assert r.status_code == 202, r.text
    assert wait_job(s, r.json()["data"]["jobId"])["status"] == "succeeded"
    before = findings_by_id(s, latest_scan(s)["id"])
    assert before[CVE]["severity"] == "UNKNOWN" and before[CVE]["priority"] == "P4", before[CVE]
    assert before[CVE]["kev"] is None and before[CVE]["epss"] is None and before[CVE]["cvss"] is None
    assert before[CVE_PY]["priority"] == "P4"

    # The day's feeds: NVD rates the tar CVE HIGH (v3.1, Primary), CISA lists it as exploited,
    # EPSS puts the requests CVE in its top 5 %.
    feeds_dir = tmp / "feeds"
    feeds_dir.mkdir()
    feeds.write_nvd_feed(str(feeds_dir / "nvdcve-2.0-2099.json.gz"), [1, 2])
    feeds.write_kev(str(feeds_dir / "known_exploited_vulnerabilities.json"), [1])
    with open(feeds_dir / "epss_scores-2099-02-01.csv", "w") as f:
        f.write("#model_version:v2025.03.14,score_date:2099-02-01T00:00:00+0000\ncve,epss,percentile\n"
                f"{CVE},0.00100,0.40000\n{CVE_PY},0.61000,0.97500\n")
    gets = reg.blob_gets()
    out = run("db", "import", str(feeds_dir), data_dir=env["data"]).stdout
    job = re.search(r"rematch job (job_[0-9a-f]+)", out)
    assert job, out
    assert wait_cli_job(env["data"], job.group(1)) == "succeeded"
    assert reg.blob_gets() == gets, "the rematch fetched layers"

    after = findings_by_id(s, latest_scan(s)["id"])
    tar = after[CVE]
    assert tar["priority"] == "P1" and tar["kev"]["dateAdded"] == "2099-01-15" and tar["kev"]["dueDate"] == "2099-02-05"
    assert tar["severitySource"] == "nvd" and tar["cvss"]["version"] == "3.1" and tar["cvss"]["score"] > 0
    assert tar["cvss"]["vector"].startswith("CVSS:3.1/")
    py = after[CVE_PY]
    assert py["priority"] == "P2" and py["epss"]["percentile"] == pytest.approx(0.975) and py["kev"] is None

    # Filters and the default order: P1 first.
    ids = [f["vulnerabilityId"] for f in s.api("GET", f"/api/scans/{latest_scan(s)['id']}/findings?limit=100").json()["data"]]
    assert ids[:2] == [CVE, CVE_PY], ids
    kev_only = s.api("GET", f"/api/scans/{latest_scan(s)['id']}/findings?kev=true").json()["data"]
    assert [f["vulnerabilityId"] for f in kev_only] == [CVE]

    # Fix groups: upgrading tar's source package closes the KEV finding.
    fixes = s.api("GET", "/api/fixes").json()["data"]
    assert fixes[0]["fixedVersion"] == env["fixed"] and fixes[0]["bestPriority"] == "P1" and fixes[0]["kev"] == 1, fixes[:2]

    # The console: the finding is P1 with a KEV badge; the overview's "Fix first" names the fix.
    sign_in(browser, s.base, "ada")
    fix_first = browser.find_element(By.ID, "fix-first")
    assert env["fixed"] in fix_first.text and "P1" in fix_first.text, fix_first.text
    browser.get(s.base + "/console/vulnerabilities")
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "tbody tr") if CVE in tr.text)
    assert "P1" in row.text and row.find_element(By.CSS_SELECTOR, ".kev").text == "KEV", row.text
    rows = [tr.text for tr in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert CVE in rows[0], rows  # sorted by priority by default
