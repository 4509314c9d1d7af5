import Foundation
import Testing

@testable import Scan

private let subject = SBOMSubject(
    reference: "127.0.0.1:5000/team/app:1.0",
    digest: "sha256:" + String(repeating: "ab", count: 32), platform: "linux/amd64")
private let created = Date(timeIntervalSince1970: 1_780_000_000.75)

private let inventory = ImageInventory(
    os: OSInfo(family: "debian", version: "12", codename: "bookworm", prettyName: "Debian GNU/Linux 12 (bookworm)"),
    packages: [
        InstalledPackage(
            name: "tar", version: "1.34+dfsg-1.2+deb12u1", type: .deb,
            purl: "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64&distro=debian-12",
            layer: "sha256:" + String(repeating: "11", count: 32), path: "var/lib/dpkg/status"),
        InstalledPackage(
            name: "libc6", version: "2.36-9", type: .deb, purl: "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12",
            layer: "sha256:" + String(repeating: "11", count: 32), path: "var/lib/dpkg/status",
            sourceName: "glibc", sourceVersion: "2.36-9"),
        InstalledPackage(
            name: "requests", version: "2.19.0", type: .python, purl: "pkg:pypi/requests@2.19.0",
            layer: "sha256:" + String(repeating: "22", count: 32),
            path: "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA"),
        // The same npm package at two paths: one purl, two components.
        InstalledPackage(
            name: "@types/node", version: "20.1.0", type: .npm, purl: "pkg:npm/%40types/node@20.1.0",
            layer: "sha256:" + String(repeating: "33", count: 32), path: "app/node_modules/@types/node/package.json"),
        InstalledPackage(
            name: "@types/node", version: "20.1.0", type: .npm, purl: "pkg:npm/%40types/node@20.1.0",
            layer: "sha256:" + String(repeating: "33", count: 32), path: "lib/node_modules/@types/node/package.json"),
    ])

