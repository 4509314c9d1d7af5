import pytest
"""Policies on the real binary and a real registry: a policy fails an image with a CRITICAL
finding, a WONT_FIX triage exception turns it to pass at the next evaluation (a rematch), its
expiry turns it back; bad policies are refused naming the field; policy_failed is a channel event."""
import json
import sqlite3
import time
from pathlib import Path

from conftest import Server, run, wait_job
from registry_harness import Registry
from test_scan_cli import dpkg, osv


def wait_scan(s, scan_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        scan = s.api("GET", f"/api/scans/{scan_id}").json()["data"]
        if scan["status"] in ("completed", "failed"):
            return scan
        time.sleep(0.2)
    raise AssertionError("scan did not finish")


def rematch_and_latest(s, image_ref):
    r = s.api("POST", "/api/vulndb/rematch")
    assert r.status_code == 202, r.text
    wait_job(s, r.headers["Location"].rsplit("/", 1)[-1])
    scans = s.api("GET", "/api/scans?limit=1").json()["data"]
    return s.api("GET", f"/api/scans/{scans[0]['id']}").json()["data"]


@pytest.mark.sqlite_only
def test_policy_verdicts_follow_exceptions_and_their_expiry(tmp_path):
    reg = Registry()
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "a.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1",
                                                   aliases=["CVE-2099-0001"], severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")))
    reg.push("apps/web", "1.0", layers=[{"etc/os-release": Path("/etc/os-release").read_bytes(),
                                         "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}])
    data = tmp_path / "data"
    s = Server(data)
    try:
        run("db", "import", str(osv_dir), data_dir=data)
        # Bad policies: 400, one issue per bad field, an unknown rule type named.
        bad = s.api("POST", "/api/policies", json={"name": "x", "action": "fail", "rules": [{"type": "kev"}, {"type": "cvss"}]})
        assert bad.status_code == 400, bad.text
        issues = bad.json()["error"]["issues"]
        assert [i["path"] for i in issues] == ["rules[1].type"] and "cvss" in issues[0]["message"]
        bad = s.api("POST", "/api/policies", json={"name": "x", "action": "stop", "bogus": 1,
                                                   "rules": [{"type": "package", "purl": "pkg:pypi/pyyaml", "versions": "~5"}]})
        assert {i["path"] for i in bad.json()["error"]["issues"]} == {"action", "bogus", "rules[0].versions"}
        assert s.api("GET", "/api/policies").json()["meta"]["total"] == 0

        p = s.api("POST", "/api/policies", json={
            "name": "no criticals", "action": "fail", "scope": {"repositories": ["apps/*"]},
            "rules": [{"type": "severity", "level": "CRITICAL"}, {"type": "kev"}]})
        assert p.status_code == 201, p.text
        policy = p.json()["data"]
        other = s.api("POST", "/api/policies", json={"name": "elsewhere", "action": "fail", "scope": {"repositories": ["other/*"]},
                                                     "rules": [{"type": "count", "severity": "LOW", "max": 0}]})
        assert other.status_code == 201

        r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        scan = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"}).json()["data"]
        scan = wait_scan(s, scan["id"])
        assert scan["status"] == "completed"
        v = scan["policy"]
        assert v["verdict"] == "fail", v
        assert v["policies"] == [policy["id"]]  # the other policy is out of scope
        viol = v["violations"]
        assert [x["vulnerabilityId"] for x in viol] == ["CVE-2099-0001"]
        assert viol[0]["rule"] == {"index": 0, "type": "severity"} and viol[0]["policyName"] == "no criticals"
        assert viol[0]["findingId"].startswith(scan["id"] + ":")
        # No KEV catalog was imported: the kev rule reports no data instead of passing silently.
        assert [(n["ruleIndex"], n["ruleType"]) for n in v["noData"]] == [(1, "kev")]
        # Lists stay light; images carry a summary (the worst verdict of their tags' current scans).
        assert "policy" not in s.api("GET", "/api/scans").json()["data"][0]
        image = s.api("GET", "/api/images").json()["data"][0]
        assert image["policy"]["verdict"] == "fail" and image["policy"]["violations"] == 1, image
        assert s.api("GET", f"/api/images/{image['id']}").json()["data"]["policy"]["verdict"] == "fail"

        # A WONT_FIX exception: the next evaluation passes.
        t = s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "WONT_FIX", "note": "accepted"})
        assert t.status_code == 200, t.text
        after = rematch_and_latest(s, f"{reg.host}/apps/web:1.0")
        assert after["policy"]["verdict"] == "pass", after["policy"]
        assert after["policy"]["violations"] == []
        assert s.api("GET", f"/api/images/{image['id']}").json()["data"]["policy"]["verdict"] == "pass"

        # The exception expires: the finding violates again.
        con = sqlite3.connect(data / "harborguard.db")
        con.execute("UPDATE triage SET expires_at = '2000-01-01T00:00:00.000Z' WHERE vulnerability_id = 'CVE-2099-0001'")
        con.commit()
        con.close()
        again = rematch_and_latest(s, f"{reg.host}/apps/web:1.0")
        assert again["policy"]["verdict"] == "fail", again["policy"]

        # A policy change re-evaluates the current scans at once: a warn policy alone warns.
        assert s.api("PUT", f"/api/policies/{policy['id']}", json={"action": "warn"}).json()["data"]["action"] == "warn"
        warned = s.api("GET", f"/api/scans/{again['id']}").json()["data"]
        assert warned["policy"]["verdict"] == "warn", warned["policy"]

        # The new events are channel events.
        ch = s.api("POST", "/api/notification-channels", json={"name": "gate", "url": "https://hooks.invalid/x",
                                                               "events": ["policy_failed", "policy_passed"]})
        assert ch.status_code in (201, 422), ch.text
        if ch.status_code == 201:
            assert ch.json()["data"]["events"] == ["policy_failed", "policy_passed"]
        assert s.api("DELETE", f"/api/policies/{policy['id']}").status_code == 200

        # The rules that read more than the finding's columns, through the stored findings: a
        # package rule (the purl from the finding's JSON) and an SLA rule (the first sighting).
        # tar's finding is excepted again, so each policy fails on its own rule or not at all.
        con = sqlite3.connect(data / "harborguard.db")
        con.execute("UPDATE triage SET expires_at = NULL WHERE vulnerability_id = 'CVE-2099-0001'")
        con.execute("UPDATE vulnerability_sightings SET first_detected_at = '2020-01-01T00:00:00.000Z'")
        con.commit()
        con.close()
        for rule, expected in [({"type": "package", "purl": f"pkg:deb/debian/{tar_source}"}, "pass"),
                               ({"type": "sla", "severity": "LOW", "days": 30}, "pass")]:
            p = s.api("POST", "/api/policies", json={"name": f"r-{rule['type']}", "action": "fail", "rules": [rule]})
            assert p.status_code == 201, p.text
            assert rematch_and_latest(s, f"{reg.host}/apps/web:1.0")["policy"]["verdict"] == expected
            con = sqlite3.connect(data / "harborguard.db")
            con.execute("UPDATE triage SET expires_at = '2000-01-01T00:00:00.000Z' WHERE vulnerability_id = 'CVE-2099-0001'")
            con.commit()
            con.close()
            v = rematch_and_latest(s, f"{reg.host}/apps/web:1.0")["policy"]
            assert v["verdict"] == "fail" and [x["rule"]["type"] for x in v["violations"]] == [rule["type"]], v
            con = sqlite3.connect(data / "harborguard.db")
            con.execute("UPDATE triage SET expires_at = NULL WHERE vulnerability_id = 'CVE-2099-0001'")
            con.commit()
            con.close()
            assert s.api("DELETE", f"/api/policies/{p.json()['data']['id']}").status_code == 200
    finally:
        s.stop()
        reg.stop()
