import pytest
"""Issue 13 items 6, 10 and part of 12 on the real binary:

- the outgoing-request policy: notification channels and the vulnerability-database feed reach
  loopback/private/link-local addresses only with `serve --allow-private-targets`; cloud metadata
  addresses are refused for everything (registries included) even with it; names are resolved and
  checked (`localhost`, decimal and octal IPv4, IPv6 forms), redirects are checked hop by hop, and
  a refusal is a 422 TARGET_NOT_ALLOWED that names no address and is answered before connecting;
- channel answers carry a status class and an error category, not the transport's text;
- ecosystem names of a vulnerability-database update are the documented ones only (API and CLI),
  so `../outside/evil` cannot import a file outside a file:// mirror;
- `serve --public-url` refuses requests for other host names (421 HOST_NOT_ALLOWED);
- a token realm over plain http only on the registry's own host and port.

Only 127.0.0.1 is contacted: the refused addresses are refused before any connection, and the
tests that name addresses beyond loopback run in a network namespace of their own that has only
loopback, so even a regression could not send them a packet."""
import json
import sqlite3
import time
import zipfile

import requests

from conftest import Server, free_port, in_private_network, run
from test_security import Receiver, reply

REGISTRY_PASSWORD = "Outgoing-Pass-7c1e2f9a-secret"
EVENTS = ["scan_complete"]

# Hosts that are, or resolve to, loopback, private, link-local or metadata addresses.
REFUSED_FOR_CHANNELS = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://0177.0.0.1:{port}/hook",
    "http://127.1:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://169.254.1.1/hook",
    "http://[fe80::1]/hook",
    "http://[fd12::1]/hook",
]
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",  # 169.254.169.254 as one decimal number
]


