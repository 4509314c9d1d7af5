"""The OCI image on the real distribution registry: `scripts/make-image.py` builds the image
layout from the static release binary, `skopeo copy` pushes it to a docker-registry with
htpasswd auth, `skopeo inspect` reads back its configuration, the layer is pulled with
skopeo and extracted, and the image's entrypoint runs as the image's user in a chroot of
that root file system (the /dev, /proc and /etc/resolv.conf a container runtime would give)
and answers /healthz, writing its database into the /data volume as that user.

Needs the static binary (`make release`; `HARBORGUARD_RELEASE_BIN`), root, skopeo and
docker-registry. `make test-packages` (run by .ci/run after the release build) sets them up;
outside CI a missing part skips with the reason, in CI it fails."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import BIN, REPO, need
sys.path.insert(0, str(REPO / "Tests/e2e"))
from registry_harness import Registry, free_port  # noqa: E402


def skopeo(*args):
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def make_image(out, tag="test"):
    r = subprocess.run([sys.executable, str(REPO / "scripts/make-image.py"), BIN, str(out), "--tag", tag],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def prerequisites():
    need(Path(BIN).is_file(), f"no release binary at {BIN} (make release)")
    need(os.geteuid() == 0, "needs root (chroot, mounts)")
    need(shutil.which("skopeo") is not None, "skopeo is not installed")
    need(shutil.which("docker-registry") is not None, "docker-registry is not installed")
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True)
    need("not a dynamic executable" in ldd.stdout + ldd.stderr, f"{BIN} is not the static release binary")


def test_image_is_reproducible_and_refuses_a_dynamic_binary(prerequisites, tmp_path):
    first = make_image(tmp_path / "a")
    second = make_image(tmp_path / "b")
    assert first.startswith("sha256:") and first == second
    r = subprocess.run([sys.executable, str(REPO / "scripts/make-image.py"), "/bin/ls", str(tmp_path / "c")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "dynamically linked" in r.stderr, r.stderr


def test_image_pushed_with_skopeo_runs_its_entrypoint_as_its_user(prerequisites, tmp_path):
    layout = tmp_path / "oci"
    digest = make_image(layout, tag="1.0-test")
    registry = Registry(user="ci", password="ci-secret")
    try:
        ref = f"docker://{registry.host}/harborguard:1.0-test"
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "ci:ci-secret", f"oci:{layout}:1.0-test", ref)
        # Without credentials the registry refuses: the push really went through its auth.
        anon = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--no-creds", ref], capture_output=True, text=True)
        assert anon.returncode != 0

        inspect = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", "ci:ci-secret", ref))
        assert inspect["Digest"] == digest
        assert inspect["Architecture"] == "amd64" and inspect["Os"] == "linux"
        assert len(inspect["Layers"]) == 1
        config = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", "ci:ci-secret", "--config", ref))["config"]
        assert config["User"] == "65532:65532"
        assert config["Entrypoint"] == ["/usr/bin/harborguard", "serve", "--host", "0.0.0.0", "--data-dir", "/data"]
        assert config["ExposedPorts"] == {"8080/tcp": {}}
        assert config["Volumes"] == {"/data": {}}

        pulled = tmp_path / "pulled"
        skopeo("copy", "--src-tls-verify=false", "--src-creds", "ci:ci-secret", ref, f"dir:{pulled}")
        layer_digest = inspect["Layers"][0].split(":", 1)[1]
        blob = pulled / layer_digest
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == layer_digest
    finally:
        registry.stop()

    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(blob, "r:gz") as t:
        members = {m.name: m for m in t.getmembers()}
        t.extractall(root, filter="fully_trusted")
    assert set(members) == {"data", "etc", "etc/group", "etc/hosts", "etc/nsswitch.conf", "etc/passwd", "etc/ssl",
                            "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt", "tmp", "usr", "usr/bin", "usr/bin/harborguard"}
    data = members["data"]
    assert (data.uid, data.gid, data.mode & 0o7777) == (65532, 65532, 0o700)
    assert members["tmp"].mode & 0o7777 == 0o1777
    assert "harborguard:x:65532:65532:" in (root / "etc/passwd").read_text()
    # The scratch image holds nothing but what it lists: no shell, no libc.
    assert not (root / "bin").exists() and not (root / "lib").exists()

    port = free_port()
    user, workdir = config["User"], config["WorkingDir"]
    argv = " ".join(config["Entrypoint"] + ["--port", str(port)])
    for d in ("dev", "proc"):
        (root / d).mkdir()
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # A private mount namespace, as a runtime would give: the chroot's /dev and /proc vanish with it.
    script = f"""
set -e
mount --bind /dev {root}/dev; mount -t proc proc {root}/proc
cd {root}{workdir}
chroot --userspec={user} {root} {argv} >{tmp_path}/serve.log 2>&1 &
pid=$!
code=000
for i in $(seq 1 80); do
  code=$(curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/healthz || true)
  [ "$code" = 200 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.25
done
echo "healthz=$code"
echo "owner=$(ps -o uid= -p $pid | tr -d ' ')"
echo "db=$(stat -c '%u %a' {root}/data/harborguard.db)"
kill $pid; wait $pid || true
"""
    r = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True, text=True, timeout=300)
    log = (tmp_path / "serve.log").read_text()[-2000:] if (tmp_path / "serve.log").exists() else ""
    assert r.returncode == 0, (r.stdout, r.stderr, log)
    out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert out["healthz"] == "200", (r.stdout, log)
    assert out["db"] == "65532 600", (r.stdout, log)
