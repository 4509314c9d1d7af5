"""The server's scans on the real binary against the real distribution registry (htpasswd):
POST /api/scans → a scan job that decrypts the registry's credentials, streams the layers,
matches OSV records imported while the server runs; findings, packages, image aggregates,
the layer cache (a rescan downloads no layer: counted in the registry's access log),
triage suppressing counts and risk, cancel/delete, hostile layers failing one scan only."""
import io
import json
import gzip
import hashlib
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import requests

from conftest import run
from registry_harness import Registry, LAYER_GZIP, MANIFEST_V2, CONFIG_V1
from test_scan_cli import dpkg, osv

PASSWORD = "scan-registry-pass-42"


def wait_scan(s, scan_id, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = s.api("GET", f"/api/scans/{scan_id}/status").json()["data"]
        if st["status"] in ("completed", "failed", "cancelled"):
            return s.api("GET", f"/api/scans/{scan_id}").json()["data"]
        time.sleep(0.2)
    raise AssertionError(f"scan {scan_id} did not finish: {st}")


def submit(s, image, **extra):
    r = s.api("POST", "/api/scans", json={"image": image, **extra})
    assert r.status_code == 202, r.text
    body = r.json()["data"]
    assert r.headers["Location"] == f"/api/scans/{body['id']}"
    assert body["id"].startswith("scn_")
    return body


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scans")
    tar_version, tar_source = dpkg("tar")
    higher = tar_version + "+hg1"
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    for r in [
        osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, higher, aliases=["CVE-2099-0001"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)"),
        osv("PYSEC-2018-28", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests leaks Authorization on redirect"),
    ]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry(user="ci", password=PASSWORD, log_level="info")
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}

    def py(version):
        meta = f"Metadata-Version: 2.1\nName: requests\nVersion: {version}\n".encode()
        return {f"usr/lib/python3/dist-packages/requests-{version}.dist-info/METADATA": meta}

    auth = {"auth": (reg.auth[0], reg.auth[1])}
    d1 = reg.push("apps/web", "1.0", layers=[base, py("2.19.0")])
    d2 = reg.push("apps/web", "2.0", layers=[base, py("2.31.0")])
    yield {"reg": reg, "osv": osv_dir, "tmp": tmp, "d1": d1, "d2": d2, "tar": (tar_version, tar_source), "auth": auth}
    reg.stop()


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    from conftest import Server
    data = tmp_path_factory.mktemp("scan-data") / "data"
    s = Server(data)
    s.wait_ready()
    # Imported while the server runs: the server reads the same vulndb.sqlite.
    imp = run("db", "import", str(env["osv"]), data_dir=data)
    assert "2 records" in imp.stdout, imp.stdout
    reg = s.api("POST", "/api/registries", json={
        "name": "local", "provider": "DOCKER_REGISTRY", "url": env["reg"].url, "insecure": True,
        "credentials": {"username": "ci", "password": PASSWORD}}).json()["data"]
    s.registry = reg
    s.data = data
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def own_key(server):
    """POST /api/scans allows 10 a minute per principal: each test acts with a key of its own."""
    from conftest import Server
    k = run("admin", "create-api-key", "--role", "admin", "--name", f"t{time.time_ns()}", data_dir=server.data).stdout.strip()
    server.api = lambda method, path, key=None, **kw: Server.api(server, method, path, key=key or k, **kw)
    yield


def test_scan_by_tag_finds_the_real_inventory_and_findings(env, server):
    s = server
    image = f"{env['reg'].host}/apps/web:1.0"
    before = env["reg"].blob_gets("apps/web")
    queued = submit(s, image)
    assert queued["status"] in ("queued", "running")
    scan = wait_scan(s, queued["id"])
    assert scan["status"] == "completed", scan
    assert scan["digest"] == env["d1"] and scan["reference"] == image
    assert scan["registryId"] == s.registry["id"] and scan["trigger"] == "api" and scan["origin"] == "cloud"
    assert scan["os"]["family"] == "debian"
    native = scan["scanners"][0]
    assert native["name"] == "native" and native["status"] == "ok" and native["version"]
    runs = {x["name"]: x for x in scan["scanners"]}
    assert runs["syft"]["status"] == "ok" and runs["syft"]["version"], runs
    assert runs["trivy"]["status"] == "unavailable" and runs["grype"]["status"] == "unavailable", runs
    installed = int(subprocess.run("dpkg-query -W -f='${db:Status-Abbrev}\\n' | grep -c '^.i'", shell=True,
                                   capture_output=True, text=True).stdout.strip())
    assert abs(scan["packageCount"] - (installed + 1)) <= 2, scan["packageCount"]
    assert scan["counts"]["critical"] == 1 and scan["counts"]["high"] == 1, scan["counts"]
    assert scan["riskScore"] == 35
    assert scan["layers"] == {"total": 2, "cached": 0, "bytesDownloaded": scan["layers"]["bytesDownloaded"]}
    assert scan["layers"]["bytesDownloaded"] > 0
    assert env["reg"].blob_gets("apps/web") - before >= 2  # both layers pulled (plus the config)
    assert scan["notes"] == [] or not any("database is empty" in n for n in scan["notes"])

    # Findings: most severe first, filters, the scan's own ids.
    f = s.api("GET", f"/api/scans/{scan['id']}/findings").json()
    assert f["meta"]["total"] == 2
    first = f["data"][0]
    assert first["vulnerabilityId"] == "CVE-2099-0001" and first["severity"] == "CRITICAL"
    assert first["package"]["name"] == env["tar"][1] or first["package"]["name"] == "tar"
    assert first["fixedVersion"] == env["tar"][0] + "+hg1" and first["fixState"] == "fixed"
    # The registry's default scanners are trivy, grype and syft: the real syft ran on the
    # layout teed from this scan's download and saw the same package.
    assert first["sources"] == ["native", "syft"] and first["triage"] is None
    # The rating behind the severity: the advisory's own CVSS v3.1 vector.
    assert abs(first["cvss"]["score"] - 9.8) < 0.05 and first["cvss"]["vector"].startswith("CVSS:3.1/")
    assert first["severitySource"] == "distribution" and first["priority"] == "P2"  # CVSS >= 9.0 with a fix
    req = s.api("GET", f"/api/scans/{scan['id']}/findings?package=requests").json()["data"]
    assert [x["vulnerabilityId"] for x in req] == ["CVE-2018-18074"]
    assert {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"} <= set(req[0]["aliases"])
    crit = s.api("GET", f"/api/scans/{scan['id']}/findings?severity=critical,HIGH&fixable=true").json()
    assert crit["meta"]["total"] == 2
    assert s.api("GET", f"/api/scans/{scan['id']}/findings?severity=urgent").status_code == 400

    # Packages: the stored inventory, paged.
    pk = s.api("GET", f"/api/scans/{scan['id']}/packages?limit=200").json()
    assert pk["meta"]["total"] == scan["packageCount"]
    pypi = s.api("GET", f"/api/scans/{scan['id']}/packages?type=pypi").json()["data"]
    assert [(p["name"], p["version"]) for p in pypi] == [("requests", "2.19.0")]
    assert pypi[0]["purl"] == "pkg:pypi/requests@2.19.0"

    # The image and its tag point at the scan.
    images = s.api("GET", "/api/images").json()["data"]
    img = next(i for i in images if i["name"] == "apps/web")
    assert img["riskScore"] == 35 and img["vulnerabilities"]["critical"] == 1 and img["lastScannedAt"]
    tags = {t["name"]: t for t in s.api("GET", f"/api/images/{img['id']}").json()["data"]["tags"]}
    assert tags["1.0"]["lastScanId"] == scan["id"] and tags["1.0"]["digest"] == env["d1"]
    # The job is visible as a scan job.
    job = s.api("GET", f"/api/jobs/{scan['jobId']}").json()["data"]
    assert job["type"] == "scan" and job["status"] == "succeeded"
    # The registry password is nowhere in what the API returned.
    assert PASSWORD not in json.dumps(scan) + json.dumps(f)


def test_rescan_downloads_no_layer_and_a_shared_layer_is_cached(env, server):
    s = server
    image = f"{env['reg'].host}/apps/web:1.0"
    native = {"scanners": ["native"]}  # external scanners need the layer bytes themselves
    first = wait_scan(s, submit(s, image, **native)["id"])  # ensure the layers are cached (order independent)
    assert first["status"] == "completed"
    before = env["reg"].blob_gets("apps/web")
    again = wait_scan(s, submit(s, image, **native)["id"])
    assert again["status"] == "completed"
    assert again["layers"]["cached"] == 2 and again["layers"]["bytesDownloaded"] == 0
    assert env["reg"].blob_gets("apps/web") == before, "a rescan pulled layers"
    assert again["counts"] == first["counts"] and again["packageCount"] == first["packageCount"]
    assert [x["name"] for x in again["scanners"]] == ["native"]
    # With syft requested, the cached layers are downloaded once more for its layout, and counted.
    with_syft = wait_scan(s, submit(s, image, scanners=["native", "syft"])["id"])
    assert with_syft["layers"]["cached"] == 2 and with_syft["layers"]["bytesDownloaded"] > 0
    before = env["reg"].blob_gets("apps/web")
    # 2.0 shares the dpkg layer: only its Python layer is pulled.
    v2 = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:2.0", **native)["id"])
    assert v2["status"] == "completed" and v2["layers"]["cached"] == 1
    assert env["reg"].blob_gets("apps/web") - before == 1
    assert v2["counts"]["high"] == 0 and v2["counts"]["critical"] == 1  # requests 2.31 is fixed
    # By digest works too, and lists filter by image.
    by_digest = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web@{env['d2']}")["id"])
    assert by_digest["status"] == "completed" and by_digest["digest"] == env["d2"]
    lst = s.api("GET", f"/api/scans?imageId={v2['imageId']}&status=completed&limit=200").json()
    assert lst["meta"]["total"] >= 4 and all(x["status"] == "completed" for x in lst["data"])
    assert s.api("GET", "/api/scans?status=bogus").status_code == 400


def test_triage_suppresses_counts_and_risk_in_its_scope(env, server):
    s = server
    scan = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:1.0")["id"])
    assert scan["counts"]["critical"] == 1
    vulns = s.api("GET", "/api/vulnerabilities").json()
    row = next(v for v in vulns["data"] if v["vulnerabilityId"] == "CVE-2099-0001")
    assert row["status"] == "OPEN" and row["affectedImages"] == 1 and row["firstDetectedAt"]
    assert s.api("GET", "/api/vulnerabilities?cveId=GHSA-x84v-xcm2-53pg").json()["meta"]["total"] == 1

    # Validation and 404 before anything changes.
    assert s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "MAYBE"}).status_code == 400
    assert s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "WONT_FIX", "scope": "image"}).status_code == 400
    assert s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "WONT_FIX", "bogus": 1}).status_code == 400
    assert s.api("PUT", "/api/vulnerabilities/CVE-1999-9999/triage", json={"status": "WONT_FIX"}).status_code == 404
    past = s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "WONT_FIX", "expiresAt": "2020-01-01T00:00:00Z"})
    assert past.status_code == 400 and past.json()["error"]["issues"][0]["path"] == "expiresAt"

    t = s.api("PUT", "/api/vulnerabilities/CVE-2099-0001/triage",
              json={"status": "WONT_FIX", "note": "tar is not reachable from the network"})
    assert t.status_code == 200, t.text
    assert t.json()["data"]["status"] == "WONT_FIX" and t.json()["data"]["scope"] == "organization"
    after = s.api("GET", f"/api/scans/{scan['id']}").json()["data"]
    assert after["counts"]["critical"] == 0 and after["riskScore"] == scan["riskScore"] - 25
    img = s.api("GET", f"/api/images/{scan['imageId']}").json()["data"]
    assert img["vulnerabilities"]["critical"] == 0
    f = s.api("GET", f"/api/scans/{scan['id']}/findings?severity=CRITICAL").json()["data"][0]
    assert f["triage"]["status"] == "WONT_FIX" and f["triage"]["note"].startswith("tar is")
    assert s.api("GET", "/api/vulnerabilities?status=WONT_FIX").json()["meta"]["total"] >= 1
    # A new scan starts suppressed too.
    fresh = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:1.0")["id"])
    assert fresh["counts"]["critical"] == 0
    # Reopening restores the counts; the audit log has both decisions.
    assert s.api("POST", "/api/vulnerabilities/CVE-2099-0001/triage", json={"status": "OPEN"}).status_code == 200
    assert s.api("GET", f"/api/scans/{scan['id']}").json()["data"]["counts"]["critical"] == 1
    actions = [e["action"] for e in s.api("GET", "/api/audit-log?limit=200").json()["data"]]
    assert "triage.wont_fix" in actions and "triage.open" in actions and "scan.create" in actions


