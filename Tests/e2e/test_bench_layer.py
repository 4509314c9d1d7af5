"""`harborguard bench-layer` (hidden; `make bench` measures the runtime search's cost with it) on
real layers: this machine's dpkg database, and a Go toolchain's VERSION file that only the runtime
search reports."""
import io
import json
import subprocess
import tarfile
from pathlib import Path

from conftest import BIN


def layer(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def bench(path, *flags):
    out = subprocess.run([BIN, "bench-layer", path, *flags], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_bench_layer_times_the_analysis_with_and_without_the_runtime_search(tmp_path):
    status = Path("/var/lib/dpkg/status").read_bytes()
    plain = layer(tmp_path / "dpkg.tar.gz", {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": status})
    on, off = bench(plain), bench(plain, "--no-runtimes")
    installed = subprocess.run("dpkg-query -W -f='${db:Status-Status}\\n' | grep -cx installed", shell=True, capture_output=True,
                               text=True).stdout.strip()
    assert on["packages"] == off["packages"] == int(installed)
    assert on["runtimes"] is True and off["runtimes"] is False
    assert on["entries"] == 2 and on["uncompressedBytes"] > len(status) and on["compressedBytes"] < on["uncompressedBytes"]
    assert on["seconds"] > 0

    # A Go toolchain outside any package manager: only the runtime search names it.
    go = layer(tmp_path / "go.tar.gz", {"usr/local/go/VERSION": b"go1.21.13\ntime 2024-08-06T20:15:00Z\n"})
    assert bench(go)["packages"] == 1
    assert bench(go, "--no-runtimes")["packages"] == 0


def test_bench_layer_refuses_what_it_cannot_read(tmp_path):
    missing = subprocess.run([BIN, "bench-layer", str(tmp_path / "nope.tar.gz")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 64 and "not a readable file" in missing.stderr
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"\xff" * 64)
    corrupt = subprocess.run([BIN, "bench-layer", str(bad)], capture_output=True, text=True, timeout=60)
    assert corrupt.returncode == 1 and "gzip" in corrupt.stderr, corrupt.stderr
    # Not in the help: an operator's commands only.
    assert "bench-layer" not in subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