private func json(_ format: SBOMFormat, _ inv: ImageInventory = inventory, subject s: SBOMSubject = subject) throws -> [String: Any] {
    let data = try SBOMWriter.write(format, subject: s, inventory: inv, createdAt: created, toolVersion: "0.1.0")
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func matches(_ text: String, _ pattern: String) -> Bool {
    text.range(of: pattern, options: .regularExpression) != nil
}

/// CycloneDX 1.6's own pattern for serialNumber.
private let serialPattern = "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
/// SPDX 2.3: `SPDXRef-` then letters, digits, `.` and `-`.
private let spdxIDPattern = "^SPDXRef-[A-Za-z0-9.-]+$"

@Suite struct SBOMTests {
    @Test func cycloneDXStructure() throws {
        let bom = try json(.cyclonedx)
        #expect(bom["bomFormat"] as? String == "CycloneDX")
        #expect(bom["specVersion"] as? String == "1.6")
        #expect(bom["version"] as? Int == 1)
        #expect(matches(try #require(bom["serialNumber"] as? String), serialPattern))
        let metadata = try #require(bom["metadata"] as? [String: Any])
        #expect(metadata["timestamp"] as? String == "2026-05-28T20:26:40Z")
        let tools = try #require((metadata["tools"] as? [String: Any])?["components"] as? [[String: Any]])
        #expect(tools.count == 1 && tools[0]["name"] as? String == "harborguard" && tools[0]["version"] as? String == "0.1.0")
        let image = try #require(metadata["component"] as? [String: Any])
        #expect(image["type"] as? String == "container")
        #expect(image["name"] as? String == "127.0.0.1:5000/team/app")
        #expect(image["version"] as? String == subject.digest)
        #expect(image["purl"] as? String
            == "pkg:oci/app@sha256%3A\(String(repeating: "ab", count: 32))?arch=amd64&repository_url=127.0.0.1:5000%2Fteam%2Fapp&tag=1.0")

        let components = try #require(bom["components"] as? [[String: Any]])
        #expect(components.count == 1 + inventory.packages.count)
        let os = try #require(components.first { $0["type"] as? String == "operating-system" })
        #expect(os["name"] as? String == "debian" && os["version"] as? String == "12")
        #expect(os["description"] as? String == "Debian GNU/Linux 12 (bookworm)")
        let libraries = components.filter { $0["type"] as? String == "library" }
        #expect(libraries.count == inventory.packages.count)
        #expect(Set(libraries.compactMap { $0["purl"] as? String }) == Set(inventory.packages.map(\.purl)))
        for library in libraries {
            let properties = try #require(library["properties"] as? [[String: String]])
            let names = Set(properties.compactMap { $0["name"] })
            #expect(names.isSuperset(of: ["harborguard:layer:digest", "harborguard:package:path", "harborguard:package:type"]))
        }
        let libc = try #require(libraries.first { $0["name"] as? String == "libc6" })
        let libcProperties = try #require(libc["properties"] as? [[String: String]])
        #expect(libcProperties.contains(["name": "harborguard:source:name", "value": "glibc"]))

        // bom-refs: unique across the image and every component, the duplicate purl included.
        let refs = ([image] + components).compactMap { $0["bom-ref"] as? String }
        #expect(refs.count == components.count + 1)
        #expect(Set(refs).count == refs.count)
        #expect(refs.contains("pkg:npm/%40types/node@20.1.0") && refs.contains("pkg:npm/%40types/node@20.1.0|2"))

        let dependencies = try #require(bom["dependencies"] as? [[String: Any]])
        #expect(dependencies.count == 1)
        #expect(dependencies[0]["ref"] as? String == image["bom-ref"] as? String)
        #expect(Set(dependencies[0]["dependsOn"] as? [String] ?? []) == Set(refs.dropFirst()))
    }

    @Test func spdxStructure() throws {
        let doc = try json(.spdx)
        #expect(doc["spdxVersion"] as? String == "SPDX-2.3")
        #expect(doc["dataLicense"] as? String == "CC0-1.0")
        #expect(doc["SPDXID"] as? String == "SPDXRef-DOCUMENT")
        #expect(doc["name"] as? String == subject.reference)
        let namespace = try #require(doc["documentNamespace"] as? String)
        #expect(matches(namespace, "^https://github.com/harborguard/harborguard/spdx/127.0.0.1-5000-team-app-[0-9a-f-]{36}$"))
        #expect(!namespace.contains("#"))
        let info = try #require(doc["creationInfo"] as? [String: Any])
        #expect(info["created"] as? String == "2026-05-28T20:26:40Z")
        #expect(info["creators"] as? [String] == ["Tool: harborguard-0.1.0"])

        let packages = try #require(doc["packages"] as? [[String: Any]])
        #expect(packages.count == 2 + inventory.packages.count)  // image, OS, packages
        let ids = packages.compactMap { $0["SPDXID"] as? String }
        #expect(ids.count == packages.count && Set(ids).count == ids.count)
        for id in ids { #expect(matches(id, spdxIDPattern), "\(id)") }
        for p in packages {
            #expect(p["downloadLocation"] as? String == "NOASSERTION")
            #expect(p["filesAnalyzed"] as? Bool == false)
            #expect(p["licenseConcluded"] as? String == "NOASSERTION" && p["licenseDeclared"] as? String == "NOASSERTION")
            #expect(p["copyrightText"] as? String == "NOASSERTION")
        }
        let image = packages[0]
        #expect(image["SPDXID"] as? String == "SPDXRef-Image" && image["primaryPackagePurpose"] as? String == "CONTAINER")
        #expect(image["versionInfo"] as? String == subject.digest)
        let purls = packages.flatMap { ($0["externalRefs"] as? [[String: String]]) ?? [] }
        #expect(purls.allSatisfy { $0["referenceCategory"] == "PACKAGE-MANAGER" && $0["referenceType"] == "purl" })
        #expect(Set(purls.compactMap { $0["referenceLocator"] }).isSuperset(of: inventory.packages.map(\.purl)))
        #expect(purls.contains { $0["referenceLocator"]?.hasPrefix("pkg:oci/app@sha256%3A") == true })
        let libc = try #require(packages.first { $0["name"] as? String == "libc6" })
        #expect(libc["sourceInfo"] as? String == "built from source package glibc 2.36-9")
        #expect((libc["comment"] as? String)?.contains("path var/lib/dpkg/status") == true)

        let relationships = try #require(doc["relationships"] as? [[String: String]])
        #expect(relationships.first == ["spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"])
        let contained = relationships.filter { $0["relationshipType"] == "CONTAINS" && $0["spdxElementId"] == "SPDXRef-Image" }
        #expect(Set(contained.compactMap { $0["relatedSpdxElement"] }) == Set(ids.dropFirst()))
        #expect(doc["documentDescribes"] as? [String] == ["SPDXRef-Image"])
    }

    @Test(arguments: SBOMFormat.allCases) func deterministic(_ format: SBOMFormat) throws {
        func write(_ inv: ImageInventory, at date: Date = created) throws -> Data {
            try SBOMWriter.write(format, subject: subject, inventory: inv, createdAt: date, toolVersion: "0.1.0")
        }
        let first = try write(inventory)
        #expect(try write(inventory) == first)
        // The order detectors reported packages in does not matter.
        let shuffled = ImageInventory(os: inventory.os, packages: inventory.packages.reversed())
        #expect(try write(shuffled) == first)
        // A different inventory is a different document identity.
        var changed = inventory
        changed.packages[0].version = "1.35"
        let identity = format == .cyclonedx ? "serialNumber" : "documentNamespace"
        let a = try json(format)[identity] as? String
        let b = try json(format, changed)[identity] as? String
        #expect(a != nil && b != nil && a != b)
    }

    @Test func emptyInventory() throws {
        let empty = ImageInventory(os: nil, packages: [])
        let bom = try json(.cyclonedx, empty)
        #expect((bom["components"] as? [Any])?.isEmpty == true)
        #expect(matches(try #require(bom["serialNumber"] as? String), serialPattern))
        let deps = try #require(bom["dependencies"] as? [[String: Any]])
        #expect(deps.count == 1 && (deps[0]["dependsOn"] as? [String])?.isEmpty == true)

        let doc = try json(.spdx, empty)
        let packages = try #require(doc["packages"] as? [[String: Any]])
        #expect(packages.count == 1 && packages[0]["SPDXID"] as? String == "SPDXRef-Image")
        #expect((doc["relationships"] as? [Any])?.count == 1)
    }

    @Test func oddNamesGiveValidUniqueIDs() throws {
        let names = ["my package", "@scope/pkg", "scope-pkg", "日本語", "中文", "café", "a/b:c", "", "-", "tar"]
        let odd = ImageInventory(os: OSInfo(family: "wolfi linux", version: nil), packages: names.map {
            InstalledPackage(name: $0, version: "1.0 beta+ü", type: .npm, purl: PackageURL.make(type: "npm", name: $0, version: "1.0 beta+ü"))
        } + [InstalledPackage(name: "tar", version: "1.0 beta+ü", type: .npm, purl: "")])
        let doc = try json(.spdx, odd)
        let packages = try #require(doc["packages"] as? [[String: Any]])
        let ids = packages.compactMap { $0["SPDXID"] as? String }
        #expect(ids.count == odd.packages.count + 2)
        #expect(Set(ids).count == ids.count)
        for id in ids { #expect(matches(id, spdxIDPattern), "\(id)") }
        #expect(ids.contains("SPDXRef-Package-npm-scope-pkg-1.0-beta"))
        #expect(packages.contains { $0["name"] as? String == "日本語" })
        #expect(packages.allSatisfy { !($0["name"] as? String ?? "").isEmpty })

        let bom = try json(.cyclonedx, odd)
        let refs = (bom["components"] as? [[String: Any]] ?? []).compactMap { $0["bom-ref"] as? String }
        #expect(refs.count == odd.packages.count + 1 && Set(refs).count == refs.count)
    }

    @Test func subjectsThatDoNotParseStillGiveAPurl() throws {
        let hub = try json(.cyclonedx, subject: SBOMSubject(reference: "nginx", digest: "sha256:" + String(repeating: "0", count: 64), platform: nil))
        let image = try #require((hub["metadata"] as? [String: Any])?["component"] as? [String: Any])
        #expect(image["name"] as? String == "docker.io/library/nginx")
        #expect(image["purl"] as? String
            == "pkg:oci/nginx@sha256%3A\(String(repeating: "0", count: 64))?repository_url=docker.io%2Flibrary%2Fnginx&tag=latest")
        let odd = try json(.spdx, subject: SBOMSubject(reference: "Not A Reference", digest: "", platform: "linux/arm64/v8"))
        let packages = try #require(odd["packages"] as? [[String: Any]])
        #expect(packages[0]["name"] as? String == "Not A Reference")
        #expect(packages[0]["versionInfo"] == nil)
        let purl = try #require((packages[0]["externalRefs"] as? [[String: String]])?.first?["referenceLocator"])
        #expect(purl == "pkg:oci/not%20a%20reference?arch=arm64")
    }

    @Test func uuidIsVersion5OfTheHarborguardNamespace() {
        // Python: uuid.uuid5(uuid.UUID("dee322f5-dfa0-5789-90bc-29178f93ceb2"), "harborguard")
        #expect(SBOMInput.uuidV5(name: "harborguard") == "b345272f-5c75-5515-9315-b97c005adb56")
    }
}
