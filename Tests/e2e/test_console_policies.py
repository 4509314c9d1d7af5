"""The console's Policies page, verdict badges and violations in headless Chromium on the real
binary and the real distribution registry: an admin creates a policy with two rules through the
form (after a refused field comes back marked), edits it, sees the fail badge on the image that
breaks it and the violations on the image page with links to the finding and the vulnerability,
sees the reports' policy sections, disables and deletes it; a viewer reads without write
controls and a viewer's POSTs are refused.

With HARBORGUARD_SCREENSHOTS=DIR it writes policies.png, policy-form.png, image-violations.png and
report-policies.png."""
import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Server, run, wait_job
from registry_harness import Registry
from test_console import (USERS, browser, browser_session, csrf_of, flash, go, shot, sign_in,  # noqa: F401  (browser is a fixture)
                          wait_replaced)
from test_scan_cli import dpkg, osv

CVE_TAR = "CVE-2099-0001"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-policies")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    for r in [
        osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1", aliases=[CVE_TAR],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)"),
        osv("PYSEC-2018-28", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests leaks Authorization on redirect"),
    ]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry()
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"
    reg.push("apps/web", "1.0", layers=[base, {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": meta}])
    reg.push("other/db", "2.0", layers=[{"etc/os-release": Path("/etc/os-release").read_bytes()}])
    data = tmp / "data"
    s = Server(data)
    run("db", "import", str(osv_dir), data_dir=data)
    for name, (role, pw) in USERS.items():
        run("admin", "create-user", "--username", name, "--role", role, "--bcrypt-cost", "4", data_dir=data,
            env={"HARBORGUARD_PASSWORD": pw})
    r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True,
                                               "schedule": "manual", "scanners": ["native"]})
    assert r.status_code == 201, r.text
    for ref in ("apps/web:1.0", "other/db:2.0"):
        q = s.api("POST", "/api/scans", json={"image": f"{reg.host}/{ref}"})
        assert q.status_code == 202, q.text
        assert wait_job(s, q.json()["data"]["jobId"])["status"] == "succeeded"
    images = {i["name"]: i for i in s.api("GET", "/api/images").json()["data"]}
    yield {"server": s, "reg": reg, "registryId": r.json()["data"]["id"], "images": images}
    s.stop()
    reg.stop()


def field_error(b, name):
    return b.find_element(By.CSS_SELECTOR, f"[data-error-for='{name}']").text


def scroll_to(b, element):
    b.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -60)", element)


def choose_rule(b, slot, rule_type):
    Select(b.find_element(By.ID, f"r{slot}-type")).select_by_value(rule_type)


