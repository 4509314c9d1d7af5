"""The .deb on a real Debian bookworm root: `scripts/make-deb.sh` packages the static release
binary, lintian finds nothing but the reported `no-manual-page`, `dpkg -i` in a chroot of the
debootstrap root the scanner tests use creates the service user and a 0700 data directory,
the unit's command line runs as that user with the conffile's settings and answers /healthz,
and `dpkg --purge` leaves no user, no data, no configuration and no binary.

Needs the static binary (`make release`; `HARBORGUARD_RELEASE_BIN`), root, and the cached
root from scripts/install-deps.sh. `make test-packages` (run by .ci/run after the release
build) sets them up; outside CI a missing part skips with the reason, in CI it fails."""
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path


from conftest import BIN, REPO, need

ROOT_TAR = Path("/var/cache/harborguard-tests/bookworm-ruby-java.tar")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_deb_installs_runs_as_its_user_and_purges_cleanly(tmp_path):
    need(Path(BIN).is_file(), f"no release binary at {BIN} (make release)")
    need(os.geteuid() == 0, "needs root (chroot, mounts)")
    need(ROOT_TAR.is_file(), f"no cached bookworm root at {ROOT_TAR} (scripts/install-deps.sh)")
    need(shutil.which("lintian") is not None, "lintian is not installed")
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True)
    need("not a dynamic executable" in ldd.stdout + ldd.stderr, f"{BIN} is not the static release binary")

    out = tmp_path / "dist"
    deb = Path(subprocess.run(["bash", str(REPO / "scripts/make-deb.sh"), BIN, str(out)], check=True, capture_output=True,
                              text=True).stdout.strip())
    assert deb.name.startswith("harborguard_") and deb.name.endswith("_amd64.deb"), deb
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True).stdout
    for path in ("./usr/bin/harborguard", "./lib/systemd/system/harborguard.service", "./etc/harborguard/harborguard.conf",
                 "./usr/share/doc/harborguard/copyright", "./usr/share/doc/harborguard/changelog.gz"):
        assert path in contents, contents
    conffiles = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], check=True, capture_output=True, text=True).stdout
    assert conffiles.split() == ["/etc/harborguard/harborguard.conf"]
    lint = subprocess.run(["lintian", "--tag-display-limit", "0", str(deb)], capture_output=True, text=True)
    tags = sorted({line.split(":")[0] + ":" + line.split(":")[2].split()[0] for line in lint.stdout.splitlines()
                   if line[:2] in ("E:", "W:")})
    assert tags == ["W:no-manual-page"], lint.stdout

    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(ROOT_TAR) as t:
        t.extractall(root, filter="fully_trusted")
    shutil.copy(deb, root / "tmp" / deb.name)
    for d in ("dev", "proc", "run"):
        (root / d).mkdir(exist_ok=True)
    port = free_port()
    # One shell in a private mount namespace: the chroot's /dev, /proc and /run vanish with it.
    script = f"""
set -e
mount --bind /dev {root}/dev; mount -t proc proc {root}/proc; mount -t tmpfs tmpfs {root}/run
chroot {root} dpkg -i /tmp/{deb.name} >/dev/null
echo "passwd=$(chroot {root} getent passwd harborguard)"
echo "datadir=$(chroot {root} stat -c '%U %a' /var/lib/harborguard)"
chroot --userspec=harborguard:harborguard {root} /bin/sh -c \
  'set -a; . /etc/harborguard/harborguard.conf; set +a; cd /; exec /usr/bin/harborguard serve $HARBORGUARD_SERVE_ARGS --port {port}' \
  >{tmp_path}/serve.log 2>&1 &
pid=$!
code=000
for i in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/healthz || true)
  [ "$code" = 200 ] && break
  sleep 0.25
done
echo "healthz=$code"
echo "db=$(chroot {root} stat -c '%U %a' /var/lib/harborguard/harborguard.db)"
kill $pid; wait $pid || true
chroot {root} dpkg --purge harborguard >/dev/null
echo "user-after=$(chroot {root} getent passwd harborguard || true)"
echo "group-after=$(chroot {root} getent group harborguard || true)"
for p in /var/lib/harborguard /etc/harborguard /usr/bin/harborguard /lib/systemd/system/harborguard.service; do
  [ -e {root}$p ] && echo "left=$p" || true
done
echo "status=$(chroot {root} dpkg-query -W -f='${{Status}}' harborguard 2>&1 || true)"
"""
    r = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line and not line.startswith("left="))
    left = [line for line in r.stdout.splitlines() if line.startswith("left=")]
    assert out["passwd"].startswith("harborguard:") and out["passwd"].endswith(":/var/lib/harborguard:/usr/sbin/nologin"), r.stdout
    uid = out["passwd"].split(":")[2]
    assert int(uid) < 1000, out["passwd"]  # a system user
    assert out["datadir"].split()[1] == "700", r.stdout
    assert out["healthz"] == "200", (r.stdout, (tmp_path / "serve.log").read_text()[-2000:])
    assert out["db"].split()[1] == "600", r.stdout  # the database, written by the service user, private
    assert out["user-after"] == "" and out["group-after"] == "", r.stdout
    assert left == [], left
    assert "not-installed" in out["status"] or "no packages found" in out["status"], out["status"]
