import Foundation

/// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/).
enum SPDX {
    struct Document: Encodable {
        let spdxVersion = "SPDX-2.3"
        let dataLicense = "CC0-1.0"
        let spdxID = "SPDXRef-DOCUMENT"
        var name: String
        var documentNamespace: String
        var creationInfo: CreationInfo
        var packages: [Package]
        var relationships: [Relationship]
        var documentDescribes: [String]

        enum CodingKeys: String, CodingKey {
            case spdxVersion, dataLicense, spdxID = "SPDXID", name, documentNamespace, creationInfo, packages,
                relationships, documentDescribes
        }
    }

    struct CreationInfo: Encodable {
        var created: String
        var creators: [String]
    }

    struct Package: Encodable {
        var spdxID: String
        var name: String
        var versionInfo: String?
        let downloadLocation = "NOASSERTION"
        let filesAnalyzed = false
        let licenseConcluded = "NOASSERTION"
        let licenseDeclared = "NOASSERTION"
        let copyrightText = "NOASSERTION"
        var primaryPackagePurpose: String
        var sourceInfo: String?
        var comment: String?
        var externalRefs: [ExternalRef]?

        enum CodingKeys: String, CodingKey {
            case spdxID = "SPDXID", name, versionInfo, downloadLocation, filesAnalyzed, licenseConcluded,
                licenseDeclared, copyrightText, primaryPackagePurpose, sourceInfo, comment, externalRefs
        }
    }

    struct ExternalRef: Encodable {
        let referenceCategory = "PACKAGE-MANAGER"
        let referenceType = "purl"
        var referenceLocator: String
    }

    struct Relationship: Encodable {
        var spdxElementId: String
        var relationshipType: String
        var relatedSpdxElement: String
    }

    static func document(_ input: SBOMInput) -> Document {
        var ids = UniqueIDs()
        let imageID = ids.claim("SPDXRef-Image")
        var imageComment = "reference \(input.subject.reference)"
        if let platform = input.subject.platform { imageComment += ", platform \(platform)" }
        var packages = [Package(
            spdxID: imageID, name: input.imageName, versionInfo: input.subject.digest.isEmpty ? nil : input.subject.digest,
            primaryPackagePurpose: "CONTAINER", comment: imageComment,
            externalRefs: [ExternalRef(referenceLocator: input.imagePurl)])]
        if let os = input.os {
            packages.append(Package(
                spdxID: ids.claim(id("SPDXRef-OperatingSystem", [os.family, os.version ?? ""])), name: os.family,
                versionInfo: os.version, primaryPackagePurpose: "OPERATING-SYSTEM", comment: os.prettyName))
        }
        for package in input.packages {
            var source: String?
            if let name = package.sourceName {
                source = "built from source package \(name)" + (package.sourceVersion.map { " \($0)" } ?? "")
            } else if let version = package.sourceVersion {
                source = "built from source version \(version)"
            }
            let location = [package.layer.map { "layer \($0)" }, package.path.map { "path \($0)" }].compactMap(\.self)
            packages.append(Package(
                spdxID: ids.claim(id("SPDXRef-Package", [package.type.rawValue, package.name, package.version])),
                name: package.name.isEmpty ? "NOASSERTION" : package.name,
                versionInfo: package.version.isEmpty ? nil : package.version,
                primaryPackagePurpose: "LIBRARY", sourceInfo: source,
                comment: location.isEmpty ? nil : location.joined(separator: ", "),
                externalRefs: package.purl.isEmpty ? nil : [ExternalRef(referenceLocator: package.purl)]))
        }
        var relationships = [Relationship(spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageID)]
        for package in packages.dropFirst() {
            relationships.append(Relationship(spdxElementId: imageID, relationshipType: "CONTAINS", relatedSpdxElement: package.spdxID))
        }
        let documentName = input.subject.reference.isEmpty ? input.subject.digest : input.subject.reference
        return Document(
            name: documentName.isEmpty ? "container image" : documentName,
            documentNamespace: "https://github.com/harborguard/harborguard/spdx/\(idSafe(input.imageName).lowercased())-\(input.uuid)",
            creationInfo: CreationInfo(created: input.timestamp, creators: ["Tool: harborguard-\(input.toolVersion)"]),
            packages: packages, relationships: relationships, documentDescribes: [imageID])
    }

    /// `prefix-part-part…` with every part reduced to the characters an SPDXID allows.
    static func id(_ prefix: String, _ parts: [String]) -> String {
        ([prefix] + parts.map(idSafe).filter { !$0.isEmpty }).joined(separator: "-")
    }

    /// SPDXIDs allow `[A-Za-z0-9.-]` only: every other run of characters becomes one `-`, and
    /// dashes at either end are dropped (`@scope/pkg` → `scope-pkg`).
    static func idSafe(_ text: String) -> String {
        var out = ""
        var pendingDash = false
        for scalar in text.unicodeScalars {
            let allowed = scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == ".")
            if allowed {
                if pendingDash && !out.isEmpty { out.append("-") }
                pendingDash = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingDash = true
            }
        }
        return out
    }
}
