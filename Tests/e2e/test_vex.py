"""VEX in and out on the real binary and the real distribution registry: an image is pushed and
scanned by the server; documents made here (OpenVEX 0.2.0 and CycloneDX 1.6) are imported and
except its findings (counts drop, triage shows NOT_AFFECTED with the document and author);
exports validate against the OpenVEX JSON schema (the spec's file, in schemas/) and with
cyclonedx-python-lib's strict 1.6 validator, and import back to the same decisions; bad
documents answer 400 (413 over the size limit) with nothing applied; `harborguard scan --vex`
leaves excepted findings out of a local scan and of its exit code."""
import copy
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from conftest import BIN, Server, run, wait_job
from test_console import browser  # noqa: F401  (a fixture)
from registry_harness import Registry
from test_scan_cli import dpkg, osv

CVE_TAR = "CVE-2099-7001"
CVE_PY = "CVE-2099-7002"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "openvex_json_schema.json").read_text())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vex")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    for r in [osv("DEBIAN-CVE-2099-7001", "Debian:12", tar_source, tar_version + "+hg1", aliases=[CVE_TAR],
                  severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar flaw (test)"),
              osv("PYSEC-2099-7002", "PyPI", "requests", "2.20.0", aliases=[CVE_PY],
                  severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests flaw (test)")]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry()
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"
    digest = reg.push("apps/web", "1.0", layers=[base, {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": meta}])
    data = tmp / "data"
    s = Server(data)
    run("db", "import", str(osv_dir), data_dir=data)
    r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                "insecure": True, "schedule": "manual", "scanners": ["native"]})
    assert r.status_code == 201, r.text
    r = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"})
    assert r.status_code == 202, r.text
    assert wait_job(s, r.json()["data"]["jobId"])["status"] == "succeeded"
    image = next(i for i in s.api("GET", "/api/images").json()["data"] if i["name"] == "apps/web")
    yield {"server": s, "reg": reg, "tmp": tmp, "data": data, "digest": digest, "image": image,
           "product": f"pkg:oci/web@{digest.replace(':', '%3A')}?repository_url={reg.host}/apps/web"}
    s.stop()
    reg.stop()


def openvex(statements, doc_id="https://vex.test/docs/1", author="Security Team <sec@vex.test>"):
    return {"@context": "https://openvex.dev/ns/v0.2.0", "@id": doc_id, "author": author,
            "timestamp": "2026-12-01T00:00:00Z", "version": 1, "statements": statements}


def triage_of(s, image_id):
    rows = s.api("GET", f"/api/vulnerabilities?imageId={image_id}&limit=100").json()["data"]
    return {r["vulnerabilityId"]: r for r in rows}


def counts(s, image_id):
    v = s.api("GET", f"/api/images/{image_id}").json()["data"]["vulnerabilities"]
    return v["critical"] + v["high"] + v["medium"] + v["low"] + v["unknown"]


def decisions(s, image_id):
    return {k: (r["triage"] or {}).get("status") and (r["triage"]["status"], r["triage"]["justification"], r["triage"]["note"])
            for k, r in triage_of(s, image_id).items()}


def test_import_excepts_findings_and_export_validates_and_round_trips(env):
    s, image = env["server"], env["image"]
    assert set(triage_of(s, image["id"])) >= {CVE_TAR, CVE_PY}
    before = counts(s, image["id"])
    assert before == 2
    doc = openvex([
        {"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}], "status": "not_affected",
         "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": CVE_PY}, "products": [{"@id": f"pkg:oci/web?repository_url={env['reg'].host}/apps/web",
                                                          "subcomponents": [{"@id": "pkg:pypi/requests"}]}],
         "status": "affected", "action_statement": "Upgrade requests to 2.20.0"},
        {"vulnerability": {"name": CVE_TAR}, "products": [{"@id": "pkg:oci/other?repository_url=elsewhere.test/team/other"}],
         "status": "fixed"},
    ])
    r = s.api("POST", "/api/vex", json=doc)
    assert r.status_code == 200, r.text
    out = r.json()["data"]
    assert out["format"] == "openvex" and out["statements"] == 3 and out["applied"] == 2 and out["decisions"] == 2
    assert out["productsMatched"] == 1 and out["document"] == "https://vex.test/docs/1"
    assert out["unmatched"] == [{"path": "/statements/2", "vulnerability": CVE_TAR,
                                 "products": ["pkg:oci/other?repository_url=elsewhere.test/team/other"]}]
    rows = triage_of(s, image["id"])
    tar = rows[CVE_TAR]
    assert tar["status"] == "NOT_AFFECTED"
    assert tar["triage"]["justification"] == "vulnerable_code_not_in_execute_path" and tar["triage"]["scope"] == "image"
    assert tar["triage"]["source"] == {"document": "https://vex.test/docs/1", "author": "Security Team <sec@vex.test>"}
    py = rows[CVE_PY]
    assert py["status"] == "OPEN" and py["triage"]["note"] == "Upgrade requests to 2.20.0"
    assert py["triage"]["subcomponents"] == ["pkg:pypi/requests"]
    # The NOT_AFFECTED finding is an exception: out of the image's counts, the scan's and the fix groups.
    assert counts(s, image["id"]) == before - 1
    scan = s.api("GET", "/api/scans?status=completed&limit=1").json()["data"][0]
    c = scan["counts"]
    assert c["critical"] + c["high"] + c["medium"] + c["low"] + c["unknown"] == before - 1, scan
    assert c["critical"] == 0  # tar's CRITICAL finding is the excepted one
    fixes = s.api("GET", f"/api/images/{image['id']}/fixes").json()["data"]
    assert all(CVE_TAR not in g["vulnerabilityIds"] for g in fixes), fixes

    # Export: OpenVEX validates against the spec's schema; CycloneDX with the strict 1.6 validator.
    ov = s.api("GET", f"/api/images/{image['id']}/vex?format=openvex")
    assert ov.status_code == 200, ov.text
    exported = ov.json()
    jsonschema.validate(exported, SCHEMA, cls=jsonschema.Draft202012Validator, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    by_vuln = {st["vulnerability"]["name"]: st for st in exported["statements"]}
    assert by_vuln[CVE_TAR]["status"] == "not_affected" and by_vuln[CVE_TAR]["justification"] == "vulnerable_code_not_in_execute_path"
    assert by_vuln[CVE_PY]["status"] == "affected" and by_vuln[CVE_PY]["action_statement"] == "Upgrade requests to 2.20.0"
    assert by_vuln[CVE_TAR]["products"][0]["@id"] == env["product"]
    cdx = s.api("GET", f"/api/images/{image['id']}/vex?format=cyclonedx")
    assert cdx.status_code == 200 and "cyclonedx" in cdx.headers["content-type"], cdx.text
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.text)
    assert error is None, error
    states = {v["id"]: v["analysis"]["state"] for v in cdx.json()["vulnerabilities"]}
    assert states == {CVE_TAR: "not_affected", CVE_PY: "exploitable"}
    bad_format = s.api("GET", f"/api/images/{image['id']}/vex?format=spdx")
    assert bad_format.status_code == 400 and bad_format.json()["error"]["issues"][0]["path"] == "format"

    # Round trip: importing either export gives the same decisions.
    want = decisions(s, image["id"])
    for document in (exported, cdx.json()):
        r = s.api("POST", "/api/vex", json=document)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["applied"] == 2 and r.json()["data"]["unmatched"] == []
        assert decisions(s, image["id"]) == want
        assert triage_of(s, image["id"])[CVE_PY]["triage"]["subcomponents"] == ["pkg:pypi/requests"]
    assert triage_of(s, image["id"])[CVE_TAR]["triage"]["source"]["author"] == "harborguard"


def test_cyclonedx_states_map_onto_triage(env):
    s, image = env["server"], env["image"]
    base = {"bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "version": 1, "metadata": {"authors": [{"name": "cdx author"}],
                                       "component": {"type": "container", "name": "web", "bom-ref": "img", "purl": env["product"]}}}
    for state, want in [("false_positive", "NOT_AFFECTED"), ("resolved_with_pedigree", "FIXED"), ("in_triage", "IN_PROGRESS"),
                        ("resolved", "FIXED"), ("exploitable", "OPEN"), ("not_affected", "NOT_AFFECTED")]:
        doc = dict(base, vulnerabilities=[{"id": CVE_TAR, "analysis": {"state": state, "justification": "code_not_reachable",
                                                                        "detail": f"state {state}"},
                                           "affects": [{"ref": "img"}]}])
        r = s.api("POST", "/api/vex", json=doc)
        assert r.status_code == 200, r.text
        t = triage_of(s, image["id"])[CVE_TAR]
        assert t["status"] == want, (state, t)
        assert t["triage"]["source"] == {"document": base["serialNumber"], "author": "cdx author"}
    assert t["triage"]["justification"] == "vulnerable_code_not_in_execute_path" and t["triage"]["note"] == "state not_affected"


