"""The foundation, through the real binary: first run, secrets at rest, rotate-kek while
serving and when killed mid-way, backup and restore, admin keys, TLS, shutdown."""
import json
import os
import signal
import stat
import subprocess
import time

import pytest
import requests

from conftest import BIN, E2E_POSTGRES, run

requests.packages.urllib3.disable_warnings()

PASSWORDS = ["Pw-9f83b2c1-very-secret", "ghp_Qm7NW2hW0xExampleSecretToken", "wJalrXUtnFEMI-K7MDENG-secretkey"]


def create_registries(s):
    bodies = [
        {"name": "r1", "provider": "DOCKER_REGISTRY", "url": "http://127.0.0.1:1", "insecure": True,
         "credentials": {"username": "u1", "password": PASSWORDS[0]}},
        {"name": "r2", "provider": "GHCR", "credentials": {"username": "bot", "pat": PASSWORDS[1]}},
        {"name": "r3", "provider": "AWS_ECR",
         "credentials": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": PASSWORDS[2], "region": "eu-west-1"}},
    ]
    ids = []
    for b in bodies:
        r = s.api("POST", "/api/registries", json=b)
        assert r.status_code == 201, r.text
        for p in PASSWORDS:
            assert p not in r.text
        ids.append(r.json()["data"]["id"])
    return ids


@pytest.mark.sqlite_only
def test_first_run_creates_a_private_data_dir_and_prints_the_key_once(data_dir, server_factory):
    s = server_factory(data_dir)
    out = s.out.read_text()
    key = s.admin_key
    assert key.startswith("hg_ak_") and len(key) == 6 + 48
    assert key in out
    for p in [data_dir, data_dir / "keys"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for p in [data_dir / "initial-admin-key", data_dir / "keys" / "keyring.json", data_dir / "harborguard.db"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert s.api("GET", "/api/organization").json()["data"]["name"] == "default"
    assert s.stop() == 0  # SIGTERM drains and exits cleanly
    s2 = server_factory(data_dir)
    assert key not in s2.out.read_text()
    assert s2.api("GET", "/api/organization").status_code == 200


def test_refuses_a_keyring_readable_by_others(data_dir, server_factory):
    s = server_factory(data_dir)
    s.stop()
    os.chmod(data_dir / "keys" / "keyring.json", 0o644)
    p = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "chmod 600" in p.stderr


def test_startup_failures_exit_cleanly_with_a_reason(tmp_path, data_dir, server_factory):
    s = server_factory(data_dir)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    p = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0", "--tls-cert", str(bad), "--tls-key", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "Fatal error" not in p.stderr, p.stderr
    busy = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", str(s.port)], capture_output=True, text=True,
                          timeout=60)
    assert busy.returncode != 0 and "Fatal error" not in busy.stderr, busy.stderr
    assert s.api("GET", "/api/organization").status_code == 200  # the running server is unharmed


def test_no_secret_is_findable_in_the_data_dir_or_logs(data_dir, server_factory):
    s = server_factory(data_dir, log_level="trace")
    ids = create_registries(s)
    # Read paths too, then update credentials, so every code path that touches them runs.
    s.api("GET", "/api/registries")
    for i in ids:
        s.api("GET", f"/api/registries/{i}")
    r = s.api("PUT", f"/api/registries/{ids[0]}", json={"credentials": {"username": "u1", "password": PASSWORDS[0] + "-2"}})
    assert r.status_code == 200
    s.stop()
    blobs = []
    for root, _, files in os.walk(data_dir):
        for f in files:
            blobs.append((os.path.join(root, f), open(os.path.join(root, f), "rb").read()))
    blobs.append(("log", s.log.read_bytes()))
    blobs.append(("stdout", s.out.read_bytes()))
    assert any(len(b) > 0 for _, b in blobs)
    for p in PASSWORDS + [PASSWORDS[0] + "-2"]:
        for name, b in blobs:
            assert p.encode() not in b, f"{p} found in {name}"


def test_create_api_key_while_serving(data_dir, server_factory):
    s = server_factory(data_dir)
    p = run("admin", "create-api-key", "--role", "viewer", "--name", "ci", data_dir=data_dir)
    key = p.stdout.strip()
    assert key.startswith("hg_ak_") and "\n" not in key
    assert s.api("GET", "/api/registries", key=key).status_code == 200
    assert s.api("POST", "/api/registries", key=key, json={"name": "x", "provider": "DOCKER_HUB"}).status_code == 403
    bad = run("admin", "create-api-key", "--role", "emperor", "--name", "x", data_dir=data_dir, check=False)
    assert bad.returncode != 0 and "unknown role" in bad.stderr


def test_rotate_kek_while_serving(data_dir, server_factory):
    s = server_factory(data_dir)
    ids = create_registries(s)
    before = json.loads((data_dir / "keys" / "keyring.json").read_text())
    p = run("admin", "rotate-kek", data_dir=data_dir)
    # On PostgreSQL one more data key seals the keyring check every node opens at start.
    assert f"re-wrapped {3 + E2E_POSTGRES}" in p.stdout
    after = json.loads((data_dir / "keys" / "keyring.json").read_text())
    assert after["primary"] != before["primary"]
    assert [k["id"] for k in after["keys"]] == [after["primary"]]
    # The running server seals new secrets under the new KEK without a restart...
    r = s.api("POST", "/api/registries", json={"name": "after", "provider": "DOCKER_REGISTRY", "url": "https://x.test",
                                               "credentials": {"username": "u", "password": "p-after"}})
    assert r.status_code == 201
    r = s.api("PUT", f"/api/registries/{ids[1]}", json={"credentials": {"username": "bot", "pat": "ghp_new"}})
    assert r.status_code == 200
    # ...and every secret opens with the rotated keyring.
    c = run("admin", "check", data_dir=data_dir)
    assert f"{5 + E2E_POSTGRES} sealed, 0 unreadable" in c.stdout or f"{4 + E2E_POSTGRES} sealed, 0 unreadable" in c.stdout, c.stdout
    assert "integrity: ok" in c.stdout
    log = s.api("GET", "/api/audit-log").json()["data"]
    assert any(e["action"] == "kek.rotate" for e in log)


@pytest.mark.parametrize("step", ["after-add", "after-rewrap", "after-retire"])
def test_rotate_kek_killed_at_each_step_leaves_every_secret_readable(data_dir, server_factory, step):
    s = server_factory(data_dir)
    create_registries(s)
    s.stop()
    p = run("admin", "rotate-kek", data_dir=data_dir, env={"HARBORGUARD_FAULT": f"rotate-kek:{step}"}, check=False)
    assert p.returncode == -signal.SIGKILL
    c = run("admin", "check", data_dir=data_dir)
    assert f"{3 + E2E_POSTGRES} sealed, 0 unreadable" in c.stdout, c.stdout
    # A later rotation completes and the server starts on the result.
    run("admin", "rotate-kek", data_dir=data_dir)
    c = run("admin", "check", data_dir=data_dir)
    assert f"{3 + E2E_POSTGRES} sealed, 0 unreadable" in c.stdout
    s2 = server_factory(data_dir)
    assert len(s2.api("GET", "/api/registries").json()["data"]) == 3


@pytest.mark.sqlite_only
def test_backup_while_serving_and_restore_on_a_new_host(tmp_path, data_dir, server_factory):
    s = server_factory(data_dir)
    ids = create_registries(s)
    # Keep writing while the backup runs: the snapshot must still be consistent.
    stop = time.time() + 1.5
    pp = tmp_path / "pass"
    pp.write_text("correct horse battery staple\n")
    backup = tmp_path / "b.hgbak"
    proc = subprocess.Popen([BIN, "admin", "backup", "--data-dir", str(data_dir), "--out", str(backup),
                             "--passphrase-file", str(pp)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    n = 0
    while time.time() < stop or proc.poll() is None:
        s.api("POST", "/api/registries", json={"name": f"busy-{n}", "provider": "DOCKER_HUB"})
        n += 1
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    for p in PASSWORDS:
        assert p.encode() not in backup.read_bytes()
    # A new host: empty directory, keyring comes from the passphrase-sealed copy.
    new = tmp_path / "restored"
    r = run("admin", "restore", "--in", str(backup), "--passphrase-file", str(pp), data_dir=new)
    assert "restored" in r.stdout
    c = run("admin", "check", data_dir=new)
    assert "3 sealed, 0 unreadable" in c.stdout and "integrity: ok" in c.stdout
    s2 = server_factory(new)
    names = {x["name"] for x in s2.api("GET", "/api/registries?limit=200", key=s.admin_key).json()["data"]}
    assert {"r1", "r2", "r3"} <= names
    got = s2.api("GET", f"/api/registries/{ids[0]}", key=s.admin_key).json()["data"]
    assert got["hasCredentials"] is True
    # Restoring again over it is refused, clearly.
    again = run("admin", "restore", "--in", str(backup), "--passphrase-file", str(pp), data_dir=new, check=False)
    assert again.returncode != 0 and "empty data directory" in again.stderr


@pytest.mark.sqlite_only
def test_tampered_and_truncated_backups_are_refused(tmp_path, data_dir, server_factory):
    s = server_factory(data_dir)
    create_registries(s)
    backup = tmp_path / "b.hgbak"
    run("admin", "backup", "--out", str(backup), data_dir=data_dir)
    data = backup.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    (tmp_path / "flipped.hgbak").write_bytes(bytes(flipped))
    (tmp_path / "short.hgbak").write_bytes(data[: len(data) - 64])
    ring = str(data_dir / "keys" / "keyring.json")
    r = run("admin", "restore", "--in", str(tmp_path / "flipped.hgbak"), "--keyring", ring, data_dir=tmp_path / "x", check=False)
    assert r.returncode != 0 and ("modified" in r.stderr or "truncated" in r.stderr), r.stderr
    assert not (tmp_path / "x" / "harborguard.db").exists()
    r = run("admin", "restore", "--in", str(tmp_path / "short.hgbak"), "--keyring", ring, data_dir=tmp_path / "y", check=False)
    assert r.returncode != 0 and "truncated" in r.stderr, r.stderr
    ok = run("admin", "restore", "--in", str(backup), "--keyring", ring, data_dir=tmp_path / "z")
    assert ok.returncode == 0


def test_users_sign_in_with_a_cookie(data_dir, server_factory):
    s = server_factory(data_dir)
    run("admin", "create-user", "--username", "alice", "--role", "developer", "--bcrypt-cost", "4",
        data_dir=data_dir, env={"HARBORGUARD_PASSWORD": "alice-password-123"})
    r = requests.post(s.base + "/api/auth/sign-in", json={"username": "alice", "password": "alice-password-123"})
    assert r.status_code == 200
    cookie = r.headers["Set-Cookie"]
    assert "next-auth.session-token=hg_ses_" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    sess = requests.Session()
    sess.cookies.set("next-auth.session-token", r.cookies["next-auth.session-token"])
    assert sess.get(s.base + "/api/registries").status_code == 200
    assert sess.post(s.base + "/api/registries", json={"name": "x", "provider": "DOCKER_HUB"}).status_code == 403


def test_tls(tmp_path, data_dir, server_factory):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    s = server_factory(data_dir, extra=("--tls-cert", str(cert), "--tls-key", str(key)))
    r = requests.get(s.base + "/api/organization", headers={"X-API-Key": s.admin_key}, verify=str(cert))
    assert r.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{s.port}/healthz", timeout=3)


def test_openapi_document_validates(data_dir, server_factory):
    from openapi_spec_validator import validate
    s = server_factory(data_dir)
    doc = requests.get(s.base + "/api/openapi.json").json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_metrics_and_readiness(data_dir, server_factory):
    s = server_factory(data_dir)
    assert requests.get(s.base + "/readyz").status_code == 200
    s.api("GET", "/api/registries")
    s.api("GET", "/api/registries/reg_nope")
    m = requests.get(s.base + "/metrics").text
    assert 'http_route="/api/registries"' in m
    assert 'http_route="/api/registries/{registryId}"' in m
    assert "reg_nope" not in m  # labels are route templates, never raw paths


@pytest.mark.parametrize("args,code", [
    (["verify", "--help"], 64), (["verify"], 64), (["admin", "nosuch", "--help"], 64), (["db", "nosuch"], 64),
    (["--help"], 0), (["admin", "--help"], 0), (["help", "scan"], 0), (["db", "status", "--help"], 0), (["check", "--help"], 0),
])
def test_an_unknown_subcommand_is_a_usage_error_even_with_help(args, code):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == code, (args, p.returncode, p.stderr)
    if code == 64:
        assert f"unknown subcommand '{[a for a in args if not a.startswith('-')][-1]}'" in p.stderr
