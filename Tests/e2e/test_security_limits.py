"""Issue 13, items 7, 8, 9 and part of 12, on the real binary (127.0.0.1 only):

- sign-in failures are limited per (account, client address) and per client address, and a
  client address comes from X-Forwarded-For only through a --trusted-proxy;
- request-head deadline, keep-alive idle timeout, connection cap;
- restore bounds the backup header's scrypt parameters before deriving anything;
- data/initial-admin-key goes once the organization is set up; nosniff / no-store / HSTS;
  the __Host- session cookie under TLS; duplicate JSON member names refused on every body
  the API reads; /metrics behind --metrics-token.
"""
import json
import socket
import struct
import subprocess
import time

import pytest
import requests

from conftest import BIN, Server, run

PASSWORD = "limits-password-123"


def create_user(data_dir, name, role="developer", password=PASSWORD):
    run("admin", "create-user", "--username", name, "--role", role, "--bcrypt-cost", "4", data_dir=data_dir,
        env={"HARBORGUARD_PASSWORD": password})


def sign_in(s, username, password, forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.post(s.base + "/api/auth/sign-in", json={"username": username, "password": password},
                         headers=headers, timeout=30, verify=False)


def audit(s, action):
    rows = s.api("GET", "/api/audit-log?limit=200").json()["data"]
    return [r for r in rows if r["action"] == action]


# ---------------------------------------------------------------- item 7: sign-in limits


def test_wrong_passwords_from_one_address_do_not_lock_the_user_out_of_another(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--trusted-proxy", "127.0.0.1"))
    create_user(data_dir, "alice")
    attacker, alice_home = "203.0.113.5", "198.51.100.7"
    for _ in range(5):
        assert sign_in(s, "alice", "wrong-password-000", attacker).status_code == 401
    # The attacker's address is now refused for alice, even with the right password...
    r = sign_in(s, "alice", PASSWORD, attacker)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    # ...but alice, from her own address, signs in: someone else's failures do not count against her.
    r = sign_in(s, "alice", PASSWORD, alice_home)
    assert r.status_code == 200, r.text
    # A wrong password from her address counts only there, and a right one clears it.
    assert sign_in(s, "alice", "wrong-password-000", alice_home).status_code == 401
    assert sign_in(s, "alice", PASSWORD, alice_home).status_code == 200
    # The audit log records the client each proxy forwarded for, not the proxy.
    assert {e["ip"] for e in audit(s, "auth.sign_in")} == {alice_home}
    assert {e["ip"] for e in audit(s, "auth.sign_in.failed")} == {attacker, alice_home}


def test_one_address_guessing_across_accounts_is_limited_by_address(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--trusted-proxy", "127.0.0.1"))
    for i in range(5):
        create_user(data_dir, f"user{i}")
    create_user(data_dir, "bob")
    sprayer = "203.0.113.9"
    # 20 failures from one address over five accounts (4 each stays under the per-account limit).
    for i in range(20):
        assert sign_in(s, f"user{i // 4}", "wrong-password-000", sprayer).status_code == 401
    r = sign_in(s, "bob", PASSWORD, sprayer)
    assert r.status_code == 429, r.text
    # Every other address is untouched.
    assert sign_in(s, "bob", PASSWORD, "198.51.100.20").status_code == 200


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--trusted-proxy", "10.0.0.0/8"))
    create_user(data_dir, "carol")
    # 127.0.0.1 is not a trusted proxy: a client cannot pick an address with the header, neither
    # to dodge the limit nor to write someone else's address into the audit log.
    for i in range(5):
        assert sign_in(s, "carol", "wrong-password-000", f"203.0.113.{i}").status_code == 401
    assert sign_in(s, "carol", PASSWORD, "198.51.100.99").status_code == 429
    assert {e["ip"] for e in audit(s, "auth.sign_in.failed")} == {"127.0.0.1"}


def test_the_right_most_untrusted_forwarded_address_is_the_client(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--trusted-proxy", "127.0.0.1, 10.0.0.0/8", "--trusted-proxy", "fd00::/8"))
    create_user(data_dir, "dave")
    # The client wrote 6.6.6.6 itself; the outer proxy saw 198.51.100.30; an inner trusted hop follows.
    assert sign_in(s, "dave", PASSWORD, "6.6.6.6, 198.51.100.30, 10.1.2.3, fd00::5").status_code == 200
    assert audit(s, "auth.sign_in")[0]["ip"] == "198.51.100.30"
    bad = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0", "--trusted-proxy", "10.0.0.0/33"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "10.0.0.0/33" in bad.stderr, bad.stderr


# ---------------------------------------------------------------- item 8: timeouts and the connection cap


def connect(s):
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def is_closed(c):
    """True when the server closed `c` (EOF or reset); False when it is open and silent."""
    c.setblocking(False)
    try:
        return c.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        c.setblocking(True)


def get_on(c, path="/healthz"):
    c.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    c.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n")[0]
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    while len(body) < length:
        body += c.recv(4096)
    return head.split(b"\r\n")[0].decode(errors="replace")


def test_slow_header_clients_are_dropped_after_the_head_deadline_while_others_are_served(data_dir, server_factory):
    # Defaults: 10 s from a request's first byte to the end of its head, however steadily it trickles.
    s = server_factory(data_dir)
    slow = []
    for _ in range(100):
        c = connect(s)
        c.sendall(b"GET /healthz HTTP/1.1\r\n")
        slow.append(c)
    start = time.time()
    closed_at = {}
    served = []
    n = 0
    while time.time() - start < 16 and len(closed_at) < len(slow):
        for i, c in enumerate(slow):
            if i in closed_at:
                continue
            if is_closed(c):
                closed_at[i] = time.time() - start
                continue
            if n % 3 == 0:
                try:
                    c.sendall(f"X-Trickle-{n}: {i}\r\n".encode())  # one header line every ~3 s, never a full head
                except OSError:
                    closed_at[i] = time.time() - start
        n += 1
        # A normal client is served throughout.
        t0 = time.time()
        r = requests.get(s.base + "/healthz", timeout=5)
        served.append((r.status_code, time.time() - t0))
        time.sleep(1)
    assert len(closed_at) == len(slow), f"{len(slow) - len(closed_at)} slow clients still connected after 16 s"
    assert min(closed_at.values()) >= 8, sorted(closed_at.values())[:5]  # not before the deadline
    assert max(closed_at.values()) <= 13, sorted(closed_at.values())[-5:]
    assert all(code == 200 and t < 2 for code, t in served), served
    for c in slow:
        c.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--idle-timeout", "2", "--header-timeout", "30"))
    busy, idle = connect(s), connect(s)
    assert get_on(idle).startswith("HTTP/1.1 200")
    t0 = time.time()
    idle_closed = None
    last_busy = 0
    # A connection that keeps asking (every second) stays open past the idle timeout.
    while time.time() - t0 < 5:
        if time.time() - last_busy >= 1:
            assert get_on(busy).startswith("HTTP/1.1 200")
            last_busy = time.time()
        if idle_closed is None and is_closed(idle):
            idle_closed = time.time() - t0
        time.sleep(0.05)
    assert not is_closed(busy)
    assert idle_closed is not None, "an idle keep-alive connection was still open after 5 s (idle timeout 2 s)"
    assert 1.5 <= idle_closed <= 3.5, f"idle keep-alive connection closed after {idle_closed:.1f} s (idle timeout 2 s)"
    # A connection that never sends a byte is idle too.
    silent = connect(s)
    t0 = time.time()
    while not is_closed(silent) and time.time() - t0 < 8:
        time.sleep(0.1)
    assert time.time() - t0 <= 4
    busy.close()


def test_connections_over_the_cap_are_closed_while_existing_ones_work(data_dir, server_factory):
    s = server_factory(data_dir, extra=("--max-connections", "5"))

    def admitted():
        # The readiness probe's connection may not be released yet when the first of these
        # arrives (the server counts a connection until its close completes): a connection
        # turned away then is retried, so the five below are known to hold all five slots.
        deadline = time.time() + 5
        while True:
            c = connect(s)
            try:
                if get_on(c).startswith("HTTP/1.1 200"):
                    return c
            except OSError:
                pass
            c.close()
            assert time.time() < deadline, "a connection under --max-connections 5 was not served"
            time.sleep(0.1)

    held = [admitted() for _ in range(5)]
    extra = connect(s)  # the kernel completes the handshake; the server closes it at once
    t0 = time.time()
    while not is_closed(extra) and time.time() - t0 < 3:
        time.sleep(0.05)
    assert is_closed(extra), "a sixth connection was kept open over --max-connections 5"
    for c in held:
        assert get_on(c).startswith("HTTP/1.1 200")
    assert "connection limit reached" in s.log.read_text()
    # A freed slot is available again.
    held.pop().close()
    held.append(admitted())
    for c in held:
        c.close()
    too_many = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0", "--max-connections", "100000000"],
                              capture_output=True, text=True, timeout=60)
    assert too_many.returncode != 0 and "ulimit -n" in too_many.stderr, too_many.stderr


# ---------------------------------------------------------------- item 9: restore and scrypt parameters


def edit_header(src, dst, **changes):
    data = src.read_bytes()
    assert data[:8] == b"HGBACKUP"
    (length,) = struct.unpack(">I", data[8:12])
    header = json.loads(data[12:12 + length])
    header["passphrase"].update(changes)
    new = json.dumps(header, separators=(",", ":")).encode()
    dst.write_bytes(data[:8] + struct.pack(">I", len(new)) + new + data[12 + length:])


@pytest.mark.sqlite_only
def test_restore_refuses_costly_scrypt_parameters_before_deriving(tmp_path, data_dir, server_factory):
    s = server_factory(data_dir)
    create_user(data_dir, "erin")
    phrase = tmp_path / "phrase"
    phrase.write_text("a backup passphrase of some length\n")
    backup = tmp_path / "good.hgbak"
    run("admin", "backup", "--out", str(backup), "--passphrase-file", str(phrase), data_dir=data_dir)
    header = json.loads(backup.read_bytes()[12:12 + struct.unpack(">I", backup.read_bytes()[8:12])[0]])
    assert (header["passphrase"]["n"], header["passphrase"]["r"], header["passphrase"]["p"]) == (32768, 8, 1)
    for i, (changes, named) in enumerate([
        ({"n": 1 << 20}, "n=1048576"), ({"n": 1 << 22}, "n=4194304"), ({"r": 64}, "r=64"), ({"p": 16}, "p=16"),
        ({"n": 1000}, "n=1000"),
    ]):
        edited = tmp_path / f"edited-{i}.hgbak"
        edit_header(backup, edited, **changes)
        t0 = time.time()
        r = run("admin", "restore", "--in", str(edited), "--passphrase-file", str(phrase), data_dir=tmp_path / f"r{i}",
                check=False)
        took = time.time() - t0
        assert r.returncode != 0, r.stdout
        assert named in r.stderr and "scrypt" in r.stderr, r.stderr
        assert took < 2, f"{changes}: refused after {took:.1f} s"
        assert not (tmp_path / f"r{i}" / "harborguard.db").exists()
    ok = run("admin", "restore", "--in", str(backup), "--passphrase-file", str(phrase), data_dir=tmp_path / "good")
    assert ok.returncode == 0
    s.stop()
    restored = Server(tmp_path / "good")
    try:
        assert sign_in(restored, "erin", PASSWORD).status_code == 200
    finally:
        restored.stop()


# ---------------------------------------------------------------- item 12 (part)


@pytest.mark.sqlite_only
def test_initial_admin_key_file_is_deleted_once_the_organization_is_set_up(tmp_path, data_dir, server_factory):
    s = server_factory(data_dir)
    key_file = data_dir / "initial-admin-key"
    key = key_file.read_text().strip()
    # Reads and changes that create no user or key leave it.
    assert s.api("GET", "/api/organization", key=key).status_code == 200
    assert key_file.exists()
    r = s.api("POST", "/api/members", key=key, json={"username": "first", "password": PASSWORD, "role": "owner"})
    assert r.status_code == 201, r.text
    assert not key_file.exists()
    assert "deleted" in s.log.read_text() and key not in s.log.read_text()
    # The key itself keeps working; a restart does not bring the file back.
    assert s.api("GET", "/api/organization", key=key).status_code == 200
    s.stop()
    s2 = server_factory(data_dir)
    assert not key_file.exists()
    assert s2.api("GET", "/api/organization", key=key).status_code == 200
    # The same through the CLI: admin init writes it, admin create-api-key makes the org set up.
    other = tmp_path / "other"
    init = run("admin", "init", data_dir=other)
    assert (other / "initial-admin-key").read_text().strip() == init.stdout.strip()
    run("admin", "create-api-key", "--role", "viewer", "--name", "ci", data_dir=other)
    assert not (other / "initial-admin-key").exists()
    # And a data directory set up before this version loses it at the next start.
    third = tmp_path / "third"
    run("admin", "init", data_dir=third)
    import sqlite3
    con = sqlite3.connect(third / "harborguard.db")
    con.execute("INSERT INTO api_keys (id, org_id, kind, name, token_hash, token_prefix, role, created_by, created_at)"
                " SELECT 'key_old', org_id, 'api', 'old', x'00', 'hg_ak_xx', 'viewer', 'user:old', created_at FROM api_keys")
    con.commit()
    con.close()
    assert (third / "initial-admin-key").exists()
    s3 = server_factory(third)
    assert not (third / "initial-admin-key").exists()
    s3.stop()


def test_api_responses_are_nosniff_and_no_store(data_dir, server_factory):
    s = server_factory(data_dir)
    for r in [s.api("GET", "/api/organization"), s.api("GET", "/api/no-such-thing"),
              requests.get(s.base + "/api/registries", timeout=10),
              s.api("POST", "/api/registries", data=b"{", headers={"Content-Type": "application/json"}),
              requests.get(s.base + "/api/openapi.json", timeout=10)]:
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (r.url, r.status_code, r.headers)
        assert r.headers.get("Cache-Control") == "no-store", (r.url, r.status_code, r.headers)
        assert "Strict-Transport-Security" not in r.headers  # plain HTTP: HSTS would be meaningless
    # The console's assets stay cacheable.
    css = requests.get(s.base + "/console/assets/app.css", timeout=10)
    assert "immutable" in css.headers["Cache-Control"] and css.headers["X-Content-Type-Options"] == "nosniff"


def make_cert(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_tls_sends_hsts_and_a_host_prefixed_session_cookie(tmp_path, data_dir, server_factory):
    cert, key = make_cert(tmp_path)
    s = server_factory(data_dir, extra=("--tls-cert", str(cert), "--tls-key", str(key)))
    create_user(data_dir, "frank")
    r = requests.get(s.base + "/api/organization", headers={"X-API-Key": s.admin_key}, verify=str(cert), timeout=10)
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in requests.get(s.base + "/console/sign-in", verify=str(cert), timeout=10).headers["Strict-Transport-Security"]
    r = requests.post(s.base + "/api/auth/sign-in", json={"username": "frank", "password": PASSWORD}, verify=str(cert),
                      timeout=30)
    assert r.status_code == 200, r.text
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-next-auth.session-token=hg_ses_"), cookie
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "secure" in attrs and "path=/" in attrs and "httponly" in attrs
    assert not any(a.startswith("domain") for a in attrs), cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    # The API and the console read that name, and only it.
    h = {"Cookie": f"__Host-next-auth.session-token={token}"}
    assert requests.get(s.base + "/api/organization", headers=h, verify=str(cert), timeout=10).status_code == 200
    page = requests.get(s.base + "/console", headers=h, verify=str(cert), timeout=10, allow_redirects=False)
    assert page.status_code == 200 and "frank" in page.text, page.status_code
    plain = {"Cookie": f"next-auth.session-token={token}"}
    assert requests.get(s.base + "/api/organization", headers=plain, verify=str(cert), timeout=10).status_code == 401
    assert requests.get(s.base + "/console", headers=plain, verify=str(cert), timeout=10,
                        allow_redirects=False).status_code == 303
    out = requests.post(s.base + "/api/auth/sign-out", headers=h, verify=str(cert), timeout=10)
    assert out.headers["Set-Cookie"].startswith("__Host-next-auth.session-token=;"), out.headers["Set-Cookie"]
    assert requests.get(s.base + "/api/organization", headers=h, verify=str(cert), timeout=10).status_code == 401
    # Plain HTTP keeps the cookie's name (and sends no HSTS).
    plain_dir = tmp_path / "plain"
    p = server_factory(plain_dir)
    create_user(plain_dir, "gina")
    r = sign_in(p, "gina", PASSWORD)
    assert r.headers["Set-Cookie"].startswith("next-auth.session-token=hg_ses_")
    assert "Secure" not in r.headers["Set-Cookie"] and "Strict-Transport-Security" not in r.headers


def raw_post(url, body: bytes, headers):
    return requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=30)


def test_duplicate_json_member_names_are_refused_on_every_body(data_dir, server_factory):
    s = server_factory(data_dir)
    key = {"X-API-Key": s.admin_key}
    cases = [
        (b'{"name":"a","provider":"DOCKER_HUB","name":"b"}', '"name"'),
        (b'{"name":"a","provider":"DOCKER_HUB","\\u006eame":"b"}', '"name"'),  # the same name, escaped
        (b'{"name":"a","provider":"DOCKER_HUB","credentials":{"username":"u","username":"v"}}', '"username"'),
    ]
    for body, named in cases:
        r = raw_post(s.base + "/api/registries", body, key)
        assert r.status_code == 400, (body, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "BAD_REQUEST" and named in err["message"] and "twice" in err["message"], err
        assert r.headers["Cache-Control"] == "no-store"
    # Same names in different objects, and arrays of objects, are fine.
    ok = raw_post(s.base + "/api/registries",
                  b'{"name":"dups-ok","provider":"DOCKER_REGISTRY","url":"http://127.0.0.1:9","insecure":true,'
                  b'"credentials":{"username":"name","password":"name"}}', key)
    assert ok.status_code == 201, ok.text
    assert s.api("GET", "/api/registries").json()["meta"]["total"] == 1
    # Sign-in: which password would count?
    r = raw_post(s.base + "/api/auth/sign-in", b'{"username":"x","password":"a-password-1234","password":"b"}', {})
    assert r.status_code == 400 and "twice" in r.text
    # The push-event receiver (webhook token) and the sensor protocol (sensor key) read JSON too.
    reg = s.api("POST", "/api/registries", json={"name": "hooks", "provider": "DOCKER_REGISTRY",
                                                 "url": "http://127.0.0.1:9", "insecure": True, "schedule": "manual"})
    assert reg.status_code == 201, reg.text
    reg = reg.json()["data"]
    event = {"action": "push", "target": {"repository": "team/app", "tag": "1", "digest": "sha256:" + "a" * 64,
                                          "mediaType": "application/vnd.oci.image.manifest.v1+json"}}
    body = b'{"events":' + json.dumps([event]).encode() + b',"events":[]}'
    r = raw_post(f"{s.base}/api/registries/{reg['id']}/events", body, {"Authorization": f"Bearer {reg['webhookToken']}"})
    assert r.status_code == 400 and '"events"' in r.json()["error"]["message"], r.text
    good = raw_post(f"{s.base}/api/registries/{reg['id']}/events", json.dumps({"events": [event]}).encode(),
                    {"Authorization": f"Bearer {reg['webhookToken']}"})
    assert good.status_code in (200, 202), good.text
    sensor = s.api("POST", "/api/registries", json={"name": "sensor", "provider": "DOCKER_REGISTRY",
                                                    "url": "http://127.0.0.1:9", "insecure": True, "scanMethod": "sensor"})
    assert sensor.status_code == 201, sensor.text
    skey = {"X-API-Key": sensor.json()["data"]["sensorApiKey"]}
    r = raw_post(s.base + "/api/sensor/heartbeat", b'{"name":"a","version":"1","hostname":"h","name":"b"}', skey)
    assert r.status_code == 400 and "twice" in r.text, r.text
    assert raw_post(s.base + "/api/sensor/heartbeat", b'{"name":"a","version":"1","hostname":"h"}', skey).status_code == 200


TOKEN = "metrics-token-0123456789abcdef"


@pytest.mark.parametrize("how", ["flag", "file", "env"])
def test_metrics_token_requires_the_bearer(tmp_path, data_dir, server_factory, how):
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN + "\n")
    extra, env = {"flag": (("--metrics-token", TOKEN), {}),
                  "file": (("--metrics-token-file", str(token_file)), {}),
                  "env": ((), {"HARBORGUARD_METRICS_TOKEN": TOKEN})}[how]
    s = server_factory(data_dir, extra=extra, env=env)
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + TOKEN[:-1]},
                    {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer " + TOKEN + "x"},
                    {"X-API-Key": s.admin_key}]:
        r = requests.get(s.base + "/metrics", headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.status_code)
        assert r.json()["error"]["code"] == "UNAUTHORIZED" and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(s.base + "/metrics", headers={"Authorization": "Bearer " + TOKEN}, timeout=10)
    assert r.status_code == 200 and "# TYPE" in r.text
    assert TOKEN not in s.log.read_text()
    # The other unauthenticated endpoints are unaffected.
    assert requests.get(s.base + "/healthz", timeout=10).status_code == 200


def test_metrics_stay_open_by_default_and_a_short_token_is_refused(data_dir, server_factory):
    s = server_factory(data_dir)
    r = requests.get(s.base + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    s.stop()
    p = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0", "--metrics-token", "short"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "16 characters" in p.stderr, p.stderr
