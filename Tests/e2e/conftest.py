"""End-to-end tests: the real `harborguard` binary, real SQLite files, real processes.

Only 127.0.0.1 is ever contacted.
"""
import functools
import os
import urllib.parse
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HARBORGUARD_BIN", str(ROOT / ".build" / "debug" / "harborguard"))


def in_private_network(test):
    """Runs the test in a network namespace of its own that has only a loopback interface, so that
    whatever the binary under test does (a regression that dials a metadata or private address,
    say), no packet leaves this machine: such a dial fails with "network unreachable" instead."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        if os.environ.get("HARBORGUARD_NETNS") == "1":
            return test(*args, **kwargs)
        nodeid = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
        p = subprocess.run(
            ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
             sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", nodeid],
            env=dict(os.environ, HARBORGUARD_NETNS="1"), capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, f"{nodeid} in its own network namespace:\n{p.stdout[-6000:]}\n{p.stderr[-2000:]}"
    return wrapper


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, field="VmRSS"):
    """A memory figure of a process from /proc/PID/status (VmRSS, VmHWM, …) in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


# HARBORGUARD_E2E_DATABASE=postgres runs every server on PostgreSQL (a database of its own
# per data directory, created on the server at HARBORGUARD_TEST_POSTGRES_URL) instead of
# SQLite: the same tests, the same answers expected. Tests that read the SQLite file itself
# are marked `sqlite_only`.
E2E_POSTGRES = os.environ.get("HARBORGUARD_E2E_DATABASE") == "postgres"
_PG_DATABASES = {}


def postgres_url_for(data_dir: Path) -> str:
    """The PostgreSQL database of one data directory (created on first use)."""
    key = str(data_dir)
    if key not in _PG_DATABASES:
        admin = os.environ["HARBORGUARD_TEST_POSTGRES_URL"]
        name = f"hg_e2e_{os.getpid()}_{len(_PG_DATABASES)}_{os.urandom(3).hex()}"
        p = subprocess.run(["psql", admin, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        u = urllib.parse.urlsplit(admin)
        _PG_DATABASES[key] = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, ""))
    return _PG_DATABASES[key]


def pytest_collection_modifyitems(config, items):
    if not E2E_POSTGRES:
        return
    skip = pytest.mark.skip(reason="reads or writes the SQLite file itself")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test inspects the embedded SQLite database itself")


def database_args(data_dir):
    """`--database URL` for a command run beside a PostgreSQL-backed server (else nothing)."""
    return ["--database", postgres_url_for(data_dir)] if E2E_POSTGRES else []


# Admin commands that work on a running installation's database take --database.
_DATABASE_COMMANDS = {("admin", "create-api-key"), ("admin", "create-user"), ("admin", "rotate-kek"), ("admin", "check"), ("admin", "backup"),
                      ("db", "import"), ("db", "update")}


def run(*args, data_dir, env=None, check=True, input=None):
    e = dict(os.environ)
    e.update(env or {})
    if E2E_POSTGRES and tuple(args[:2]) in _DATABASE_COMMANDS and "--database" not in args:
        args = (*args, "--database", postgres_url_for(data_dir))
    p = subprocess.run([BIN, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, env=e,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p


# data directory → its initial admin key, read while data/initial-admin-key still exists.
_ADMIN_KEYS = {}


class Server:
    def __init__(self, data_dir: Path, log_level="info", extra=(), env=None):
        self.data_dir = data_dir
        if E2E_POSTGRES and "--database" not in extra:
            extra = (*extra, "--database", postgres_url_for(data_dir))
        self.port = free_port()
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.out = data_dir.parent / f"serve-{self.port}.out"
        e = dict(os.environ)
        e.update(env or {})
        self.scheme = "https" if "--tls-cert" in extra else "http"
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data-dir", str(data_dir), "--port", str(self.port), "--log-level", log_level, *extra],
            stdout=open(self.out, "w"), stderr=open(self.log, "w"), env=e)
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"
        self.wait_ready()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if requests.get(self.base + "/healthz", timeout=1, verify=False).status_code == 200:
                    key_file = self.data_dir / "initial-admin-key"
                    if key_file.exists():
                        _ADMIN_KEYS[str(self.data_dir)] = key_file.read_text().strip()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not become healthy: " + self.log.read_text())

    @property
    def admin_key(self) -> str:
        # serve deletes data/initial-admin-key once a user or another key exists: remember the
        # key per data directory while the file is there (read at start, see wait_ready).
        key = _ADMIN_KEYS.get(str(self.data_dir))
        if key is None:
            key = (self.data_dir / "initial-admin-key").read_text().strip()
            _ADMIN_KEYS[str(self.data_dir)] = key
        return key

    def api(self, method, path, key=None, **kw):
        headers = kw.pop("headers", {})
        headers["X-API-Key"] = key or self.admin_key
        return requests.request(method, self.base + path, headers=headers, timeout=30, verify=False, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def server_factory():
    servers = []

    def make(data_dir, **kw):
        s = Server(data_dir, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop(signal.SIGKILL)


# A job by id until it ends (succeeded, failed or cancelled).
def wait_job(s, job_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.api("GET", f"/api/jobs/{job_id}").json()["data"]
        if j["status"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {j}")
