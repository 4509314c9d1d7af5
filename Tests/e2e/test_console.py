"""The web console in headless Chromium (selenium + Debian's chromium-driver) on the real
binary and the real distribution registry: sign in, add a registry, test it, sync, scan,
triage a finding, sign out; CSRF refusals, a viewer's limits, escaping of user data.

With HARBORGUARD_SCREENSHOTS=DIR the flow also writes a PNG of each page into DIR
(`make screenshots`)."""
import json
import os
import re
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Server, run
from registry_harness import Registry
from test_scan_cli import dpkg, osv

PASSWORD = "console-registry-pass-1"
USERS = {"ada": ("admin", "ada-password-123"), "vic": ("viewer", "vic-password-123")}
SHOTS = os.environ.get("HARBORGUARD_SCREENSHOTS")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    for r in [
        osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1", aliases=["CVE-2099-0001"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)"),
        osv("PYSEC-2018-28", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074"],
            severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", summary="requests leaks Authorization on redirect"),
    ]:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    reg = Registry(user="ci", password=PASSWORD)
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n"
    reg.push("apps/web", "1.0", layers=[base, {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": meta}])
    data = tmp / "data"
    s = Server(data)
    assert "2 records" in run("db", "import", str(osv_dir), data_dir=data).stdout
    for name, (role, pw) in USERS.items():
        run("admin", "create-user", "--username", name, "--role", role, "--bcrypt-cost", "4", data_dir=data,
            env={"HARBORGUARD_PASSWORD": pw})
    yield {"server": s, "reg": reg}
    s.stop()
    reg.stop()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
              "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.implicitly_wait(0)
    yield d
    d.quit()


def shot(b, name, width=1280):
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    b.set_window_size(width, 800)
    b.save_screenshot(str(Path(SHOTS) / f"{name}.png"))
    b.set_window_size(1280, 800)


def sign_in(b, base, user):
    b.delete_all_cookies()
    b.get(base + "/console")
    assert "/console/sign-in" in b.current_url
    # By keyboard alone: the username field has focus, Tab moves to the password, Enter submits.
    assert b.switch_to.active_element.get_attribute("id") == "username"
    b.switch_to.active_element.send_keys(user + Keys.TAB)
    assert b.switch_to.active_element.get_attribute("id") == "password"
    old = b.find_element(By.TAG_NAME, "html")
    b.switch_to.active_element.send_keys(USERS[user][1] + Keys.ENTER)
    wait_replaced(b, old)
    assert b.find_element(By.TAG_NAME, "h1").text == "Overview", b.page_source[:2000]


def wait_replaced(b, old):
    """Waits until the page that held `old` is gone and the new one has loaded. While a page
    is being replaced, Chromium may answer a look at the old element with "Node with given
    id does not belong to the document" rather than a stale-element error: that is gone too."""
    def gone(_):
        try:
            old.tag_name
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    WebDriverWait(b, 30).until(gone)
    WebDriverWait(b, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def go(b, element):
    """Clicks a button or link that loads a new page, and waits until the old page is gone."""
    old = b.find_element(By.TAG_NAME, "html")
    element.click()
    wait_replaced(b, old)


def flash(b):
    return b.find_element(By.CSS_SELECTOR, ".flash").text


def wait_for(pred, timeout=90, what=""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def session_for(base, user):
    s = requests.Session()
    r = s.post(base + "/api/auth/sign-in", json={"username": user, "password": USERS[user][1]})
    assert r.status_code == 200, r.text
    return s


@pytest.fixture(scope="module")
def ada(env):
    """One signed-in admin session for the request-level tests (sign-in allows 5 a minute per address)."""
    return session_for(env["server"].base, "ada")


def browser_session(b):
    s = requests.Session()
    for c in b.get_cookies():
        s.cookies.set(c["name"], c["value"])
    return s


def csrf_of(html):
    m = re.search(r'name="_csrf" value="([0-9a-f]+)"', html)
    assert m, html[:500]
    return m.group(1)


def test_sign_in_add_registry_sync_scan_triage_sign_out(env, browser):
    b, base, reg = browser, env["server"].base, env["reg"]
    sign_in(b, base, "ada")

    # A refused form comes back with the API's reason and what was typed, but not the password.
    b.get(base + "/console/registries")
    b.find_element(By.ID, "f-name").send_keys("typo")
    b.find_element(By.ID, "f-url").send_keys("ftp://127.0.0.1/")
    Select(b.find_element(By.ID, "f-kind")).select_by_value("UsernamePassword")
    b.find_element(By.ID, "c-UsernamePassword-password").send_keys("not-echoed-back")
    go(b, b.find_element(By.CSS_SELECTOR, "form[action='/console/registries'] button.primary"))
    assert "url:" in flash(b), flash(b)
    assert b.find_element(By.ID, "f-name").get_attribute("value") == "typo"
    assert b.find_element(By.ID, "f-url").get_attribute("value") == "ftp://127.0.0.1/"
    assert "not-echoed-back" not in b.page_source
    assert not b.find_elements(By.XPATH, "//a[text()='typo']")

    # Add the test registry with its htpasswd credentials through the form.
    b.get(base + "/console/registries")
    b.find_element(By.ID, "f-name").send_keys("local")
    Select(b.find_element(By.ID, "f-provider")).select_by_value("DOCKER_REGISTRY")
    b.find_element(By.ID, "f-url").send_keys(reg.url)
    b.find_element(By.ID, "f-insecure").click()
    Select(b.find_element(By.ID, "f-schedule")).select_by_value("manual")
    Select(b.find_element(By.ID, "f-kind")).select_by_value("UsernamePassword")
    # The script shows only the chosen credential type's fields, and only types the provider accepts.
    assert b.find_element(By.ID, "c-UsernamePassword-username").is_displayed()
    assert not b.find_element(By.ID, "c-AwsEcr-accessKeyId").is_displayed()
    assert not b.find_element(By.CSS_SELECTOR, "#f-kind option[value=AwsEcr]").is_enabled()
    b.find_element(By.ID, "c-UsernamePassword-username").send_keys("ci")
    b.find_element(By.ID, "c-UsernamePassword-password").send_keys(PASSWORD)
    go(b, b.find_element(By.CSS_SELECTOR, "form[action='/console/registries'] button.primary"))
    assert "Registry local added." in flash(b), flash(b)
    row = b.find_element(By.XPATH, "//tr[td/a[text()='local']]")
    # (A sync may already be under way if the scheduler ticked in between.)
    assert "DOCKER_REGISTRY" in row.text and re.search(r"\b(unknown|syncing|healthy)\b", row.text), row.text

    # Test connection: the saved credentials reach the registry.
    go(b, row.find_element(By.XPATH, ".//button[text()='Test connection']"))
    assert re.search(r"Connection test: ok in \d+ ms", flash(b)), flash(b)
    assert "apps/web" in flash(b)

    # Sync, then the image appears with its tag.
    go(b, b.find_element(By.XPATH, "//tr[td/a[text()='local']]//button[text()='Sync']"))
    assert "Sync queued" in flash(b) or "Sync running" in flash(b), flash(b)

    def image_listed():
        b.get(base + "/console/images")
        links = b.find_elements(By.XPATH, "//a[contains(text(), 'apps/web')]")
        return links[0].get_attribute("href") if links else None
    image_url = wait_for(image_listed, what="the synced image")
    b.get(image_url)
    assert b.find_element(By.TAG_NAME, "h1").text.endswith("apps/web")

    # Scan the tag from the image page, watch the scans page until it is done.
    go(b, b.find_element(By.CSS_SELECTOR, "button[aria-label='Scan 1.0']"))
    assert "Scan of" in flash(b) and "queued" in flash(b), flash(b)
    assert b.current_url.startswith(image_url)
    b.get(base + "/console/scans")
    if SHOTS and b.find_elements(By.CSS_SELECTOR, "tr[data-scan-id]"):
        shot(b, "scans-live")
    # The page's script polls the status API and reloads once every active scan finished.
    wait_for(lambda: not b.find_elements(By.CSS_SELECTOR, "tr[data-scan-id]")
             and b.find_elements(By.CSS_SELECTOR, ".badge.st-completed"), what="the scan to complete")
    history = b.find_element(By.XPATH, "//section[h2='History']").text
    assert "apps/web:1.0" in history and "completed" in history

    # The image page shows the scan: findings, layers, packages, SBOM.
    b.get(image_url)
    text = b.find_element(By.TAG_NAME, "main").text
    assert "CVE-2099-0001" in text and "CVE-2018-18074" in text, text[:3000]
    assert "Layers" in text and "debian" in text
    layer_rows = b.find_elements(By.XPATH, "//h3[text()='Layers']/following-sibling::div[1]//tbody/tr")
    assert len(layer_rows) == 2
    sev = Select(b.find_element(By.ID, "fs"))
    sev.select_by_value("critical")
    go(b, b.find_element(By.XPATH, "//form[contains(@class,'filters')]//button[text()='Filter']"))
    findings = b.find_element(By.XPATH, "//h3[@id='findings']/following-sibling::div[1]").text
    assert "CVE-2099-0001" in findings and "CVE-2018-18074" not in findings
    sbom = b.find_element(By.LINK_TEXT, "CycloneDX").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in b.get_cookies()}
    doc = requests.get(sbom, cookies=cookies, timeout=30).json()
    assert doc["bomFormat"] == "CycloneDX" and any(c["name"] == "requests" for c in doc["components"])
    b.get(image_url)
    shot(b, "image")

    # Triage the critical finding as won't fix with a note and an expiry.
    b.get(base + "/console/vulnerabilities?cveId=CVE-2099-0001")
    row = b.find_element(By.XPATH, "//tr[td[contains(., 'CVE-2099-0001')]]")
    row.find_element(By.TAG_NAME, "summary").click()
    Select(row.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value("WONT_FIX")
    row.find_element(By.CSS_SELECTOR, "textarea[name=note]").send_keys("Test image only; never deployed.")
    expiry = (date.today() + timedelta(days=30)).isoformat()
    b.execute_script("arguments[0].value = arguments[1]", row.find_element(By.CSS_SELECTOR, "input[name=expiresAt]"), expiry)
    go(b, row.find_element(By.XPATH, ".//button[text()='Save triage']"))
    assert "Triage saved: WONT_FIX." in flash(b), flash(b)
    assert "cveId=CVE-2099-0001" in b.current_url
    row = b.find_element(By.XPATH, "//tr[td[contains(., 'CVE-2099-0001')]]")
    assert "WONT_FIX" in row.text and "Test image only; never deployed." in row.text and expiry in row.text
    # Suppressed: the image's critical count and risk drop (the API agrees).
    imgs = env["server"].api("GET", "/api/images").json()["data"]
    assert imgs[0]["vulnerabilities"]["critical"] == 0 and imgs[0]["vulnerabilities"]["high"] == 1, imgs[0]

    for name, path in [("overview", "/console"), ("registries", "/console/registries"), ("images", "/console/images"),
                       ("vulnerabilities", "/console/vulnerabilities"), ("scans", "/console/scans"),
                       ("settings", "/console/settings")]:
        b.get(base + path)
        assert b.find_element(By.TAG_NAME, "h1").text
        shot(b, name)
    b.get(base + "/console/registries")
    go(b, b.find_element(By.LINK_TEXT, "local"))
    facts = b.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "healthy" in facts and "DOCKER_REGISTRY" in facts, facts
    assert b.find_element(By.ID, "f-name").get_attribute("value") == "local"
    assert b.find_element(By.ID, "f-insecure").is_selected()
    # The edit form says, next to the URL and Insecure fields, that changing them clears the
    # saved credentials unless new ones are entered (issue 13, item 4).
    note = b.find_element(By.ID, "f-cred-note")
    assert note.is_displayed() and "clears the saved credentials" in note.text, note.text
    assert "f-cred-note" in b.find_element(By.ID, "f-url").get_attribute("aria-describedby")
    shot(b, "registry")
    Select(b.find_element(By.ID, "f-schedule")).select_by_value("weekly")
    go(b, b.find_element(By.XPATH, "//button[text()='Save']"))
    assert "Registry saved." in flash(b) and "cleared" not in flash(b), flash(b)
    saved = [x for x in env["server"].api("GET", "/api/registries").json()["data"] if x["name"] == "local"][0]
    assert saved["scanning"]["schedule"] == "weekly" and saved["insecure"] is True and saved["hasCredentials"] is True, saved
    # A new URL without new credentials: saved, and the flash says the credentials were cleared.
    url_field = b.find_element(By.ID, "f-url")
    url_field.clear()
    url_field.send_keys(reg.url.replace("127.0.0.1", "localhost"))
    go(b, b.find_element(By.XPATH, "//button[text()='Save']"))
    assert "saved credentials were cleared" in flash(b), flash(b)
    assert not b.find_elements(By.ID, "f-cred-note")  # nothing left to clear
    moved = env["server"].api("GET", f"/api/registries/{saved['id']}").json()["data"]
    assert moved["hasCredentials"] is False, moved
    # Back to the registry with its credentials, through the API.
    back = env["server"].api("PUT", f"/api/registries/{saved['id']}", json={
        "url": reg.url, "credentials": {"username": "ci", "password": PASSWORD}})
    assert back.status_code == 200 and back.json()["data"]["hasCredentials"] is True, back.text
    b.get(base + "/console")
    tiles = b.find_element(By.CSS_SELECTOR, "ul.tiles").text
    assert re.search(r"1\s+High", tiles), tiles
    assert b.find_elements(By.CSS_SELECTOR, "svg.chart polyline")
    shot(b, "overview-phone", width=390)
    audit = None
    b.get(base + "/console/settings")
    audit = b.find_element(By.XPATH, "//section[h2='Audit log']").text
    assert "auth.sign_in" in audit and "user:ada" in audit

    # Sign out: back to the sign-in page, and the old session no longer works.
    old = {c["name"]: c["value"] for c in b.get_cookies()}
    go(b, b.find_element(By.XPATH, "//button[text()='Sign out']"))
    assert "/console/sign-in" in b.current_url and "You are signed out." in flash(b)
    shot(b, "sign-in")
    assert requests.get(base + "/api/registries", cookies=old, timeout=10).status_code == 401
    b.get(base + "/console/images")
    assert "/console/sign-in" in b.current_url


def test_csrf_token_is_required_on_every_form(env, ada):
    base, s = env["server"].base, ada
    reg = env["server"].api("POST", "/api/registries", json={
        "name": "csrf-target", "provider": "DOCKER_REGISTRY", "url": env["reg"].url, "insecure": True}).json()["data"]
    target = f"{base}/console/registries/{reg['id']}/sync"
    page = s.get(f"{base}/console/registries")
    assert page.status_code == 200
    token = csrf_of(page.text)
    for data in ({}, {"_csrf": ""}, {"_csrf": "0" * len(token)}, {"_csrf": token[:-1]}):
        r = s.post(target, data=data, allow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, (data, r.status_code)
    # Another session's token is refused too.
    other = csrf_of(session_for(base, "ada").get(f"{base}/console/registries").text)
    assert s.post(target, data={"_csrf": other}, allow_redirects=False).status_code == 403
    assert env["server"].api("GET", f"/api/registries/{reg['id']}").json()["data"]["health"]["status"] == "unknown"
    r = s.post(target, data={"_csrf": token}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/registries"
    # The JSON API takes the session cookie for changes from this origin only.
    body = {"name": "origin-check", "provider": "DOCKER_REGISTRY", "url": "https://origin.example.test"}
    assert s.post(f"{base}/api/registries", json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    made = s.post(f"{base}/api/registries", json=body, headers={"Origin": base})
    assert made.status_code == 201, made.text
    env["server"].api("DELETE", f"/api/registries/{made.json()['data']['id']}")
    # The sign-in form has its own token, bound to a cookie.
    r = requests.post(f"{base}/console/sign-in", data={"username": "ada", "password": USERS["ada"][1]}, allow_redirects=False)
    assert r.status_code == 403 and "next-auth.session-token" not in r.headers.get("Set-Cookie", "")
    # Without a session a form post goes to the sign-in page and changes nothing.
    r = requests.post(target, data={"_csrf": token}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/sign-in"
    env["server"].api("DELETE", f"/api/registries/{reg['id']}")


def test_viewer_sees_no_admin_actions_and_is_refused_them(env, browser):
    base = env["server"].base
    reg = env["server"].api("POST", "/api/registries", json={
        "name": "viewer-target", "provider": "DOCKER_REGISTRY", "url": env["reg"].url, "insecure": True}).json()["data"]
    b = browser
    sign_in(b, base, "vic")
    b.get(base + "/console/registries")
    # The first Tab stop is the skip link, which moves focus to the page's main content.
    b.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = b.switch_to.active_element
    assert skip.text == "Skip to content" and skip.is_displayed()
    skip.send_keys(Keys.ENTER)
    assert b.switch_to.active_element.get_attribute("id") == "main"
    assert b.find_elements(By.XPATH, "//a[text()='viewer-target']")
    assert not b.find_elements(By.XPATH, "//button[text()='Sync' or text()='Test connection']")
    assert not b.find_elements(By.ID, "f-name")
    b.get(base + "/console/settings")
    assert "Only admins manage API keys." in b.page_source
    assert not b.find_elements(By.XPATH, "//section[h2='Audit log' or h2='Members']")
    b.get(base + "/console/vulnerabilities")
    assert not b.find_elements(By.XPATH, "//button[text()='Save triage']")
    # The server refuses the actions anyway, with the viewer's valid CSRF token.
    s = browser_session(b)
    token = csrf_of(s.get(base + "/console/registries").text)
    for path, data in [(f"/console/registries/{reg['id']}/sync", {}), ("/console/settings/api-keys", {"name": "x", "role": "viewer"}),
                       ("/console/registries", {"name": "v-made", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:9"}),
                       ("/console/scans", {"image": env["reg"].host + "/apps/web:1.0"})]:
        r = s.post(base + path, data={"_csrf": token, **data}, allow_redirects=False)
        assert r.status_code == 403 and "does not allow" in r.text, (path, r.status_code, r.text[:300])
    names = [x["name"] for x in env["server"].api("GET", "/api/registries").json()["data"]]
    assert "v-made" not in names
    go(b, b.find_element(By.XPATH, "//button[text()='Sign out']"))
    assert "/console/sign-in" in b.current_url
    env["server"].api("DELETE", f"/api/registries/{reg['id']}")


def test_user_data_is_escaped_and_pages_carry_security_headers(env, browser, ada):
    base = env["server"].base
    evil = "<script>alert('xss')</script><img src=x onerror=alert(2)>"
    reg = env["server"].api("POST", "/api/registries", json={
        "name": evil, "provider": "DOCKER_REGISTRY", "url": env["reg"].url, "insecure": True}).json()["data"]
    s = ada
    r = s.get(base + "/console/registries")
    assert evil not in r.text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.text.replace('<script src="/console/assets/app.js', "")
    b = browser
    b.get(base + "/healthz")
    b.add_cookie({"name": "next-auth.session-token", "value": s.cookies["next-auth.session-token"], "path": "/"})
    b.get(base + f"/console/registries/{reg['id']}")
    with pytest.raises(NoAlertPresentException):
        b.switch_to.alert.text
    assert b.find_element(By.TAG_NAME, "h1").text == evil
    # Assets are cached for long; a page without a session redirects to sign-in with its path.
    a = requests.get(base + "/console/assets/app.js")
    assert a.status_code == 200 and "immutable" in a.headers["Cache-Control"]
    r = requests.get(base + "/console/images?search=web", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/sign-in?next=%2Fconsole%2Fimages%3Fsearch%3Dweb"
    assert requests.get(base + "/", allow_redirects=False).headers["Location"] == "/console"
    env["server"].api("DELETE", f"/api/registries/{reg['id']}")


def test_admin_changes_a_members_role_and_removes_them(env, ada):
    base, s = env["server"].base, ada
    made = env["server"].api("POST", "/api/members", json={
        "username": "mel", "password": "mel-password-123", "role": "developer"}).json()["data"]
    mel = requests.Session()
    assert mel.post(base + "/api/auth/sign-in", json={"username": "mel", "password": "mel-password-123"}).status_code == 200
    assert mel.get(base + "/api/registries").status_code == 200
    page = s.get(base + "/console/settings").text
    form = re.search(rf'<form method="post" action="/console/settings/members/{made["id"]}">(.*?)</form>', page, re.S)
    assert form, "no role form for the member"
    # The member's current role is the one selected, and no role above the admin's own is offered.
    assert '<option value="developer" selected>' in form.group(1) and 'value="owner"' not in form.group(1)
    token = csrf_of(page)

    def role_of(member_id):
        rows = env["server"].api("GET", "/api/members?limit=200").json()["data"]
        return next((m["role"] for m in rows if m["id"] == member_id), None)

    r = s.post(f"{base}/console/settings/members/{made['id']}", data={"_csrf": token, "role": "viewer"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/settings"
    assert "mel is now viewer." in s.get(base + "/console/settings").text
    assert role_of(made["id"]) == "viewer"
    # The new role applies to the member's very next request.
    assert mel.post(base + "/api/registries", json={"name": "x", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:9"},
                    headers={"Origin": base}).status_code == 403

    # A role above the admin's own is refused with the API's reason, and nothing changes.
    r = s.post(f"{base}/console/settings/members/{made['id']}", data={"_csrf": token, "role": "owner"})
    assert r.url == f"{base}/console/settings" and "Cannot be above your own role" in r.text
    assert role_of(made["id"]) == "viewer"
    # Without the session's CSRF token nothing happens.
    r = s.post(f"{base}/console/settings/members/{made['id']}/delete", data={}, allow_redirects=False)
    assert r.status_code == 403

    r = s.post(f"{base}/console/settings/members/{made['id']}/delete", data={"_csrf": token}, allow_redirects=False)
    assert r.status_code == 303
    assert "Member removed." in s.get(base + "/console/settings").text
    assert role_of(made["id"]) is None
    assert mel.get(base + "/api/registries").status_code == 401
    actions = [e["action"] for e in env["server"].api("GET", "/api/audit-log?limit=20").json()["data"]]
    assert "member.update" in actions and "member.delete" in actions
