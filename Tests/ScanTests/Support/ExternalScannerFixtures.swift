// Scanner reports used by ExternalScannerTests, kept in Swift like the OSV fixtures (SwiftPM
// warns about non-source files in a target that declares no resources).
//
// Written for these tests after the tools' published JSON output:
// - trivy: `trivy image --format json`, SchemaVersion 2 (pkg/types/report.go in
//   aquasecurity/trivy: Results[].Vulnerabilities[] with VulnerabilityID, VendorIDs, PkgName,
//   PkgIdentifier.PURL, InstalledVersion, FixedVersion, Status, Layer{Digest,DiffID},
//   Severity, CVSS{vendor: {V2Score,V3Score}}, Title, Description, References).
// - grype: `grype -o json` (grype/presenter/models: matches[] with vulnerability{id,
//   severity, urls, description, cvss[].metrics.baseScore, fix{versions,state}},
//   relatedVulnerabilities[], matchDetails[], artifact{name, version, type, locations[],
//   purl}), plus source, distro and descriptor.
// Advisory ids, versions, scores and texts are those published for the real advisories
// (CVE-2018-18074 / GHSA-x84v-xcm2-53pg, CVE-2023-39804, CVE-2005-2541,
// GHSA-c2qf-rxjj-qqgw); digests are made up. Each report also holds an entry on a package
// type harborguard does not model (trivy `conda-pkg`, grype `binary`).