def test_admin_creates_edits_sees_verdicts_and_deletes_a_policy(env, browser):
    b, s = browser, env["server"]
    base = s.base
    web = env["images"]["apps/web"]
    sign_in(b, base, "ada")
    go(b, b.find_element(By.LINK_TEXT, "Policies"))
    assert b.find_element(By.TAG_NAME, "h1").text == "Policies"
    assert "No policies yet." in b.find_element(By.TAG_NAME, "main").text
    # With no policy there is no verdict column yet.
    b.get(base + "/console/images")
    assert not b.find_elements(By.CSS_SELECTOR, "[data-verdict]")

    # Create: two rules, one of them with a percentile out of range.
    b.get(base + "/console/policies")
    go(b, b.find_element(By.LINK_TEXT, "New policy"))
    b.find_element(By.ID, "p-name").send_keys("ship gate")
    Select(b.find_element(By.ID, "p-action")).select_by_value("fail")
    choose_rule(b, 0, "severity")
    # The script shows only the chosen type's fields.
    assert b.find_element(By.ID, "r0-level").is_displayed() and not b.find_element(By.ID, "r0-pct").is_displayed()
    Select(b.find_element(By.ID, "r0-level")).select_by_value("CRITICAL")
    choose_rule(b, 1, "epss")
    b.find_element(By.ID, "r1-pct").send_keys("1.5")
    go(b, b.find_element(By.XPATH, "//button[text()='Create policy']"))
    assert "The policy was not saved" in flash(b), flash(b)
    # The API's message, on the field it is about, and what was typed is kept.
    assert field_error(b, "r1.percentile") == "Must be between 0.0 and 1.0."
    assert b.find_element(By.ID, "r1-pct").get_attribute("aria-invalid") == "true"
    assert b.find_element(By.ID, "p-name").get_attribute("value") == "ship gate"
    assert Select(b.find_element(By.ID, "r0-level")).first_selected_option.get_attribute("value") == "CRITICAL"
    assert s.api("GET", "/api/policies").json()["meta"]["total"] == 0
    scroll_to(b, b.find_element(By.ID, "r0-type"))
    shot(b, "policy-form")

    # The second rule becomes a denied package instead.
    choose_rule(b, 1, "package")
    b.find_element(By.ID, "r1-purl").send_keys("pkg:pypi/requests")
    b.find_element(By.ID, "r1-vers").send_keys("<2.20.0")
    go(b, b.find_element(By.XPATH, "//button[text()='Create policy']"))
    assert "Policy ship gate created." in flash(b), flash(b)
    policy = s.api("GET", "/api/policies").json()["data"][0]
    assert policy["rules"] == [{"type": "severity", "level": "CRITICAL", "fixableOnly": False},
                               {"type": "package", "purl": "pkg:pypi/requests", "versions": "<2.20.0"}], policy
    row = b.find_element(By.CSS_SELECTOR, "tr[data-policy='ship gate']")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:6] == ["yes", "fail", "whole organization", "2", "1 failing of 2"], cells

    # Edit: a new name and a repository scope; the other image leaves the policy's scope.
    go(b, row.find_element(By.LINK_TEXT, "ship gate"))
    assert [li.text for li in b.find_elements(By.CSS_SELECTOR, "ol.rules li")] == [
        "severity: a finding at or above CRITICAL", "package: package pkg:pypi/requests <2.20.0"]
    name = b.find_element(By.ID, "p-name")
    name.clear()
    name.send_keys("ship gate v2")
    b.find_element(By.ID, "p-repos").send_keys("apps/*")
    Select(b.find_element(By.ID, "p-regs")).select_by_value(env["registryId"])
    go(b, b.find_element(By.XPATH, "//button[text()='Save policy']"))
    assert "Policy ship gate v2 saved." in flash(b), flash(b)
    saved = s.api("GET", f"/api/policies/{policy['id']}").json()["data"]
    assert saved["scope"] == {"registryIds": [env["registryId"]], "repositories": ["apps/*"], "tags": []}, saved
    assert "registries local; repositories apps/*" in b.find_element(By.CSS_SELECTOR, "dl.facts").text
    b.get(base + "/console/policies")
    shot(b, "policies")
    row = b.find_element(By.CSS_SELECTOR, "tr[data-policy='ship gate v2']")
    assert "1 failing of 1" in row.text, row.text

    # Badges: the violating image fails, the one out of scope has none.
    b.get(base + "/console/images")
    badges = {tr.find_element(By.TAG_NAME, "a").text: tr.find_element(By.CSS_SELECTOR, "[data-verdict]").text
              for tr in b.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert badges == {web["fullName"]: "fail", env["images"]["other/db"]["fullName"]: "none"}, badges

    # The image page: its badge and the violations, linked to the finding and the vulnerability.
    go(b, b.find_element(By.LINK_TEXT, web["fullName"]))
    assert b.find_element(By.CSS_SELECTOR, "[data-image-verdict]").text == "fail"
    assert b.find_element(By.CSS_SELECTOR, "[data-verdict]").text == "fail"
    rows = b.find_elements(By.CSS_SELECTOR, "table.violations tbody tr")
    text = [r.text for r in rows]
    assert len(rows) == 2, text
    assert any("ship gate v2" in t and CVE_TAR in t and "CRITICAL finding at or above CRITICAL" in t for t in text), text
    assert any("requests@2.19.0" in t and "denied package pkg:pypi/requests <2.20.0" in t for t in text), text
    scroll_to(b, b.find_element(By.ID, "policy"))
    shot(b, "image-violations")
    finding = rows[0].find_element(By.XPATH, ".//a[contains(@href, '#finding-')]")
    target = finding.get_attribute("href").split("#", 1)[1]
    go(b, finding)
    assert b.find_element(By.ID, target).find_element(By.XPATH, "./td[2]").text.startswith(CVE_TAR)
    b.back()
    WebDriverWait(b, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.violations"))
    go(b, b.find_element(By.CSS_SELECTOR, "table.violations").find_element(By.LINK_TEXT, CVE_TAR))
    assert "cveId=" + CVE_TAR in b.current_url and CVE_TAR in b.find_element(By.TAG_NAME, "main").text

    # The reports: per policy images passing / warning / failing; the image's verdict and violations.
    b.get(base + "/console/reports/posture")
    section = b.find_element(By.XPATH, "//section[h2='Policies']")
    cells = [td.text for td in section.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert cells == ["ship gate v2", "fail", "yes", "2", "0", "0", "1"], cells
    scroll_to(b, section)
    shot(b, "report-policies")
    b.get(base + f"/console/reports/images/{web['id']}")
    section = b.find_element(By.XPATH, "//section[h2='Policy verdict']")
    assert "fail" in section.text and CVE_TAR in section.text and "requests@2.19.0" in section.text
    b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert section.is_displayed() and not b.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
    b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # Disable from the list: the image is no longer judged.
    b.get(base + "/console/policies")
    go(b, b.find_element(By.CSS_SELECTOR, "button[aria-label='Disable ship gate v2']"))
    assert "Policy ship gate v2 disabled." in flash(b), flash(b)
    assert "disabled" in b.find_element(By.CSS_SELECTOR, "tr[data-policy='ship gate v2']").text
    assert s.api("GET", f"/api/images/{web['id']}").json()["data"]["policy"]["verdict"] == "pass"

    # Delete, after the confirmation.
    old = b.find_element(By.TAG_NAME, "html")
    b.find_element(By.CSS_SELECTOR, "button[aria-label='Delete ship gate v2']").click()
    WebDriverWait(b, 10).until(EC.alert_is_present())
    assert "Delete the policy ship gate v2?" in b.switch_to.alert.text
    b.switch_to.alert.accept()
    wait_replaced(b, old)
    assert "Policy ship gate v2 deleted." in flash(b), flash(b)
    assert s.api("GET", "/api/policies").json()["meta"]["total"] == 0
    actions = [e["action"] for e in s.api("GET", "/api/audit-log?limit=50").json()["data"]]
    for a in ("policy.create", "policy.update", "policy.delete"):
        assert a in actions, actions


def test_viewer_reads_policies_without_write_controls_and_is_refused_writes(env, browser):
    b, s = browser, env["server"]
    base = s.base
    made = s.api("POST", "/api/policies", json={"name": "read me", "action": "warn",
                                                "rules": [{"type": "count", "severity": "LOW", "max": 0}]})
    assert made.status_code == 201, made.text
    pid = made.json()["data"]["id"]
    try:
        sign_in(b, base, "vic")
        b.get(base + "/console/policies")
        row = b.find_element(By.CSS_SELECTOR, "tr[data-policy='read me']")
        assert "warn" in row.text and "warning of" in row.text
        assert not b.find_elements(By.LINK_TEXT, "New policy")
        assert not row.find_elements(By.TAG_NAME, "button") and not b.find_elements(By.CSS_SELECTOR, "main form")
        go(b, row.find_element(By.LINK_TEXT, "read me"))
        assert "more than 0 findings at or above LOW" in b.find_element(By.CSS_SELECTOR, "ol.rules").text
        assert not b.find_elements(By.ID, "p-name") and not b.find_elements(By.CSS_SELECTOR, "main form")
        # A warn policy: the image with findings warns, the one without passes.
        b.get(base + "/console/images")
        assert sorted(e.text for e in b.find_elements(By.CSS_SELECTOR, "[data-verdict]")) == ["pass", "warn"]
        b.get(base + "/console/policies/new")
        assert "does not allow" in b.find_element(By.TAG_NAME, "main").text

        # Posted by hand with the viewer's own CSRF token: refused, nothing changes.
        session = browser_session(b)
        token = csrf_of(session.get(base + "/console/images").text)
        for path, data in [("/console/policies", {"name": "v-made", "action": "fail", "r0.type": "kev"}),
                           (f"/console/policies/{pid}", {"name": "renamed", "action": "fail", "r0.type": "kev"}),
                           (f"/console/policies/{pid}/enabled", {"enabled": "false"}),
                           (f"/console/policies/{pid}/delete", {})]:
            r = session.post(base + path, data={"_csrf": token, **data}, allow_redirects=False)
            assert r.status_code == 403 and "does not allow" in r.text, (path, r.status_code, r.text[:300])
        after = s.api("GET", "/api/policies").json()["data"]
        assert [(p["name"], p["enabled"]) for p in after] == [("read me", True)]
        # Without the token a post is refused before any role check.
        assert session.post(base + f"/console/policies/{pid}/delete", data={}, allow_redirects=False).status_code == 403
    finally:
        s.api("DELETE", f"/api/policies/{pid}")
