"""`serve --sync-concurrency N` keeps N requests in flight to one registry, also beyond
AsyncHTTPClient's default of 8 connections per host. Real parts: the distribution registry, with
bench/latency_proxy.py in front of it adding 50 ms to every request and counting how many wait
at once."""
import sys
from pathlib import Path

import requests

from conftest import wait_job
from registry_harness import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402
from run import populate_sync_registry  # noqa: E402

REPOS, TAGS = 48, 2


def test_sixteen_repositories_resolve_at_once(server_factory, tmp_path):
    reg = Registry()
    try:
        populate_sync_registry(reg, requests.Session(), REPOS, TAGS)
        with LatencyProxy(reg.url, delay_ms=50) as proxy:
            s = server_factory(tmp_path / "data", extra=("--sync-concurrency", "16"))
            r = s.api("POST", "/api/registries", json={
                "name": "local", "provider": "DOCKER_REGISTRY", "url": proxy.url, "insecure": True, "schedule": "manual",
                "scanners": ["native"]})
            assert r.status_code == 201, r.text
            rid = r.json()["data"]["id"]
            proxy.stats(reset_max=True)
            job = s.api("POST", f"/api/registries/{rid}/sync").json()["data"]["jobId"]
            assert wait_job(s, job)["status"] == "succeeded"
            stats = proxy.stats()
            assert s.api("GET", f"/api/registries/{rid}").json()["data"]["imageCount"] == REPOS
            # Before, the registry client's pool opened at most 8 connections to the registry,
            # whatever --sync-concurrency said.
            assert stats["max_in_flight"] > 8, stats
            assert stats["errors"] == 0, stats
    finally:
        reg.stop()
