"""The real binary scanning hostile images from a fake registry (`hostile_registry.py`):
malformed, oversized, looping and lying manifests; traversal, link, bomb, corrupt and
mismatching layers; a registry that lies about lengths, digests and types or cuts bodies
short. Through `POST /api/scans` on one server, then a few through `harborguard scan`.

Every case ends `failed` with an error that names the problem, in one attempt unless the
fault is transient (a retry may cure it), or `completed` where the content is odd but safe
(the case says why). Afterwards the server is still up and small, a sane image still scans,
nothing was written where the hostile paths aim, and no host but 127.0.0.1 was contacted.
"""
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, Server, run, status_kb
from hostile_registry import FOREIGN_HOST, HostileRegistry, build_cases

EVIL_MARK = "hg-evil"
# Where the corpus's traversal, absolute, symlink and hard-link paths aim: it must stay empty.
EVIL_DIR = Path("/tmp") / f"{EVIL_MARK}-{os.getpid()}-target"
_built = time.time()
CASES = build_cases(str(EVIL_DIR))
BUILD_SECONDS = time.time() - _built


class PeerWatch(threading.Thread):
    """Every remote address of the server process's TCP sockets, sampled every 20 ms
    (sockets found through /proc/PID/fd, addresses in /proc/PID/net/tcp{,6})."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peers, self.stopped = pid, set(), threading.Event()

    @staticmethod
    def _ip(hexaddr):
        if len(hexaddr) == 8:
            return ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0))
        words = [hexaddr[i:i + 8] for i in range(0, 32, 8)]
        raw = b"".join(bytes.fromhex(w)[::-1] for w in words)
        if raw[:12] == b"\0" * 10 + b"\xff\xff":
            return ".".join(str(b) for b in raw[12:])
        return ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))

    def sample(self):
        inodes = set()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    self.peers.add(self._ip(cols[2].split(":")[0]))

    def run(self):
        while not self.stopped.is_set():
            try:
                self.sample()
            except (OSError, IndexError):
                pass
            time.sleep(0.02)


class Keys:
    """Admin keys minted with the CLI: POST /api/scans allows 10 a minute per key."""

    def __init__(self, data):
        self.data, self.keys, self.uses = data, [], 0

    def next(self):
        if self.uses % 9 == 0:
            self.keys.append(run("admin", "create-api-key", "--role", "admin", "--name", f"hostile-{len(self.keys)}",
                                 data_dir=self.data).stdout.strip())
        self.uses += 1
        return self.keys[-1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-registry")
    evil_dir = EVIL_DIR
    evil_dir.mkdir()
    reg = HostileRegistry(CASES).start()
    built = BUILD_SECONDS
    data = tmp / "data"
    server = Server(data)
    server.data = data
    watch = PeerWatch(server.proc.pid)
    watch.start()
    rss_before = status_kb(server.proc.pid)
    r = server.api("POST", "/api/registries", json={
        "name": "hostile", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True,
        "schedule": "manual", "scanners": ["native"]})
    assert r.status_code == 201, r.text
    keys = Keys(data)
    started = time.time()
    scans = {}
    # Every case queued at once: the scans of one registry run one at a time, in this order.
    for case in CASES:
        key = keys.next()
        r = server.api("POST", "/api/scans", key=key, json={"image": reg.image(case), "scanners": list(case.scanners)})
        assert r.status_code == 202, (case.name, r.status_code, r.text)
        scans[case.name] = r.json()["data"]
    yield {"reg": reg, "server": server, "scans": scans, "keys": keys, "evil_dir": evil_dir, "tmp": tmp,
           "watch": watch, "rss_before": rss_before, "started": started, "built": built, "results": {}}
    watch.stopped.set()
    server.stop(signal.SIGKILL)
    reg.stop()
    shutil.rmtree(evil_dir, ignore_errors=True)


def wait(env, case, timeout=240):
    """The scan's end, or for a transient fault its first failed attempt (then it is cancelled)."""
    s = env["server"]
    scan_id = env["scans"][case.name]["id"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        scan = s.api("GET", f"/api/scans/{scan_id}").json()["data"]
        if scan["status"] in ("completed", "failed", "cancelled"):
            return scan
        if case.transient and scan["status"] == "queued" and scan.get("error"):
            r = s.api("POST", f"/api/scans/{scan_id}/cancel")
            assert r.status_code in (200, 202), r.text
            scan["retrying"] = True
            return scan
        time.sleep(0.1)
    raise AssertionError(f"{case.name}: scan did not finish: {scan}")


def check_words(text, groups):
    low = (text or "").lower()
    for group in groups:
        assert any(w.lower() in low for w in group), f"none of {group} in {text!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_image(env, case):
    s = env["server"]
    t0 = time.time()
    scan = wait(env, case)
    env["results"][case.name] = (scan["status"], scan.get("error"), time.time() - t0)
    job = s.api("GET", f"/api/jobs/{scan['jobId']}").json()["data"]
    assert s.proc.poll() is None, "the server died"
    if case.expect == "completed":
        assert scan["status"] == "completed", (case.why, scan.get("error"), scan)
        assert case.why
    else:
        assert scan["status"] in ("failed", "queued"), scan
        assert scan.get("retrying") or scan["status"] == "failed"
        error = scan["error"]
        check_words(error, case.words)
        assert "internal error" not in error.lower()
        if not case.transient:
            assert scan["status"] == "failed" and job["status"] == "failed" and job["attempts"] == 1, (scan, job)
    # Hostile content is downloaded once: no retry in the client either. A 503 is retried there.
    for target in case.faults:
        hits = env["reg"].hits.get((case.name, target), 0)
        if case.name == "layer/503-then-ok":
            assert hits == 3, hits
        elif not case.transient:
            assert hits == 1, (target, hits)
    # Requests the client made for this case stayed inside the fake, by repository path.
    for method, path, host in env["reg"].requests_for(case.name):
        assert host == env["reg"].host and ".." not in path, (method, path, host)
    assert s.api("GET", "/healthz").status_code == 200


def test_no_digest_mismatch_or_bomb_completes(env):
    """The rule that matters most, over the whole corpus at once."""
    for case in CASES:
        if any("digest mismatch" in w or "bomb" in w for g in case.words for w in g):
            status, error, _ = env["results"].get(case.name) or (wait(env, case)["status"], None, 0)
            assert status != "completed", case.name


def test_foreign_urls_are_not_fetched(env):
    case = next(c for c in CASES if c.name == "manifest/foreign-urls")
    wait(env, case)
    assert all(host == env["reg"].host for _, _, host in env["reg"].requests)
    blob_gets = [p for m, p, _ in env["reg"].requests_for(case.name) if "/blobs/" in p]
    assert blob_gets, "the foreign layer was not fetched from the registry itself"
    assert FOREIGN_HOST not in env["watch"].peers


def test_cli_fails_each_with_its_reason(env, tmp_path):
    reg = env["reg"]
    for case in [c for c in CASES if c.cli]:
        p = subprocess.run([BIN, "scan", reg.image(case), "--insecure", "--skip-db", "--data-dir", str(tmp_path / "cli")],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, (case.name, p.returncode, p.stderr[-2000:])
        assert p.stdout == "", (case.name, p.stdout[:500])
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith(f"harborguard: scan of {reg.image(case)} failed: "), (case.name, last)
        check_words(last, case.words)
        for crash in ("Fatal error", "Stack dump", "Backtrace", "Segmentation", "SIGSEGV"):
            assert crash not in p.stderr, (case.name, p.stderr[-2000:])


def test_the_server_survives_the_corpus(env):
    s, reg = env["server"], env["reg"]
    for case in CASES:
        if case.name not in env["results"]:
            wait(env, case)
    elapsed = time.time() - env["started"]
    assert s.proc.poll() is None
    assert s.api("GET", "/healthz").status_code == 200
    rss, peak = status_kb(s.proc.pid), status_kb(s.proc.pid, "VmHWM")
    assert rss < 400 * 1024 and peak < 400 * 1024, f"RSS {rss} kB, peak {peak} kB"
    # A sane image still scans afterwards.
    sane = next(c for c in CASES if c.name == "sane/image")
    r = s.api("POST", "/api/scans", key=env["keys"].next(), json={"image": reg.image(sane), "scanners": ["native"]})
    assert r.status_code == 202
    env["scans"]["sane/again"] = r.json()["data"]
    again = wait(env, dataclasses.replace(sane, name="sane/again"))
    assert again["status"] == "completed" and again["os"]["family"] == "debian", again
    # Nothing landed where the hostile paths aim, nor anywhere under the test's directories
    # or /tmp by the marker's name.
    assert list(env["evil_dir"].iterdir()) == []
    for root in (env["tmp"].parent, Path("/tmp")):
        found = subprocess.run(["find", str(root), "-xdev", "-name", f"{EVIL_MARK}-*"],
                               capture_output=True, text=True).stdout.split()
        assert [f for f in found if not f.startswith(f"/tmp/{EVIL_MARK}-")] == [], found
        assert [f for f in found if f.startswith(str(EVIL_DIR)) and f != str(EVIL_DIR)] == [], found
    # The scans' temporary directories (the syft cases' layouts) are gone.
    assert list((s.data / "cache").glob("harborguard-scan-*")) == []
    # The watch saw the server's own connections, and no other host.
    assert "127.0.0.1" in env["watch"].peers
    peers = env["watch"].peers - {"127.0.0.1", "0.0.0.0"}
    assert peers == set(), f"the server talked to {peers}"
    counts = {}
    for status, _, _ in env["results"].values():
        counts[status] = counts.get(status, 0) + 1
    print(f"\nhostile registry: {len(CASES)} cases (corpus built in {env['built']:.1f}s), all done {elapsed:.1f}s after "
          f"submission: {counts}; RSS {env['rss_before'] // 1024} MB before, {rss // 1024} MB after, peak {peak // 1024} MB; "
          f"{len(reg.requests)} registry requests")
    for name, (status, error, _) in env["results"].items():
        print(f"  {name}: {status}: {error}")
