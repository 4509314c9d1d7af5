"""The CI check on the real binary and a real registry: POST /api/policy/check and
`harborguard check`. A policy with a kev rule fails an image whose finding is in a KEV catalog
the test imports; the check exits 3; a WONT_FIX exception passes it (exit 0) until its expiry,
then it fails again (exit 3); JUnit output parses with junitparser; an unscanned digest answers
202 with wait 0, then 200; an unknown host is refused like POST /api/scans, a tag the registry
does not have is a 502 with the reason, a viewer key 403, bad JSON 400."""
import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from junitparser import Failure, JUnitXml, Skipped

from conftest import BIN, Server, run
from registry_harness import Registry
from test_scan_cli import dpkg, osv

CVE = "CVE-2099-0001"


def kev_catalog(path, cves):
    """CISA's catalog JSON for `cves` (the shape `db import` recognizes by content)."""
    entries = [{"cveID": c, "vendorProject": "Example", "product": "tar", "vulnerabilityName": f"{c} flaw",
                "dateAdded": "2099-01-15", "shortDescription": "Synthetic.", "requiredAction": "Apply updates.",
                "dueDate": "2099-02-05", "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": ["CWE-787"]} for c in cves]
    path.write_text(json.dumps({"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2099.01.15",
                                "dateReleased": "2099-01-15T00:00:00.0000Z", "count": len(entries), "vulnerabilities": entries}))


def cli(s, key, *args, env=None):
    e = dict(os.environ)
    e.pop("HARBORGUARD_API_KEY", None)
    if key is not None:
        e["HARBORGUARD_API_KEY"] = key
    e.update(env or {})
    return subprocess.run([BIN, "check", *args, "--server", s.base], capture_output=True, text=True, env=e, timeout=180)


