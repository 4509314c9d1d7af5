"""Two `serve` nodes on one PostgreSQL match against one vulnerability-database version.

Each node keeps its own `vulndb.sqlite`; the node that changes it publishes a release into
PostgreSQL and every node takes that release before it matches. Real parts: PostgreSQL 15 (a
throwaway cluster), the distribution registry, the harborguard binary (two servers and the
command line)."""
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import BIN
from registry_harness import Registry
from test_ha_postgres import node, pg  # noqa: F401  (pg is a fixture)
from test_scan_cli import osv

PACKAGE = "libhgrelease1"


def dpkg_status(name, version):
    return f"Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\n".encode()


def osv_dir(path, *records):
    path.mkdir()
    for r in records:
        (path / f"{r['id']}.json").write_text(json.dumps(r))
    return path


def vulndb(server, key):
    r = requests.get(server.base + "/api/vulndb", headers={"X-API-Key": key}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def wait_current(server, key, version=None, seconds=30):
    deadline = time.time() + seconds
    while True:
        d = vulndb(server, key)
        rel = d["release"]
        if rel and rel["current"] and (version is None or rel["version"] == version):
            return d
        assert time.time() < deadline, f"node did not take the release in {seconds} s: {rel}"
        time.sleep(0.2)


def scan_findings(server, key, image):
    h = {"X-API-Key": key}
    r = requests.post(server.base + "/api/scans", headers=h, json={"image": image}, timeout=30)
    assert r.status_code == 202, r.text
    scan_id = r.json()["data"]["id"]
    deadline = time.time() + 120
    while True:
        st = requests.get(f"{server.base}/api/scans/{scan_id}", headers=h, timeout=30).json()["data"]
        if st["status"] in ("completed", "failed"):
            break
        assert time.time() < deadline, st
        time.sleep(0.2)
    assert st["status"] == "completed", st
    f = requests.get(f"{server.base}/api/scans/{scan_id}/findings", headers=h, timeout=30).json()["data"]
    return sorted(x["vulnerabilityId"] for x in f)


def test_every_node_matches_against_the_published_release(pg, tmp_path):  # noqa: F811
    _, url = pg
    data_a, data_b = tmp_path / "a" / "data", tmp_path / "b" / "data"
    first = osv_dir(tmp_path / "osv1", osv("DEBIAN-CVE-2099-1001", "Debian:12", PACKAGE, "2.0", aliases=["CVE-2099-1001"]))
    second = osv_dir(tmp_path / "osv2", osv("DEBIAN-CVE-2099-1002", "Debian:12", PACKAGE, "3.0", aliases=["CVE-2099-1002"]))

    # Node A's own database, imported before it joined: the first node publishes it.
    imported = subprocess.run([BIN, "db", "import", str(first), "--data-dir", str(data_a)], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    a = node(data_a, url)
    key = a.admin_key
    (data_b / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy2(data_a / "keys" / "keyring.json", data_b / "keys" / "keyring.json")
    b = None
    reg = Registry()
    try:
        on_a = wait_current(a, key)
        release = on_a["release"]
        assert release["local"] == release["version"] and len(release["version"]) == 64 and release["size"] > 0
        assert on_a["advisories"] == 1

        # Node B starts with no advisories at all and takes A's release.
        b = node(data_b, url)
        on_b = wait_current(b, key, release["version"])
        assert on_b["advisories"] == 1 and on_b["release"]["publishedBy"] == release["publishedBy"]
        assert (data_b / "vulndb.release").read_text().strip() == release["version"]

        image = reg.push("apps/rel", "1.0", layers=[{"etc/os-release": Path("/etc/os-release").read_bytes(),
                                                     "var/lib/dpkg/status": dpkg_status(PACKAGE, "1.0")}])
        r = requests.post(a.base + "/api/registries", headers={"X-API-Key": key},
                          json={"name": "local", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True}, timeout=30)
        assert r.status_code == 201, r.text
        ref = f"{reg.host}/apps/rel:1.0"
        assert scan_findings(a, key, ref) == ["CVE-2099-1001"]

        # A node whose directory follows the release refuses a local change that would not
        # reach the other nodes.
        local = subprocess.run([BIN, "db", "import", str(second), "--data-dir", str(data_b)],
                               capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
        assert local.returncode == 64 and "--database" in local.stderr, local.stderr
        assert vulndb(b, key)["advisories"] == 1

        # An import on B's directory whose publish fails (no PostgreSQL at that address): the
        # import stays in B's file, marked unpublished, and the command says to run it again.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        down = url.rsplit("@", 1)[0] + f"@127.0.0.1:{closed}/" + url.rsplit("/", 1)[1]
        failed = subprocess.run([BIN, "db", "import", str(second), "--data-dir", str(data_b), "--database", down],
                                capture_output=True, text=True, timeout=120)
        assert failed.returncode == 1, (failed.stdout, failed.stderr)
        assert "could not be published" in failed.stderr and "run the command again" in failed.stderr, failed.stderr
        assert (data_b / "vulndb.unpublished").exists()
        assert vulndb(a, key)["release"]["version"] == release["version"]

        # Run again, as told, against the installation: nothing changes locally this time, and
        # the earlier import is published all the same. B stops, so A runs the next scan: A
        # must take the new release before it matches.
        published = subprocess.run([BIN, "db", "import", str(second), "--data-dir", str(data_b), "--database", url],
                                   capture_output=True, text=True, timeout=120)
        assert published.returncode == 0, published.stderr
        assert "0 new, 0 updated" in published.stdout, published.stdout
        assert "published vulnerability database release" in published.stdout, published.stdout
        assert not (data_b / "vulndb.unpublished").exists()
        b.stop()
        b = None
        assert scan_findings(a, key, ref) == ["CVE-2099-1001", "CVE-2099-1002"]
        on_a = wait_current(a, key)
        assert on_a["advisories"] == 2 and on_a["release"]["reason"].startswith("db import")
        assert "publishing an earlier change" in on_a["release"]["reason"]
        assert (data_a / "vulndb.release").read_text().strip() == on_a["release"]["version"] != release["version"]
    finally:
        reg.stop()
        if b:
            b.stop()
        a.stop()
