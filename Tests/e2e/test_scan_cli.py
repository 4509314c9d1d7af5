"""`harborguard scan` and `harborguard db` on the real binary: an image with this machine's
real dpkg database and os-release pushed to the real distribution registry, OSV records
written for the test in OSV's schema plus real Go records from Debian's golang-x-vuln. EPSS and KEV
rows go straight into the vulndb's enrichment tables with sqlite3 (`db import` does not read those
feeds yet)."""
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

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


def add_enrichment(path):
    """EPSS and KEV rows as `db update` stores them: requests' CVE in KEV with a low EPSS score
    (P1 by KEV), tar's CVE with EPSS 0.55 at the 97th percentile (P2)."""
    con = sqlite3.connect(path)
    with con:
        con.executemany("INSERT INTO epss(cve, score, percentile) VALUES (?, ?, ?)",
                        [("CVE-2018-18074", 0.02, 0.6), ("CVE-2099-0001", 0.55, 0.97)])
        con.execute("INSERT INTO feed_info(source, version, date) VALUES ('epss', 'v2025.03.14', '2026-12-01')")
        entry = {"cveID": "CVE-2018-18074", "dateAdded": "2026-11-20", "dueDate": "2026-12-11",
                 "knownRansomwareCampaignUse": "Unknown", "requiredAction": "Apply updates per vendor instructions."}
        con.execute("INSERT INTO kev(cve, entry) VALUES (?, ?)", ("CVE-2018-18074", json.dumps(entry).encode()))
    con.close()


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
    add_enrichment(data_dir / "vulndb.sqlite")
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
    assert f["severity"] == "CRITICAL" and f["severitySource"] == "distribution"  # the Debian record's own rating
    assert f["cvss"]["version"] == "3.1" and abs(f["cvss"]["score"] - 9.8) < 0.05
    assert f["cvss"]["vector"] == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" and f["cvss"]["source"] == "DEBIAN-CVE-2099-0001"
    assert f["epss"] == {"score": 0.55, "percentile": 0.97, "date": "2026-12-01"}
    assert f["kev"] is None and f["priority"] == "P2"
    assert f["fixedVersion"] == scan_env["tar"][0] + "+hg1" and f["fixState"] == "fixed"
    assert "CVE-2099-0002" not in ids and "CVE-2099-0004" not in ids  # fixed earlier / withdrawn
    # PYSEC and GHSA records of one CVE merge into one finding.
    req = [x for x in r["findings"] if x["package"]["name"] == "requests"]
    assert len(req) == 1 and req[0]["vulnerabilityId"] == "CVE-2018-18074"
    assert {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"} <= set(req[0]["aliases"])
    assert req[0]["kev"] == {"dateAdded": "2026-11-20", "dueDate": "2026-12-11", "ransomware": False}
    assert req[0]["priority"] == "P1" and req[0]["severity"] == "HIGH"
    # Sorted by priority: the KEV finding first.
    assert [x["vulnerabilityId"] for x in r["findings"]][:2] == ["CVE-2018-18074", "CVE-2099-0001"]
    assert r["fixGroups"][0]["package"] == "requests" and r["fixGroups"][0]["kev"] == 1


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
    rules = {x["id"]: x for x in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert {x["ruleId"] for x in results} <= set(rules)
    # GitHub code scanning ranks by security-severity: the chosen CVSS score, as a string.
    assert rules["CVE-2099-0001"]["properties"]["security-severity"] == "9.8"
    assert rules["CVE-2018-18074"]["properties"]["security-severity"] == "7.5"
    req = next(x for x in results if x["ruleId"] == "CVE-2018-18074")
    assert req["level"] == "error"
    assert req["properties"]["priority"] == "P1" and req["properties"]["kev"] is True
    assert req["properties"]["kevDateAdded"] == "2026-11-20" and abs(req["properties"]["epssScore"] - 0.02) < 1e-9


def rows(table_text):
    """The findings rows of the table: (id, priority, severity, epss, kev) per row."""
    lines = table_text.splitlines()
    header = next(i for i, l in enumerate(lines) if l.startswith("VULNERABILITY"))
    out = []
    for l in lines[header + 1:]:
        if not l.strip():
            break
        cells = l.split()
        epss, rest = ("-", cells[4:]) if cells[3] == "-" else (cells[3] + " " + cells[4], cells[5:])
        out.append((cells[0], cells[1], cells[2], epss, "KEV" if rest[0] == "KEV" else ""))
    return lines[header], out


def test_table_priority_epss_kev_columns_sort_and_fix_first(scan_env):
    p = scan(scan_env)
    assert p.returncode == 0, p.stderr
    assert all(len(l) <= 120 for l in p.stdout.splitlines()), p.stdout
    header, found = rows(p.stdout)
    # tar's Debian versions leave no 15 columns for titles within 120: the title column goes, versions stay whole.
    assert header.split() == ["VULNERABILITY", "PRIORITY", "SEVERITY", "EPSS", "KEV", "PACKAGE", "INSTALLED", "FIXED"], p.stdout
    assert scan_env["tar"][0] + "+hg1" in p.stdout
    assert found[:2] == [("CVE-2018-18074", "P1", "HIGH", "2.0% p60", "KEV"), ("CVE-2099-0001", "P2", "CRITICAL", "55% p97", "")]
    assert "P1 1  P2 1" in p.stdout and "KEV 1" in p.stdout
    fix = p.stdout[p.stdout.index("Fix first"):].splitlines()
    assert fix[1].split() == ["P1", "upgrade", "requests", "to", "2.20.0:", "closes", "1", "finding,", "1", "KEV"]
    assert fix[2].split()[:5] == ["P2", "upgrade", "tar", "to", scan_env["tar"][0] + "+hg1:"]
    by_severity = rows(scan(scan_env, "--sort", "severity").stdout)[1]
    assert [r[0] for r in by_severity][:2] == ["CVE-2099-0001", "CVE-2018-18074"]
    by_package = scan(scan_env, "--sort", "package", "--format", "json")
    assert [f["package"]["name"] for f in json.loads(by_package.stdout)["findings"]][:2] == ["requests", "tar"]


def test_kev_and_epss_filters_decide_the_exit_code(scan_env):
    def ids(*args):
        p = scan(scan_env, "--exit-code", "3", "--format", "json", *args)
        return p.returncode, [f["vulnerabilityId"] for f in json.loads(p.stdout)["findings"]]
    assert ids("--kev") == (3, ["CVE-2018-18074"])
    assert ids("--kev", "--severity", "CRITICAL") == (0, [])  # tar's CRITICAL finding is not in KEV
    assert ids("--kev", "--ignore-unfixed") == (3, ["CVE-2018-18074"])
    assert ids("--epss-min", "0.5") == (3, ["CVE-2099-0001"])
    assert ids("--epss-min", "0.02") == (3, ["CVE-2018-18074", "CVE-2099-0001"])
    assert ids("--epss-min", "0.9") == (0, [])
    assert ids("--epss-min", "0.5", "--kev") == (0, [])
    assert ids("--epss-min", "0.5", "--severity", "CRITICAL,HIGH") == (3, ["CVE-2099-0001"])
    table = scan(scan_env, "--kev", "--exit-code", "5")
    assert table.returncode == 5 and "1 findings" in table.stdout and "CVE-2099-0001" not in table.stdout
    for bad in ("1.5", "-0.1", "abc", "nan"):
        p = scan(scan_env, "--epss-min", bad)
        assert p.returncode == 64 and "--epss-min" in p.stderr, (bad, p.stderr)
    p = scan(scan_env, "--sort", "newest")
    assert p.returncode == 64 and "sort" in p.stderr


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


def test_layers_analysed_at_once_merge_in_manifest_order(tmp_path):
    """Six layers, the first a slow one (8 MB of random bytes besides the dpkg database), so
    later layers finish first when several are analysed at once: later layers must still win
    (a dpkg database replaced, a Python package whited out, one added back under a new
    version), whatever the completion order. The same inventory at 1 and at 4 at once."""
    status = lambda *pkgs: "".join(  # noqa: E731
        f"Package: {p}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n" for p in pkgs).encode()
    site = "usr/lib/python3/dist-packages"
    meta = lambda name, version: f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()  # noqa: E731
    layers = [
        {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": status("alpha", "beta"),
         "opt/filler.bin": os.urandom(8 << 20)},
        {f"{site}/requests-2.0.0.dist-info/METADATA": meta("requests", "2.0.0")},
        {f"{site}/six-1.10.0.dist-info/METADATA": meta("six", "1.10.0")},
        {f"{site}/.wh.requests-2.0.0.dist-info": b""},
        {"var/lib/dpkg/status": status("alpha")},
        {f"{site}/requests-2.31.0.dist-info/METADATA": meta("requests", "2.31.0")},
    ]
    reg = Registry()
    try:
        reg.push("apps/layered", "1.0", layers=layers)
        manifest = requests.get(f"{reg.url}/v2/apps/layered/manifests/1.0", auth=reg.auth,
                                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}).json()
        manifest_layers = [l["digest"] for l in manifest["layers"]]
        assert len(manifest_layers) == 6
        inventories = []
        for n in ("1", "4"):
            out = tmp_path / f"r{n}.json"
            p = subprocess.run([BIN, "scan", f"{reg.host}/apps/layered:1.0", "--insecure", "--skip-db", "--format", "json",
                                "--layer-concurrency", n, "--output", str(out)], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            report = json.loads(out.read_text())
            assert [l["digest"] for l in report["layers"]] == manifest_layers
            inventories.append(sorted((x["type"], x["name"], x["version"]) for x in report["packages"]))
        assert inventories[0] == [("deb", "alpha", "1.0-1"), ("pypi", "requests", "2.31.0"), ("pypi", "six", "1.10.0")], inventories[0]
        assert inventories[1] == inventories[0]
        bad = subprocess.run([BIN, "scan", f"{reg.host}/apps/layered:1.0", "--insecure", "--skip-db", "--layer-concurrency", "0"],
                             capture_output=True, text=True)
        assert bad.returncode == 64 and "--layer-concurrency" in bad.stderr
    finally:
        reg.stop()
