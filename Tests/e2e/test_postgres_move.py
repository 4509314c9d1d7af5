"""Moving an install from the embedded SQLite to PostgreSQL, on the real binary: a server
with a registry (credentials sealed), a real scan and its findings, API keys and an audit log;
`admin backup` while it serves, then `admin restore --database postgres://…` into an empty
database of the harness's PostgreSQL 15. Every table arrives with the same row count, the
restore opens every secret with the keyring before it commits, and a second restore into the
now-populated database is refused."""
import json
import os
import sqlite3
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import run, Server
from registry_harness import Registry
from test_scan_cli import dpkg, osv
from test_scans import submit, wait_scan

PG_URL = os.environ.get("HARBORGUARD_TEST_POSTGRES_URL", "")
PASSWORD = "move-registry-pass-7"

pytestmark = pytest.mark.skipif(not PG_URL and os.environ.get("CI") != "true",
                                reason="needs HARBORGUARD_TEST_POSTGRES_URL (make test starts PostgreSQL)")


def psql(url, sql):
    p = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def new_database():
    assert PG_URL, "CI=true but HARBORGUARD_TEST_POSTGRES_URL is not set: run the tests through `make test`"
    name = f"hg_move_{os.getpid()}_{os.urandom(4).hex()}"
    psql(PG_URL, f"CREATE DATABASE {name}")
    u = urllib.parse.urlsplit(PG_URL)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, ""))


