"""No credential may widen itself (issue: security, items 1, 2, 3, 11), on the real binary.

A role-capped PAT cannot mint an uncapped one; a registry-scoped key reaches its own registry and
nothing organization-wide; scoped triage stays on its registry's images and answers the same
whatever other registries hold; a new credential never outlives the one that made it.
Two real distribution registries on 127.0.0.1 hold the images; real OSV records give the findings."""
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import Server, run
from registry_harness import Registry
from test_scan_cli import dpkg, osv
from test_scans import wait_scan

PASSWORD = "scope-registry-pass-7"


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(ts):
    return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scope")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    rec = osv("DEBIAN-CVE-2099-0077", "Debian:12", tar_source, tar_version + "+hg1", aliases=["CVE-2099-0077"],
              severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: test advisory")
    (osv_dir / "DEBIAN-CVE-2099-0077.json").write_text(json.dumps(rec))
    base = {"etc/os-release": Path("/etc/os-release").read_bytes()}
    vulnerable = dict(base, **{"var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()})
    reg_a = Registry(user="ci", password=PASSWORD)
    reg_b = Registry(user="ci", password=PASSWORD)
    reg_a.push("team/clean", "1", layers=[base])          # no findings in registry A
    reg_b.push("team/vulnerable", "1", layers=[vulnerable])  # CVE-2099-0077 only in registry B
    data = tmp / "data"
    s = Server(data)
    assert "1 records" in run("db", "import", str(osv_dir), data_dir=data).stdout
    ids = {}
    for name, reg in (("a", reg_a), ("b", reg_b)):
        r = s.api("POST", "/api/registries", json={
            "name": name, "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True,
            "credentials": {"username": "ci", "password": PASSWORD}})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["data"]["id"]
    scans = {}
    for name, reg, image in (("a", reg_a, "team/clean:1"), ("b", reg_b, "team/vulnerable:1")):
        r = s.api("POST", "/api/scans", json={"image": f"{reg.host}/{image}"})
        assert r.status_code == 202, r.text
        scans[name] = wait_scan(s, r.json()["data"]["id"])
        assert scans[name]["status"] == "completed", scans[name]
    assert scans["a"]["counts"]["critical"] == 0 and scans["b"]["counts"]["critical"] == 1
    yield {"s": s, "ids": ids, "scans": scans, "data": data}
    s.stop()
    reg_a.stop()
    reg_b.stop()


def make_key(s, role, **extra):
    r = s.api("POST", "/api/api-keys", json={"name": f"k{time.time_ns()}", "role": role, **extra})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def sign_in_pat(s, role, cap=None):
    """A member with `role`, signed in, and a PAT of theirs (capped at `cap` when given)."""
    name = f"u{time.time_ns()}"
    assert s.api("POST", "/api/members", json={"username": name, "password": "a long enough password", "role": role}).status_code == 201
    import requests
    sess = requests.Session()
    assert sess.post(s.base + "/api/auth/sign-in", json={"username": name, "password": "a long enough password"}).status_code == 200
    body = {"name": "cli"} | ({"role": cap} if cap else {})
    r = sess.post(s.base + "/api/personal-access-tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def test_a_capped_pat_mints_only_pats_within_its_cap(env):
    s = env["s"]
    capped = sign_in_pat(s, "admin", cap="viewer")
    assert capped["role"] == "viewer"
    assert s.api("GET", "/api/members", key=capped["key"]).status_code == 403
    # Without a role the new PAT carries the maker's cap, not its user's admin role.
    child = s.api("POST", "/api/personal-access-tokens", key=capped["key"], json={"name": "x"})
    assert child.status_code == 201, child.text
    assert child.json()["data"]["role"] == "viewer"
    grandchild_key = child.json()["data"]["key"]
    assert s.api("GET", "/api/members", key=grandchild_key).status_code == 403
    assert s.api("POST", "/api/api-keys", key=grandchild_key, json={"name": "y", "role": "admin"}).status_code == 403
    # Asking for more than the cap names the field.
    wider = s.api("POST", "/api/personal-access-tokens", key=capped["key"], json={"name": "x", "role": "admin"})
    assert wider.status_code == 400 and wider.json()["error"]["issues"][0]["path"] == "role"
    # An uncapped PAT still follows its user's role.
    free = sign_in_pat(s, "admin")
    assert free["role"] is None
    assert s.api("GET", "/api/members", key=free["key"]).status_code == 200


def test_a_registry_scoped_key_reaches_its_registry_and_nothing_organization_wide(env):
    s, a, b = env["s"], env["ids"]["a"], env["ids"]["b"]
    key = make_key(s, "admin", registryId=a)["key"]
    # Its own registry: read, change, sync, list (only itself).
    assert s.api("GET", f"/api/registries/{a}", key=key).status_code == 200
    assert s.api("PUT", f"/api/registries/{a}", key=key, json={"scanning": {"schedule": "weekly"}}).status_code == 200
    assert s.api("POST", f"/api/registries/{a}/sync", key=key).status_code == 202
    listed = s.api("GET", "/api/registries", key=key).json()["data"]
    assert [r["id"] for r in listed] == [a]
    assert {i["registryId"] for i in s.api("GET", "/api/images", key=key).json()["data"]} == {a}
    assert s.api("GET", f"/api/scans/{env['scans']['a']['id']}", key=key).status_code == 200
    # Another registry of the same organization does not exist for it.
    assert s.api("GET", f"/api/registries/{b}", key=key).status_code == 404
    assert s.api("GET", f"/api/scans/{env['scans']['b']['id']}", key=key).status_code == 404
    # Everything organization-wide: 403 naming the scope, and nothing made.
    for method, path, body in [
        ("POST", "/api/api-keys", {"name": "wide", "role": "admin"}),
        ("GET", "/api/api-keys", None),
        ("POST", "/api/members", {"username": "sneaky", "password": "a long enough password", "role": "admin"}),
        ("GET", "/api/members", None),
        ("POST", "/api/registries", {"name": "new", "provider": "DOCKER_HUB"}),
        ("GET", "/api/notification-channels", None),
        ("POST", "/api/notification-channels", {"name": "n", "url": "https://hooks.example.test/x", "events": ["scan_complete"]}),
        ("GET", "/api/audit-log", None),
        ("POST", "/api/vulndb/rematch", None),
        ("POST", "/api/vulndb/update", {}),
        ("POST", "/api/registries/schedule-scans", None),
        ("POST", "/api/registries/test-connection", {"provider": "DOCKER_REGISTRY", "url": "https://other.example.test"}),
        ("GET", "/api/organization", None),
    ]:
        r = s.api(method, path, key=key, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert a in r.json()["error"]["message"], r.text
    members = [m["username"] for m in s.api("GET", "/api/members?limit=200").json()["data"]]
    assert "sneaky" not in members
    assert all(r["name"] != "new" for r in s.api("GET", "/api/registries?limit=200").json()["data"])


def test_scoped_triage_stays_on_its_registrys_images(env):
    s, a = env["s"], env["ids"]["a"]
    key = make_key(s, "developer", registryId=a)["key"]
    image_a, image_b = env["scans"]["a"]["imageId"], env["scans"]["b"]["imageId"]
    # Organization scope is refused before any lookup: the same answer for a CVE that exists in
    # another registry and for one that exists nowhere.
    hidden = s.api("PUT", "/api/vulnerabilities/CVE-2099-0077/triage", key=key, json={"status": "WONT_FIX", "scope": "organization"})
    nowhere = s.api("PUT", "/api/vulnerabilities/CVE-1999-0001/triage", key=key, json={"status": "WONT_FIX"})
    assert hidden.status_code == nowhere.status_code == 403
    assert hidden.json()["error"] == nowhere.json()["error"]
    # Image scope on another registry's image: not found as an image, nothing changed.
    other = s.api("PUT", "/api/vulnerabilities/CVE-2099-0077/triage", key=key,
                  json={"status": "WONT_FIX", "scope": "image", "imageId": image_b})
    assert other.status_code == 400 and other.json()["error"]["issues"][0]["path"] == "imageId"
    # Its own image: a CVE found only in registry B answers like one found nowhere.
    elsewhere = s.api("PUT", "/api/vulnerabilities/CVE-2099-0077/triage", key=key,
                      json={"status": "WONT_FIX", "scope": "image", "imageId": image_a})
    missing = s.api("PUT", "/api/vulnerabilities/CVE-1999-0001/triage", key=key,
                    json={"status": "WONT_FIX", "scope": "image", "imageId": image_a})
    assert elsewhere.status_code == missing.status_code == 404
    scan_b = s.api("GET", f"/api/scans/{env['scans']['b']['id']}").json()["data"]
    assert scan_b["counts"]["critical"] == 1 and scan_b["riskScore"] == env["scans"]["b"]["riskScore"]
    # An unscoped developer still triages organization-wide.
    dev = make_key(s, "developer")["key"]
    ok = s.api("PUT", "/api/vulnerabilities/CVE-2099-0077/triage", key=dev, json={"status": "WONT_FIX"})
    assert ok.status_code == 200, ok.text
    assert s.api("POST", "/api/vulnerabilities/CVE-2099-0077/triage", key=dev, json={"status": "OPEN"}).status_code == 200


def test_new_credentials_never_outlive_their_maker(env):
    s = env["s"]
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    maker = make_key(s, "admin", expiresAt=iso(soon))
    # Left out, the expiry is the maker's; asked later, refused with the field named.
    child = s.api("POST", "/api/api-keys", key=maker["key"], json={"name": "child", "role": "admin"})
    assert child.status_code == 201, child.text
    expires = child.json()["data"]["expiresAt"]
    assert expires is not None and parse(expires) <= parse(maker["expiresAt"])
    later = s.api("POST", "/api/api-keys", key=maker["key"],
                  json={"name": "later", "role": "admin", "expiresAt": iso(soon + timedelta(days=30))})
    assert later.status_code == 400 and later.json()["error"]["issues"][0]["path"] == "expiresAt"
    sooner = s.api("POST", "/api/api-keys", key=maker["key"],
                   json={"name": "sooner", "role": "viewer", "expiresAt": iso(soon - timedelta(minutes=30))})
    assert sooner.status_code == 201 and parse(sooner.json()["data"]["expiresAt"]) < parse(maker["expiresAt"])
    # A PAT made with an expiring PAT expires with it too.
    pat = sign_in_pat(s, "admin")
    short = s.api("POST", "/api/personal-access-tokens", key=pat["key"], json={"name": "short", "expiresAt": iso(soon)})
    assert short.status_code == 201
    grandchild = s.api("POST", "/api/personal-access-tokens", key=short.json()["data"]["key"], json={"name": "g"})
    assert grandchild.status_code == 201
    assert parse(grandchild.json()["data"]["expiresAt"]) <= parse(short.json()["data"]["expiresAt"])
