"""Security review items on the real binary:

- no secret in any log at any level: the server, a sensor and the CLI run at `trace`, every kind of
  secret the appliance handles is created and used, and every log is searched for each;
- token realms on other hosts only over https, and redirects never carry credentials to
  another origin (the registry client's unit tests cover the same in Tests/RegistryTests);
- the data directory and keyring are private (0700/0600) and a keyring readable by others
  is refused with the fix in the message.

Constant-time comparison of token hashes and webhook signatures is a Swift test
(Tests/ServerTests/ConstantTimeTests.swift): timing cannot be measured reliably here."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest
import requests

import conftest
from conftest import BIN, Server
from registry_harness import Registry

REGISTRY_USER = "ci-sec"
REGISTRY_PASSWORD = "Reg-Pass-5e1c7d9a-secret"
USER_PASSWORD = "User-Pass-0b7f3c61-secret"
CHANNEL_SECRET = "Channel-Secret-9d2e4a7b"
PASSPHRASE = "Backup-Passphrase-3f8a1c55"


def trace_run(args, data_dir, logs, env=None, input=None, check=True):
    """A CLI command at trace level; its stdout and stderr are kept for the log search."""
    e = dict(os.environ)
    e.update(env or {})
    if tuple(args[:2]) in conftest._DATABASE_COMMANDS:
        args = [*args, *conftest.database_args(data_dir)]
    p = subprocess.run([BIN, *args, "--data-dir", str(data_dir), "--log-level", "trace"], capture_output=True, text=True,
                       env=e, input=input, timeout=120)
    logs.append((" ".join(args[:2]) + " stderr", p.stderr))
    if check:
        assert p.returncode == 0, f"{args} exited {p.returncode}: {p.stderr[-2000:]}"
    return p


class Receiver:
    """Records requests (method, path, headers) and answers with `respond(handler)`."""

    def __init__(self, respond):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
                respond(self)

            do_GET = do_POST = do_HEAD = do_PUT = _any

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def reply(h, status, headers=(), body=b""):
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_no_secret_in_logs_at_trace_level(tmp_path):
    logs = []  # (name, text)
    secrets = {}  # name -> value
    reg = Registry(user=REGISTRY_USER, password=REGISTRY_PASSWORD)
    reg.push("sec/app", "1")
    rx = Receiver(lambda h: reply(h, 200))
    data = tmp_path / "data"
    s = Server(data, log_level="trace", extra=("--allow-private-targets",))
    try:
        admin = s.admin_key
        secrets["initial admin key"] = admin
        secrets["registry password"] = REGISTRY_PASSWORD
        secrets["registry basic header"] = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
        # A registry with credentials: test-connection, sync and a scan all send them.
        r = s.api("POST", "/api/registries", json={
            "name": "sec", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True, "schedule": "on_push",
            "scanners": ["native"], "credentials": {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD}})
        assert r.status_code == 201, r.text
        registry = r.json()["data"]
        secrets["registry webhook token"] = registry["webhookToken"]
        tc = s.api("POST", "/api/registries/test-connection", json={"registryId": registry["id"]}).json()["data"]
        assert tc["status"] == "ok", tc
        job = s.api("POST", f"/api/registries/{registry['id']}/sync").json()["data"]["jobId"]
        wait_for(lambda: s.api("GET", f"/api/jobs/{job}").json()["data"]["status"] == "succeeded")
        scan = s.api("POST", "/api/scans", json={"image": f"{reg.host}/sec/app:1"}).json()["data"]
        done = wait_for(lambda: (lambda x: x if x["status"] in ("completed", "failed") else None)(
            s.api("GET", f"/api/scans/{scan['id']}").json()["data"]))
        assert done["status"] == "completed", done
        # A push event authenticated by the webhook token, a wrong token too.
        ev = {"events": [{"action": "push", "target": {"repository": "sec/app", "tag": "1", "digest": done["digest"],
                                                      "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}}]}
        url = f"{s.base}/api/registries/{registry['id']}/events"
        assert requests.post(url, json=ev, headers={"Authorization": f"Bearer {registry['webhookToken']}"}).status_code in (200, 202)
        assert requests.post(url + f"?token={registry['webhookToken']}", json=ev).status_code in (200, 202)
        assert requests.post(url, json=ev, headers={"Authorization": "Bearer hg_wh_" + "0" * 48}).status_code == 401
        # Rotating it prints a new one.
        rot = s.api("POST", f"/api/registries/{registry['id']}/webhook-token")
        assert rot.status_code == 200, rot.text
        secrets["rotated webhook token"] = rot.json()["data"]["webhookToken"]
        # A sensor registry's key, used on the sensor protocol.
        sr = s.api("POST", "/api/registries", json={"name": "sensor", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                    "insecure": True, "scanMethod": "sensor"})
        assert sr.status_code == 201, sr.text
        sensor_key = sr.json()["data"]["sensorApiKey"]
        secrets["sensor key"] = sensor_key
        hb = requests.post(s.base + "/api/sensor/heartbeat", headers={"X-API-Key": sensor_key},
                           json={"name": "sec-sensor", "version": "1", "hostname": "h"})
        assert hb.status_code == 200, hb.text
        # The sensor itself at trace level, with the registry password on stdin: it syncs.
        sensor_log = tmp_path / "sensor.log"
        e = dict(os.environ, HOME=str(tmp_path), HARBORGUARD_SENSOR_API_KEY=sensor_key)
        sensor = subprocess.Popen(
            [BIN, "sensor", "--server", s.base, "--name", "sec-sensor", "--username", REGISTRY_USER, "--password-stdin",
             "--heartbeat-interval", "1", "--poll-interval", "1", "--data-dir", str(tmp_path / "sensor-data"),
             "--log-level", "trace"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(sensor_log, "w"), env=e, text=True)
        sensor.stdin.write(REGISTRY_PASSWORD + "\n")
        sensor.stdin.close()
        try:
            sync = s.api("POST", f"/api/registries/{sr.json()['data']['id']}/sync")
            assert sync.status_code == 202, sync.text
            wait_for(lambda: "result recorded" in sensor_log.read_text() or sensor.poll() is not None, timeout=90)
            assert sensor.poll() is None, sensor_log.read_text()[-2000:]
        finally:
            sensor.send_signal(signal.SIGTERM)
            sensor.wait(timeout=30)
        logs.append(("sensor stderr", sensor_log.read_text()))
        # API keys: through the API and the CLI, used, and one revoked.
        k = s.api("POST", "/api/api-keys", json={"name": "sec-key", "role": "viewer"})
        assert k.status_code == 201, k.text
        api_key = k.json()["data"]["key"]
        secrets["api key"] = api_key
        assert s.api("GET", "/api/registries", key=api_key).status_code == 200
        cli_key = trace_run(["admin", "create-api-key", "--role", "viewer", "--name", "cli"], data, logs).stdout.strip()
        secrets["cli api key"] = cli_key
        assert s.api("GET", "/api/registries", key=cli_key).status_code == 200
        assert s.api("DELETE", f"/api/api-keys/{k.json()['data']['id']}").status_code in (200, 204)
        assert s.api("GET", "/api/registries", key=api_key).status_code == 401
        # A user: password, session cookie, a personal access token, sign-out.
        trace_run(["admin", "create-user", "--username", "sec-user", "--role", "admin", "--bcrypt-cost", "4"], data, logs,
                  env={"HARBORGUARD_PASSWORD": USER_PASSWORD})
        secrets["user password"] = USER_PASSWORD
        assert requests.post(s.base + "/api/auth/sign-in", json={"username": "sec-user", "password": "wrong-" + USER_PASSWORD}).status_code == 401
        si = requests.post(s.base + "/api/auth/sign-in", json={"username": "sec-user", "password": USER_PASSWORD})
        assert si.status_code == 200, si.text
        session = si.cookies["next-auth.session-token"]
        secrets["session token"] = session
        sess = requests.Session()
        sess.cookies.set("next-auth.session-token", session)
        pat = sess.post(s.base + "/api/personal-access-tokens", json={"name": "sec-pat"})
        assert pat.status_code == 201, pat.text
        pat_token = pat.json()["data"]["key"]
        assert pat_token.startswith("hg_pat_")
        secrets["personal access token"] = pat_token
        assert requests.get(s.base + "/api/registries", headers={"Authorization": f"Bearer {pat_token}"}).status_code == 200
        assert sess.post(s.base + "/api/auth/sign-out").status_code in (200, 204)
        # A signed webhook channel and its test delivery.
        ch = s.api("POST", "/api/notification-channels", json={"name": "sec", "url": f"http://127.0.0.1:{rx.port}/hook",
                                                               "events": ["scan_complete"], "secret": CHANNEL_SECRET})
        assert ch.status_code == 201, ch.text
        secrets["webhook secret"] = CHANNEL_SECRET
        t = s.api("POST", f"/api/notification-channels/{ch.json()['data']['id']}/test").json()["data"]
        assert t["delivered"] is True, t
        sig = rx.requests[-1]["headers"]["X-HarborGuard-Signature"]
        assert sig == "sha256=" + hmac.new(CHANNEL_SECRET.encode(), rx.requests[-1]["body"], hashlib.sha256).hexdigest()
        # KEK material before and after a rotation, and a passphrase backup.
        ring = json.loads((data / "keys" / "keyring.json").read_text())
        trace_run(["admin", "rotate-kek"], data, logs)
        ring2 = json.loads((data / "keys" / "keyring.json").read_text())
        for i, key in enumerate(ring["keys"] + ring2["keys"]):
            material = key["key"]  # base64 of the 32 key bytes
            assert len(base64.b64decode(material)) == 32
            secrets[f"KEK {i}"] = material
            secrets[f"KEK {i} hex"] = base64.b64decode(material).hex()
        pp = tmp_path / "pp"
        pp.write_text(PASSPHRASE + "\n")
        secrets["backup passphrase"] = PASSPHRASE
        trace_run(["admin", "backup", "--out", str(tmp_path / "b.hgbak"), "--passphrase-file", str(pp)], data, logs)
        trace_run(["admin", "restore", "--in", str(tmp_path / "b.hgbak"), "--passphrase-file", str(pp)],
                  tmp_path / "restored", logs)
        trace_run(["admin", "check"], data, logs)
    finally:
        s.stop()
        reg.stop()
        rx.close()

    server_log = s.log.read_text()
    server_out = s.out.read_text()
    assert "trace" in server_log.lower() or len(server_log) > 1000, "the server did not log at trace level"
    # The initial admin key is printed once on stdout by design (and written to its 0600 file).
    assert server_out.count(admin) == 1 and "shown once" in server_out
    logs += [("serve stderr", server_log), ("serve stdout", server_out.replace(admin, "<initial key>"))]
    found = [(name, where) for name, value in secrets.items() for where, text in logs if value in text]
    assert not found, f"secrets in logs: {found}"
    assert len(secrets) == 17, sorted(secrets)


@pytest.mark.parametrize("realm_host", ["localhost", "127.0.0.1"], ids=["another host", "another port of the same host"])
def test_token_realm_over_http_off_the_registrys_origin_is_refused(tmp_path, realm_host):
    """A registry whose challenge points at a plain-http realm on another host, or on another
    port of its own host: the credentials are never sent there, and the user is told why."""
    realm = Receiver(lambda h: reply(h, 200, [("Content-Type", "application/json")], b'{"token":"t"}'))

    def registry(h):
        if h.headers.get("Authorization", "").startswith("Bearer t"):
            return reply(h, 200, [("Content-Type", "application/json"), ("Docker-Distribution-API-Version", "registry/2.0")], b"{}")
        reply(h, 401, [("WWW-Authenticate", f'Bearer realm="http://{realm_host}:{realm.port}/token",service="x"'),
                       ("Docker-Distribution-API-Version", "registry/2.0")], b"{}")

    reg = Receiver(registry)
    s = Server(tmp_path / "data")
    try:
        r = s.api("POST", "/api/registries/test-connection", json={
            "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{reg.port}", "insecure": True,
            "credentials": {"username": "u", "password": REGISTRY_PASSWORD}})
        assert r.status_code == 200, r.text
        d = r.json()["data"]
        assert d["ok"] is False and d["status"] == "auth_failed" and "must use https" in d["message"], d
        assert REGISTRY_PASSWORD not in r.text
        assert realm.requests == [], f"credentials went to a plain-http realm on {realm_host}:{realm.port}"
    finally:
        s.stop()
        reg.close()
        realm.close()


def test_a_redirect_to_another_origin_carries_no_credentials(tmp_path):
    """The catalog answers with a redirect to another origin (localhost vs 127.0.0.1): the
    follow-up request there carries no Authorization header; on the registry's own origin
    the Basic credentials are sent."""
    other = Receiver(lambda h: reply(h, 200, [("Content-Type", "application/json")], b'{"repositories":["x/y"]}'))

    def registry(h):
        if not h.headers.get("Authorization"):
            return reply(h, 401, [("WWW-Authenticate", 'Basic realm="r"'), ("Docker-Distribution-API-Version", "registry/2.0")])
        if h.path.startswith("/v2/_catalog"):
            return reply(h, 307, [("Location", f"http://localhost:{other.port}/v2/_catalog?n=100")])
        reply(h, 200, [("Content-Type", "application/json"), ("Docker-Distribution-API-Version", "registry/2.0")], b"{}")

    reg = Receiver(registry)
    s = Server(tmp_path / "data")
    try:
        r = s.api("POST", "/api/registries/test-connection", json={
            "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:{reg.port}", "insecure": True,
            "credentials": {"username": "u", "password": REGISTRY_PASSWORD}})
        assert r.status_code == 200, r.text
        assert any(q["headers"].get("Authorization", "").startswith("Basic ") for q in reg.requests)
        assert other.requests, f"the redirect was not followed: {r.json()}"
        for q in other.requests:
            assert "Authorization" not in q["headers"] and "authorization" not in q["headers"], q
    finally:
        s.stop()
        reg.close()
        other.close()


@pytest.mark.sqlite_only
def test_data_dir_and_keyring_are_private_and_an_open_keyring_is_refused(tmp_path):
    data = tmp_path / "data"
    s = Server(data)
    s.stop()
    for p in [data, data / "keys", data / "cache"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for p in [data / "keys" / "keyring.json", data / "harborguard.db", data / "initial-admin-key"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    ring = data / "keys" / "keyring.json"
    for mode in (0o640, 0o604, 0o660):
        os.chmod(ring, mode)
        p = subprocess.run([BIN, "serve", "--data-dir", str(data), "--port", "0"], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0, oct(mode)
        assert "readable by other users" in p.stderr and f"chmod 600 {ring}" in p.stderr, p.stderr
        assert "Fatal error" not in p.stderr
        # The admin commands that read the keyring refuse it too.
        c = subprocess.run([BIN, "admin", "check", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
        assert c.returncode != 0 and "chmod 600" in c.stderr, c.stderr
    os.chmod(ring, 0o600)
    # A data directory someone opened up is made private again on start.
    os.chmod(data, 0o755)
    s2 = Server(data)
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert s2.api("GET", "/api/organization").status_code == 200
    finally:
        s2.stop(signal.SIGTERM)