def refused(r, *hidden):
    """A 422 TARGET_NOT_ALLOWED whose body names none of `hidden`."""
    assert r.status_code == 422, (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == "TARGET_NOT_ALLOWED" and err["message"].startswith("Target not allowed"), err
    for h in hidden:
        assert h not in r.text, (h, r.text)
    return err


def channel(s, url, name):
    return s.api("POST", "/api/notification-channels", json={"name": name, "url": url, "events": EVENTS})


@pytest.mark.sqlite_only
@in_private_network
def test_channels_reach_private_addresses_only_with_the_flag(tmp_path):
    rx = Receiver(lambda h: reply(h, 200))
    data = tmp_path / "data"
    s = Server(data)
    try:
        for i, u in enumerate(REFUSED_FOR_CHANNELS + METADATA):
            url = u.format(port=rx.port)
            refused(channel(s, url, f"c{i}"), "127.0.0.1", "::1")
        # A name that does not resolve now is accepted (each delivery checks again) …
        later = channel(s, "http://hooks.example.invalid/hook", "later")
        assert later.status_code == 201, later.text
        later = later.json()["data"]["id"]
        t = s.api("POST", f"/api/notification-channels/{later}/test")
        assert t.status_code == 200, t.text
        t = t.json()["data"]
        # … and the answer is a category, not the resolver's text.
        assert t == {"delivered": False, "statusClass": None, "error": "cannot resolve the host", "durationMs": t["durationMs"]}, t
        # Moving it to loopback is refused like creating it there.
        refused(s.api("PUT", f"/api/notification-channels/{later}", json={"url": f"http://127.0.0.1:{rx.port}/hook"}))
        assert rx.requests == []
    finally:
        s.stop()

    # With --allow-private-targets the same receiver is reached; metadata stays refused.
    s = Server(data, extra=("--allow-private-targets",))
    try:
        for i, u in enumerate(["http://127.0.0.1:{port}/ok", "http://localhost:{port}/ok", "http://2130706433:{port}/ok"]):
            ch = channel(s, u.format(port=rx.port), f"ok{i}")
            assert ch.status_code == 201, ch.text
            t = s.api("POST", f"/api/notification-channels/{ch.json()['data']['id']}/test").json()["data"]
            assert t["delivered"] is True and t["statusClass"] == "2xx" and t["error"] is None, t
        hosts = [{k.lower(): v for k, v in r["headers"].items()}["host"] for r in rx.requests]
        # The Host header is the name in the URL, though the checked address was dialled.
        assert hosts == [f"127.0.0.1:{rx.port}", f"localhost:{rx.port}", f"2130706433:{rx.port}"], hosts
        kept = ch.json()["data"]["id"]
        for i, url in enumerate(METADATA):
            start = time.monotonic()
            refused(channel(s, url, f"m{i}"), "169.254", "fd00", "100.100")
            assert time.monotonic() - start < 2
    finally:
        s.stop()

    # A channel saved while private targets were allowed is refused at send time once they are not.
    s = Server(data)
    try:
        before = len(rx.requests)
        refused(s.api("POST", f"/api/notification-channels/{kept}/test"), "127.0.0.1")
        # A URL steered to a metadata address behind the API's back is refused before connecting.
        db = sqlite3.connect(data / "harborguard.db")
        db.execute("UPDATE notification_channels SET url = ? WHERE id = ?", ("http://169.254.169.254/latest/meta-data/", kept))
        db.commit()
        db.close()
        start = time.monotonic()
        refused(s.api("POST", f"/api/notification-channels/{kept}/test"), "169.254")
        assert time.monotonic() - start < 2
        assert len(rx.requests) == before
    finally:
        s.stop()
        rx.close()


@pytest.mark.sqlite_only
@in_private_network
def test_metadata_is_refused_even_with_the_flag_in_channel_send_test(tmp_path):
    data = tmp_path / "data"
    s = Server(data, extra=("--allow-private-targets",))
    try:
        ch = channel(s, "http://hooks.example.invalid/hook", "steered")
        assert ch.status_code == 201, ch.text
        cid = ch.json()["data"]["id"]
        db = sqlite3.connect(data / "harborguard.db")
        for url in ["http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/"]:
            db.execute("UPDATE notification_channels SET url = ? WHERE id = ?", (url, cid))
            db.commit()
            start = time.monotonic()
            refused(s.api("POST", f"/api/notification-channels/{cid}/test"), "169.254", "fd00")
            assert time.monotonic() - start < 2
        db.close()
    finally:
        s.stop()


def registry_reply(h):
    reply(h, 200, [("Content-Type", "application/json"), ("Docker-Distribution-API-Version", "registry/2.0")], b"{}")


@pytest.mark.sqlite_only
@in_private_network
def test_registries_may_be_private_but_never_metadata(tmp_path):
    reg = Receiver(registry_reply)
    # /v2/ redirects to the metadata service: the hop is refused before connecting.
    redirecting = Receiver(lambda h: reply(h, 307, [("Location", "http://169.254.169.254/v2/")]))
    # A bearer challenge whose realm is the metadata service (https, so only the policy stops it).
    realm_md = Receiver(lambda h: reply(h, 401, [
        ("WWW-Authenticate", 'Bearer realm="https://169.254.169.254/token",service="x"'),
        ("Docker-Distribution-API-Version", "registry/2.0")], b"{}"))
    for extra in [(), ("--allow-private-targets",)]:
        s = Server(tmp_path / f"data{len(extra)}", extra=extra)
        try:
            ok = s.api("POST", "/api/registries/test-connection", json={
                "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{reg.port}", "insecure": True})
            assert ok.status_code == 200 and ok.json()["data"]["ok"] is True, ok.text
            for url in ["http://169.254.169.254", "https://169.254.169.254", "http://[fd00:ec2::254]:5000", "http://2852039166"]:
                start = time.monotonic()
                refused(s.api("POST", "/api/registries/test-connection", json={
                    "provider": "DOCKER_REGISTRY", "url": url, "insecure": True}), "169.254", "fd00")
                assert time.monotonic() - start < 2, url
                refused(s.api("POST", "/api/registries", json={
                    "name": "md", "provider": "DOCKER_REGISTRY", "url": url, "insecure": True, "schedule": "manual"}))
            for rx in (redirecting, realm_md):
                start = time.monotonic()
                r = s.api("POST", "/api/registries/test-connection", json={
                    "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{rx.port}", "insecure": True,
                    "credentials": {"username": "u", "password": REGISTRY_PASSWORD}})
                assert r.status_code == 200, r.text
                d = r.json()["data"]
                assert d["ok"] is False and "target not allowed" in d["message"] and "169.254" not in r.text, d
                assert REGISTRY_PASSWORD not in r.text
                assert time.monotonic() - start < 3
            # A saved loopback registry moved to the metadata address is refused.
            saved = s.api("POST", "/api/registries", json={
                "name": "local", "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{reg.port}", "insecure": True,
                "schedule": "manual"})
            assert saved.status_code == 201, saved.text
            refused(s.api("PUT", f"/api/registries/{saved.json()['data']['id']}", json={"url": "http://169.254.169.254"}))
        finally:
            s.stop()
    reg.close()
    redirecting.close()
    realm_md.close()


def vulndb_job_errors(data):
    """Errors of the vulndb_update jobs (the scheduler's first one belongs to no organization,
    so the API does not show it)."""
    db = sqlite3.connect(data / "harborguard.db")
    try:
        return [e for (e,) in db.execute("SELECT error FROM jobs WHERE type = 'vulndb_update'") if e]
    finally:
        db.close()


@pytest.mark.sqlite_only
def test_feed_url_on_loopback_needs_the_flag(tmp_path):
    hits = Receiver(lambda h: reply(h, 404))
    base = f"http://127.0.0.1:{hits.port}"
    data = tmp_path / "data"
    # --vulndb-url makes the scheduler queue an update on its first tick.
    s = Server(data, extra=("--vulndb-url", base))
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not any("target not allowed" in e for e in vulndb_job_errors(data)):
            time.sleep(0.2)
        errors = vulndb_job_errors(data)
        assert any("target not allowed" in e and "127.0.0.1:" in e for e in errors), errors
        assert hits.requests == []
    finally:
        s.stop()
    # With the flag the mirror is asked (it has no archives: every ecosystem is skipped).
    s = Server(tmp_path / "data2", extra=("--vulndb-url", base, "--allow-private-targets"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not any(x["path"] == "/PyPI/all.zip" for x in hits.requests):
            time.sleep(0.2)
        assert any(x["path"] == "/PyPI/all.zip" for x in hits.requests), hits.requests
    finally:
        s.stop()
        hits.close()


def write_archive(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(record["id"] + ".json", json.dumps(record))


def osv(id_, eco):
    return {"schema_version": "1.6.0", "id": id_, "modified": "2026-11-01T00:00:00Z", "summary": "t",
            "affected": [{"package": {"ecosystem": eco, "name": "requests"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.0"}]}]}]}


def test_ecosystem_names_are_the_documented_ones(tmp_path):
    mirror = tmp_path / "mirror"
    write_archive(mirror / "PyPI" / "all.zip", osv("PYSEC-2099-7", "PyPI"))
    # The file a traversal would reach: outside the mirror.
    write_archive(tmp_path / "outside" / "evil" / "all.zip", osv("EVIL-2099-1", "PyPI"))
    data = tmp_path / "data"
    s = Server(data, extra=("--vulndb-url", f"file://{mirror}"))
    try:
        for bad in ["../outside/evil", "PyPI/../../outside/evil", "/etc", "pypi", "Bogus", ""]:
            r = s.api("POST", "/api/vulndb/update", json={"ecosystems": ["PyPI", bad]})
            assert r.status_code == 400, (bad, r.text)
            err = r.json()["error"]
            assert err["code"] == "VALIDATION_ERROR" and err["issues"][0]["path"] == "ecosystems[1]", err
        r = s.api("POST", "/api/vulndb/update", json={"ecosystems": ["PyPI"]})
        assert r.status_code == 202, r.text
        deadline = time.time() + 60
        v = {}
        while time.time() < deadline:
            v = s.api("GET", "/api/vulndb").json()["data"]
            if v["ecosystems"].get("PyPI") == 1:
                break
            time.sleep(0.3)
        assert v["ecosystems"].get("PyPI") == 1, v
        assert not any("evil" in x["name"] or "outside" in (x.get("location") or "") for x in v["sources"]), v
    finally:
        s.stop()
    # The CLI refuses the same names before touching anything.
    cli = run("db", "update", "--url", f"file://{mirror}", "--ecosystem", "../outside/evil", data_dir=tmp_path / "cli",
              check=False)
    assert cli.returncode == 64 and "unknown ecosystem '../outside/evil'" in cli.stderr, (cli.returncode, cli.stderr)
    assert not (tmp_path / "cli" / "vulndb.sqlite").exists()
    ok = run("db", "update", "--url", f"file://{mirror}", "--ecosystem", "PyPI", data_dir=tmp_path / "cli")
    assert "PyPI: updated, 1 records" in ok.stdout, ok.stdout


def test_public_url_turns_on_the_host_allow_list(tmp_path):
    s = Server(tmp_path / "data", extra=("--public-url", "https://hg.example.com"))
    try:
        def get(host):
            return requests.get(s.base + "/api/registries", headers={"Host": host, "X-API-Key": s.admin_key}, timeout=10)
        for host in ["hg.example.com", "HG.example.com", "hg.example.com:443", "hg.example.com.", "localhost",
                     f"localhost:{s.port}", f"127.0.0.1:{s.port}", "[::1]:8080", "10.1.2.3:8080"]:
            assert get(host).status_code == 200, host
        for host in ["evil.example.com", f"evil.example.com:{s.port}", "hg.example.com:8443", "hg.example.com.evil.net",
                     "example.com"]:
            r = get(host)
            assert r.status_code == 421, (host, r.status_code, r.text)
            assert r.json()["error"]["code"] == "HOST_NOT_ALLOWED"
        # The console too, and without credentials.
        assert requests.get(s.base + "/console/sign-in", headers={"Host": "evil.example.com"}, timeout=10).status_code == 421
    finally:
        s.stop()
    s = Server(tmp_path / "data")
    try:
        r = requests.get(s.base + "/api/registries", headers={"Host": "evil.example.com", "X-API-Key": s.admin_key}, timeout=10)
        assert r.status_code == 200, "without --public-url there is no allow-list"
    finally:
        s.stop()
    bad = run("serve", "--public-url", "not a url", "--port", str(free_port()), data_dir=tmp_path / "bad", check=False)
    assert bad.returncode == 64 and "--public-url" in bad.stderr, bad.stderr


def test_token_realm_over_http_on_the_registrys_own_origin_still_works(tmp_path):
    def registry(h):
        if h.path.startswith("/token"):
            return reply(h, 200, [("Content-Type", "application/json")], b'{"token":"t"}')
        if h.headers.get("Authorization", "").startswith("Bearer t"):
            return registry_reply(h)
        reply(h, 401, [("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{reg.port}/token",service="x"'),
                       ("Docker-Distribution-API-Version", "registry/2.0")], b"{}")

    reg = Receiver(registry)
    s = Server(tmp_path / "data")
    try:
        r = s.api("POST", "/api/registries/test-connection", json={
            "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{reg.port}", "insecure": True,
            "credentials": {"username": "u", "password": REGISTRY_PASSWORD}})
        d = r.json()["data"]
        assert d["ok"] is True and d["authScheme"] == "bearer", d
    finally:
        s.stop()
        reg.close()
