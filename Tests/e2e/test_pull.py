"""`harborguard pull` on the real binary against the real distribution registry: the OCI
layout it writes is read back by skopeo (an independent implementation), digests are the
registry's own, credentials are used, and bad destinations or references fail clearly."""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import BIN
from registry_harness import Registry

USER, PASSWORD = "puller", "pull-secret-4821"


@pytest.fixture(scope="module")
def reg():
    r = Registry(user=USER, password=PASSWORD)
    yield r
    r.stop()


def pull(reg, ref, dest, *args, password=PASSWORD):
    return subprocess.run([BIN, "pull", f"{reg.host}/{ref}", str(dest), "--insecure", "--username", USER, "--password-stdin", *args],
                          input=(password + "\n") if password else "", capture_output=True, text=True, timeout=120)


def test_pull_writes_a_layout_skopeo_reads_with_the_registrys_digests(reg, tmp_path):
    layers = [{f"data/{i}.bin": os.urandom(300_000) + bytes(200_000)} for i in range(5)]
    digest = reg.push("apps/pulled", "2.1", layers=layers, oci=True)
    dest = tmp_path / "layout"
    p = pull(reg, "apps/pulled:2.1", dest)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["manifestDigest"] == digest and report["digest"] == digest and report["layers"] == 5
    assert "layer 5/5" in p.stderr
    index = json.loads((dest / "index.json").read_text())
    entry = index["manifests"][0]
    assert entry["digest"] == digest and entry["annotations"]["org.opencontainers.image.ref.name"] == "2.1"
    # Every blob is named by the hash of its bytes, and the manifest's blobs are all there.
    for blob in (dest / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    manifest = json.loads((dest / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    for d in [manifest["config"]] + manifest["layers"]:
        assert (dest / "blobs" / "sha256" / d["digest"].split(":")[1]).stat().st_size == d["size"]
    # An independent reader accepts the layout (skopeo 1.9 reads OCI-typed manifests only) and sees the same image.
    out = tmp_path / "copy"
    c = subprocess.run(["skopeo", "copy", "--quiet", f"oci:{dest}:2.1", f"dir:{out}"], capture_output=True, text=True, timeout=120)
    assert c.returncode == 0, c.stderr
    assert len([f for f in os.listdir(out) if len(f) == 64]) == 6  # 5 layers + config


def test_pull_refuses_a_non_empty_destination_and_wrong_credentials(reg, tmp_path):
    reg.push("apps/small", "1")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    p = pull(reg, "apps/small:1", busy)
    assert p.returncode == 1 and "not empty" in p.stderr
    assert (busy / "keep.txt").read_text() == "mine"
    denied = pull(reg, "apps/small:1", tmp_path / "denied", password="wrong-password")
    assert denied.returncode == 1 and "auth" in denied.stderr.lower(), denied.stderr
    assert not (tmp_path / "denied" / "index.json").exists()
    missing = pull(reg, "apps/small:nope", tmp_path / "missing")
    assert missing.returncode == 1 and "not found" in missing.stderr.lower(), missing.stderr
    bad = subprocess.run([BIN, "pull", "UPPER/Case:1", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 64


def test_a_docker_schema2_image_keeps_its_media_types_and_digest(reg, tmp_path):
    digest = reg.push("apps/docker", "1", layers=[{"a": b"1"}, {"b": b"2"}])
    p = pull(reg, "apps/docker:1", tmp_path / "l")
    assert p.returncode == 0, p.stderr
    entry = json.loads((tmp_path / "l" / "index.json").read_text())["manifests"][0]
    assert entry["digest"] == digest
    assert entry["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
