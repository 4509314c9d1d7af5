"""The sensor on the real binaries: `harborguard serve` and `harborguard sensor` as two
processes, and the real distribution registry with htpasswd credentials that only the sensor
is given (the server's registry record has scanMethod sensor and no credentials).

The sensor syncs and scans; the server records tags, matches the uploaded inventories
against its own OSV database, and shows the sensor online/scanning/offline. The server is
killed while the sensor holds a finished scan: the upload is retried and lands after the
restart. SIGTERM hands unfinished leases back. The server's offline threshold is shortened
with HARBORGUARD_SENSOR_OFFLINE_SECONDS so the test need not wait two minutes."""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import conftest
from conftest import BIN, Server, run
from registry_harness import Registry
from test_scan_cli import dpkg, osv

USER = "scanner"
PASSWORD = "sensor-only-registry-pass-31"
OFFLINE_SECONDS = 4


class Sensor:
    def __init__(self, server, key, tmp, name="e2e-sensor", extra=()):
        self.log = tmp / f"sensor-{time.time_ns()}.log"
        env = dict(os.environ)
        env["HOME"] = str(tmp)  # no ~/.docker/config.json of the machine running the tests
        env["HARBORGUARD_SENSOR_API_KEY"] = key
        env.pop("HARBORGUARD_REGISTRY_PASSWORD", None)
        self.proc = subprocess.Popen(
            [BIN, "sensor", "--server", server.base, "--name", name, "--username", USER, "--password-stdin",
             "--heartbeat-interval", "1", "--poll-interval", "1", "--lease", "30", "--upload-retry-seconds", "120",
             "--data-dir", str(tmp / "sensor-data"), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=env, text=True)
        self.proc.stdin.write(PASSWORD + "\n")
        self.proc.stdin.close()

    def text(self):
        return self.log.read_text()

    def wait_log(self, needle, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.text():
                return
            assert self.proc.poll() is None, f"sensor exited {self.proc.returncode}: {self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"sensor never logged {needle!r}:\n{self.text()}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wait(fn, what, timeout=90, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def restart_on(port, data_dir, env):
    """A server on the same port and data directory (the sensor knows one URL)."""
    saved = conftest.free_port
    conftest.free_port = lambda: port
    try:
        return Server(data_dir, env=env, extra=("--scheduler-interval", "1"))
    finally:
        conftest.free_port = saved


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sensor")
    tar_version, tar_source = dpkg("tar")
    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    rec = osv("DEBIAN-CVE-2099-0001", "Debian:12", tar_source, tar_version + "+hg1", aliases=["CVE-2099-0001"],
              severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", summary="tar: remote code execution (test)")
    (osv_dir / "DEBIAN-CVE-2099-0001.json").write_text(json.dumps(rec))
    reg = Registry(user=USER, password=PASSWORD)
    base = {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()}
    web = reg.push("apps/web", "1.0", layers=[base])
    api = reg.push("apps/api", "2.0")
    yield {"tmp": tmp, "osv": osv_dir, "reg": reg, "web": web, "api": api}
    reg.stop()


def scans_of(s, registry_id):
    return s.api("GET", f"/api/scans?registryId={registry_id}&limit=200").json()["data"]


def status_of(s, registry_id):
    return s.api("GET", f"/api/registries/{registry_id}/sensor-status").json()["data"]


def test_sensor_syncs_and_scans_what_the_server_cannot_reach(env, tmp_path):
    reg = env["reg"]
    data = tmp_path / "data"
    server_env = {"HARBORGUARD_SENSOR_OFFLINE_SECONDS": str(OFFLINE_SECONDS)}
    s = Server(data, env=server_env, extra=("--scheduler-interval", "1"))
    sensors = []
    try:
        run("db", "import", str(env["osv"]), data_dir=data)
        r = s.api("POST", "/api/registries", json={
            "name": "behind-the-firewall", "provider": "DOCKER_REGISTRY", "url": reg.url, "insecure": True,
            "scanMethod": "sensor", "schedule": "manual"})
        assert r.status_code == 201, r.text
        registry = r.json()["data"]
        rid, key = registry["id"], registry["sensorApiKey"]
        assert registry["hasCredentials"] is False and key.startswith("hg_ak_")
        # The server itself holds no way in.
        tc = s.api("POST", "/api/registries/test-connection", json={"registryId": rid}).json()["data"]
        assert tc["status"] == "auth_failed", tc
        st = status_of(s, rid)
        assert st["status"] == "never_connected" and st["scanMethod"] == "sensor"
        # The sensor key works only on the sensor endpoints.
        assert s.api("GET", "/api/registries", key=key).status_code == 403
        assert s.api("GET", f"/api/registries/{rid}/sensor-status", key=key).status_code == 403

        sensor = Sensor(s, key, tmp_path)
        sensors.append(sensor)
        st = wait(lambda: (lambda d: d if d["status"] == "online" else None)(status_of(s, rid)), "sensor online", timeout=60)
        assert st["name"] == "e2e-sensor" and st["sensor"]["name"] == "e2e-sensor"
        assert st["version"] and st["hostname"] and st["lastHeartbeatAt"]

        # Sync: a sensor_sync job that the sensor claims; tags recorded; scans queued for the sensor.
        sync = s.api("POST", f"/api/registries/{rid}/sync")
        assert sync.status_code == 202, sync.text
        job_id = sync.json()["data"]["jobId"]
        job = wait(lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
            s.api("GET", f"/api/jobs/{job_id}").json()["data"]), "sync job")
        assert job["status"] == "succeeded" and job["type"] == "sensor_sync", job
        images = {i["name"]: i for i in s.api("GET", f"/api/images?registryId={rid}").json()["data"]}
        assert set(images) == {"apps/web", "apps/api"}
        assert images["apps/web"]["latestDigest"] == env["web"]

        done = wait(lambda: (lambda xs: xs if len(xs) == 2 and all(x["status"] == "completed" for x in xs) else None)(
            scans_of(s, rid)), "both scans completed", timeout=120)
        web = next(x for x in done if x["reference"].endswith("apps/web:1.0"))
        assert web["origin"] == "sensor" and web["digest"] == env["web"]
        assert web["os"]["family"] == "debian" and web["packageCount"] > 50
        assert web["counts"]["critical"] == 1 and web["riskScore"] == 25, web
        assert web["scanners"][0]["name"] == "native" and web["scanners"][0]["status"] == "ok"
        findings = s.api("GET", f"/api/scans/{web['id']}/findings").json()["data"]
        assert [f["vulnerabilityId"] for f in findings] == ["CVE-2099-0001"]
        assert findings[0]["sources"] == ["native"] and findings[0]["severity"] == "CRITICAL"
        img = s.api("GET", f"/api/images/{web['imageId']}").json()["data"]
        assert img["riskScore"] == 25 and {t["name"]: t["lastScanId"] for t in img["tags"]}["1.0"] == web["id"]
        health = s.api("GET", f"/api/registries/{rid}").json()["data"]["health"]
        assert health["status"] == "healthy", health

        # The server is killed while the sensor holds a finished scan; the upload lands after the restart.
        os.kill(reg.proc.pid, signal.SIGSTOP)  # the sensor's scan waits on the registry
        try:
            queued = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/web:1.0"})
            assert queued.status_code == 202, queued.text
            scan_id = queued.json()["data"]["id"]
            wait(lambda: s.api("GET", f"/api/scans/{scan_id}/status").json()["data"]["status"] == "running", "scan claimed")
            port = s.port
            s.stop(signal.SIGKILL)
        finally:
            os.kill(reg.proc.pid, signal.SIGCONT)
        sensor.wait_log("upload failed; retrying", timeout=90)
        s = restart_on(port, data, server_env)
        rescan = wait(lambda: (lambda d: d if d["status"] in ("completed", "failed") else None)(
            s.api("GET", f"/api/scans/{scan_id}").json()["data"]), "rescan recorded after restart", timeout=120)
        assert rescan["status"] == "completed" and rescan["origin"] == "sensor", rescan
        assert rescan["counts"]["critical"] == 1
        assert rescan["layers"]["cached"] == 1  # the sensor's own layer cache: nothing pulled twice
        # The server answered after it committed: the sensor logs the answer a moment later.
        sensor.wait_log(f"job={rescan['jobId']} response=", timeout=30)
        line = next(l for l in sensor.text().splitlines() if f"job={rescan['jobId']} response=" in l)
        assert "result recorded" in line and int(re.search(r"tries=(\d+)", line).group(1)) > 1, line

        # SIGTERM while a scan is in hand: the lease goes back at once and the sensor exits 0.
        os.kill(reg.proc.pid, signal.SIGSTOP)
        try:
            queued = s.api("POST", "/api/scans", json={"image": f"{reg.host}/apps/api:2.0"})
            assert queued.status_code == 202, queued.text
            held = queued.json()["data"]["id"]
            wait(lambda: s.api("GET", f"/api/scans/{held}/status").json()["data"]["status"] == "running", "scan claimed")
            assert status_of(s, rid)["status"] == "scanning"
            assert sensor.stop(signal.SIGTERM) == 0, sensor.text()
        finally:
            os.kill(reg.proc.pid, signal.SIGCONT)
        assert "releasing leases" in sensor.text() and "sensor stopped" in sensor.text()
        assert s.api("GET", f"/api/scans/{held}/status").json()["data"]["status"] == "queued"
        st = status_of(s, rid)
        assert st["jobs"] == {"queued": 1, "running": 0}, st

        # Silent for longer than the threshold: offline, and the registry unhealthy.
        st = wait(lambda: (lambda d: d if d["status"] == "offline" else None)(status_of(s, rid)), "sensor offline",
                  timeout=OFFLINE_SECONDS + 15)
        assert st["name"] == "e2e-sensor"
        health = s.api("GET", f"/api/registries/{rid}").json()["data"]["health"]
        assert health["status"] == "unhealthy" and health["lastError"].startswith("Sensor offline"), health

        # A sensor started again picks the released scan up and the registry recovers.
        again = Sensor(s, key, tmp_path, name="e2e-sensor-2")
        sensors.append(again)
        done = wait(lambda: (lambda d: d if d["status"] in ("completed", "failed") else None)(
            s.api("GET", f"/api/scans/{held}").json()["data"]), "released scan done", timeout=90)
        assert done["status"] == "completed", done
        assert status_of(s, rid)["name"] == "e2e-sensor-2"
        assert s.api("GET", f"/api/registries/{rid}").json()["data"]["health"]["status"] == "healthy"

        # The registry password never reached the server: not in its database, not in its log.
        for path in list(data.glob("*.sqlite*")) + list(data.glob("*.db*")) + [s.log]:
            assert PASSWORD.encode() not in Path(path).read_bytes(), path
    finally:
        for x in sensors:
            x.stop(signal.SIGKILL)
        s.stop(signal.SIGKILL)


def test_a_sensor_with_a_refused_key_exits_with_an_error(tmp_path):
    s = Server(tmp_path / "data")
    try:
        bogus = "hg_ak_" + "ab" * 24
        p = subprocess.run([BIN, "sensor", "--server", s.base, "--api-key", bogus, "--data-dir", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
        assert p.returncode != 0 and "refused the sensor key" in p.stderr, p.stderr
        # An ordinary admin key is refused too (403): it is not a sensor key.
        p = subprocess.run([BIN, "sensor", "--server", s.base, "--api-key", s.admin_key, "--data-dir", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
        assert p.returncode != 0 and "403" in p.stderr, p.stderr
        p = subprocess.run([BIN, "sensor", "--server", s.base, "--api-key", "nope"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 64
    finally:
        s.stop(signal.SIGKILL)