def test_bad_requests_cancel_delete_and_roles(env, server):
    s = server
    bad = s.api("POST", "/api/scans", json={"image": "registry.example.com/x/y:1"})
    assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "image"
    bad = s.api("POST", "/api/scans", json={"image": f"{env['reg'].host}/apps/web:1.0", "scanners": ["clair"]})
    assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "scanners[0]"
    bad = s.api("POST", "/api/scans", json={"image": f"{env['reg'].host}/apps/web:1.0", "platform": "linux"})
    assert bad.status_code == 400
    assert s.api("POST", "/api/scans", json={"image": "UPPER/Case:tag!"}).status_code == 400
    assert s.api("POST", "/api/scans", json={"image": 5}).status_code == 400

    done = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:2.0")["id"])
    r = s.api("POST", f"/api/scans/{done['id']}/cancel")
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"

    viewer = subprocess.run([str(Path(__import__("conftest").BIN)), "admin", "create-api-key", "--role", "viewer", "--name", "v",
                             "--data-dir", str(s.data), *__import__("conftest").database_args(s.data)],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert s.api("POST", "/api/scans", key=viewer, json={"image": f"{env['reg'].host}/apps/web:2.0"}).status_code == 403
    assert s.api("GET", f"/api/scans/{done['id']}", key=viewer).status_code == 200
    assert s.api("DELETE", f"/api/scans/{done['id']}", key=viewer).status_code == 403
    assert s.api("DELETE", f"/api/scans/{done['id']}").status_code == 200
    assert s.api("GET", f"/api/scans/{done['id']}").status_code == 404
    assert s.api("GET", f"/api/scans/{done['id']}/findings").status_code == 404
    assert s.api("GET", "/api/scans/scn_nope").status_code == 404


def test_a_missing_tag_and_a_hostile_layer_fail_their_scan_only(env, server):
    s = server
    missing = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:nope")["id"])
    assert missing["status"] == "failed" and "not" in missing["error"].lower()
    # A layer with a path that climbs out of the root.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo("../../etc/evil")
        data = b"pwned"
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    reg = env["reg"]
    layer = gzip.compress(raw.getvalue(), mtime=0)
    ld = reg._upload("apps/evil", layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                         "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}}).encode()
    cd = reg._upload("apps/evil", config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                           "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": cd},
                           "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": ld}]}).encode()
    r = requests.put(f"{reg.url}/v2/apps/evil/manifests/1", data=manifest, auth=reg.auth, headers={"Content-Type": MANIFEST_V2})
    assert r.status_code == 201
    evil = wait_scan(s, submit(s, f"{reg.host}/apps/evil:1")["id"])
    assert evil["status"] == "failed" and "layer refused" in evil["error"], evil
    assert s.api("GET", "/healthz").status_code == 200
    # Only one attempt for content that will never scan.
    job = s.api("GET", f"/api/jobs/{evil['jobId']}").json()["data"]
    assert job["status"] == "failed" and job["attempts"] == 1