let trivyReportFixture = #"""
{
  "SchemaVersion": 2,
  "CreatedAt": "2026-11-02T10:11:12.345678901Z",
  "ArtifactName": "/tmp/harborguard-scan/layout",
  "ArtifactType": "container_image",
  "Metadata": {
    "OS": {"Family": "debian", "Name": "12.7"},
    "ImageID": "sha256:1f0f5a1d8e9bb3c6d3e0b1e3ac0fd51ab6e52e8b0b2e1d2c9f8a7b6c5d4e3f21",
    "DiffIDs": ["sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1"],
    "RepoDigests": [],
    "ImageConfig": {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1"]}, "config": {}}
  },
  "Results": [
    {
      "Target": "/tmp/harborguard-scan/layout (debian 12.7)",
      "Class": "os-pkgs",
      "Type": "debian",
      "Vulnerabilities": [
        {
          "VulnerabilityID": "CVE-2023-39804",
          "VendorIDs": ["DLA-3755-1"],
          "PkgID": "tar@1.34+dfsg-1.2+deb12u1",
          "PkgName": "tar",
          "PkgIdentifier": {
            "PURL": "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64&distro=debian-12.7",
            "UID": "6b2d5a5c1a3e8f20"
          },
          "InstalledVersion": "1.34+dfsg-1.2+deb12u1",
          "Status": "affected",
          "Layer": {
            "DiffID": "sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1"
          },
          "SeveritySource": "debian",
          "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2023-39804",
          "DataSource": {"ID": "debian", "Name": "Debian Security Tracker", "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"},
          "Title": "tar: Incorrectly handled extension attributes in PAX archives can lead to a crash",
          "Description": "In GNU tar before 1.35, mishandled extension attributes in a PAX archive can lead to an application crash in xheader.c.",
          "Severity": "MEDIUM",
          "CweIDs": ["CWE-125"],
          "VendorSeverity": {"debian": 1, "nvd": 2, "redhat": 1},
          "CVSS": {
            "nvd": {"V3Vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "V3Score": 5.5},
            "redhat": {"V3Vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:L", "V3Score": 3.3}
          },
          "References": [
            "https://access.redhat.com/security/cve/CVE-2023-39804",
            "https://nvd.nist.gov/vuln/detail/CVE-2023-39804"
          ],
          "PublishedDate": "2024-03-27T04:15:08.897Z",
          "LastModifiedDate": "2024-11-21T08:15:59.23Z"
        },
        {
          "VulnerabilityID": "CVE-2005-2541",
          "PkgID": "tar@1.34+dfsg-1.2+deb12u1",
          "PkgName": "tar",
          "PkgIdentifier": {"PURL": "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64&distro=debian-12.7"},
          "InstalledVersion": "1.34+dfsg-1.2+deb12u1",
          "Status": "will_not_fix",
          "Layer": {"DiffID": "sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1"},
          "SeveritySource": "debian",
          "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2005-2541",
          "Title": "tar: does not properly warn the user when extracting setuid or setgid files",
          "Description": "Tar 1.15.1 does not properly warn the user when extracting setuid or setgid files, which may allow local users or remote attackers to gain privileges.",
          "Severity": "LOW",
          "CVSS": {"nvd": {"V2Vector": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "V2Score": 10}},
          "References": ["http://marc.info/?l=bugtraq\u0026m=112327628230258\u0026w=2"]
        }
      ]
    },
    {
      "Target": "Python",
      "Class": "lang-pkgs",
      "Type": "python-pkg",
      "Vulnerabilities": [
        {
          "VulnerabilityID": "CVE-2018-18074",
          "PkgName": "requests",
          "PkgPath": "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
          "PkgIdentifier": {"PURL": "pkg:pypi/requests@2.19.0", "UID": "4f3b2a1c0d9e8f7a"},
          "InstalledVersion": "2.19.0",
          "FixedVersion": "2.20.0",
          "Status": "fixed",
          "Layer": {
            "Digest": "sha256:7e1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
            "DiffID": "sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
          },
          "SeveritySource": "ghsa",
          "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2018-18074",
          "DataSource": {"ID": "ghsa", "Name": "GitHub Security Advisory pip", "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip"},
          "Title": "python-requests: Redirect from HTTPS to HTTP does not remove Authorization header",
          "Description": "The Requests package before 2.20.0 for Python sends an HTTP Authorization header to an http URI upon receiving a same-hostname https-to-http redirect.",
          "Severity": "HIGH",
          "CweIDs": ["CWE-522"],
          "VendorSeverity": {"ghsa": 3, "nvd": 3, "redhat": 2},
          "CVSS": {
            "ghsa": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "V3Score": 7.5},
            "nvd": {"V2Vector": "AV:N/AC:L/Au:N/C:P/I:N/A:N", "V3Vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "V2Score": 5, "V3Score": 9.8}
          },
          "References": [
            "https://github.com/advisories/GHSA-x84v-xcm2-53pg",
            "https://nvd.nist.gov/vuln/detail/CVE-2018-18074"
          ],
          "PublishedDate": "2018-10-09T17:29:00.253Z",
          "LastModifiedDate": "2024-11-21T03:55:28.463Z"
        }
      ]
    },
    {
      "Target": "Node.js",
      "Class": "lang-pkgs",
      "Type": "node-pkg"
    },
    {
      "Target": "usr/lib/libexample.so",
      "Class": "lang-pkgs",
      "Type": "conda-pkg",
      "Vulnerabilities": [
        {
          "VulnerabilityID": "CVE-2099-9999",
          "PkgName": "example",
          "InstalledVersion": "1.0",
          "Severity": "UNKNOWN"
        }
      ]
    }
  ]
}
"""#

let grypeReportFixture = #"""
{
  "matches": [
    {
      "vulnerability": {
        "id": "GHSA-x84v-xcm2-53pg",
        "dataSource": "https://github.com/advisories/GHSA-x84v-xcm2-53pg",
        "namespace": "github:language:python",
        "severity": "Critical",
        "urls": ["https://github.com/advisories/GHSA-x84v-xcm2-53pg"],
        "description": "Insufficiently Protected Credentials in Requests",
        "cvss": [
          {
            "version": "3.1",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            "metrics": {"baseScore": 7.5, "exploitabilityScore": 3.9, "impactScore": 3.6},
            "vendorMetadata": {"base_severity": "High", "status": "N/A"}
          }
        ],
        "fix": {"versions": ["2.20.0"], "state": "fixed"},
        "advisories": []
      },
      "relatedVulnerabilities": [
        {
          "id": "CVE-2018-18074",
          "dataSource": "https://nvd.nist.gov/vuln/detail/CVE-2018-18074",
          "namespace": "nvd:cpe",
          "severity": "High",
          "urls": ["https://bugs.debian.org/910766", "https://nvd.nist.gov/vuln/detail/CVE-2018-18074"],
          "description": "The Requests package before 2.20.0 for Python sends an HTTP Authorization header to an http URI upon receiving a same-hostname https-to-http redirect.",
          "cvss": [
            {"source": "nvd@nist.gov", "type": "Primary", "version": "3.0", "vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
             "metrics": {"baseScore": 9.8, "exploitabilityScore": 3.9, "impactScore": 5.9}, "vendorMetadata": {}}
          ]
        }
      ],
      "matchDetails": [
        {
          "type": "exact-direct-match",
          "matcher": "python-matcher",
          "searchedBy": {"language": "python", "namespace": "github:language:python", "package": {"name": "requests", "version": "2.19.0"}},
          "found": {"versionConstraint": "<2.20.0 (python)", "vulnerabilityID": "GHSA-x84v-xcm2-53pg"}
        }
      ],
      "artifact": {
        "id": "e7a8c3b2f1d09a4b",
        "name": "requests",
        "version": "2.19.0",
        "type": "python",
        "locations": [
          {"path": "/usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
           "layerID": "sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
           "accessPath": "/usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
           "annotations": {"evidence": "primary"}}
        ],
        "language": "python",
        "licenses": ["Apache 2.0"],
        "cpes": ["cpe:2.3:a:python-requests:requests:2.19.0:*:*:*:*:*:*:*"],
        "purl": "pkg:pypi/requests@2.19.0",
        "upstreams": []
      }
    },
    {
      "vulnerability": {
        "id": "CVE-2023-39804",
        "dataSource": "https://security-tracker.debian.org/tracker/CVE-2023-39804",
        "namespace": "debian:distro:debian:12",
        "severity": "Negligible",
        "urls": ["https://security-tracker.debian.org/tracker/CVE-2023-39804"],
        "cvss": [],
        "fix": {"versions": [], "state": "not-fixed"},
        "advisories": []
      },
      "relatedVulnerabilities": [
        {
          "id": "CVE-2023-39804",
          "dataSource": "https://nvd.nist.gov/vuln/detail/CVE-2023-39804",
          "namespace": "nvd:cpe",
          "severity": "Medium",
          "urls": ["https://nvd.nist.gov/vuln/detail/CVE-2023-39804"],
          "description": "In GNU tar before 1.35, mishandled extension attributes in a PAX archive can lead to an application crash in xheader.c.",
          "cvss": [
            {"source": "nvd@nist.gov", "type": "Primary", "version": "3.1", "vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
             "metrics": {"baseScore": 5.5, "exploitabilityScore": 1.8, "impactScore": 3.6}, "vendorMetadata": {}}
          ]
        }
      ],
      "matchDetails": [
        {"type": "exact-indirect-match", "matcher": "dpkg-matcher",
         "searchedBy": {"distro": {"type": "debian", "version": "12"}, "namespace": "debian:distro:debian:12", "package": {"name": "tar", "version": "1.34+dfsg-1.2+deb12u1"}},
         "found": {"versionConstraint": "none (deb)", "vulnerabilityID": "CVE-2023-39804"}}
      ],
      "artifact": {
        "id": "2b9c7d1e0f3a4b5c",
        "name": "tar",
        "version": "1.34+dfsg-1.2+deb12u1",
        "type": "deb",
        "locations": [
          {"path": "/var/lib/dpkg/status",
           "layerID": "sha256:d0f1c3b5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1",
           "accessPath": "/var/lib/dpkg/status", "annotations": {"evidence": "primary"}}
        ],
        "language": "",
        "licenses": ["GPL-2.0-only", "GPL-3.0-only"],
        "cpes": ["cpe:2.3:a:tar:tar:1.34\\+dfsg-1.2\\+deb12u1:*:*:*:*:*:*:*"],
        "purl": "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64&distro=debian-12",
        "upstreams": []
      }
    },
    {
      "vulnerability": {
        "id": "GHSA-c2qf-rxjj-qqgw",
        "dataSource": "https://github.com/advisories/GHSA-c2qf-rxjj-qqgw",
        "namespace": "github:language:javascript",
        "severity": "Medium",
        "urls": ["https://github.com/advisories/GHSA-c2qf-rxjj-qqgw"],
        "description": "semver vulnerable to Regular Expression Denial of Service",
        "cvss": [
          {"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", "metrics": {"baseScore": 5.3, "exploitabilityScore": 2.2, "impactScore": 3.6}, "vendorMetadata": {}}
        ],
        "fix": {"versions": ["7.5.2"], "state": "fixed"},
        "advisories": []
      },
      "relatedVulnerabilities": [],
      "matchDetails": [],
      "artifact": {
        "id": "9a8b7c6d5e4f3a2b",
        "name": "semver",
        "version": "7.5.1",
        "type": "npm",
        "locations": [{"path": "/app/node_modules/semver/package.json", "layerID": "sha256:0000000000000000000000000000000000000000000000000000000000000003"}],
        "language": "javascript",
        "licenses": ["ISC"],
        "cpes": [],
        "purl": "pkg:npm/semver@7.5.1",
        "upstreams": []
      }
    },
    {
      "vulnerability": {
        "id": "CVE-2024-0001",
        "dataSource": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001",
        "namespace": "nvd:cpe",
        "severity": "High",
        "urls": [],
        "cvss": [],
        "fix": {"versions": [], "state": "unknown"},
        "advisories": []
      },
      "relatedVulnerabilities": [],
      "matchDetails": [],
      "artifact": {
        "id": "1111111111111111",
        "name": "busybox",
        "version": "1.36.1",
        "type": "binary",
        "locations": [{"path": "/bin/busybox"}],
        "language": "",
        "licenses": [],
        "cpes": ["cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"],
        "purl": "pkg:generic/busybox@1.36.1",
        "upstreams": []
      }
    }
  ],
  "source": {
    "type": "image",
    "target": {"userInput": "oci-dir:/tmp/harborguard-scan/layout", "imageID": "sha256:1f0f5a1d8e9bb3c6d3e0b1e3ac0fd51ab6e52e8b0b2e1d2c9f8a7b6c5d4e3f21", "manifestDigest": "sha256:5d4e3f211f0f5a1d8e9bb3c6d3e0b1e3ac0fd51ab6e52e8b0b2e1d2c9f8a7b6c", "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "tags": [], "imageSize": 2133, "layers": [], "manifest": "", "config": "", "repoDigests": [], "architecture": "amd64", "os": "linux"}
  },
  "distro": {"name": "debian", "version": "12", "idLike": []},
  "descriptor": {
    "name": "grype",
    "version": "0.86.1",
    "configuration": {"output": ["json"], "file": "", "distro": "", "add-cpes-if-none": false, "by-cve": false},
    "db": {"built": "2026-11-01T01:30:23Z", "schemaVersion": 5, "location": "/root/.cache/grype/db/5", "checksum": "sha256:00", "error": null},
    "timestamp": "2026-11-02T10:11:12.000000000Z"
  }
}
"""#

/// `trivy --version --format json` (trivy 0.58).
let trivyVersionFixture = #"""
{"Version":"0.58.1","VulnerabilityDB":{"Version":2,"NextUpdate":"2026-11-02T18:09:33.219Z","UpdatedAt":"2026-11-02T12:09:33.219Z","DownloadedAt":"2026-11-02T13:01:12.5Z"}}
"""#

/// `grype version -o json` (grype 0.86).
let grypeVersionFixture = #"""
{"application":"grype","version":"0.86.1","buildDate":"2024-12-11T20:24:54Z","gitCommit":"ce5c0e9d8bf48a5e6d1d7f7e8e2f0a6b5c4d3e2f","gitDescription":"v0.86.1","platform":"linux/amd64","goVersion":"go1.23.4","compiler":"gc","syftVersion":"v1.18.1","supportedDbSchema":5}
"""#
