#!/usr/bin/env python3
"""Builds harborguard's OCI image without a container engine: an OCI image layout (the
directory `skopeo copy oci:DIR:TAG …` reads) holding one layer on scratch:

  /usr/bin/harborguard                  the static release binary
  /etc/ssl/certs/ca-certificates.crt    the CA bundle (registries, feeds, webhooks over TLS)
  /etc/passwd, /etc/group               root and the non-root user `harborguard` (65532)
  /etc/nsswitch.conf, /etc/hosts        name lookup for the static binary (files, then DNS)
  /data                                 the data directory, 0700, owned by 65532 (a volume)
  /tmp                                  1777 (layer spooling during scans)

The configuration runs `harborguard serve --host 0.0.0.0 --data-dir /data` as 65532:65532 and
exposes 8080/tcp. The layer is reproducible: sorted entries, numeric owners, every time stamp
SOURCE_DATE_EPOCH (default: the last commit's time), gzip without name or time; the same
binary gives the same digests.

Usage: scripts/make-image.py BINARY OUTDIR [--tag TAG] [--ca-bundle FILE]
Prints the manifest digest; the tag defaults to the product version.
"""
import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UID = GID = 65532
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def product_version():
    text = (ROOT / "Sources/Scan/ProductVersion.swift").read_text()
    m = re.search(r'static let current = "([^"]+)"', text)
    if not m:
        sys.exit("make-image: no version in Sources/Scan/ProductVersion.swift")
    return m.group(1)


def source_date_epoch():
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    r = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True)
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else 0


def layer_tar(binary, ca_bundle, mtime):
    """The layer's uncompressed tar bytes."""
    buf = io.BytesIO()
    entries = []

    def directory(name, mode=0o755, uid=0, gid=0):
        entries.append((name, tarfile.DIRTYPE, mode, uid, gid, None))

    def file(name, data, mode=0o644):
        entries.append((name, tarfile.REGTYPE, mode, 0, 0, data))

    for d in ("etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/bin"):
        directory(d)
    directory("data", 0o700, UID, GID)
    directory("tmp", 0o1777)
    file("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nharborguard:x:%d:%d:harborguard:/data:/sbin/nologin\n" % (UID, GID))
    file("etc/group", b"root:x:0:\nharborguard:x:%d:\n" % GID)
    file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    file("etc/hosts", b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    file("etc/ssl/certs/ca-certificates.crt", Path(ca_bundle).read_bytes())
    file("usr/bin/harborguard", Path(binary).read_bytes(), 0o755)

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, uid, gid, data in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.uid, info.gid = uid, gid
            info.uname = info.gname = ""
            info.mtime = mtime
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as z:
        z.write(data)
    return out.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(layout, data):
    d = digest(data)
    path = layout / "blobs" / "sha256" / d.split(":", 1)[1]
    path.write_bytes(data)
    return {"digest": d, "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("outdir")
    p.add_argument("--tag", default=None)
    p.add_argument("--ca-bundle", default="/etc/ssl/certs/ca-certificates.crt")
    a = p.parse_args()

    binary = Path(a.binary)
    if not binary.is_file():
        sys.exit(f"make-image: no binary at {binary} (make release)")
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if "not a dynamic executable" not in ldd.stdout + ldd.stderr:
        sys.exit(f"make-image: {binary} is dynamically linked; the image is scratch and needs the static release binary")
    if not Path(a.ca_bundle).is_file():
        sys.exit(f"make-image: no CA bundle at {a.ca_bundle} (Debian: ca-certificates)")

    version = product_version()
    tag = a.tag or version
    mtime = source_date_epoch()
    created = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    layout = Path(a.outdir)
    if layout.exists():
        shutil.rmtree(layout)
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    tar = layer_tar(binary, a.ca_bundle, mtime)
    layer = write_blob(layout, gzip_bytes(tar))
    labels = {
        "org.opencontainers.image.title": "harborguard",
        "org.opencontainers.image.description": "Container security appliance: registry crawler, scanner, findings and triage",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": created,
    }
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": f"{UID}:{GID}",
            "ExposedPorts": {"8080/tcp": {}},
            "Env": ["PATH=/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Entrypoint": ["/usr/bin/harborguard", "serve", "--host", "0.0.0.0", "--data-dir", "/data"],
            "Volumes": {"/data": {}},
            "WorkingDir": "/data",
            "StopSignal": "SIGTERM",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        "history": [{"created": created, "created_by": "scripts/make-image.py"}],
    }
    config_desc = write_blob(layout, canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config_desc},
        "layers": [{"mediaType": OCI_LAYER, **layer}],
        "annotations": labels,
    }
    manifest_desc = write_blob(layout, canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST, **manifest_desc,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    (layout / "index.json").write_bytes(canonical(index))
    print(manifest_desc["digest"])


if __name__ == "__main__":
    main()
