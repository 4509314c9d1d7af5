"""The real CNCF distribution registry (Debian `docker-registry`) on 127.0.0.1, and a tiny
client that pushes images through the distribution API (monolithic and chunked uploads)."""
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time

import requests

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry serve with its own config; htpasswd auth when user/password given."""

    def __init__(self, user=None, password=None, notifications=None, log_level="warn", tls=None):
        """tls: (certificate file, key file) to serve https (requests then needs the
        certificate, e.g. through REQUESTS_CA_BUNDLE)."""
        if shutil.which("docker-registry") is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.dir = tempfile.mkdtemp(prefix="hg-registry-")
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.auth = (user, password) if user else None
        config = {
            "version": 0.1,
            "log": {"level": log_level},
            "storage": {"filesystem": {"rootdirectory": self.dir + "/data"}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        if tls:
            config["http"]["tls"] = {"certificate": tls[0], "key": tls[1]}
        if user:
            htpasswd = self.dir + "/htpasswd"
            subprocess.run(["htpasswd", "-Bbc", htpasswd, user, password], check=True, capture_output=True)
            config["auth"] = {"htpasswd": {"realm": "hg-test", "path": htpasswd}}
        if notifications:
            config["notifications"] = {"endpoints": notifications}
        path = self.dir + "/config.yml"
        with open(path, "w") as f:
            json.dump(config, f)  # JSON is valid YAML; no escaped slashes from json.dump
        self.log = open(self.dir + "/registry.log", "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                r = requests.get(self.url + "/v2/", timeout=1, verify=tls[0] if tls else True)
                if r.status_code in (200, 401):
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not start: " + open(self.dir + "/registry.log").read())

    def blob_gets(self, repo=None):
        """Layer and config downloads served so far (needs log_level="info" for access lines)."""
        self.log.flush()
        text = open(self.dir + "/registry.log").read()
        needle = f'"GET /v2/{repo}/blobs/' if repo else '/blobs/sha256:'
        return sum(1 for line in text.splitlines() if needle in line and '"GET ' in line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- pushing -------------------------------------------------------------------------

    def _upload(self, repo, data: bytes, chunked=False):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if requests.head(f"{self.url}/v2/{repo}/blobs/{digest}", auth=self.auth).status_code == 200:
            return digest
        r = requests.post(f"{self.url}/v2/{repo}/blobs/uploads/", auth=self.auth)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        if not loc.startswith("http"):
            loc = self.url + loc
        if chunked:
            half = len(data) // 2
            r = requests.patch(loc, data=data[:half], auth=self.auth,
                               headers={"Content-Type": "application/octet-stream", "Content-Range": f"0-{half - 1}"})
            assert r.status_code == 202, r.text
            loc = r.headers["Location"]
            if not loc.startswith("http"):
                loc = self.url + loc
            data_rest = data[half:]
        else:
            data_rest = data
        sep = "&" if "?" in loc else "?"
        r = requests.put(f"{loc}{sep}digest={digest}", data=data_rest, auth=self.auth,
                         headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return digest

    def push(self, repo, tag, files=None, chunked=False, layers=None, oci=False):
        """Pushes an image whose layers hold `layers` (a list of {path: bytes}; one layer of
        `files` by default), with Docker schema 2 media types or OCI ones; returns the
        manifest digest."""
        manifest_type, config_type, layer_type = (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP) if oci else (MANIFEST_V2, CONFIG_V1, LAYER_GZIP)
        layers = layers or [files or {"etc/hg-marker": f"{repo}:{tag}:{time.time_ns()}".encode()}]
        descriptors, diff_ids = [], []
        for files in layers:
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w") as t:
                for path, content in files.items():
                    info = tarfile.TarInfo(path)
                    info.size = len(content)
                    info.mtime = 0
                    t.addfile(info, io.BytesIO(content))
            layer = gzip.compress(raw.getvalue(), mtime=0)
            diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
            descriptors.append({"mediaType": layer_type, "size": len(layer), "digest": self._upload(repo, layer, chunked=chunked)})
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                             "config": {}}).encode()
        config_digest = self._upload(repo, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": manifest_type,
            "config": {"mediaType": config_type, "size": len(config), "digest": config_digest},
            "layers": descriptors,
        }).encode()
        r = requests.put(f"{self.url}/v2/{repo}/manifests/{tag}", data=manifest, auth=self.auth,
                         headers={"Content-Type": manifest_type})
        assert r.status_code == 201, r.text
        return "sha256:" + hashlib.sha256(manifest).hexdigest()
