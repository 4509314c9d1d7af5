"""A fake OCI distribution registry on 127.0.0.1 serving a corpus of hostile images, all
generated here (nothing binary is checked in), plus a few sane ones.

Each case is one repository: a manifest (bytes and Content-Type) reached by tag `1`, any
child manifests by digest, blobs by digest, and optional misbehaviour of the server for one
target (the tag's manifest or a digest): a status code, a lying Content-Type,
Content-Length or Docker-Content-Digest, a body cut short, another body, chunked framing,
a status for the first N requests only, or silence past the client's deadline. Each case also says what harborguard must make
of it: `failed` with words of the reason (each an alternative list, all groups needed), or
`completed` where the content is odd but safe (and why).

The corpus builds in about a second; its largest item is a 1 GiB gzip bomb that is about
1 MB on the wire (concatenated gzip members of one compressed 16 MiB chunk of zeros).
"""
import gzip
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# An address that is never routed (RFC 5737 TEST-NET-2): a layer's `urls` point here.
FOREIGN_HOST = "198.51.100.1"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- tar and gzip --------------------------------------------------------------------------

def tar_header(name, size=0, typeflag=b"0", linkname="", mode=0o644, size_field=None, bad_checksum=False) -> bytes:
    """One ustar header block, written byte by byte so that any name, size or checksum fits."""
    h = bytearray(512)

    def put(offset, length, value: bytes):
        h[offset:offset + length] = value[:length].ljust(length, b"\0")

    put(0, 100, name.encode())
    put(100, 8, b"%07o\0" % mode)
    put(108, 8, b"0000000\0")
    put(116, 8, b"0000000\0")
    put(124, 12, size_field if size_field is not None else b"%011o\0" % size)
    put(136, 12, b"00000000000\0")
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    put(157, 100, linkname.encode())
    put(257, 6, b"ustar\0")
    put(263, 2, b"00")
    checksum = sum(h)
    if bad_checksum:
        checksum += 1
    h[148:156] = b"%06o\0 " % checksum
    return bytes(h)


def tar_entry(name, data=b"", **kw) -> bytes:
    pad = (512 - len(data) % 512) % 512
    return tar_header(name, len(data), **kw) + data + b"\0" * pad


def tar(*entries) -> bytes:
    return b"".join(entries) + b"\0" * 1024


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def pax_record(key, value) -> bytes:
    body = f" {key}={value}\n"
    n = len(body)
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return f"{n}{body}".encode()


_ZEROS_MEMBER = None


def gzip_bomb(total=1 << 30, chunk=16 << 20) -> bytes:
    """A tar header for one file of `total` bytes, then `total` zeros as `total / chunk`
    identical gzip members (compressed once): ~1 MB on the wire for 1 GiB inflated."""
    global _ZEROS_MEMBER
    if _ZEROS_MEMBER is None:
        _ZEROS_MEMBER = gzip.compress(b"\0" * chunk, compresslevel=9, mtime=0)
    return gz(tar_header("bomb", total)) + _ZEROS_MEMBER * (total // chunk)


def bad_crc(data: bytes) -> bytes:
    g = bytearray(gz(data))
    g[-8] ^= 0xFF  # CRC32 of the member's trailer
    return bytes(g)


def garbage(n, seed) -> bytes:
    out, block = bytearray(), seed.encode()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


# -- images ---------------------------------------------------------------------------------

OS_RELEASE = b'PRETTY_NAME="Hostile Linux"\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'
SANE_TAR = tar(tar_entry("etc/", typeflag=b"5", mode=0o755), tar_entry("etc/os-release", OS_RELEASE))


@dataclass
class Layer:
    blob: bytes
    media_type: str = OCI_LAYER_GZIP
    size: object = None      # descriptor size (default: len(blob)); any JSON value
    digest: object = None    # descriptor digest (default: sha256(blob)); any JSON value
    diff_id: str = None
    urls: list = None
    serve: bool = True       # whether the registry has the blob


def image(layers, config=None, config_digest=None, diff_ids=None, media_type=OCI_MANIFEST, manifest_edit=None):
    """(manifest bytes, blobs): a manifest over `layers` with a config listing their diff ids."""
    blobs = {}
    descriptors, ids = [], []
    for layer in layers:
        d = {"mediaType": layer.media_type,
             "digest": layer.digest if layer.digest is not None else sha256(layer.blob),
             "size": layer.size if layer.size is not None else len(layer.blob)}
        if layer.urls:
            d["urls"] = layer.urls
        descriptors.append(d)
        if layer.serve:
            blobs[sha256(layer.blob)] = layer.blob
        ids.append(layer.diff_id or sha256(layer.blob))
    if config is None:
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids if diff_ids is not None else ids}},
                            sort_keys=True).encode()
    blobs[config_digest or sha256(config)] = config  # under the digest the manifest claims
    manifest = {"schemaVersion": 2, "mediaType": media_type,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest or sha256(config), "size": len(config)},
                "layers": descriptors}
    if manifest_edit:
        manifest_edit(manifest)
    return json.dumps(manifest).encode(), blobs


