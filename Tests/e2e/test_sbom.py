"""`harborguard scan --format cyclonedx|spdx` on the real binary, checked by the official
validators: cyclonedx-python-lib's strict JSON-schema validator for CycloneDX 1.6 and
spdx-tools' parser + full document validation for SPDX 2.3. Each validator is also shown a
broken document and must reject it, so a validator that accepts anything fails the test."""
import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.error import SPDXParsingError
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from conftest import BIN
from registry_harness import Registry

NPM_SCOPED = b'{"name":"@scope/pkg","version":"1.2.3","description":"scoped"}'
NPM_PLAIN = b'{"name":"left-pad","version":"1.3.0"}'
PY_METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\nHTTP for Humans.\n"


@pytest.fixture(scope="module")
def sbom_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sbom")
    reg = Registry()
    app = reg.push("team/app", "1.0", layers=[
        {"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()},
        {"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA": PY_METADATA,
         "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/RECORD": b""},
        # left-pad twice at two paths: one purl, two components.
        {"srv/app/node_modules/@scope/pkg/package.json": NPM_SCOPED,
         "srv/app/node_modules/left-pad/package.json": NPM_PLAIN,
         "usr/lib/node_modules/left-pad/package.json": NPM_PLAIN},
    ])
    empty = reg.push("team/empty", "0", layers=[{"srv/readme.txt": b"nothing installed here\n"}])
    yield {"reg": reg, "tmp": tmp, "app": app, "empty": empty}
    reg.stop()


def scan(env, repo, fmt):
    p = subprocess.run([BIN, "scan", f"{env['reg'].host}/{repo}", "--insecure", "--skip-db", "--format", fmt,
                        "--data-dir", str(env["tmp"] / "data")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def cdx_errors(doc):
    """None when valid, else the first schema error."""
    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))


def spdx_errors(doc, tmp: Path):
    """[] when valid, else spdx-tools' parse errors or validation messages."""
    path = tmp / "doc.spdx.json"
    path.write_text(json.dumps(doc))
    try:
        parsed = parse_file(str(path))
    except SPDXParsingError as e:
        return e.get_messages() or ["unparseable"]
    return [m.validation_message for m in validate_full_spdx_document(parsed)]


def inventory(env, repo):
    r = json.loads(scan(env, repo, "json"))
    return r, sorted((p["name"], p["version"], p["purl"]) for p in r["packages"])


@pytest.mark.parametrize("repo", ["team/app:1.0", "team/empty:0"])
def test_cyclonedx_is_valid_1_6_and_matches_the_scan(sbom_env, repo):
    report, packages = inventory(sbom_env, repo)
    bom = json.loads(scan(sbom_env, repo, "cyclonedx"))
    assert cdx_errors(bom) is None

    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6" and bom["version"] == 1
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", bom["serialNumber"])
    image = bom["metadata"]["component"]
    assert image["type"] == "container" and image["version"] == report["digest"]
    name = repo.split(":")[0].split("/")[-1]
    assert image["purl"].startswith(f"pkg:oci/{name}@sha256%3A{report['digest'][7:]}?arch=amd64&repository_url=")
    assert bom["metadata"]["tools"]["components"][0]["name"] == "harborguard"

    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert sorted((c["name"], c["version"], c["purl"]) for c in libraries) == packages
    refs = [image["bom-ref"]] + [c["bom-ref"] for c in bom["components"]]
    assert len(refs) == len(set(refs))
    by_path = {p["path"]: p["layer"] for p in report["packages"]}
    for c in libraries:
        props = {p["name"]: p["value"] for p in c["properties"]}
        assert by_path[props["harborguard:package:path"]] == props["harborguard:layer:digest"]
    oses = [c for c in bom["components"] if c["type"] == "operating-system"]
    if report.get("os"):
        assert [(o["name"], o.get("version")) for o in oses] == [(report["os"]["family"], report["os"].get("version"))]
    else:
        assert oses == []
    assert set(bom["dependencies"][0]["dependsOn"]) == set(refs[1:])


def test_cyclonedx_package_types_and_duplicates(sbom_env):
    bom = json.loads(scan(sbom_env, "team/app:1.0", "cyclonedx"))
    purls = [c.get("purl", "") for c in bom["components"]]
    assert any(p.startswith("pkg:deb/debian/tar@") for p in purls)
    assert "pkg:pypi/requests@2.19.0" in purls
    assert "pkg:npm/%40scope/pkg@1.2.3" in purls
    assert purls.count("pkg:npm/left-pad@1.3.0") == 2  # two paths, two components, two distinct bom-refs
    refs = [c["bom-ref"] for c in bom["components"] if c.get("purl") == "pkg:npm/left-pad@1.3.0"]
    assert len(set(refs)) == 2


def test_cyclonedx_validator_rejects_broken_documents(sbom_env):
    bom = json.loads(scan(sbom_env, "team/app:1.0", "cyclonedx"))
    assert cdx_errors(bom) is None
    missing = copy.deepcopy(bom)
    del missing["bomFormat"]
    assert cdx_errors(missing) is not None
    bad_serial = copy.deepcopy(bom)
    bad_serial["serialNumber"] = "urn:uuid:not-a-uuid"
    assert cdx_errors(bad_serial) is not None
    bad_type = copy.deepcopy(bom)
    bad_type["components"][0]["type"] = "container-image"
    assert cdx_errors(bad_type) is not None


@pytest.mark.parametrize("repo", ["team/app:1.0", "team/empty:0"])
def test_spdx_is_valid_2_3_and_matches_the_scan(sbom_env, repo, tmp_path):
    report, packages = inventory(sbom_env, repo)
    doc = json.loads(scan(sbom_env, repo, "spdx"))
    assert spdx_errors(doc, tmp_path) == []

    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0" and doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["creationInfo"]["created"])
    assert len(doc["creationInfo"]["creators"]) == 1 and re.fullmatch(r"Tool: harborguard-\S+", doc["creationInfo"]["creators"][0])
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", i) for i in ids)
    image = doc["packages"][0]
    assert image["versionInfo"] == report["digest"] and image["primaryPackagePurpose"] == "CONTAINER"
    assert doc["documentDescribes"] == [image["SPDXID"]]
    libraries = [p for p in doc["packages"] if p.get("primaryPackagePurpose") == "LIBRARY"]
    got = sorted((p["name"], p["versionInfo"], p["externalRefs"][0]["referenceLocator"]) for p in libraries)
    assert got == packages
    contains = {r["relatedSpdxElement"] for r in doc["relationships"]
                if r["relationshipType"] == "CONTAINS" and r["spdxElementId"] == image["SPDXID"]}
    assert contains == set(ids[1:])


def test_spdx_validator_rejects_broken_documents(sbom_env, tmp_path):
    doc = json.loads(scan(sbom_env, "team/app:1.0", "spdx"))
    assert spdx_errors(doc, tmp_path) == []
    missing = copy.deepcopy(doc)
    del missing["dataLicense"]
    assert spdx_errors(missing, tmp_path) != []
    bad_id = copy.deepcopy(doc)
    bad_id["packages"][1]["SPDXID"] = "SPDXRef-has space/@scope"
    assert spdx_errors(bad_id, tmp_path) != []
    dangling = copy.deepcopy(doc)
    dangling["relationships"].append({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS",
                                      "relatedSpdxElement": "SPDXRef-Nowhere"})
    assert spdx_errors(dangling, tmp_path) != []


def test_sbom_output_file(sbom_env, tmp_path):
    out = tmp_path / "app.cdx.json"
    p = subprocess.run([BIN, "scan", f"{sbom_env['reg'].host}/team/app:1.0", "--insecure", "--skip-db", "--format", "cyclonedx",
                        "--output", str(out), "--data-dir", str(sbom_env["tmp"] / "data")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    assert cdx_errors(json.loads(out.read_text())) is None