def test_bad_documents_are_refused_with_nothing_applied(env):
    s, image = env["server"], env["image"]
    # A known state first, so that an applied statement would show.
    ok = openvex([{"vulnerability": {"name": CVE_PY}, "products": [{"@id": env["product"]}], "status": "under_investigation"}])
    assert s.api("POST", "/api/vex", json=ok).status_code == 200
    state = decisions(s, image["id"])
    assert state[CVE_PY][0] == "IN_PROGRESS"
    good = {"vulnerability": {"name": CVE_PY}, "products": [{"@id": env["product"]}], "status": "fixed"}

    def refused(body, status=400, raw=None):
        r = s.api("POST", "/api/vex", data=raw, headers={"Content-Type": "application/json"}) if raw is not None \
            else s.api("POST", "/api/vex", json=body)
        assert r.status_code == status, r.text[:500]
        assert decisions(s, image["id"]) == state
        return r.json()["error"]

    unknown = openvex([good])
    unknown["@context"] = "https://openvex.dev/ns/v0.9.0"
    e = refused(unknown)
    assert e["code"] == "VALIDATION_ERROR" and e["issues"][0]["path"] == "/@context" and "version" in e["issues"][0]["message"]
    e = refused({"bomFormat": "CycloneDX", "specVersion": "1.1", "vulnerabilities": []})
    assert e["issues"][0]["path"] == "/specVersion"
    # A valid statement beside two bad ones: every problem reported, none applied.
    e = refused(openvex([good,
                         {"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}], "status": "not_affected"},
                         {"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}], "status": "affected"}]))
    paths = {i["path"] for i in e["issues"]}
    assert paths == {"/statements/1/justification", "/statements/2/action_statement"}, e
    e = refused(openvex([dict(good, status="exploitable", justification="because")]))
    assert {i["path"] for i in e["issues"]} == {"/statements/0/status", "/statements/0/justification"}
    nested = openvex([good])
    deep = {}
    cur = deep
    for _ in range(100):
        cur["x"] = {}
        cur = cur["x"]
    nested["statements"][0] = dict(good, status_notes="n")
    nested["tooling"] = deep
    e = refused(nested)
    assert "deep" in e["issues"][0]["message"]
    refused(None, raw="[" * 5000 + "]" * 5000)
    e = refused({"hello": "world"})
    assert "OpenVEX" in e["issues"][0]["message"]
    big = openvex([dict(good, status_notes="x" * (1 << 20))])
    refused(big, status=413)


def test_manual_not_affected_needs_a_justification_or_a_note(env):
    s, image = env["server"], env["image"]
    r = s.api("PUT", f"/api/vulnerabilities/{CVE_TAR}/triage", json={"status": "NOT_AFFECTED", "scope": "image", "imageId": image["id"]})
    assert r.status_code == 400 and r.json()["error"]["issues"][0]["path"] == "justification", r.text
    r = s.api("PUT", f"/api/vulnerabilities/{CVE_TAR}/triage",
              json={"status": "NOT_AFFECTED", "justification": "component_not_present", "scope": "image", "imageId": image["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["justification"] == "component_not_present" and r.json()["data"]["source"] is None
    r = s.api("PUT", f"/api/vulnerabilities/{CVE_TAR}/triage", json={"status": "OPEN", "justification": "component_not_present"})
    assert r.status_code == 400
    listed = s.api("GET", f"/api/vulnerabilities?status=NOT_AFFECTED&imageId={image['id']}").json()["data"]
    assert [v["vulnerabilityId"] for v in listed] == [CVE_TAR]


def test_scan_vex_suppresses_findings_locally(env):
    tmp, reg = env["tmp"], env["reg"]

    def scan(*args):
        return subprocess.run([BIN, "scan", f"{reg.host}/apps/web:1.0", "--insecure", "--data-dir", str(env["data"]), *args],
                              capture_output=True, text=True, timeout=300)

    plain = scan("--format", "json", "--exit-code", "3")
    assert plain.returncode == 3, plain.stderr
    assert {f["vulnerabilityId"] for f in json.loads(plain.stdout)["findings"]} == {CVE_TAR, CVE_PY}
    assert "vexSuppressed" not in json.loads(plain.stdout)
    one = tmp / "one.openvex.json"
    one.write_text(json.dumps(openvex([
        {"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}], "status": "not_affected",
         "justification": "component_not_present"},
        # Another image's statement does not touch this one.
        {"vulnerability": {"name": CVE_PY}, "products": [{"@id": "pkg:oci/other?repository_url=elsewhere.test/other"}], "status": "fixed"},
    ])))
    r = scan("--format", "json", "--exit-code", "3", "--vex", str(one))
    assert r.returncode == 3, r.stderr
    report = json.loads(r.stdout)
    assert [f["vulnerabilityId"] for f in report["findings"]] == [CVE_PY] and report["vexSuppressed"] == 1
    # A second document (CycloneDX, the package named by purl) excepts the other: nothing left, exit 0.
    two = tmp / "two.cdx.json"
    two.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                               "components": [{"type": "library", "name": "requests", "bom-ref": "req", "purl": "pkg:pypi/requests@2.19.0"}],
                               "vulnerabilities": [{"id": CVE_PY, "analysis": {"state": "resolved"}, "affects": [{"ref": "req"}]}]}))
    r = scan("--exit-code", "3", "--vex", str(one), "--vex", str(two))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VEX: 2 findings suppressed" in r.stdout, r.stdout
    # A bad document is a usage error naming the problem.
    bad = tmp / "bad.json"
    bad.write_text(json.dumps(openvex([{"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}], "status": "not_affected"}])))
    r = scan("--vex", str(bad))
    assert r.returncode == 64 and "/statements/0/justification" in r.stderr, r.stderr


def test_the_console_imports_a_vex_file(env, tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_console import sign_in, USERS
    s = env["server"]
    run("admin", "create-user", "--username", "ada", "--role", "admin", "--bcrypt-cost", "4", data_dir=env["data"],
        env={"HARBORGUARD_PASSWORD": USERS["ada"][1]}, check=False)
    doc = tmp_path / "supplier.openvex.json"
    doc.write_text(json.dumps(openvex([{"vulnerability": {"name": CVE_TAR}, "products": [{"@id": env["product"]}],
                                         "status": "under_investigation"}],
                                       doc_id="https://vex.test/docs/console", author="Console Test <ct@vex.test>")))
    sign_in(browser, s.base, "ada")
    browser.get(s.base + "/console/vulnerabilities")
    browser.find_element(By.CSS_SELECTOR, "details.vex summary").click()
    browser.find_element(By.ID, "vex-file").send_keys(str(doc))
    # The script puts the file's text into the document field.
    WebDriverWait(browser, 5).until(lambda b: "under_investigation" in b.find_element(By.ID, "vex-doc").get_property("value"))
    browser.find_element(By.CSS_SELECTOR, "details.vex button[type=submit]").click()
    # The form posts and the server redirects back with a notice: wait for the new page.
    flash = WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".flash"))[0].text
    assert "VEX imported (openvex): 1 of 1 statements applied" in flash, flash
    t = triage_of(s, env["image"]["id"])[CVE_TAR]["triage"]
    assert t["status"] == "IN_PROGRESS" and t["source"]["author"] == "Console Test <ct@vex.test>", t
    # A broken document comes back as an error notice, nothing applied.
    browser.get(s.base + "/console/vulnerabilities")
    browser.find_element(By.CSS_SELECTOR, "details.vex summary").click()
    browser.find_element(By.ID, "vex-doc").send_keys('{"@context": "https://openvex.dev/ns/v0.9.0", "statements": []}')
    browser.find_element(By.CSS_SELECTOR, "details.vex button[type=submit]").click()
    notice = WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".flash"))[0]
    assert "error" in notice.get_attribute("class"), notice.text
    assert triage_of(s, env["image"]["id"])[CVE_TAR]["triage"]["status"] == "IN_PROGRESS"
