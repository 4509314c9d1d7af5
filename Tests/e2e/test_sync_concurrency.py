"""`serve --sync-concurrency N` keeps N requests in flight to one registry, also beyond
AsyncHTTPClient's default of 8 connections per host, and also when the tags are in one
repository. Real parts: the distribution registry, with
bench/latency_proxy.py in front of it adding 50 ms to every request and counting how many wait
at once."""
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from conftest import wait_job
from test_security import reply
from registry_harness import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402
from run import populate_sync_registry  # noqa: E402

REPOS, TAGS = 48, 2


def add_registry(s, url):
    r = s.api("POST", "/api/registries", json={
        "name": "local", "provider": "DOCKER_REGISTRY", "url": url, "insecure": True, "schedule": "manual", "scanners": ["native"]})
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


def proxied_sync(server_factory, tmp_path, repos, tags):
    """`repos` x `tags` in the real registry behind a 50 ms latency proxy, synced by a server
    with --sync-concurrency 16: the server, the registry's id and the proxy's counters."""
    reg = Registry()
    try:
        populate_sync_registry(reg, requests.Session(), repos, tags)
        with LatencyProxy(reg.url, delay_ms=50) as proxy:
            s = server_factory(tmp_path / "data", extra=("--sync-concurrency", "16"))
            rid = add_registry(s, proxy.url)
            proxy.stats(reset_max=True)
            job = s.api("POST", f"/api/registries/{rid}/sync").json()["data"]["jobId"]
            assert wait_job(s, job)["status"] == "succeeded"
            return s, rid, proxy.stats()
    finally:
        reg.stop()


def test_sixteen_repositories_resolve_at_once(server_factory, tmp_path):
    s, rid, stats = proxied_sync(server_factory, tmp_path, REPOS, TAGS)
    assert s.api("GET", f"/api/registries/{rid}").json()["data"]["imageCount"] == REPOS
    # Before, the registry client's pool opened at most 8 connections to the registry,
    # whatever --sync-concurrency said.
    assert stats["max_in_flight"] > 8, stats
    assert stats["errors"] == 0, stats


def test_one_repository_resolves_its_tags_at_once(server_factory, tmp_path):
    """One repository of many tags (an application's releases): its HEADs share the sync's
    requests in flight instead of going one after another."""
    tags = 64
    s, rid, stats = proxied_sync(server_factory, tmp_path, 1, tags)
    images = s.api("GET", "/api/images", params={"registryId": rid}).json()["data"]
    assert [i["tagCount"] for i in images] == [tags], images
    # Before, one repository's tags were resolved one after another: 1 in flight.
    assert stats["max_in_flight"] > 8, stats
    assert stats["errors"] == 0, stats


class TagFaults:
    """A registry that lists `app` (64 tags) and `lib` (1 tag) and answers each tag's HEAD
    with a digest, or with the status in `faults` (a 500 or a 404 the real registry does not
    give on demand). Counts the HEADs."""

    def __init__(self):
        self.faults = {}
        self.heads = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/v2/":
                    return reply(self, 200, [("Content-Type", "application/json")], b"{}")
                if path == "/v2/_catalog":
                    return reply(self, 200, body=json.dumps({"repositories": ["app", "lib"]}).encode())
                if path in ("/v2/app/tags/list", "/v2/lib/tags/list"):
                    name = path.split("/")[2]
                    tags = [f"t{i}" for i in range(64)] if name == "app" else ["t0"]
                    return reply(self, 200, body=json.dumps({"name": name, "tags": tags}).encode())
                return reply(self, 404, body=b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')

            def do_HEAD(self):
                with fake.lock:
                    fake.heads += 1
                parts = self.path.split("/")
                if len(parts) == 5 and parts[3] == "manifests":
                    status = fake.faults.get(f"{parts[2]}:{parts[4]}")
                    if status:
                        return reply(self, status)
                    digest = "sha256:" + hashlib.sha256(f"{parts[2]}:{parts[4]}".encode()).hexdigest()
                    return reply(self, 200, headers=[("Docker-Content-Digest", digest),
                                                    ("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
                return reply(self, 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_failed_head_fails_its_repository_and_keeps_its_tags(server_factory, tmp_path):
    """One tag's HEAD fails (500) while the tags resolve concurrently: the repository keeps
    what the last sync recorded, the other repository is updated, and no further HEADs are
    sent for the failed one. A tag that answers 404 was deleted after the listing: left out."""
    fake = TagFaults()
    try:
        s = server_factory(tmp_path / "data", extra=("--sync-concurrency", "4"))
        rid = add_registry(s, fake.url)

        def sync():
            job = s.api("POST", f"/api/registries/{rid}/sync").json()["data"]["jobId"]
            assert wait_job(s, job)["status"] == "succeeded"
            images = s.api("GET", "/api/images", params={"registryId": rid}).json()["data"]
            return {i["name"]: i["tagCount"] for i in images}, s.api("GET", f"/api/registries/{rid}").json()["data"]

        counts, _ = sync()
        assert counts == {"app": 64, "lib": 1}, counts

        fake.faults = {"app:t2": 500, "lib:t0": 404}
        fake.heads = 0
        counts, reg = sync()
        assert counts["app"] == 64 and counts.get("lib", 0) == 0, counts
        assert "1 of 2 repositories" in reg["health"]["lastError"] and "app" in reg["health"]["lastError"], reg
        assert reg["health"]["status"] == "degraded", reg["health"]
        # t2 fails among the first few: the loop stops adding HEADs for app.
        assert fake.heads < 30, fake.heads

        fake.faults = {"app:t7": 404}
        counts, reg = sync()
        assert counts == {"app": 63, "lib": 1}, counts
        assert reg["health"]["lastError"] is None and reg["health"]["status"] == "healthy", reg["health"]
    finally:
        fake.stop()
