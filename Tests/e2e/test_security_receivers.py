"""Issue 13, items 4 and 5, on the real binary and the real CNCF distribution registry.

4. A stored secret cannot be steered: changing a registry's URL or switching `insecure` on
   drops its stored credentials unless new ones come with the change (and the dropped
   password never reaches the new host); a channel's signing secret follows its URL alike.
5. Push-event receivers take nothing unchecked: hostile names and digests are rejected and
   counted, a digest the registry does not confirm is not stored, more than 100 events is a
   413 with nothing applied, 60 requests a minute per registry, replays within 10 minutes are
   no-ops, one request's new images make one webhook per channel, and a sensor's sync result
   with a bad repository name does not store it.

Only 127.0.0.1 is contacted.
"""
import base64
import hashlib
import hmac
import json
import time

import pytest
import requests

from conftest import Server
from test_security import Receiver, reply
from registry_harness import Registry

REG_USER = "ci"
REG_PASSWORD = "receivers-registry-pass-1"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


class Listener(Receiver):
    """Records every request (path, headers, body) on 127.0.0.1. It answers GET /v2/ with a
    Basic challenge, as a registry that wants credentials does, and everything else with 200."""

    def __init__(self):
        def respond(h):
            if h.path.startswith("/v2/"):
                reply(h, 401, [("WWW-Authenticate", 'Basic realm="listener"'), ("Docker-Distribution-API-Version", "registry/2.0")])
            else:
                reply(h, 200)
        super().__init__(respond)
        self.url = f"http://127.0.0.1:{self.port}"

    def authorizations(self):
        return [r["headers"].get("Authorization") for r in self.requests if r["headers"].get("Authorization")]

    def posts(self, path):
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == path]

    def close(self):
        self.httpd.shutdown()