_salt = [0]


def sane_layer():
    """A small Debian-looking layer, different every call: the server caches analyses by
    layer digest, and a cached layer is (rightly) never downloaded again."""
    _salt[0] += 1
    raw = tar(tar_entry("etc/", typeflag=b"5", mode=0o755), tar_entry("etc/os-release", OS_RELEASE),
              tar_entry("etc/hg-layer", b"%d" % _salt[0]))
    return Layer(gz(raw), diff_id=sha256(raw))


# -- cases ----------------------------------------------------------------------------------

@dataclass
class Fault:
    status: int = None           # answer this status (with a registry error body)
    times: int = None            # ... for the first `times` requests only (then serve normally)
    content_type: str = None     # lying Content-Type
    content_length: int = None   # lying Content-Length (the body is sent whole, then the connection closed)
    digest_header: str = None    # lying Docker-Content-Digest
    cut_at: int = None           # announce the whole length, send this many bytes, close
    body: bytes = None           # serve these bytes instead
    chunked: bool = False        # Transfer-Encoding: chunked, no Content-Length
    delay: float = None          # say nothing for this many seconds first


@dataclass
class Case:
    name: str                    # the repository, and the test id
    manifest: bytes
    content_type: str
    blobs: dict = field(default_factory=dict)
    children: dict = field(default_factory=dict)   # digest -> (bytes, content type)
    faults: dict = field(default_factory=dict)     # "manifest" or a digest -> Fault
    ref: str = "1"               # the tag, or "@sha256:…" to scan by digest
    any_digest_is_me: bool = False  # answer every manifest digest with this case's manifest
    expect: str = "failed"
    words: tuple = ()            # groups of alternatives: each group must have a word in the error
    why: str = ""                # for `completed`: why that is the safe answer
    transient: bool = False      # a fault a retry may cure: more than one attempt is allowed
    scanners: tuple = ("native",)
    cli: bool = False            # also run through `harborguard scan`


