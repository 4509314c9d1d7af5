"""Faults on the real binary: kill -9 during a scan, a backup and a key rotation, the
distribution registry stopped mid-pull, the disk full under a scan, the data directory and a
backup, the database read-only.

After each fault: the server starts, no registry, key, credential or finished scan is lost,
interrupted jobs are retried (not duplicated), `PRAGMA integrity_check` is ok, and the
error a user sees says what happened. (kill -9 during a sync is
test_crawler.py::test_sync_survives_kill_9_of_the_server; rotate-kek killed at each of its
steps is in test_appliance.py.) Mounts need root; a test whose mount fails is skipped with
the reason."""
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, run
from registry_harness import Registry

PASSWORD = "faults-registry-pass-77"
BIG = 24 << 20  # one incompressible 24 MiB file: a pull that a throttled link makes slow


class Throttle:
    """A TCP proxy on 127.0.0.1 in front of the registry that sends its answers at `rate`
    bytes a second (None: at full speed). It reads from the registry as slowly as it
    writes, with a small receive buffer, so a registry killed mid-blob really cuts the pull."""

    def __init__(self, upstream_port, rate=None):
        self.upstream_port = upstream_port
        self.rate = rate
        self.sent = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        up = socket.socket()
        up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        try:
            up.connect(("127.0.0.1", self.upstream_port))
        except OSError:
            # The registry is down: the client sees the connection reset, as with a dead host.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()
            return
        self.conns += [client, up]
        threading.Thread(target=self._pump, args=(client, up, False), daemon=True).start()
        self._pump(up, client, True)

    def _pump(self, src, dst, throttled):
        try:
            while True:
                data = src.recv(16 * 1024)
                if not data:
                    break
                dst.sendall(data)
                if throttled:
                    self.sent += len(data)
                    if self.rate:
                        time.sleep(len(data) / self.rate)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def big_layer(seed: str) -> dict:
    """Files for one layer: incompressible bytes, different per seed (no shared blobs)."""
    chunk = hashlib.sha256(seed.encode()).digest()
    out = bytearray()
    while len(out) < BIG:
        chunk = hashlib.sha256(chunk).digest() + os.urandom(224)
        out += chunk
    return {"opt/blob.bin": bytes(out[:BIG]), "etc/hg-seed": seed.encode()}