def test_sync_queues_scans_that_run_and_vulndb_reports_counts(env, server):
    s = server
    r = s.api("POST", f"/api/registries/{s.registry['id']}/sync")
    assert r.status_code == 202
    deadline = time.time() + 120
    while time.time() < deadline:
        if s.api("GET", f"/api/jobs/{r.json()['data']['jobId']}").json()["data"]["status"] == "succeeded":
            break
        time.sleep(0.2)
    # Every tag now has a completed scan (the API scans above, or the sync's).
    deadline = time.time() + 120
    while time.time() < deadline:
        active = s.api("GET", "/api/scans?status=queued").json()["meta"]["total"] + \
            s.api("GET", "/api/scans?status=running").json()["meta"]["total"]
        if active == 0:
            break
        time.sleep(0.3)
    img = next(i for i in s.api("GET", "/api/images").json()["data"] if i["name"] == "apps/web")
    tags = s.api("GET", f"/api/images/{img['id']}").json()["data"]["tags"]
    assert all(t["lastScanId"] for t in tags if t["name"] in ("1.0", "2.0")), tags
    v = s.api("GET", "/api/vulndb").json()["data"]
    assert v["advisories"] == 2 and v["ecosystems"].get("PyPI") == 1, v
    assert v["sources"] and v["lastUpdated"]


