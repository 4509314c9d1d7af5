"""The benchmark's latency proxy (bench/latency_proxy.py) in front of the real distribution
registry: answers as the registry's own, every request delayed, delays of concurrent requests
overlapping, Location kept behind the proxy, and every request counted."""
import hashlib
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from registry_harness import MANIFEST_V2, Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402

DELAY_MS = 20
# Headers whose values differ between two answers to the same request.
VOLATILE = {"date"}


@pytest.fixture(scope="module")
def setup():
    reg = Registry()
    digest = reg.push("lp/app", "v1")
    proxy = LatencyProxy(reg.url, delay_ms=DELAY_MS).start()
    yield reg, proxy, digest
    proxy.stop()
    reg.stop()


def same_answer(direct, proxied):
    assert proxied.status_code == direct.status_code
    assert proxied.content == direct.content
    strip = lambda r: {k.lower(): v for k, v in r.headers.items() if k.lower() not in VOLATILE}
    assert strip(proxied) == strip(direct)


def timed(session, method, url, **kw):
    t0 = time.perf_counter()
    r = session.request(method, url, timeout=10, **kw)
    return r, (time.perf_counter() - t0) * 1000


def test_answers_match_the_registry_and_each_request_waits(setup):
    reg, proxy, digest = setup
    direct, through = requests.Session(), requests.Session()
    before = proxy.requests()
    accept = {"Accept": MANIFEST_V2}
    cases = [("GET", "/v2/", {}), ("HEAD", "/v2/lp/app/manifests/v1", accept), ("GET", "/v2/lp/app/manifests/v1", accept),
             ("GET", f"/v2/lp/app/manifests/{digest}", accept), ("GET", "/v2/lp/app/tags/list", {}),
             ("GET", "/v2/lp/missing/manifests/v1", accept)]
    for method, path, headers in cases:
        d = direct.request(method, reg.url + path, headers=headers, timeout=10)
        p, ms = timed(through, method, proxy.url + path, headers=headers)
        same_answer(d, p)
        assert ms >= DELAY_MS, f"{method} {path} took {ms:.1f} ms through the proxy"
    head = through.head(proxy.url + "/v2/lp/app/manifests/v1", headers=accept)
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.content == b""
    body = through.get(proxy.url + "/v2/lp/app/manifests/v1", headers=accept).content
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    stats = proxy.stats()
    assert stats["requests"] - before == len(cases) + 2
    assert stats["errors"] == 0
    # A persistent upstream connection per client connection, not one per request.
    assert stats["upstream_connections"] <= stats["client_connections"]


def test_concurrent_requests_overlap(setup):
    _, proxy, _ = setup
    n = 8
    sessions = [requests.Session() for _ in range(n)]
    for s in sessions:  # connections open before the clock starts
        s.get(proxy.url + "/v2/", timeout=10)
    barrier = threading.Barrier(n + 1)
    took = [None] * n

    def one(i):
        barrier.wait()
        r, ms = timed(sessions[i], "HEAD", proxy.url + "/v2/lp/app/manifests/v1", headers={"Accept": MANIFEST_V2})
        assert r.status_code == 200
        took[i] = ms
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    total = (time.perf_counter() - t0) * 1000
    assert all(ms is not None and ms >= DELAY_MS for ms in took), took
    assert total < n * DELAY_MS, f"{n} concurrent requests took {total:.1f} ms: the delays did not overlap"
    assert proxy.stats()["max_in_flight"] >= 2


def test_location_stays_behind_the_proxy_and_pushes_work(setup):
    reg, proxy, _ = setup
    s = requests.Session()
    r = s.post(proxy.url + "/v2/lp/pushed/blobs/uploads/", timeout=10)
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert loc.startswith(proxy.url + "/v2/lp/pushed/blobs/uploads/"), loc
    # A chunked PATCH (requests sends a generator chunked), then the closing PUT, all through the proxy.
    data = b"layer bytes " * 1000

    def gen():
        yield data[:5000]
        yield data[5000:]
    r = s.patch(loc, data=gen(), headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert r.status_code == 202, r.text
    assert r.headers["Location"].startswith(proxy.url), r.headers["Location"]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = s.put(r.headers["Location"] + f"&digest={digest}", timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].startswith(proxy.url)
    direct = requests.get(f"{reg.url}/v2/lp/pushed/blobs/{digest}", timeout=10)
    assert direct.content == data
    through = s.get(f"{proxy.url}/v2/lp/pushed/blobs/{digest}", timeout=10)
    assert through.content == data


def test_unauthorized_answer_keeps_www_authenticate():
    reg = Registry(user="u", password="p")
    try:
        with LatencyProxy(reg.url, delay_ms=DELAY_MS) as proxy:
            d = requests.get(reg.url + "/v2/", timeout=10)
            p = requests.get(proxy.url + "/v2/", timeout=10)
            assert d.status_code == p.status_code == 401
            same_answer(d, p)
            assert "WWW-Authenticate" in p.headers
            assert requests.get(proxy.url + "/v2/", auth=("u", "p"), timeout=10).status_code == 200
    finally:
        reg.stop()
