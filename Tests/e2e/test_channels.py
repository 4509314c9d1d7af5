import pytest
"""Slack, Teams and e-mail channels on the real binary, with real receivers on loopback:
Slack and Teams as HTTP servers that validate the payload shapes and Block Kit's limits, a
real SMTP server (aiosmtpd) with STARTTLS and AUTH under a throwaway CA made here, the
received message parsed with Python's `email` package (both parts, headers, no injection from
a hostile registry or package name), a 429 with Retry-After retried when it says, a digest
channel batching 50 events into one message, and the same channels refused without
`serve --allow-private-targets`."""
import datetime
import email
import email.policy
import email.utils
import http.server
import json
import re
import sqlite3
import ssl
import subprocess
import threading
import time
from pathlib import Path

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import Server, free_port, run, wait_job
from registry_harness import Registry, MANIFEST_V2
from test_scan_cli import osv

SLACK_TOKEN = "T0000/B0000/sLaCkToKeN0123456789"
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-pass-0123456789"
HOSTILE_PKG = 'evilé<b>&"pkg'
HOSTILE_REGISTRY = "Prod é\u2028Bcc: evil@attacker.example"


class Receiver:
    """Slack and Teams stand-ins: records JSON bodies by path; `/busy` answers 429 with
    Retry-After: 1 the first time, then 200."""

    def __init__(self):
        self.received = []
        self.busy_hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()})
                code = 200
                if self.path.startswith("/busy"):
                    outer.busy_hits += 1
                    code = 429 if outer.busy_hits == 1 else 200
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bodies(self, path):
        return [json.loads(r["body"]) for r in self.received if r["path"].startswith(path)]


