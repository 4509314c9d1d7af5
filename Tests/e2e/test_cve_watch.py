"""The CVE watch on the real binary and a real registry: after a scan, a `db import` of an
advisory that hits the image sends exactly one finding_new per channel; importing again (and a
second rematch) sends none; a KEV entry sends one finding_escalated per channel, and nothing for
a finding excepted by triage."""
import pytest
import json
import re
import sys
import time
from pathlib import Path

from conftest import Server, run, wait_job
from registry_harness import Registry
from test_notifications import Receiver
from test_policies import wait_scan
from test_priority import wait_cli_job
from test_scan_cli import dpkg, osv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import feeds  # noqa: E402

WATCH = ["finding_new", "finding_escalated", "finding_resolved"]


@pytest.mark.sqlite_only
def test_new_escalated_findings_alert_once_per_channel_and_never_when_excepted(tmp_path):
    rx = Receiver()
    reg = Registry()
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "a.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1",
                                                   aliases=[feeds.cve_id(1)])))
    reg.push("apps/web", "1.0", layers=[{"etc/os-release": Path("/etc/os-release").read_bytes(),
                                         "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}])
    data = tmp_path / "data"
    s = Server(data, extra=("--allow-private-targets",))

    def watch_events(path):
        return [e for e in rx.events(path) if e["event"] in WATCH]

    def rematch():
        r = s.api("POST", "/api/vulndb/rematch")
        assert r.status_code == 202, r.text
        assert wait_job(s, r.headers["Location"].rsplit("/", 1)[-1])["status"] == "succeeded"

    def db_import(path):
        out = run("db", "import", str(path), data_dir=data).stdout
        job = re.search(r"rematch job (job_[0-9a-f]+)", out)
        assert job, out
        assert wait_cli_job(data, job.group(1)) == "succeeded"

    try:
        run("db", "import", str(osv_dir), data_dir=data)
        for name in ("team-a", "team-b"):
            r = s.api("POST", "/api/notification-channels", json={"name": name, "url": f"{rx.url}/{name}", "events": WATCH})
            assert r.status_code == 201, r.text
        # minPriority P1: the P4 finding_new is skipped, the escalation into KEV (P1) arrives.
        r = s.api("POST", "/api/notification-channels", json={"name": "urgent", "url": f"{rx.url}/urgent", "events": WATCH,
                                                            "minPriority": "P1"})
        assert r.status_code == 201 and r.json()["data"]["minPriority"] == "P1", r.text
        # A Slack channel in immediate digest mode: one message per rematch.
        r = s.api("POST", "/api/notification-channels", json={"name": "slack", "type": "slack", "url": f"{rx.url}/slack",
                                                            "events": WATCH, "delivery": "immediate"})
        assert r.status_code == 201, r.text

        def slack_messages():
            return [json.loads(x["body"]) for x in rx.received if x["path"] == "/slack"]
        r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        scan = wait_scan(s, s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"}).json()["data"]["id"])
        assert scan["status"] == "completed"
        # A scan is no watch event (scan_complete and critical_cve cover it).
        rematch()
        time.sleep(1)
        assert watch_events("/team-a") == [] and watch_events("/team-b") == []

        # The scan's finding is excepted (WONT_FIX); a new advisory hits tar.
        t = s.api("PUT", f"/api/vulnerabilities/{feeds.cve_id(1)}/triage", json={"status": "WONT_FIX", "note": "accepted"})
        assert t.status_code == 200, t.text
        (osv_dir / "n2.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0002", "Debian:12", tar_source,
                                                        tar_version + "+hg1", aliases=[feeds.cve_id(2)])))
        db_import(osv_dir)
        for path in ("/team-a", "/team-b"):
            assert rx.wait(lambda: len(watch_events(path)) >= 1), rx.received
        time.sleep(1.5)
        for path in ("/team-a", "/team-b"):
            got = watch_events(path)
            assert [(e["event"], e["vulnerabilityId"]) for e in got] == [("finding_new", feeds.cve_id(2))], got
            e = got[0]
            assert e["package"] == tar_source and e["version"] == tar_version and e["fixVersion"] == tar_version + "+hg1"
            assert e["reference"] == f"{reg.host}/apps/web:1.0" and e["digest"].startswith("sha256:")
            assert e["imageId"] == scan["imageId"] and e["priority"] == "P4"

        assert watch_events("/urgent") == []
        assert rx.wait(lambda: len(slack_messages()) >= 1)
        assert feeds.cve_id(2) in json.dumps(slack_messages()[0]) and feeds.cve_id(1) not in json.dumps(slack_messages())

        # The same data again, and another rematch: nothing more.
        run("db", "import", str(osv_dir), data_dir=data)
        rematch()
        time.sleep(1.5)
        assert len(watch_events("/team-a")) == 1 and len(watch_events("/team-b")) == 1

        # CISA lists both CVEs: one finding_escalated per channel for the new one (to P1, reason
        # kev), nothing for the excepted one.
        kev_dir = tmp_path / "kev"
        kev_dir.mkdir()
        feeds.write_kev(str(kev_dir / "known_exploited_vulnerabilities.json"), [1, 2])
        db_import(kev_dir)
        for path in ("/team-a", "/team-b"):
            assert rx.wait(lambda: len(watch_events(path)) >= 2), watch_events(path)
        rematch()
        time.sleep(1.5)
        for path in ("/team-a", "/team-b"):
            got = watch_events(path)[1:]
            assert [(e["event"], e["vulnerabilityId"], e["reason"], e["priority"], e["kev"]) for e in got] == [
                ("finding_escalated", feeds.cve_id(2), "kev", "P1", "true")], got
        got = watch_events("/urgent")
        assert [(e["event"], e["vulnerabilityId"], e["priority"]) for e in got] == [
            ("finding_escalated", feeds.cve_id(2), "P1")], got
        assert rx.wait(lambda: len(slack_messages()) >= 2)
        time.sleep(1)
        assert len(slack_messages()) == 2 and "kev" in json.dumps(slack_messages()[1]).lower()
        # Every delivery was made (durable, logged per channel).
        for ch in s.api("GET", "/api/notification-channels").json()["data"]:
            if ch["type"] != "webhook":
                continue
            log = s.api("GET", f"/api/notification-channels/{ch['id']}/deliveries").json()["data"]
            expected = ["finding_escalated"] if ch["name"] == "urgent" else ["finding_escalated", "finding_new"]
            assert sorted(d["event"] for d in log) == expected, log
            assert all(d["status"] == "delivered" for d in log), log
    finally:
        s.stop()
        reg.stop()
        rx.httpd.shutdown()