def test_a_scanned_install_moves_to_postgresql(tmp_path):
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    rec = osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1", aliases=["CVE-2099-0001"],
              severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)")
    (osv_dir / "rec.json").write_text(json.dumps(rec))
    reg = Registry(user="ci", password=PASSWORD)
    data = tmp_path / "data"
    s = Server(data)
    try:
        s.wait_ready()
        run("db", "import", str(osv_dir), data_dir=data)
        base = {"etc/os-release": Path("/etc/os-release").read_bytes(),
                "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
        reg.push("apps/web", "1.0", layers=[base])
        r = s.api("POST", "/api/registries", json={
            "name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True,
            "credentials": {"username": "ci", "password": PASSWORD}})
        assert r.status_code == 201, r.text
        scan = wait_scan(s, submit(s, f"{reg.host}/apps/web:1.0")["id"])
        assert scan["status"] == "completed" and scan["counts"]["critical"] == 1, scan
        run("admin", "create-api-key", "--role", "viewer", "--name", "ci-reader", data_dir=data)
        backup = tmp_path / "b.hgbak"
        run("admin", "backup", "--out", str(backup), data_dir=data)
    finally:
        s.stop()
        reg.stop()

    url = new_database()
    node = tmp_path / "node1"
    keyring = data / "keys" / "keyring.json"
    out = run("admin", "restore", "--in", str(backup), "--keyring", str(keyring), "--database", url, data_dir=node).stdout
    assert "secrets opened with the keyring" in out, out
    secrets = int(out.split(" secrets opened")[0].rsplit(" ", 1)[1])
    # The registry's credentials (and whatever else was sealed) opened on the way in.
    assert secrets >= 1, out
    # The password never shows in what the command prints.
    assert urllib.parse.urlsplit(url).password not in out

    src = sqlite3.connect(data / "harborguard.db")
    tables = [t for (t,) in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN ('grdb_migrations', 'server_heartbeat')")]
    counts = {t: src.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    moved = {t: int(psql(url, f'SELECT COUNT(*) FROM "{t}"')) for t in tables}
    assert moved == counts
    for t in ("registries", "secrets", "scans", "findings", "inventories", "layer_analyses", "api_keys", "audit_log", "jobs"):
        assert counts[t] > 0, t
    assert int(psql(url, "SELECT COUNT(*) FROM secrets")) == secrets
    # The same finding, byte for byte: the JSON document stored in SQLite and in PostgreSQL's BYTEA.
    (detail,) = src.execute("SELECT detail FROM findings ORDER BY scan_id, seq LIMIT 1").fetchone()
    detail = detail if isinstance(detail, bytes) else detail.encode()
    pg_detail = psql(url, "SELECT encode(detail, 'hex') FROM findings ORDER BY scan_id, seq LIMIT 1")
    assert bytes.fromhex(pg_detail) == detail

    # Into a database that already holds an install: refused, nothing changed.
    again = run("admin", "restore", "--in", str(backup), "--keyring", str(keyring), "--database", url,
                data_dir=tmp_path / "node2", check=False)
    assert again.returncode != 0 and "already holds" in again.stderr, again.stderr
    assert int(psql(url, "SELECT COUNT(*) FROM findings")) == counts["findings"]
    # A URL that is not PostgreSQL's: a clear error.
    bad = run("admin", "restore", "--in", str(backup), "--keyring", str(keyring), "--database", "mysql://u@h/db",
              data_dir=tmp_path / "node3", check=False)
    assert bad.returncode != 0 and "bad database URL" in bad.stderr, bad.stderr


def test_a_postgresql_install_backs_up_and_restores_into_either_engine(tmp_path):
    """`admin backup --database` exports a PostgreSQL install (while it serves) into the same
    format: it restores into a SQLite data directory and into another PostgreSQL database with
    every table's rows, every secret opening, and both serve the same registries."""
    url = new_database()
    data = tmp_path / "pg-node"
    s = Server(data, extra=("--database", url))
    try:
        for i in range(3):
            r = s.api("POST", "/api/registries", json={
                "name": f"reg-{i}", "provider": "DOCKER_REGISTRY", "url": f"https://r{i}.example.test",
                "credentials": {"username": "u", "password": f"secret-{i}"}})
            assert r.status_code == 201, r.text
        names = sorted(x["name"] for x in s.api("GET", "/api/registries").json()["data"])
        backup = tmp_path / "pg.hgbak"
        out = run("admin", "backup", "--out", str(backup), "--database", url, data_dir=data).stdout
        assert "wrote" in out, out
        assert urllib.parse.urlsplit(url).password not in out
    finally:
        s.stop()
    keyring = data / "keys" / "keyring.json"
    tables = [t for t in psql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                                   "AND table_type = 'BASE TABLE'").split("\n")
              if t not in ("schema_migrations", "server_heartbeat")
              # PostgreSQL only, and not in a backup: the vulnerability-database release is
              # published again by the first node that starts with advisories.
              and not t.startswith("vulndb_release")]
    counts = {t: int(psql(url, f'SELECT COUNT(*) FROM "{t}"')) for t in tables}
    assert counts["registries"] == 3 and counts["secrets"] >= 3 and counts["audit_log"] > 0

    lite = tmp_path / "lite"
    out = run("admin", "restore", "--in", str(backup), "--keyring", str(keyring), data_dir=lite).stdout
    assert "secrets opened with the keyring" in out, out
    con = sqlite3.connect(lite / "harborguard.db")
    assert {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables} == counts
    con.close()
    assert f"{counts['secrets']} sealed, 0 unreadable" in run("admin", "check", data_dir=lite).stdout

    url2 = new_database()
    node = tmp_path / "pg-node-2"
    run("admin", "restore", "--in", str(backup), "--keyring", str(keyring), "--database", url2, data_dir=node)
    assert {t: int(psql(url2, f'SELECT COUNT(*) FROM "{t}"')) for t in tables} == counts

    for d, extra in ((lite, ()), (node, ("--database", url2))):
        key = run("admin", "create-api-key", "--role", "viewer", "--name", "after-restore", *extra, data_dir=d).stdout.strip()
        s2 = Server(d, extra=extra)
        try:
            got = sorted(x["name"] for x in s2.api("GET", "/api/registries", key=key).json()["data"])
            assert got == names
        finally:
            s2.stop()