def build_cases(evil_dir: str):
    """The corpus. `evil_dir` is an absolute directory hostile paths aim at (it must stay empty)."""
    cases = []

    def add(name, manifest, content_type=OCI_MANIFEST, blobs=None, **kw):
        cases.append(Case(name, manifest, content_type, blobs or {}, **kw))

    def add_image(name, layers, expect="failed", words=(), img_kw=None, **kw):
        m, blobs = image(layers, **(img_kw or {}))
        add(name, m, OCI_MANIFEST, blobs, expect=expect, words=words, **kw)

    sane_m, sane_blobs = image([sane_layer()])

    # ---- manifests
    add("manifest/invalid-json", b'{"schemaVersion": 2, "layers": [', words=(("not valid json",),), cli=True)
    add("manifest/not-an-object", b'[1, 2, 3]', words=(("not a json object",),))
    add("manifest/schema1-signed", json.dumps({
        "schemaVersion": 1, "name": "manifest/schema1-signed", "tag": "1", "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(b"")}], "history": [{"v1Compatibility": "{}"}],
        "signatures": [{"header": {"alg": "ES256"}, "signature": "AAAA", "protected": "e30"}]}).encode(),
        DOCKER_SCHEMA1_SIGNED, words=(("schema 1",),))
    add("manifest/unknown-media-type", sane_m, "application/vnd.example.whatever+json", sane_blobs,
        words=(("unsupported media type",), ("vnd.example.whatever",)))
    for variant, edit in [("null", lambda m: m.update(layers=None)), ("missing", lambda m: m.pop("layers")),
                          ("object", lambda m: m.update(layers={"0": m["layers"][0]}))]:
        m, b = image([sane_layer()], manifest_edit=edit)
        add(f"manifest/layers-{variant}", m, OCI_MANIFEST, b, words=(("layers",),))
    for variant, change, word in [
        ("negative-size", {"size": -1}, "bad field layers[0].size"),
        ("size-as-string", {"size": "123"}, "bad field layers[0].size"),
        ("digest-md5", {"digest": "md5:" + hashlib.md5(b"x").hexdigest()}, "bad field layers[0].digest"),
        ("digest-not-hex", {"digest": "sha256:zz"}, "bad field layers[0].digest"),
        ("digest-path", {"digest": "sha256:../../x"}, "bad field layers[0].digest"),
    ]:
        layer = sane_layer()
        for k, v in change.items():
            setattr(layer, k, v)
        m, b = image([layer])
        add(f"manifest/layer-{variant}", m, OCI_MANIFEST, b, words=((word,),), cli=variant == "digest-path")
    big = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": json.loads(sane_m)["config"],
                      "layers": json.loads(sane_m)["layers"], "annotations": {"pad": "x" * (5 << 20)}}).encode()
    add("manifest/over-4mib", big, OCI_MANIFEST, sane_blobs, words=(("too large",),))
    add("manifest/over-4mib-chunked", big, OCI_MANIFEST, sane_blobs, words=(("too large",),),
        faults={"manifest": Fault(chunked=True)})
    # An index whose entry is its own (made-up) digest, and a registry that answers every
    # digest with the index again: a loop only a client that trusted unverified bytes could enter.
    loop = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_INDEX, "digest": sha256(b"loop"), "size": 100,
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    add("index/self-loop", loop, OCI_INDEX, any_digest_is_me=True, words=(("digest mismatch",),), cli=True)
    # index -> index -> ... 12 deep, every digest true.
    children, inner, inner_type = {}, sane_m, OCI_MANIFEST
    for _ in range(12):
        children[sha256(inner)] = (inner, inner_type)
        inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": inner_type, "digest": sha256(inner), "size": len(inner),
             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
        inner_type = OCI_INDEX
    add("index/nested-12-deep", inner, OCI_INDEX, sane_blobs, children=children, words=(("nested index",),))
    no_amd64 = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(sane_m), "size": len(sane_m),
         "platform": {"os": "linux", "architecture": "s390x"}},
        {"mediaType": OCI_MANIFEST, "digest": sha256(sane_m), "size": len(sane_m),
         "platform": {"os": "unknown", "architecture": "unknown"}}]}).encode()
    add("index/no-linux-amd64", no_amd64, OCI_INDEX, sane_blobs, children={sha256(sane_m): (sane_m, OCI_MANIFEST)},
        words=(("platform",), ("linux/amd64",), ("s390x",)))
    many = [Layer(gz(tar(tar_entry(f"f{i}", b"%d" % i)))) for i in range(10_000)]
    add_image("manifest/10000-layers", many, words=(("10000 layers",), ("1000-layer limit",)))
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    # The config is read only for the external scanners' layout (here syft's).
    add_image("config/digest-mismatch", [sane_layer()], words=(("image config",), ("digest mismatch",)),
              img_kw={"config_digest": sha256(b"another config")}, scanners=("native", "syft"))
    add_image("config/digest-mismatch-native", [sane_layer()], expect="completed",
              img_kw={"config_digest": sha256(b"another config")},
              why="a native scan never downloads the config (a rescan downloads nothing at all); "
                  "the layers it reads are verified")
    add_image("config/not-json", [sane_layer()], words=(("image config is not a json object",),),
              img_kw={"config": b"\x00\x01 not json {"}, scanners=("native", "syft"))
    add_image("config/diff-ids-count", [sane_layer()], words=(("image config lists 2 rootfs.diff_ids for 1 layers",),),
              img_kw={"diff_ids": [sha256(b"a"), sha256(b"b")]}, scanners=("native", "syft"))
    other = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": json.loads(sane_m)["config"],
                        "layers": [], "annotations": {"not": "the one asked for"}}).encode()
    add("manifest/by-digest-other-bytes", other, OCI_MANIFEST, sane_blobs, ref="@" + sha256(sane_m),
        words=(("digest mismatch",),))
    add("manifest/lying-digest-header", sane_m, OCI_MANIFEST, sane_blobs,
        faults={"manifest": Fault(digest_header=sha256(b"something else"))}, words=(("digest mismatch",),))
    add("manifest/lying-content-type", sane_m, OCI_INDEX, sane_blobs, words=(("media type",), ("manifests",)))
    add("manifest/http-500", sane_m, OCI_MANIFEST, sane_blobs, faults={"manifest": Fault(status=500)},
        words=(("500",),), transient=True)
    add("manifest/cut-short", sane_m, OCI_MANIFEST, sane_blobs, faults={"manifest": Fault(cut_at=40)},
        words=(("connection", "closed", "ended"),), transient=True)
    foreign = sane_layer()
    foreign.media_type = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    foreign.urls = [f"http://{FOREIGN_HOST}/x", f"https://{FOREIGN_HOST}/layer.tar.gz"]
    add_image("manifest/foreign-urls", [foreign], expect="completed",
              why="`urls` are never followed: the layer comes from the registry itself")

    # ---- layers
    def evil(name):
        return f"{evil_dir}/hg-evil-{name}"

    add_image("layer/path-traversal", [Layer(gz(tar(tar_entry("../../../../../../.." + evil("traversal"), b"pwned"))))],
              words=(("unsafe path",), ("traversal",)), cli=True)
    add_image("layer/dotdot-etc", [Layer(gz(tar(tar_entry("../../etc/hg-evil-dotdot", b"pwned"))))],
              words=(("unsafe path",), ("../../etc/hg-evil-dotdot",)))
    add_image("layer/absolute-path", [Layer(gz(tar(tar_entry(evil("absolute"), b"pwned"))))],
              words=(("unsafe path",), ("absolute",)))
    add_image("layer/symlink-escape", [Layer(gz(tar(
        tar_entry("escape", typeflag=b"2", linkname=evil_dir), tar_entry("escape/hg-evil-symlinked", b"pwned"))))],
        expect="completed", scanners=("native", "syft"),
        why="nothing is extracted: the tar is read as a stream, the symlink is recorded and never followed")
    add_image("layer/hardlink-outside", [Layer(gz(tar(
        tar_entry("hl", typeflag=b"1", linkname="../../../../../../.." + evil("hardlink")))))],
        words=(("unsafe path",), ("hard link",)))
    add_image("layer/gzip-bomb-1gib", [Layer(gzip_bomb())], words=(("compression ratio", "bomb"),))
    add_image("layer/truncated-gzip", [Layer(gz(SANE_TAR)[:-30])], words=(("truncated gzip",),), cli=True)
    add_image("layer/gzip-bad-crc", [Layer(bad_crc(SANE_TAR))], words=(("gzip",), ("checksum",)))
    add_image("layer/not-gzip", [Layer(garbage(3000, "not gzip"))], words=(("corrupt tar",),))
    add_image("layer/zstd-garbage", [Layer(garbage(3000, "zstd"), media_type=OCI_LAYER_ZSTD)],
              words=(("unsupported layer compression",), ("zstd",)))
    bad = tar_header("etc/os-release", len(OS_RELEASE), bad_checksum=True) + OS_RELEASE.ljust(512, b"\0") + b"\0" * 1024
    add_image("layer/tar-bad-checksum", [Layer(gz(bad))], words=(("corrupt tar at byte 0:",), ("checksum",)))
    add_image("layer/pax-header-huge", [Layer(gz(tar_header("PaxHeaders/x", typeflag=b"x", size_field=b"77777777777\0")
                                               + b"\0" * 4096))],
              words=(("extension header",), ("over the limit",)))
    pax = pax_record("size", 1 << 62)
    add_image("layer/pax-size-record-huge", [Layer(gz(tar_entry("PaxHeaders/big", pax, typeflag=b"x")
                                                    + tar_header("big", 0) + b"\0" * 1024))],
              words=(("truncated tar",),))
    short = sane_layer()
    short.size = len(short.blob) + 100
    add_image("layer/shorter-than-descriptor", [short], words=(("size mismatch",),))
    long = sane_layer()
    long.size = len(long.blob) - 100
    add_image("layer/longer-than-descriptor", [long], words=(("size mismatch",),))
    chunked_long = sane_layer()
    chunked_long.size = len(chunked_long.blob) - 100
    add_image("layer/longer-chunked", [chunked_long], words=(("size mismatch",),),
              faults={sha256(chunked_long.blob): Fault(chunked=True)})
    # Same length, still a valid gzip stream (only the header's mtime differs): nothing but
    # the digest can tell.
    mism = sane_layer()
    tampered = bytearray(mism.blob)
    tampered[4] ^= 0x01
    add_image("layer/digest-mismatch", [mism], words=(("digest mismatch",),), cli=True,
              faults={sha256(mism.blob): Fault(body=bytes(tampered))})
    swapped = sane_layer()
    other_layer = Layer(gz(tar(tar_entry("other", b"another blob"))))
    add_image("layer/another-blobs-bytes", [swapped, other_layer], words=(("digest mismatch", "size mismatch"),),
              faults={sha256(swapped.blob): Fault(body=other_layer.blob, content_length=len(other_layer.blob))})
    lcl = sane_layer()
    add_image("layer/lying-content-length", [lcl], words=(("size mismatch",),),
              faults={sha256(lcl.blob): Fault(content_length=len(lcl.blob) * 1000)})
    cut = sane_layer()
    add_image("layer/cut-short", [cut], words=(("connection", "closed", "ended"),), transient=True,
              faults={sha256(cut.blob): Fault(cut_at=len(cut.blob) // 2)})
    e500 = sane_layer()
    add_image("layer/http-500", [e500], words=(("500",),), transient=True, faults={sha256(e500.blob): Fault(status=500)})
    flaky = sane_layer()
    add_image("layer/503-then-ok", [flaky], expect="completed", transient=True,
              faults={sha256(flaky.blob): Fault(status=503, times=2)},
              why="503 is \"come back later\": the client retries it and the scan completes")
    add_image("sane/image", [sane_layer()], expect="completed", why="the control")
    # Last, as it holds the registry's one scan slot for the client's 30 s manifest deadline.
    add("manifest/hangs", sane_m, OCI_MANIFEST, sane_blobs, faults={"manifest": Fault(delay=45)},
        words=(("timed out",),), transient=True)
    return cases


class HostileRegistry:
    """The fake registry: `start()`s on 127.0.0.1 on a free port; `requests` logs every
    request as (method, path, Host header)."""

    def __init__(self, cases):
        self.cases = {c.name: c for c in cases}
        self.requests = []
        self.hits = {}
        self.lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.route(head=True)

            def do_GET(self):
                self.route(head=False)

            def route(self, head):
                with registry.lock:
                    registry.requests.append((self.command, self.path, self.headers.get("Host", "")))
                if self.path == "/v2/":
                    return self.send(200, b"{}", "application/json", head=head)
                m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path.split("?")[0])
                case = registry.cases.get(m.group(1)) if m else None
                if case is None:
                    return self.error(404, "NAME_UNKNOWN", "repository name not known to registry", head)
                kind, ref = m.group(2), m.group(3)
                if kind == "manifests":
                    target = "manifest"
                    if ref == "1" or (case.ref.startswith("@") and ref == case.ref[1:]):
                        body, ctype = case.manifest, case.content_type
                    elif ref in case.children:
                        body, ctype = case.children[ref]
                        target = ref
                    elif case.any_digest_is_me and ref.startswith("sha256:"):
                        body, ctype = case.manifest, case.content_type
                    else:
                        return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown", head)
                    digest = sha256(body)
                else:
                    if ref not in case.blobs:
                        return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry", head)
                    body, ctype, target, digest = case.blobs[ref], "application/octet-stream", ref, ref
                fault = case.faults.get(target) or Fault()
                with registry.lock:
                    key = (case.name, target)
                    registry.hits[key] = registry.hits.get(key, 0) + 1
                    hit = registry.hits[key]
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status and (fault.times is None or hit <= fault.times):
                    return self.error(fault.status, "UNKNOWN", "injected fault", head)
                self.send(200, fault.body if fault.body is not None else body, fault.content_type or ctype, head=head,
                          digest=fault.digest_header or digest, length=fault.content_length, cut_at=fault.cut_at,
                          chunked=fault.chunked)

            def error(self, status, code, message, head):
                body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
                self.send(status, body, "application/json", head=head)

            def send(self, status, body, ctype, head=False, digest=None, length=None, cut_at=None, chunked=False):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                if chunked and not head:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length if length is not None else len(body)))
                lying = (length is not None and length != len(body)) or cut_at is not None
                if lying:
                    self.send_header("Connection", "close")
                self.end_headers()
                if head:
                    return
                try:
                    if chunked:
                        for i in range(0, len(body), 64 << 10):
                            part = body[i:i + (64 << 10)]
                            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    elif cut_at is not None:
                        self.wfile.write(body[:cut_at])
                    else:
                        self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if lying:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hangs up on a lying response is the point, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def image(self, case) -> str:
        ref = case.ref if case.ref.startswith("@") else ":" + case.ref
        return f"{self.host}/{case.name}{ref}"

    def requests_for(self, name):
        with self.lock:
            return [r for r in self.requests if f"/v2/{name}/" in r[1]]


if __name__ == "__main__":
    import sys
    t = time.time()
    reg = HostileRegistry(build_cases("/nonexistent/hg-evil"))
    print(f"{len(reg.cases)} cases built in {time.time() - t:.2f}s; serving on {reg.url}", file=sys.stderr)
    if "--serve" in sys.argv:
        reg.start()
        reg.thread.join()