def wait(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def make_ca(d: Path):
    """A throwaway CA and a server certificate for `localhost` signed by it."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
         "-days", "2", "-subj", "/CN=harborguard test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "srv.key"), "-out", str(d / "srv.csr"), "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    ossl("x509", "-req", "-in", str(d / "srv.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"), "-CAcreateserial",
         "-out", str(d / "srv.pem"), "-days", "2", "-extfile", str(d / "ext.cnf"))
    return d / "ca.pem", d / "srv.pem", d / "srv.key"


class SMTPSink:
    def __init__(self, cert, key, exclude=(), implicit=False):
        self.messages = []
        self.mechanisms = []
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))

        def auth(server, session, envelope, mechanism, data):
            self.mechanisms.append(mechanism)
            ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
            return AuthResult(success=ok, handled=False)

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "content": envelope.content,
                                      "tls": session.ssl is not None, "auth": session.authenticated})
                return "250 OK"

        self.port = free_port()
        # (aiosmtpd's TLS check for AUTH knows only STARTTLS: an implicit-TLS listener is TLS throughout.)
        tls = {"ssl_context": ctx, "auth_require_tls": False} if implicit else {"tls_context": ctx, "require_starttls": True,
                                                                                "auth_require_tls": True}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=auth,
                                     auth_exclude_mechanism=list(exclude), **tls)
        self.controller.start()

    def stop(self):
        self.controller.stop()


def check_slack(p):
    assert isinstance(p["text"], str) and isinstance(p["blocks"], list)
    assert 1 <= len(p["blocks"]) <= 50
    assert p["blocks"][0]["type"] == "header" and p["blocks"][0]["text"]["type"] == "plain_text"
    assert len(p["blocks"][0]["text"]["text"]) <= 150
    for b in p["blocks"]:
        assert b["type"] in ("header", "section", "divider", "context"), b
        if b["type"] == "section":
            assert b["text"]["type"] == "mrkdwn" and len(b["text"]["text"]) <= 3000
        if b["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in b["elements"])
    assert p["blocks"][-1]["type"] == "context"


def check_teams(p):
    assert p["type"] == "message" and len(p["attachments"]) == 1
    a = p["attachments"][0]
    assert a["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = a["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert isinstance(card["body"], list) and card["body"] and all("type" in b for b in card["body"])
    assert card["actions"][0]["type"] == "Action.OpenUrl" and card["actions"][0]["url"].startswith("http")


def dpkg_status(name, version):
    return (f"Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\n").encode()


def test_slack_teams_email_deliver_with_retries_and_no_injection(tmp_path):
    rx = Receiver()
    ca, cert, key = make_ca(tmp_path)
    smtp = SMTPSink(cert, key)
    reg = Registry()
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "a.json").write_text(json.dumps(osv("DEBIAN-CVE-2099-0777", "Debian:12", HOSTILE_PKG, "2.0",
                                                   aliases=["CVE-2099-0777"], severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")))
    os_release = Path("/etc/os-release").read_bytes()
    reg.push("apps/one", "1.0", layers=[{"etc/os-release": os_release, "var/lib/dpkg/status": dpkg_status(HOSTILE_PKG, "1.0")}])
    reg.push("apps/two", "1.0")
    data = tmp_path / "data"
    s = Server(data, extra=("--allow-private-targets",))
    try:
        run("db", "import", str(osv_dir), data_dir=data)
        events = ["new_image", "scan_complete", "critical_cve"]
        email_settings = {"host": "localhost", "port": smtp.port, "security": "starttls", "username": SMTP_USER,
                          "password": SMTP_PASSWORD, "from": "harborguard@example.com", "to": ["sec@example.com", "ops@example.com"],
                          "caFile": str(ca)}

        # Validation: one issue per bad field, paths into the e-mail settings.
        bad = s.api("POST", "/api/notification-channels", json={
            "name": "bad", "type": "email", "events": events, "delivery": "weekly", "minSeverity": "severe", "minPriority": "p1",
            "email": {**email_settings, "to": ["a@example.com", "b@example.com", "not an address"], "port": 70000,
                      "host": "127.0.0.1", "bogus": 1}})
        assert bad.status_code == 400, bad.text
        paths = sorted(i["path"] for i in bad.json()["error"]["issues"])
        assert paths == ["delivery", "email.bogus", "email.host", "email.port", "email.to[2]", "minPriority", "minSeverity"], paths
        bad = s.api("POST", "/api/notification-channels", json={"name": "w", "url": rx.url + "/w", "events": events, "delivery": "daily"})
        assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "delivery"
        bad = s.api("POST", "/api/notification-channels", json={"name": "s", "type": "slack", "events": events})
        assert bad.status_code == 400 and bad.json()["error"]["issues"][0]["path"] == "url"

        slack = s.api("POST", "/api/notification-channels", json={
            "name": "slack", "type": "slack", "url": f"{rx.url}/slack/{SLACK_TOKEN}", "events": events})
        assert slack.status_code == 201, slack.text
        slack = slack.json()["data"]
        assert SLACK_TOKEN not in json.dumps(slack) and slack["url"] == f"{rx.url}/…" and slack["hasSecret"] is True
        assert slack["delivery"] == "immediate"
        assert SLACK_TOKEN not in s.api("GET", f"/api/notification-channels/{slack['id']}").text
        change = s.api("PUT", f"/api/notification-channels/{slack['id']}", json={"type": "teams"})
        assert change.status_code == 400 and change.json()["error"]["issues"][0]["path"] == "type"
        teams = s.api("POST", "/api/notification-channels", json={
            "name": "teams", "type": "teams", "url": f"{rx.url}/teams/tok", "events": events}).json()["data"]
        mail = s.api("POST", "/api/notification-channels", json={
            "name": "mail", "type": "email", "events": events, "email": email_settings})
        assert mail.status_code == 201, mail.text
        mail = mail.json()["data"]
        assert SMTP_PASSWORD not in json.dumps(mail) and mail["hasSecret"] is True and "password" not in mail["email"]
        assert mail["email"]["to"] == ["sec@example.com", "ops@example.com"]
        # Only new_image: its message is that one event, titled with the registry's name.
        assert s.api("POST", "/api/notification-channels", json={
            "name": "mail-images", "type": "email", "events": ["new_image"], "email": email_settings}).status_code == 201
        busy = s.api("POST", "/api/notification-channels", json={
            "name": "busy", "type": "slack", "url": f"{rx.url}/busy", "events": ["new_image"]}).json()["data"]
        # minSeverity high: the critical finding and the info-level new_image pass, nothing is lost.
        assert s.api("PUT", f"/api/notification-channels/{teams['id']}", json={"minSeverity": "high"}).json()["data"]["minSeverity"] == "high"

        # Send test works for every type; the e-mail one over STARTTLS with AUTH, verified by the CA file.
        for ch in (slack, teams, mail):
            t = s.api("POST", f"/api/notification-channels/{ch['id']}/test").json()["data"]
            assert t["delivered"] is True, (ch["type"], t)
        assert len(smtp.messages) == 1 and smtp.messages[0]["tls"] and smtp.messages[0]["auth"]
        assert smtp.mechanisms and smtp.mechanisms[0] in ("PLAIN", "LOGIN")
        check_slack(rx.bodies("/slack")[0])
        check_teams(rx.bodies("/teams")[0])
        # A server offering only AUTH LOGIN.
        login_only = SMTPSink(cert, key, exclude=("PLAIN",))
        try:
            ch = s.api("POST", "/api/notification-channels", json={
                "name": "mail-login", "type": "email", "events": events,
                "email": {**email_settings, "port": login_only.port}}).json()["data"]
            t = s.api("POST", f"/api/notification-channels/{ch['id']}/test").json()["data"]
            assert t["delivered"] is True and login_only.mechanisms == ["LOGIN"] and len(login_only.messages) == 1, t
            s.api("DELETE", f"/api/notification-channels/{ch['id']}")
        finally:
            login_only.stop()
        # Implicit TLS (security: tls): the listener speaks nothing but TLS, with AUTH.
        implicit = SMTPSink(cert, key, implicit=True)
        try:
            ch = s.api("POST", "/api/notification-channels", json={
                "name": "mail-tls", "type": "email", "events": events,
                "email": {**email_settings, "port": implicit.port, "security": "tls"}}).json()["data"]
            t = s.api("POST", f"/api/notification-channels/{ch['id']}/test").json()["data"]
            assert t["delivered"] is True and len(implicit.messages) == 1 and implicit.messages[0]["auth"], t
            s.api("DELETE", f"/api/notification-channels/{ch['id']}")
        finally:
            implicit.stop()
        # A server without STARTTLS: refused before any AUTH (the password never crosses in the clear).
        plain = Controller(type("H", (), {"handle_DATA": lambda *a: None})(), hostname="127.0.0.1", port=free_port())
        plain.start()
        try:
            ch = s.api("POST", "/api/notification-channels", json={
                "name": "mail-plain", "type": "email", "events": events,
                "email": {**email_settings, "port": plain.port}}).json()["data"]
            t = s.api("POST", f"/api/notification-channels/{ch['id']}/test").json()["data"]
            assert t["delivered"] is False and t["error"] == "the SMTP server does not offer STARTTLS", t
            s.api("DELETE", f"/api/notification-channels/{ch['id']}")
        finally:
            plain.stop()
        # Without the CA file the certificate is checked against the system store, and fails.
        untrusted = s.api("POST", "/api/notification-channels", json={
            "name": "untrusted", "type": "email", "events": events,
            "email": {k: v for k, v in email_settings.items() if k != "caFile"}}).json()["data"]
        t = s.api("POST", f"/api/notification-channels/{untrusted['id']}/test").json()["data"]
        assert t["delivered"] is False and t["error"] == "TLS handshake or certificate verification failed", t
        wrong = s.api("POST", "/api/notification-channels", json={
            "name": "wrong-password", "type": "email", "events": events,
            "email": {**email_settings, "password": "not-the-password"}}).json()["data"]
        t = s.api("POST", f"/api/notification-channels/{wrong['id']}/test").json()["data"]
        assert t["delivered"] is False and t["error"].startswith("SMTP authentication failed"), t
        for ch in (untrusted, wrong):
            s.api("DELETE", f"/api/notification-channels/{ch['id']}")

        # Events: a sync (one new_image for both repositories, titled with the hostile
        # registry name), then a scan with a critical finding in the hostile package.
        r = s.api("POST", "/api/registries", json={"name": HOSTILE_REGISTRY, "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        assert r.status_code == 201, r.text
        registry = r.json()["data"]
        assert wait_job(s, s.api("POST", f"/api/registries/{registry['id']}/sync").json()["data"]["jobId"])["status"] == "succeeded"
        scan = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/one:1.0"}).json()["data"]
        assert wait_job(s, scan["jobId"])["status"] == "succeeded"

        def mail_with(text):
            return [m for m in smtp.messages if text.encode() in m["content"] or text in str(
                email.message_from_bytes(m["content"], policy=email.policy.default)["Subject"])]
        assert wait(lambda: any("critical" in json.dumps(b).lower() for b in rx.bodies("/slack")[1:])), rx.bodies("/slack")
        assert wait(lambda: any("CVE-2099-0777" in m["content"].decode(errors="replace") or
                                "CVE-2099-0777" in email.message_from_bytes(m["content"], policy=email.policy.default)
                                .get_body(("plain",)).get_content() for m in smtp.messages[1:]))

        assert wait(lambda: any(b"=?UTF-8?B?" in m["content"] for m in smtp.messages)), [m["content"][:300] for m in smtp.messages]
        for p in rx.bodies("/slack"):
            check_slack(p)
        for p in rx.bodies("/teams"):
            check_teams(p)
        slack_text = json.dumps(rx.bodies("/slack")[1:])
        assert "new image" in slack_text.lower() and "CVE-2099-0777" in slack_text
        # Slack mrkdwn escaping: the hostile name cannot open a link.
        assert "<b>" not in slack_text and "&lt;b&gt;" in slack_text
        # Links into the console on the server's base URL: new_image to the registry's page.
        assert f"<{s.base}/console/registries/{registry['id']}|" in slack_text and "/console/console" not in slack_text
        # Each channel's delivery is a job of its own, run by whichever worker is free: Teams'
        # may land after Slack's and the e-mail, so it is waited for as they are.
        assert wait(lambda: "CVE-2099-0777" in json.dumps(rx.bodies("/teams")[1:])), rx.bodies("/teams")
        for p in rx.bodies("/teams"):
            check_teams(p)

        # Every received e-mail: multipart/alternative, both parts, CRLF, parsed headers, no injection.
        subjects = []
        for m in smtp.messages:
            raw = m["content"]
            assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in the message"
            assert m["from"] == "harborguard@example.com" and sorted(m["to"]) == ["ops@example.com", "sec@example.com"]
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert msg.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
            assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
            assert msg["To"] == "sec@example.com, ops@example.com" and msg["From"] == "harborguard@example.com"
            assert email.utils.parsedate_to_datetime(msg["Date"]).tzinfo is not None
            assert re.fullmatch(r"<[0-9a-f]+\.\d+@example\.com>", msg["Message-ID"])
            assert msg["Bcc"] is None and "attacker" not in str(msg["To"]) and "attacker" not in str(msg["From"])
            assert set(k.lower() for k in msg.keys()) <= {"from", "to", "subject", "date", "message-id", "mime-version",
                                                          "content-type", "x-mailer"}, msg.keys()
            subjects.append(str(msg["Subject"]))
            html = msg.get_body(("html",)).get_content()
            text = msg.get_body(("plain",)).get_content()
            if "CVE-2099-0777" in text:
                assert HOSTILE_PKG in text
                assert "evilé&lt;b&gt;&amp;&quot;pkg" in html and HOSTILE_PKG not in html
        # The non-ASCII registry name reaches the Subject RFC 2047-encoded, without its line separator.
        raw_subjects = [re.search(rb"^Subject: (.*?)\r\n(?! )", m["content"], re.M | re.S).group(1) for m in smtp.messages]
        assert any(b"=?UTF-8?B?" in r for r in raw_subjects), raw_subjects
        assert any("Prod é" in x for x in subjects), subjects
        assert not any("\u2028" in x for x in subjects)

        # 429 with Retry-After: 1 → the next attempt about a second later, then delivered.
        assert wait(lambda: len([r for r in rx.received if r["path"] == "/busy"]) >= 2, timeout=30)
        hits = [r for r in rx.received if r["path"] == "/busy"]
        assert 0.8 <= hits[1]["at"] - hits[0]["at"] <= 5, hits[1]["at"] - hits[0]["at"]
        log = s.api("GET", f"/api/notification-channels/{busy['id']}/deliveries").json()["data"]
        assert wait(lambda: s.api("GET", f"/api/notification-channels/{busy['id']}/deliveries").json()["data"][0]["status"] == "delivered")
        log = s.api("GET", f"/api/notification-channels/{busy['id']}/deliveries").json()["data"]
        assert log[0]["attempts"] == 2 and log[0]["statusClass"] == "2xx"

        # Secrets are sealed: neither the Slack token nor the SMTP password is in the database files.
        for f in data.glob("harborguard.db*"):
            raw = f.read_bytes()
            assert SLACK_TOKEN.encode() not in raw and SMTP_PASSWORD.encode() not in raw
    finally:
        s.stop()
        reg.stop()
        smtp.stop()
        rx.httpd.shutdown()


@pytest.mark.sqlite_only
def test_hourly_digest_batches_fifty_events_into_one_message(tmp_path):
    rx = Receiver()
    reg = Registry()
    data = tmp_path / "data"
    s = Server(data, extra=("--allow-private-targets",))
    try:
        ch = s.api("POST", "/api/notification-channels", json={
            "name": "digest", "type": "slack", "url": f"{rx.url}/digest", "events": ["new_image"], "delivery": "hourly"})
        assert ch.status_code == 201, ch.text
        ch = ch.json()["data"]
        r = s.api("POST", "/api/registries", json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url,
                                                   "insecure": True, "schedule": "manual", "scanners": ["native"]})
        registry = r.json()["data"]
        # 50 push requests, each a new repository: 50 new_image events.
        for i in range(50):
            digest = reg.push(f"apps/svc{i:02d}", "1.0")
            ev = {"action": "push", "target": {"mediaType": MANIFEST_V2, "repository": f"apps/svc{i:02d}", "tag": "1.0",
                                                "digest": digest}}
            resp = requests.post(f"{s.base}/api/registries/{registry['id']}/events", json={"events": [ev]},
                                 headers={"Authorization": f"Bearer {registry['webhookToken']}"}, timeout=60)
            assert resp.status_code == 202, resp.text
        con = sqlite3.connect(str(data / "harborguard.db"), timeout=30)
        assert wait(lambda: con.execute("SELECT COUNT(*) FROM notification_pending WHERE channel_id = ?",
                                        (ch["id"],)).fetchone()[0] == 50, timeout=30)
        jobs = con.execute("SELECT id, run_at FROM jobs WHERE type = 'notify_flush' AND status = 'queued'").fetchall()
        # One flush for the hour (two only when the pushes straddled an hour boundary).
        assert 1 <= len(jobs) <= 2, jobs
        for _, run_at in jobs:
            due = datetime.datetime.fromisoformat(run_at.replace("Z", "+00:00"))
            assert due.minute == 0 and due.second == 0 and due > datetime.datetime.now(datetime.timezone.utc)
        time.sleep(3)
        assert not rx.bodies("/digest"), "an hourly channel sent before the hour"
        # Bring the hour forward: the flush sends ONE message for all 50 events.
        with con:
            con.execute("UPDATE jobs SET run_at = '2000-01-01T00:00:00Z' WHERE type = 'notify_flush' AND status = 'queued'")
        assert wait(lambda: rx.bodies("/digest"), timeout=30)
        time.sleep(2)
        bodies = rx.bodies("/digest")
        assert len(bodies) == len(jobs) == 1 or len(jobs) == 2, bodies
        check_slack(bodies[0])
        text = json.dumps(bodies[0])
        if len(jobs) == 1:
            assert "50 events" in text and "and 40 more" in text, text
        assert con.execute("SELECT COUNT(*) FROM notification_pending").fetchone()[0] == 0
        log = s.api("GET", f"/api/notification-channels/{ch['id']}/deliveries").json()["data"]
        assert len(log) == len(jobs) and log[0]["status"] == "delivered" and log[0]["event"] == "digest"
    finally:
        s.stop()
        reg.stop()
        rx.httpd.shutdown()


def test_channels_to_private_targets_are_refused_without_the_flag(tmp_path):
    rx = Receiver()
    s = Server(tmp_path / "data")
    try:
        for body in ({"name": "s", "type": "slack", "url": f"{rx.url}/slack/x", "events": ["new_image"]},
                     {"name": "t", "type": "teams", "url": f"{rx.url}/teams/x", "events": ["new_image"]},
                     {"name": "e", "type": "email", "events": ["new_image"],
                      "email": {"host": "localhost", "port": 2525, "from": "a@example.com", "to": ["b@example.com"]}}):
            r = s.api("POST", "/api/notification-channels", json=body)
            assert r.status_code == 422 and r.json()["error"]["code"] == "TARGET_NOT_ALLOWED", r.text
            assert "127.0.0.1" not in r.text
        assert rx.received == []
    finally:
        s.stop()
        rx.httpd.shutdown()


def test_console_settings_adds_slack_and_email_channels(tmp_path):
    """The Settings channel form in headless Chromium: type, URL, min severity, delivery,
    the e-mail fields; a bad recipient is named; the test button reaches the receiver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    rx = Receiver()
    data = tmp_path / "data"
    s = Server(data, extra=("--allow-private-targets",))
    run("admin", "create-user", "--username", "ada", "--role", "admin", "--bcrypt-cost", "4", data_dir=data,
        env={"HARBORGUARD_PASSWORD": "ada-password-123"})
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        opts.add_argument(a)
    b = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        b.get(s.base + "/console/sign-in")
        b.find_element(By.ID, "username").send_keys("ada")
        b.find_element(By.ID, "password").send_keys("ada-password-123")
        b.find_element(By.ID, "password").submit()
        WebDriverWait(b, 30).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Overview")

        def submit_channel(fields, selects, events):
            b.get(s.base + "/console/settings")
            for k, v in fields.items():
                b.find_element(By.ID, k).send_keys(v)
            for k, v in selects.items():
                Select(b.find_element(By.ID, k)).select_by_value(v)
            for e in events:
                b.find_element(By.ID, f"ev-{e}").click()
            old = b.find_element(By.TAG_NAME, "html")
            b.find_element(By.XPATH, "//button[text()='Add channel']").click()
            WebDriverWait(b, 30).until(lambda d: d.find_element(By.TAG_NAME, "html") != old
                                       and d.execute_script("return document.readyState") == "complete")
            return b.find_element(By.CSS_SELECTOR, ".flash").text

        notice = submit_channel({"cn": "team-slack", "cu": f"{rx.url}/slack/{SLACK_TOKEN}"},
                                {"ct": "slack", "cm": "high", "cd": "hourly"}, ["new_image", "finding_new"])
        assert "Channel team-slack added." in notice, notice
        row = b.find_element(By.XPATH, "//td[text()='team-slack']/..").text
        assert "slack" in row and "hourly" in row and "high" in row and SLACK_TOKEN not in b.page_source
        notice = submit_channel({"cn": "mail", "eh": "smtp.example.com", "ef": "hg@example.com",
                                 "eo": "sec@example.com, not an address", "ew": "pw"}, {"ct": "email"}, ["finding_new"])
        assert "email.to[1]" in notice, notice
        ch = s.api("GET", "/api/notification-channels").json()["data"]
        assert [c["name"] for c in ch] == ["team-slack"] and ch[0]["delivery"] == "hourly" and ch[0]["minSeverity"] == "high"
        old = b.find_element(By.TAG_NAME, "html")
        b.find_element(By.CSS_SELECTOR, "button[aria-label='Send a test to team-slack']").click()
        WebDriverWait(b, 30).until(lambda d: d.find_element(By.TAG_NAME, "html") != old)
        assert wait(lambda: rx.bodies("/slack"), timeout=15)
        check_slack(rx.bodies("/slack")[0])
    finally:
        b.quit()
        s.stop()
        rx.httpd.shutdown()
