"""`harborguard scan` and `harborguard db` on the real binary: an image with this machine's
real dpkg database and os-release pushed to the real distribution registry, OSV records
written for the test in OSV's schema plus real Go records from Debian's golang-x-vuln."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, run
from registry_harness import Registry

GO_VULNDB = Path("/usr/share/gocode/src/golang.org/x/vuln/client/testdata/vulndb/ID")


def dpkg(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}\t${source:Package}", pkg], capture_output=True, text=True, check=True)
    version, source = out.stdout.split("\t")
    return version, source


def osv(id, ecosystem, name, fixed, aliases=(), severity=None, summary="test advisory"):
    rec = {"schema_version": "1.6.0", "id": id, "modified": "2026-11-01T00:00:00Z", "published": "2026-10-01T00:00:00Z",
           "aliases": list(aliases), "summary": summary, "details": summary,
           "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
           "references": [{"type": "ADVISORY", "url": f"https://security.example/{id}"}]}
    if severity:
        rec["severity"] = [{"type": "CVSS_V3", "score": severity}]
    return rec


@pytest.fixture(scope="module")
def scan_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scan")
    tar_version, tar_source = dpkg("tar")
    higher = tar_version + "+hg1"
    assert subprocess.run(["dpkg", "--compare-versions", higher, "gt", tar_version]).returncode == 0
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    records = [
        osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, higher, aliases=["CVE-2099-0001"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)"),
        osv("DEBIAN-CVE-2099-0002", "Debian:12", tar_source, "0.1", aliases=["CVE-2099-0002"], summary="fixed long ago"),
        osv("PYSEC-2018-28", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests leaks Authorization on redirect"),
        osv("GHSA-x84v-xcm2-53pg", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074"], summary="same, from GitHub"),
    ]
    unaffected = osv("DEBIAN-CVE-2099-0003", "Debian:12", "no-such-source-package", "9.9")
    withdrawn = osv("DEBIAN-CVE-2099-0004", "Debian:12", tar_source, higher)
    withdrawn["withdrawn"] = "2026-11-02T00:00:00Z"
    for r in records + [unaffected, withdrawn]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    data_dir = tmp / "data"
    imp = run("db", "import", str(osv_dir), data_dir=data_dir)
    assert "6 records" in imp.stdout, imp.stdout
    if GO_VULNDB.exists():
        go = run("db", "import", str(GO_VULNDB), data_dir=data_dir)
        assert "records" in go.stdout
    reg = Registry()
    status = Path("/var/lib/dpkg/status").read_bytes()
    os_release = Path("/etc/os-release").read_bytes()
    metadata = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\nHTTP for Humans.\n"
    digest = reg.push("apps/web", "1.0", layers=[
        {"etc/os-release": os_release, "var/lib/dpkg/status": status},
        {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": metadata,
         "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/RECORD": b""},
    ])
    yield {"reg": reg, "data": data_dir, "tar": (tar_version, tar_source), "digest": digest, "tmp": tmp}
    reg.stop()


def scan(env, *args, check=False):
    return subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/web:1.0", "--insecure", "--data-dir", str(env["data"]), *args],
                          capture_output=True, text=True, timeout=300)


def test_json_report_has_the_real_inventory_and_the_expected_findings(scan_env):
    p = scan(scan_env, "--format", "json")
    assert p.returncode == 0, p.stderr
    assert "layer 1/2" in p.stderr  # progress on stderr, report alone on stdout
    r = json.loads(p.stdout)
    assert r["digest"] == scan_env["digest"]
    assert r["os"]["family"] == "debian"
    installed = int(subprocess.run("dpkg-query -W -f='${db:Status-Abbrev}\\n' | grep -c '^.i'", shell=True,
                                   capture_output=True, text=True).stdout.strip())
    debs = [p for p in r["packages"] if p["type"] == "deb"]
    assert abs(len(debs) - installed) <= 2, (len(debs), installed)
    tar = next(p for p in debs if p["name"] == "tar")
    assert tar["version"] == scan_env["tar"][0]
    assert tar["purl"].startswith("pkg:deb/debian/tar@")
    assert tar["layer"] == r["layers"][0]["digest"]
    py = next(p for p in r["packages"] if p["type"] == "pypi")
    assert py["name"] == "requests" and py["layer"] == r["layers"][1]["digest"]
    ids = {f["vulnerabilityId"]: f for f in r["findings"]}
    assert "CVE-2099-0001" in ids, list(ids)
    f = ids["CVE-2099-0001"]
    assert f["severity"] == "CRITICAL" and abs(f["cvss"] - 9.8) < 0.05
    assert f["fixedVersion"] == scan_env["tar"][0] + "+hg1" and f["fixState"] == "fixed"
    assert "CVE-2099-0002" not in ids and "CVE-2099-0004" not in ids  # fixed earlier / withdrawn
    # PYSEC and GHSA records of one CVE merge into one finding.
    req = [x for x in r["findings"] if x["package"]["name"] == "requests"]
    assert len(req) == 1 and req[0]["vulnerabilityId"] == "CVE-2018-18074"
    assert {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"} <= set(req[0]["aliases"])


def test_exit_codes_filters_and_formats(scan_env):
    p = scan(scan_env, "--exit-code", "3")
    assert p.returncode == 3, p.stderr
    assert "CVE-2099-0001" in p.stdout and "VULNERABILITY" in p.stdout
    crit = scan(scan_env, "--exit-code", "3", "--severity", "CRITICAL", "--format", "json")
    assert crit.returncode == 3
    assert {f["severity"] for f in json.loads(crit.stdout)["findings"]} == {"CRITICAL"}
    low = scan(scan_env, "--exit-code", "3", "--severity", "LOW")
    assert low.returncode == 0, low.stdout
    sarif = scan(scan_env, "--format", "sarif")
    doc = json.loads(sarif.stdout)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert any(x["ruleId"] == "CVE-2099-0001" and x["level"] == "error" for x in results)
    rule_ids = {x["id"] for x in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert {x["ruleId"] for x in results} <= rule_ids


def test_scan_errors_are_clear(scan_env, tmp_path):
    missing = subprocess.run([BIN, "scan", f"{scan_env['reg'].host}/apps/nope:1", "--insecure", "--data-dir", str(scan_env["data"])],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "not" in missing.stderr.lower()
    nodb = subprocess.run([BIN, "scan", f"{scan_env['reg'].host}/apps/web:1.0", "--insecure", "--data-dir", str(tmp_path / "empty")],
                          capture_output=True, text=True, timeout=120)
    assert nodb.returncode == 1 and "db import" in nodb.stderr
    inv = subprocess.run([BIN, "scan", f"{scan_env['reg'].host}/apps/web:1.0", "--insecure", "--skip-db", "--format", "json",
                          "--data-dir", str(tmp_path / "empty")], capture_output=True, text=True, timeout=120)
    assert inv.returncode == 0 and json.loads(inv.stdout)["findings"] == []
    bad = subprocess.run([BIN, "scan", "UPPER/Case:tag"], capture_output=True, text=True)
    assert bad.returncode == 64


def test_db_status(scan_env):
    s = run("db", "status", data_dir=scan_env["data"])
    assert "Debian:12" in s.stdout and "PyPI" in s.stdout