def make_key(s, role, **extra):
    r = s.api("POST", "/api/api-keys", json={"name": f"{role}-key", "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()["data"]["key"]


def test_the_ci_check_gates_on_kev_and_follows_exceptions(tmp_path):
    reg = Registry()
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "a.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1",
                                                   aliases=[CVE], severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:L/S:U/C:L/I:N/A:N")))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kev_catalog(feeds / "known_exploited_vulnerabilities.json", [CVE])
    layer = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    reg.push("apps/web", "1.0", layers=[layer])
    data = tmp_path / "data"
    s = Server(data)
    try:
        run("db", "import", str(osv_dir), data_dir=data)
        run("db", "import", str(feeds), data_dir=data)
        r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        registry_id = r.json()["data"]["id"]
        p = s.api("POST", "/api/policies", json={"name": "no known exploited", "action": "fail", "rules": [{"type": "kev"}]})
        assert p.status_code == 201, p.text
        ci, viewer = make_key(s, "ci"), make_key(s, "viewer")
        image = f"{reg.host}/apps/web:1.0"

        # Not scanned yet: 202 with wait 0, the same scan on a second call, then the verdict.
        first = s.api("POST", "/api/policy/check", key=ci, json={"image": image, "wait": 0})
        assert first.status_code == 202, first.text
        pending = first.json()["data"]
        assert pending["status"] in ("queued", "running") and pending["digest"].startswith("sha256:")
        assert first.headers["Location"] == f"/api/scans/{pending['scanId']}"
        second = s.api("POST", "/api/policy/check", key=ci, json={"image": image})
        assert second.status_code in (200, 202), second.text
        assert second.json()["data"]["scanId"] == pending["scanId"]
        done = requests.post(s.base + "/api/policy/check", headers={"X-API-Key": ci}, json={"image": image, "wait": 25}, timeout=40)
        assert done.status_code == 200, done.text
        v = done.json()["data"]
        assert v["verdict"] == "fail", v
        assert v["scanId"] == pending["scanId"] and v["digest"] == pending["digest"]
        assert [(x["policyName"], x["rule"]["type"], x["vulnerabilityId"]) for x in v["violations"]] == [("no known exploited", "kev", CVE)]
        assert v["noData"] == [] and v["policies"][0]["rules"] == [{"index": 0, "type": "kev"}]
        assert s.api("GET", "/api/scans").json()["meta"]["total"] == 1  # no duplicate scan
        # By digest: no registry call, the same scan reused.
        by_digest = s.api("POST", "/api/policy/check", key=ci, json={"image": f"{reg.host}/apps/web@{v['digest']}"})
        assert by_digest.status_code == 200 and by_digest.json()["data"]["scanId"] == v["scanId"]

        # The CLI: exit 3 on fail, a JUnit report junitparser reads.
        report = tmp_path / "check.xml"
        c = cli(s, ci, image, "--format", "junit", "--output", str(report), "--wait", "30")
        assert c.returncode == 3, (c.returncode, c.stdout, c.stderr)
        xml = JUnitXml.fromfile(str(report))
        cases = [case for suite in xml for case in suite]
        assert [(case.classname, case.name) for case in cases] == [("no known exploited", "rule 0: kev")]
        failures = [r for r in cases[0].result if isinstance(r, Failure)]
        assert len(failures) == 1 and CVE in failures[0].message, cases[0].result
        table = cli(s, ci, image)
        assert table.returncode == 3 and "verdict: FAIL" in table.stdout and CVE in table.stdout, table.stdout

        # A WONT_FIX exception with a short expiry: pass (exit 0) while it is in force, fail after.
        expiry = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=4)
        t = s.api("PUT", f"/api/vulnerabilities/{CVE}/triage",
                  json={"status": "WONT_FIX", "note": "accepted risk", "expiresAt": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert t.status_code == 200, t.text
        ok = cli(s, ci, image, "--format", "json")
        assert ok.returncode == 0, (ok.stdout, ok.stderr)
        assert json.loads(ok.stdout)["verdict"] == "pass"
        passed = tmp_path / "pass.xml"
        assert cli(s, ci, image, "--format", "junit", "--output", str(passed)).returncode == 0
        assert all(not [r for r in case.result if isinstance(r, (Failure, Skipped))] for suite in JUnitXml.fromfile(str(passed)) for case in suite)
        while datetime.now(timezone.utc) <= expiry + timedelta(seconds=1):
            time.sleep(0.25)
        expired = cli(s, ci, image)
        assert expired.returncode == 3, (expired.stdout, expired.stderr)

        # NOT_AFFECTED (a VEX decision) is an exception too.
        t = s.api("PUT", f"/api/vulnerabilities/{CVE}/triage",
                  json={"status": "NOT_AFFECTED", "justification": "vulnerable_code_not_in_execute_path"})
        assert t.status_code == 200, t.text
        assert cli(s, ci, image).returncode == 0

        # Refusals: unknown host exactly like POST /api/scans; a tag the registry lacks: 502 with the reason.
        elsewhere = {"image": "elsewhere.invalid/apps/web:1.0"}
        a = s.api("POST", "/api/policy/check", key=ci, json=elsewhere)
        b = s.api("POST", "/api/scans", json=elsewhere)
        assert a.status_code == b.status_code == 400 and a.json() == b.json(), (a.text, b.text)
        missing = s.api("POST", "/api/policy/check", key=ci, json={"image": f"{reg.host}/apps/web:9.9"})
        assert missing.status_code == 502, missing.text
        err = missing.json()["error"]
        assert err["code"] == "REGISTRY_ERROR" and "not found" in err["message"] and "apps/web:9.9" in err["message"], err
        assert "password" not in missing.text.lower()
        assert s.api("POST", "/api/policy/check", key=viewer, json={"image": image}).status_code == 403
        bad = s.api("POST", "/api/policy/check", key=ci, data="{\"image\": ", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_REQUEST", bad.text

        # A key scoped to another registry does not reach this one's images (refused as POST /api/scans refuses it).
        other = s.api("POST", "/api/registries", json={"name": "other", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:9",
                                                       "insecure": True, "schedule": "manual"})
        assert other.status_code == 201, other.text
        scoped_other = make_key(s, "ci", registryId=other.json()["data"]["id"])
        assert s.api("POST", "/api/policy/check", key=scoped_other, json={"image": image}).status_code == 400
        scoped = make_key(s, "ci", registryId=registry_id)
        assert s.api("POST", "/api/policy/check", key=scoped, json={"image": image}).status_code == 200

        # The CLI's errors: one line and exit 1; bad arguments 64; still pending after --wait says so.
        c = cli(s, ci, f"{reg.host}/apps/web:9.9")
        assert c.returncode == 1 and len(c.stderr.strip().splitlines()) == 1 and "502" in c.stderr and "REGISTRY_ERROR" in c.stderr, c.stderr
        c = cli(s, viewer, image)
        assert c.returncode == 1 and "403" in c.stderr, c.stderr
        c = cli(s, "hg_ak_" + "ab" * 24, image)
        assert c.returncode == 1 and "401" in c.stderr, c.stderr
        assert cli(s, None, image).returncode == 64
        assert cli(s, ci, "Not A Reference").returncode == 64
        assert cli(s, ci, image, "--format", "xml").returncode == 64
        reg.push("apps/api", "2.0", layers=[layer, {"app/readme.txt": b"another image"}])
        c = cli(s, ci, f"{reg.host}/apps/api:2.0", "--wait", "0")
        assert c.returncode == 1 and "still pending" in c.stderr, (c.returncode, c.stderr)
        gone = subprocess.run([BIN, "check", image, "--server", "http://127.0.0.1:9", "--api-key", ci, "--wait", "0"],
                              capture_output=True, text=True, timeout=60)
        assert gone.returncode == 1 and "cannot reach the server" in gone.stderr and len(gone.stderr.strip().splitlines()) == 1
    finally:
        s.stop()
        reg.stop()