def restart_registry(reg):
    """Starts docker-registry again on the same port and storage (the harness's stop() deletes it)."""
    reg.proc = subprocess.Popen(["docker-registry", "serve", reg.dir + "/config.yml"], stdout=reg.log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if requests.get(reg.url + "/v2/", timeout=1).status_code in (200, 401):
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError("docker-registry did not come back")


@pytest.fixture(scope="module")
def registry():
    reg = Registry(user="ci", password=PASSWORD)
    reg.small = reg.push("faults/small", "1")
    yield reg
    reg.stop()


@pytest.fixture
def throttle(registry):
    t = Throttle(registry.port)
    yield t
    t.close()


def wait(s, path, done, timeout=120, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        r = s.api("GET", path)
        if r.status_code == 200:
            last = r.json()["data"]
            if done(last):
                return last
        time.sleep(interval)
    raise AssertionError(f"{path} never reached the expected state: {last}")


def finished(x):
    return x["status"] in ("completed", "failed", "cancelled")


def scan(s, image, **extra):
    r = s.api("POST", "/api/scans", json={"image": image, "scanners": ["native"], **extra})
    assert r.status_code == 202, r.text
    return r.json()["data"]


def integrity(data_dir):
    """PRAGMA integrity_check on the stopped server's database, and every sealed secret opens."""
    con = sqlite3.connect(str(data_dir / "harborguard.db"))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    c = run("admin", "check", data_dir=data_dir)
    assert "integrity: ok" in c.stdout and " 0 unreadable" in c.stdout, c.stdout


def seed(s, proxy_url):
    """What must survive: a registry with credentials, an API key, a finished scan."""
    reg = s.api("POST", "/api/registries", json={
        "name": "local", "provider": "DOCKER_REGISTRY", "url": proxy_url, "insecure": True,
        "credentials": {"username": "ci", "password": PASSWORD}})
    assert reg.status_code == 201, reg.text
    key = run("admin", "create-api-key", "--role", "viewer", "--name", "kept", data_dir=s.data_dir).stdout.strip()
    host = proxy_url.split("//")[1]
    done = wait(s, f"/api/scans/{scan(s, host + '/faults/small:1')['id']}", finished)
    assert done["status"] == "completed", done
    return {"registry": reg.json()["data"], "key": key, "scan": done}


def assert_kept(s, kept):
    assert s.api("GET", f"/api/registries/{kept['registry']['id']}").json()["data"]["hasCredentials"] is True
    assert s.api("GET", "/api/registries", key=kept["key"]).status_code == 200
    got = s.api("GET", f"/api/scans/{kept['scan']['id']}").json()["data"]
    assert got["status"] == "completed" and got["packageCount"] == kept["scan"]["packageCount"]


def scans_of(data_dir, repository):
    con = sqlite3.connect(f"file:{data_dir}/harborguard.db?mode=ro", uri=True)
    try:
        return con.execute("SELECT id, status, error FROM scans WHERE repository = ?", (repository,)).fetchall()
    finally:
        con.close()


@pytest.mark.sqlite_only
def test_kill_9_during_a_scan_retries_it_once(data_dir, server_factory, registry, throttle):
    s = server_factory(data_dir, extra=("--job-lease", "3"))
    kept = seed(s, throttle.url)
    registry.push("faults/big", "1", files=big_layer("kill-scan"))
    throttle.rate = 3 << 20
    queued = scan(s, f"{throttle.host}/faults/big:1")
    before = throttle.sent
    deadline = time.time() + 30
    while throttle.sent - before < (2 << 20) and time.time() < deadline:
        time.sleep(0.05)
    assert s.api("GET", f"/api/scans/{queued['id']}").json()["data"]["status"] == "running"
    s.stop(signal.SIGKILL)
    integrity(data_dir)
    throttle.rate = None
    s2 = server_factory(data_dir, extra=("--job-lease", "3"))
    done = wait(s2, f"/api/scans/{queued['id']}", finished, timeout=90)
    assert done["status"] == "completed", done
    job = s2.api("GET", f"/api/jobs/{queued['jobId']}").json()["data"]
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    # One scan row, one job: the retry finished the same scan.
    assert [r[1] for r in scans_of(data_dir, "faults/big")] == ["completed"]
    assert_kept(s2, kept)
    s2.stop()
    integrity(data_dir)


def test_registry_stopped_mid_pull_is_retried_and_reported(data_dir, server_factory, registry, throttle):
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    registry.push("faults/pull", "1", files=big_layer("mid-pull"))
    throttle.rate = 3 << 20
    queued = scan(s, f"{throttle.host}/faults/pull:1")
    before = throttle.sent
    deadline = time.time() + 30
    while throttle.sent - before < (2 << 20) and time.time() < deadline:
        time.sleep(0.05)
    registry.proc.kill()
    registry.proc.wait()
    try:
        # The interrupted pull is a transient failure: the scan goes back to the queue and
        # says why, while the registry stays down.
        retrying = wait(s, f"/api/scans/{queued['id']}", lambda x: x["status"] == "queued" and x.get("error"), timeout=60)
        assert "registry unreachable" in retrying["error"], retrying
        job = s.api("GET", f"/api/jobs/{queued['jobId']}").json()["data"]
        assert job["status"] == "queued" and job["attempts"] == 1 and "registry unreachable" in job["error"], job
    finally:
        throttle.rate = None
        restart_registry(registry)
    done = wait(s, f"/api/scans/{queued['id']}", finished, timeout=60)
    assert done["status"] == "completed" and done["error"] is None, done
    assert s.api("GET", f"/api/jobs/{queued['jobId']}").json()["data"]["attempts"] == 2
    assert_kept(s, kept)
    s.stop()
    integrity(data_dir)


@pytest.fixture
def mounts():
    """Mounts made by a test, unmounted (lazily, innermost first) at teardown."""
    made = []

    def mount(*args, target):
        target.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount {target} ({' '.join(args)}): {p.stderr.strip()}")
        made.append(target)

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_disk_full_during_a_scan_says_enospc_and_the_retry_succeeds(data_dir, server_factory, registry, throttle, mounts):
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    s.stop()
    # The cache directory (where a scan tees the layout external scanners read) on a 4 MiB tmpfs.
    cache = data_dir / "cache"
    mounts("-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", target=cache)
    s = server_factory(data_dir)
    registry.push("faults/full", "1", files=big_layer("disk-full"))
    queued = scan(s, f"{throttle.host}/faults/full:1", scanners=["native", "syft"])
    # The attempt fails and the scan says why while it waits for its retry.
    waiting = wait(s, f"/api/scans/{queued['id']}", lambda x: finished(x) or (x["status"] == "queued" and x.get("error")))
    assert waiting["status"] == "queued", waiting
    assert "disk full (ENOSPC)" in waiting["error"] and str(cache) in waiting["error"], waiting["error"]
    job = s.api("GET", f"/api/jobs/{queued['jobId']}").json()["data"]
    assert job["status"] == "queued" and "disk full (ENOSPC)" in job["error"], job
    assert s.api("GET", "/healthz").status_code == 200
    assert_kept(s, kept)
    # The partial layout was removed; with room again the retry completes the same scan.
    assert sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) < (1 << 20)
    p = subprocess.run(["mount", "-o", "remount,size=128m", str(cache)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    done = wait(s, f"/api/scans/{queued['id']}", finished, timeout=60)
    assert done["status"] == "completed" and done["error"] is None, done
    assert {x["name"]: x["status"] for x in done["scanners"]} == {"native": "ok", "syft": "ok"}, done["scanners"]
    s.stop()
    integrity(data_dir)


def test_kill_9_of_the_server_and_of_rotate_kek_mid_rotation(data_dir, server_factory, registry, throttle):
    """The server and a rotation running beside it, both killed after the re-wrap: on restart
    every credential still opens (the saved registry's test-connection decrypts it)."""
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    p = run("admin", "rotate-kek", data_dir=data_dir, env={"HARBORGUARD_FAULT": "rotate-kek:after-rewrap"}, check=False)
    assert p.returncode == -signal.SIGKILL
    s.stop(signal.SIGKILL)
    integrity(data_dir)
    s2 = server_factory(data_dir)
    assert_kept(s2, kept)
    tc = s2.api("POST", "/api/registries/test-connection", json={"registryId": kept["registry"]["id"]}).json()["data"]
    assert tc["status"] == "ok", tc
    # The rotation finishes later; the running server follows the new keyring.
    assert "re-wrapped" in run("admin", "rotate-kek", data_dir=data_dir).stdout
    tc = s2.api("POST", "/api/registries/test-connection", json={"registryId": kept["registry"]["id"]}).json()["data"]
    assert tc["status"] == "ok", tc


@pytest.mark.sqlite_only
def test_kill_9_during_backup_leaves_no_backup_and_loses_nothing(tmp_path, data_dir, server_factory, registry, throttle):
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    out = tmp_path / "b.hgbak"
    # The backup process killed after its snapshot, then after its first block.
    for step in ("after-snapshot", "mid-write"):
        p = run("admin", "backup", "--out", str(out), data_dir=data_dir, env={"HARBORGUARD_FAULT": f"backup:{step}"}, check=False)
        assert p.returncode == -signal.SIGKILL, (step, p.stderr)
        assert not out.exists(), step  # nothing at --out claims to be a backup
    assert list(data_dir.glob(".backup-snapshot-*.db")), "the killed backup left no snapshot to clean up"
    partial = tmp_path / "b.hgbak.partial"
    assert partial.exists()
    bad = run("admin", "restore", "--in", str(partial), "--keyring", str(data_dir / "keys" / "keyring.json"),
              data_dir=tmp_path / "from-partial", check=False)
    assert bad.returncode != 0 and "truncated" in bad.stderr, bad.stderr
    # The server killed while a backup runs: the backup (its own process) completes and restores.
    proc = subprocess.Popen([BIN, "admin", "backup", "--data-dir", str(data_dir), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s.stop(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not partial.exists() and not list(data_dir.glob(".backup-snapshot-*.db")), "stale files were not removed"
    restored = tmp_path / "restored"
    run("admin", "restore", "--in", str(out), "--keyring", str(data_dir / "keys" / "keyring.json"), data_dir=restored)
    integrity(restored)
    integrity(data_dir)
    s2 = server_factory(data_dir)
    assert_kept(s2, kept)


@pytest.mark.sqlite_only
def test_backup_to_a_full_disk_fails_clearly_and_leaves_nothing(tmp_path, data_dir, server_factory, mounts):
    s = server_factory(data_dir)
    s.api("POST", "/api/registries", json={"name": "r", "provider": "DOCKER_HUB"})
    # A backup is a logical export of the rows (a few KB here): one page of room is too little.
    small = tmp_path / "small"
    mounts("-t", "tmpfs", "-o", "size=4k", "tmpfs", target=small)
    p = run("admin", "backup", "--out", str(small / "b.hgbak"), data_dir=data_dir, check=False)
    assert p.returncode != 0 and "disk full (ENOSPC)" in p.stderr and "no backup was written" in p.stderr, p.stderr
    assert "Fatal error" not in p.stderr
    assert list(small.iterdir()) == [], list(small.iterdir())  # neither the backup nor a partial file
    assert s.api("GET", "/api/registries").json()["meta"]["total"] == 1


def fill(path):
    """Writes a file under `path` until the disk is full; returns it."""
    filler = path / "filler"
    # Unbuffered: a buffered file that hit ENOSPC still holds the unwritten rest, and its close
    # raises ENOSPC again (how this helper used to fail now and then).
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
        except OSError:
            pass
        # The last few KiB, so the disk is full to the byte rather than to 64 KiB.
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    try:
        os.sync()
    except OSError:
        pass
    return filler


@pytest.mark.sqlite_only
def test_data_directory_disk_full_gives_a_clear_503_and_loses_nothing(tmp_path, data_dir, server_factory, registry,
                                                                      throttle, mounts):
    mounts("-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", target=data_dir)
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    filler = fill(data_dir)
    # Writes fail with a JSON 503 that says the disk is full; reads go on.
    got = None
    for i in range(3000):
        r = s.api("POST", "/api/registries", json={
            "name": f"fill-{i:04d}", "provider": "DOCKER_REGISTRY", "url": f"http://127.0.0.1:9/{'x' * 200}", "insecure": True,
            "credentials": {"username": "u", "password": "p" * 200}})
        if r.status_code != 201:
            got = r
            break
    assert got is not None, "the database never ran out of room"
    assert got.status_code == 503, got.text
    err = got.json()["error"]
    assert err["code"] == "SERVICE_UNAVAILABLE" and "disk full" in err["message"], err
    assert s.api("GET", "/healthz").status_code == 200
    assert_kept(s, kept)
    # A backup needs room for its snapshot in the data directory: refused, clearly.
    p = run("admin", "backup", "--out", str(tmp_path / "b.hgbak"), data_dir=data_dir, check=False)
    assert p.returncode != 0 and "disk full" in p.stderr, p.stderr
    assert not (tmp_path / "b.hgbak").exists()
    # Room again: writes work without a restart, and nothing was lost or corrupted.
    filler.unlink()
    r = s.api("POST", "/api/registries", json={"name": "after-full", "provider": "DOCKER_HUB"})
    assert r.status_code == 201, r.text
    s.stop()
    integrity(data_dir)
    s2 = server_factory(data_dir)
    assert_kept(s2, kept)


def test_read_only_database_is_refused_at_start_with_a_clear_message(data_dir, server_factory, registry, throttle):
    s = server_factory(data_dir)
    kept = seed(s, throttle.url)
    s.stop()
    # Root ignores file modes, so read-only bind mounts: the whole directory, then the file alone.
    for target, what in ((data_dir, "the data directory"), (data_dir / "harborguard.db", "the database")):
        p = subprocess.run(["mount", "--bind", str(target), str(target)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot bind-mount {target}: {p.stderr.strip()}")
        try:
            p = subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            p = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--port", "0"], capture_output=True, text=True,
                               timeout=60)
            assert p.returncode != 0
            assert f"{what} {target} is not writable (Read-only file system)" in p.stderr, p.stderr
            assert "remount it read-write" in p.stderr and "Fatal error" not in p.stderr, p.stderr
        finally:
            subprocess.run(["umount", str(target)], capture_output=True)
    integrity(data_dir)
    s2 = server_factory(data_dir)
    assert_kept(s2, kept)