def wait_for(pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def audit_actions(s):
    return [e["action"] for e in s.api("GET", "/api/audit-log?limit=100").json()["data"]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("receivers") / "data", log_level="warning", extra=["--allow-private-targets"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def registry():
    r = Registry(user=REG_USER, password=REG_PASSWORD)
    yield r
    r.stop()


# -- item 4: stored credentials follow their endpoint ------------------------------------------


def test_url_change_drops_credentials_and_the_password_never_reaches_the_new_host(server):
    s = server
    rx = Listener()
    try:
        made = s.api("POST", "/api/registries", json={
            "name": "steer-url", "provider": "DOCKER_REGISTRY", "url": "https://127.0.0.1:9", "schedule": "manual",
            "credentials": {"username": "u", "password": "the-old-password"}})
        assert made.status_code == 201, made.text
        rid = made.json()["data"]["id"]
        assert made.json()["data"]["hasCredentials"] is True
        # Another field changes, the URL stays (trailing slash and host case aside): credentials stay.
        same = s.api("PUT", f"/api/registries/{rid}", json={"url": "https://127.0.0.1:9/", "schedule": "daily"})
        assert same.status_code == 200, same.text
        assert same.json()["data"]["hasCredentials"] is True and "credentialsDropped" not in same.json()["data"]

        moved = s.api("PUT", f"/api/registries/{rid}", json={"url": rx.url, "insecure": True})
        assert moved.status_code == 200, moved.text
        data = moved.json()["data"]
        assert data["hasCredentials"] is False and data["credentialsDropped"] is True, data
        assert s.api("GET", f"/api/registries/{rid}").json()["data"]["hasCredentials"] is False
        assert "registry.credentials.dropped" in audit_actions(s)

        tc = s.api("POST", "/api/registries/test-connection", json={"registryId": rid})
        assert tc.status_code == 200, tc.text
        assert tc.json()["data"]["status"] == "auth_failed", tc.json()
        assert rx.requests, "test-connection did not reach the listener"
        assert rx.authorizations() == [], rx.authorizations()
        assert not any(b"the-old-password" in r["body"] or "the-old-password" in json.dumps(r["headers"]) for r in rx.requests)

        # New credentials in the same request are kept, and only they are sent.
        rx2 = Listener()
        try:
            kept = s.api("PUT", f"/api/registries/{rid}", json={
                "url": rx2.url, "credentials": {"username": "u", "password": "the-new-password"}})
            assert kept.status_code == 200, kept.text
            assert kept.json()["data"]["hasCredentials"] is True and "credentialsDropped" not in kept.json()["data"]
            s.api("POST", "/api/registries/test-connection", json={"registryId": rid})
            assert basic("u", "the-new-password") in rx2.authorizations(), rx2.requests
            assert basic("u", "the-old-password") not in rx2.authorizations()
        finally:
            rx2.close()
    finally:
        rx.close()


def test_switching_insecure_on_drops_credentials_unless_new_ones_come_with_it(server):
    s = server
    made = s.api("POST", "/api/registries", json={
        "name": "steer-insecure", "provider": "DOCKER_REGISTRY", "url": "https://127.0.0.1:9", "schedule": "manual",
        "credentials": {"username": "u", "password": "insecure-old-password"}})
    assert made.status_code == 201, made.text
    rid = made.json()["data"]["id"]
    before = audit_actions(s).count("registry.credentials.dropped")
    off = s.api("PUT", f"/api/registries/{rid}", json={"insecure": True})
    assert off.status_code == 200, off.text
    assert off.json()["data"]["insecure"] is True
    assert off.json()["data"]["hasCredentials"] is False and off.json()["data"]["credentialsDropped"] is True
    assert audit_actions(s).count("registry.credentials.dropped") == before + 1
    # Back to verified TLS: nothing to drop; then insecure with new credentials keeps them.
    assert s.api("PUT", f"/api/registries/{rid}", json={"insecure": False}).json()["data"]["hasCredentials"] is False
    with_new = s.api("PUT", f"/api/registries/{rid}", json={
        "insecure": True, "credentials": {"username": "u", "password": "insecure-new-password"}})
    assert with_new.status_code == 200, with_new.text
    assert with_new.json()["data"]["hasCredentials"] is True and "credentialsDropped" not in with_new.json()["data"]
    # Already insecure: saving it as insecure again changes nothing.
    again = s.api("PUT", f"/api/registries/{rid}", json={"insecure": True, "schedule": "weekly"})
    assert again.json()["data"]["hasCredentials"] is True


def test_channel_secret_is_dropped_when_its_url_changes(server):
    s = server
    rx = Listener()
    try:
        ch = s.api("POST", "/api/notification-channels", json={
            "name": "steer-channel", "url": "http://127.0.0.1:9/hook", "events": ["scan_complete"],
            "secret": "channel-old-secret-0123"})
        assert ch.status_code == 201, ch.text
        cid = ch.json()["data"]["id"]
        moved = s.api("PUT", f"/api/notification-channels/{cid}", json={"url": rx.url + "/new"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["data"]["hasSecret"] is False and moved.json()["data"]["secretDropped"] is True
        assert "notification_channel.secret.dropped" in audit_actions(s)
        t = s.api("POST", f"/api/notification-channels/{cid}/test").json()["data"]
        assert t["delivered"] is True, t
        sent = rx.posts("/new")
        assert len(sent) == 1 and "X-HarborGuard-Signature" not in sent[0]["headers"], sent
        # A new secret with the new URL is kept and signs.
        kept = s.api("PUT", f"/api/notification-channels/{cid}", json={"url": rx.url + "/newer", "secret": "channel-new-secret-0123"})
        assert kept.json()["data"]["hasSecret"] is True and "secretDropped" not in kept.json()["data"]
        s.api("POST", f"/api/notification-channels/{cid}/test")
        signed = rx.posts("/newer")[0]
        want = "sha256=" + hmac.new(b"channel-new-secret-0123", signed["body"], hashlib.sha256).hexdigest()
        assert signed["headers"]["X-HarborGuard-Signature"] == want
    finally:
        rx.close()


# -- item 5: push-event receivers ----------------------------------------------------------------


def make_registry(s, reg, name, **extra):
    body = {"name": name, "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True, "schedule": "manual",
            "credentials": {"username": REG_USER, "password": REG_PASSWORD}}
    body.update(extra)
    r = s.api("POST", "/api/registries", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def push_event(repo, tag=None, digest=None, event_id=None):
    target = {"mediaType": MANIFEST_V2, "repository": repo}
    if tag is not None:
        target["tag"] = tag
    if digest is not None:
        target["digest"] = digest
    e = {"action": "push", "target": target}
    if event_id is not None:
        e["id"] = event_id
    return e


def send(s, registry, events, **kw):
    return requests.post(f"{s.base}/api/registries/{registry['id']}/events", json={"events": events},
                         headers={"Authorization": f"Bearer {registry['webhookToken']}"}, timeout=60, **kw)


def images(s, registry):
    return {i["name"]: i for i in s.api("GET", f"/api/images?registryId={registry['id']}&limit=200").json()["data"]}


def tag_digest(s, image_id, tag):
    img = s.api("GET", f"/api/images/{image_id}").json()["data"]
    return {t["name"]: t["digest"] for t in img["tags"]}.get(tag)


def test_hostile_names_and_digests_are_rejected_and_counted(server, registry):
    s = server
    digest = registry.push("apps/web", "1.0")
    reg = make_registry(s, registry, "hostile-names")
    events = [
        push_event("<script>alert(1)</script>", "1.0", digest),
        push_event("../../../etc/passwd", "1.0", digest),
        push_event("a" * 5000, "1.0", digest),
        push_event("apps/web", "1.0", 'not-a-digest"><img src=x>'),
        push_event("apps/web", "-bad tag", digest),
        push_event("apps/web", "1.0", "sha256:" + "A" * 64),
        push_event("apps/web", "1.0", "md5:" + "a" * 32),
        {"action": "push", "target": {"mediaType": MANIFEST_V2, "repository": 7, "tag": "1.0"}},
        push_event("apps/web", "1.0", digest),
    ]
    r = send(s, reg, events)
    assert r.status_code == 202, r.text
    stored = images(s, reg)
    assert list(stored) == ["apps/web"], stored  # nothing hostile was stored
    assert tag_digest(s, stored["apps/web"]["id"], "1.0") == digest
    out = r.json()["data"]
    assert out["accepted"] == 1 and out["rejected"] == 8, out
    assert out["events"] == 9 and out["format"] == "distribution"
    by_index = {i["index"]: i for i in out["issues"]}
    assert sorted(by_index) == [0, 1, 2, 3, 4, 5, 6, 7], out["issues"]
    assert by_index[0]["field"] == by_index[1]["field"] == by_index[2]["field"] == "repository"
    assert by_index[3]["field"] == by_index[5]["field"] == by_index[6]["field"] == "digest"
    assert by_index[4]["field"] == "tag"
    assert "<script>" not in r.text and "etc/passwd" not in r.text


def test_a_fake_digest_for_a_real_tag_is_not_confirmed_and_changes_nothing(server, registry):
    s = server
    digest = registry.push("apps/api", "2.0")
    reg = make_registry(s, registry, "fake-digest")
    first = send(s, reg, [push_event("apps/api", "2.0", digest)])
    assert first.status_code == 202, first.text
    image_id = images(s, reg)["apps/api"]["id"]
    assert tag_digest(s, image_id, "2.0") == digest
    fake = "sha256:" + "a" * 64
    r = send(s, reg, [push_event("apps/api", "2.0", fake), push_event("apps/ghost", "1", fake),
                      push_event("apps/ghost", None, fake)])
    assert r.status_code == 202, r.text
    assert tag_digest(s, image_id, "2.0") == digest  # the real tag keeps its real digest
    assert "apps/ghost" not in images(s, reg)  # no image for a digest the registry does not have
    out = r.json()["data"]
    assert out["accepted"] == 0 and out["rejected"] == 3, out
    assert all(i["field"] == "digest" for i in out["issues"]), out["issues"]
    # A real digest without a tag is confirmed by digest.
    by_digest = send(s, reg, [push_event("apps/api", None, digest)])
    assert by_digest.json()["data"]["accepted"] == 1, by_digest.text


def test_more_than_100_events_is_413_and_nothing_is_applied(server, registry):
    s = server
    reg = make_registry(s, registry, "too-many")
    digests = [registry.push(f"many/r{i}", "1") for i in range(3)]
    events = [push_event(f"many/r{i % 3}", "1", digests[i % 3], event_id=f"many-{i}") for i in range(101)]
    r = send(s, reg, events)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE" and "100" in r.json()["error"]["message"]
    assert images(s, reg) == {}
    # Exactly 100 is fine: the three images appear (and the ids were not remembered by the 413).
    ok = send(s, reg, events[:100])
    assert ok.status_code == 202, ok.text
    assert ok.json()["data"]["accepted"] == 100 and ok.json()["data"]["duplicates"] == 0, ok.json()["data"]
    assert sorted(images(s, reg)) == ["many/r0", "many/r1", "many/r2"]


def test_rate_limit_per_registry_answers_429_with_retry_after(server, registry):
    s = server
    reg = make_registry(s, registry, "rate-limited")
    other = make_registry(s, registry, "rate-other")
    codes = [send(s, reg, []).status_code for _ in range(60)]
    assert codes == [202] * 60, codes
    r = send(s, reg, [])
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Per registry: another registry's receiver is not affected; a wrong token is not counted (401).
    assert send(s, other, []).status_code == 202
    bad = requests.post(f"{s.base}/api/registries/{other['id']}/events", json={"events": []},
                        headers={"Authorization": "Bearer hg_wh_" + "0" * 48}, timeout=30)
    assert bad.status_code == 401


def test_a_replay_within_ten_minutes_is_a_no_op(server, registry):
    s = server
    reg = make_registry(s, registry, "replay", schedule="on_push", scanners=["native"])
    digest = registry.push("replay/app", "1")
    ev = push_event("replay/app", "1", digest, event_id="evt-replay-1")
    first = send(s, reg, [ev]).json()["data"]
    assert first["enqueued"] == 1, first

    def scans():
        return s.api("GET", f"/api/scans?registryId={reg['id']}").json()["data"]
    assert wait_for(lambda: [x for x in scans() if x["status"] in ("completed", "failed")], timeout=120), scans()
    # The scan is done: a replayed event would queue another one; within 10 minutes it is a no-op.
    again = send(s, reg, [ev]).json()["data"]
    assert again["enqueued"] == 0 and len(scans()) == 1, (again, scans())
    assert again["accepted"] == 0 and again["duplicates"] == 1, again
    assert first["accepted"] == 1 and first["duplicates"] == 0
    # Without an id, the same registry + repository + tag + digest is the event.
    digest2 = registry.push("replay/app", "2")
    no_id = push_event("replay/app", "2", digest2)
    assert send(s, reg, [no_id, no_id]).json()["data"]["duplicates"] == 1
    assert send(s, reg, [no_id]).json()["data"]["duplicates"] == 1
    assert len([x for x in scans() if x["reference"].endswith("/replay/app:2")]) == 1


def test_one_request_with_many_new_images_is_one_webhook_per_channel(server, registry):
    s = server
    rx = Listener()
    try:
        channels = []
        for name in ("coalesce-a", "coalesce-b"):
            ch = s.api("POST", "/api/notification-channels", json={"name": name, "url": f"{rx.url}/{name}", "events": ["new_image"]})
            assert ch.status_code == 201, ch.text
            channels.append(ch.json()["data"]["id"])
        reg = make_registry(s, registry, "coalesce")
        events = [push_event(f"fanout/app{i}", "1", registry.push(f"fanout/app{i}", "1")) for i in range(12)]
        r = send(s, reg, events)
        assert r.status_code == 202, r.text
        assert len(images(s, reg)) == 12
        assert wait_for(lambda: len(rx.posts("/coalesce-a")) >= 1 and len(rx.posts("/coalesce-b")) >= 1)
        time.sleep(3)  # anything more would have come by now (deliveries are immediate jobs)
        for name in ("coalesce-a", "coalesce-b"):
            posts = rx.posts(f"/{name}")
            assert len(posts) == 1, f"{name}: {len(posts)} deliveries"
            body = json.loads(posts[0]["body"])
            assert body["event"] == "new_image" and body["imageCount"] == "12", body
            assert len(body["images"].split(",")) == 12
        assert r.json()["data"]["accepted"] == 12
        for cid in channels:
            s.api("DELETE", f"/api/notification-channels/{cid}")
    finally:
        rx.close()


def test_sensor_registry_events_store_nothing_and_its_sync_result_skips_bad_names(server, registry):
    s = server
    made = s.api("POST", "/api/registries", json={
        "name": "sensor-recv", "provider": "DOCKER_REGISTRY", "url": registry.url, "insecure": True, "schedule": "manual",
        "scanMethod": "sensor"})
    assert made.status_code == 201, made.text
    reg = made.json()["data"]
    key = reg["sensorApiKey"]
    fake = "sha256:" + "b" * 64
    r = send(s, reg, [push_event("sensed/app", "1", fake), push_event("../x", "1", fake)])
    assert r.status_code == 202, r.text
    # The server cannot reach a sensor's registry: nothing unconfirmed is stored, a sync is queued.
    assert images(s, reg) == {}
    out = r.json()["data"]
    assert out["accepted"] == 1 and out["rejected"] == 1 and out["syncQueued"] is True, out
    sensor = {"X-API-Key": key}
    assert requests.post(s.base + "/api/sensor/heartbeat", headers=sensor, timeout=30,
                         json={"name": "s", "version": "1", "hostname": "h"}).status_code == 200
    jobs = requests.post(s.base + "/api/sensor/jobs/claim", headers=sensor, json={"max": 1}, timeout=30).json()["data"]
    assert [j["type"] for j in jobs] == ["sync"], jobs
    good = "sha256:" + "c" * 64
    result = requests.post(s.base + f"/api/sensor/jobs/{jobs[0]['id']}/result", headers=sensor, timeout=30, json={
        "status": "succeeded", "tags": [
            {"repository": "sensed/app", "tag": "1", "digest": good},
            {"repository": "<script>x</script>", "tag": "1", "digest": good},
            {"repository": "../../etc/passwd", "tag": "1", "digest": good},
            {"repository": "sensed/app", "tag": "2", "digest": "sha256:zz"},
        ], "failedRepositories": ["../nope"]})
    assert result.status_code == 200, result.text
    data = result.json()["data"]
    assert data["recorded"] is True and data["rejected"] == 4, data
    assert {i["path"] for i in data["issues"]} == {"tags[1].repository", "tags[2].repository", "tags[3].digest",
                                                    "failedRepositories[0]"}, data["issues"]
    assert data["sync"]["tags"] == 1
    stored = images(s, reg)
    assert list(stored) == ["sensed/app"], stored
    assert tag_digest(s, stored["sensed/app"]["id"], "1") == good
