import Foundation

/// CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/).
enum CycloneDX {
    struct BOM: Encodable {
        let schema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
        let bomFormat = "CycloneDX"
        let specVersion = "1.6"
        var serialNumber: String
        let version = 1
        var metadata: Metadata
        var components: [Component]
        var dependencies: [Dependency]

        enum CodingKeys: String, CodingKey {
            case schema = "$schema", bomFormat, specVersion, serialNumber, version, metadata, components, dependencies
        }
    }

    struct Metadata: Encodable {
        var timestamp: String
        var tools: Tools
        var component: Component
    }

    struct Tools: Encodable {
        var components: [Component]
    }

    struct Component: Encodable {
        var type: String
        var bomRef: String?
        var name: String
        var version: String?
        var description: String?
        var purl: String?
        var properties: [Property]?

        enum CodingKeys: String, CodingKey {
            case type, bomRef = "bom-ref", name, version, description, purl, properties
        }
    }

    struct Property: Encodable {
        var name: String
        var value: String
    }

    struct Dependency: Encodable {
        var ref: String
        var dependsOn: [String]
    }

    static func document(_ input: SBOMInput) -> BOM {
        var ids = UniqueIDs()
        var imageProperties = [Property(name: "harborguard:image:reference", value: input.subject.reference)]
        if let platform = input.subject.platform {
            imageProperties.append(Property(name: "harborguard:image:platform", value: platform))
        }
        let image = Component(
            type: "container", bomRef: ids.claim(input.imagePurl, separator: "|"), name: input.imageName,
            version: input.subject.digest.isEmpty ? nil : input.subject.digest, purl: input.imagePurl,
            properties: imageProperties)

        var components: [Component] = []
        if let os = input.os {
            var properties: [Property] = []
            if let codename = os.codename, !codename.isEmpty {
                properties.append(Property(name: "harborguard:os:codename", value: codename))
            }
            components.append(Component(
                type: "operating-system", bomRef: ids.claim("os:\(os.family)@\(os.version ?? "")", separator: "|"),
                name: os.family, version: os.version, description: os.prettyName, purl: nil,
                properties: properties.isEmpty ? nil : properties))
        }
        for package in input.packages {
            var properties = [Property(name: "harborguard:package:type", value: package.type.rawValue)]
            if let layer = package.layer { properties.append(Property(name: "harborguard:layer:digest", value: layer)) }
            if let path = package.path { properties.append(Property(name: "harborguard:package:path", value: path)) }
            if let source = package.sourceName { properties.append(Property(name: "harborguard:source:name", value: source)) }
            if let source = package.sourceVersion { properties.append(Property(name: "harborguard:source:version", value: source)) }
            // A purl found twice (the same package at two paths) still needs two bom-refs; `|`
            // cannot occur in a purl, so a suffixed ref never reads as another package's purl.
            let base = package.purl.isEmpty ? "package:\(package.type.rawValue)/\(package.name)@\(package.version)" : package.purl
            components.append(Component(
                type: "library", bomRef: ids.claim(base, separator: "|"), name: package.name,
                version: package.version.isEmpty ? nil : package.version, purl: package.purl.isEmpty ? nil : package.purl,
                properties: properties))
        }
        let tool = Component(type: "application", name: "harborguard", version: input.toolVersion)
        return BOM(
            serialNumber: "urn:uuid:" + input.uuid,
            metadata: Metadata(timestamp: input.timestamp, tools: Tools(components: [tool]), component: image),
            components: components,
            dependencies: [Dependency(ref: image.bomRef ?? input.imagePurl, dependsOn: components.compactMap(\.bomRef))])
    }
}