def test_db_import_rematches_stored_inventories_without_pulling(env, server):
    s = server
    v2 = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:2.0")["id"])
    assert v2["counts"]["high"] == 0
    before = env["reg"].blob_gets()
    rec = osv("GHSA-hg00-0000-0001", "PyPI", "requests", "2.32.0", aliases=["CVE-2099-0100"],
              severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests: a later advisory")
    d = env["tmp"] / "osv-later"
    d.mkdir()
    (d / "GHSA-hg00-0000-0001.json").write_text(json.dumps(rec))
    out = run("db", "import", str(d), data_dir=s.data).stdout
    assert "queued rematch job" in out, out
    img = v2["imageId"]
    deadline = time.time() + 60
    while time.time() < deadline:
        tags = {t["name"]: t for t in s.api("GET", f"/api/images/{img}").json()["data"]["tags"]}
        if tags["2.0"]["lastScanId"] != v2["id"]:
            break
        time.sleep(0.2)
    re = s.api("GET", f"/api/scans/{tags['2.0']['lastScanId']}").json()["data"]
    assert re["status"] == "completed" and re["trigger"] == "schedule", re
    assert re["counts"]["high"] == 1 and re["digest"] == v2["digest"] and re["packageCount"] == v2["packageCount"]
    assert re["layers"]["bytesDownloaded"] == 0 and any("no layer was pulled" in n for n in re["notes"])
    ids = [f["vulnerabilityId"] for f in s.api("GET", f"/api/scans/{re['id']}/findings").json()["data"]]
    assert "CVE-2099-0100" in ids
    assert env["reg"].blob_gets() == before
    # An API rematch with nothing new records nothing new.
    r = s.api("POST", "/api/vulndb/rematch")
    assert r.status_code == 202 and r.headers["Location"].startswith("/api/jobs/")
    deadline = time.time() + 60
    while time.time() < deadline:
        job = s.api("GET", r.headers["Location"]).json()["data"]
        if job["status"] == "succeeded":
            break
        time.sleep(0.2)
    assert job["type"] == "rematch" and job["status"] == "succeeded", job
    tags = {t["name"]: t for t in s.api("GET", f"/api/images/{img}").json()["data"]["tags"]}
    assert tags["2.0"]["lastScanId"] == re["id"]


def test_schedule_scans_runs_the_policy_now(env, server):
    s = server
    manual = s.api("POST", "/api/registries", json={"name": "manual-one", "provider": "DOCKER_REGISTRY",
                                                    "url": "http://127.0.0.1:9", "insecure": True, "schedule": "manual"})
    assert manual.status_code == 201, manual.text
    r = s.api("POST", "/api/registries/schedule-scans")
    assert r.status_code == 202, r.text
    d = r.json()["data"]
    assert d["registries"] == 2 and d["enqueued"] + d["skipped"] >= 1
    assert d["skipped"] >= 1  # the manual registry never runs by itself
    # Everything of the daily registry was synced and scanned moments ago: running it again enqueues nothing.
    again = s.api("POST", "/api/registries/schedule-scans").json()["data"]
    assert again["enqueued"] == 0
    s.api("DELETE", f"/api/registries/{manual.json()['data']['id']}")


def test_sbom_of_a_server_scan_passes_the_official_validators(env, server, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    s = server
    scan = wait_scan(s, submit(s, f"{env['reg'].host}/apps/web:1.0")["id"])
    cdx = s.api("GET", f"/api/scans/{scan['id']}/sbom")
    assert cdx.status_code == 200 and cdx.headers["Content-Type"].startswith("application/vnd.cyclonedx+json")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.text) is None
    doc = cdx.json()
    purls = {c.get("purl") for c in doc["components"]}
    assert "pkg:pypi/requests@2.19.0" in purls
    assert len([c for c in doc["components"] if c["type"] == "library"]) == scan["packageCount"]
    spdx = s.api("GET", f"/api/scans/{scan['id']}/sbom?format=spdx")
    assert spdx.status_code == 200
    path = tmp_path / "scan.spdx.json"
    path.write_text(spdx.text)
    assert validate_full_spdx_document(parse_file(str(path))) == []
    assert s.api("GET", f"/api/scans/{scan['id']}/sbom?format=xml").status_code == 400
    failed = s.api("GET", "/api/scans?status=failed").json()["data"][0]
    assert s.api("GET", f"/api/scans/{failed['id']}/sbom").status_code == 409
