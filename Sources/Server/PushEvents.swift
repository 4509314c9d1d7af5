import Foundation

/// A tag a registry says was pushed.
public struct PushedTag: Sendable, Hashable {
    public var repository: String
    public var tag: String?
    public var digest: String?
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }
}

/// Parses the push notifications of the registries the product supports into pushed tags.
/// Each format is recognised by its shape; anything else is an error naming what was expected.
public enum PushEvents {
    static let manifestTypes: Set<String> = [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]

    public enum Format: String, Sendable {
        case distribution, harbor, github, dockerHub = "docker_hub", quay, jfrog
    }

    public static func parse(_ body: JSONValue) -> (Format, [PushedTag])? {
        // CNCF distribution (and GitLab's registry, which uses its notifications).
        if let events = body["events"], case .array(let list) = events {
            let tags = list.compactMap { e -> PushedTag? in
                guard e["action"]?.string == "push", let target = e["target"], let repo = target["repository"]?.string
                else { return nil }
                let tag = target["tag"]?.string
                let media = target["mediaType"]?.string ?? ""
                guard tag != nil || manifestTypes.contains(media) else { return nil }  // blob pushes
                return PushedTag(repository: repo, tag: tag, digest: target["digest"]?.string)
            }
            return (.distribution, tags)
        }
        // Harbor: {"type": "PUSH_ARTIFACT", "event_data": {"resources": [...], "repository": {...}}}
        if let type = body["type"]?.string, let data = body["event_data"] {
            guard type == "PUSH_ARTIFACT" else { return (.harbor, []) }
            let repo = data["repository"]?["repo_full_name"]?.string
                ?? [data["repository"]?["namespace"]?.string, data["repository"]?["name"]?.string].compactMap { $0 }
                    .joined(separator: "/")
            let tags = data["resources"]?.array.map {
                PushedTag(repository: repo, tag: $0["tag"]?.string, digest: $0["digest"]?.string)
            } ?? []
            return (.harbor, tags.filter { !$0.repository.isEmpty })
        }
        // GitHub packages (GHCR): "package" or "registry_package" events.
        if let pkg = body["package"] ?? body["registry_package"], pkg["package_type"]?.string?.lowercased() == "container" {
            guard ["published", "updated"].contains(body["action"]?.string ?? "") else { return (.github, []) }
            let owner = (pkg["namespace"]?.string ?? pkg["owner"]?["login"]?.string ?? "").lowercased()
            let name = (pkg["name"]?.string ?? "").lowercased()
            let version = pkg["package_version"]
            let tag = version?["container_metadata"]?["tag"]?["name"]?.string
            let digest = version?["container_metadata"]?["tag"]?["digest"]?.string ?? version?["version"]?.string
            guard !name.isEmpty else { return (.github, []) }
            let repo = owner.isEmpty ? name : "\(owner)/\(name)"
            return (.github, [PushedTag(repository: repo, tag: (tag?.isEmpty ?? true) ? nil : tag, digest: digest)])
        }
        // Docker Hub: {"push_data": {"tag"}, "repository": {"repo_name"}}
        if let push = body["push_data"], let repo = body["repository"]?["repo_name"]?.string {
            return (.dockerHub, [PushedTag(repository: repo, tag: push["tag"]?.string, digest: nil)])
        }
        // Quay: {"repository": "ns/repo", "updated_tags": [...]}
        if let repo = body["repository"]?.string, let updated = body["updated_tags"] {
            return (.quay, updated.array.compactMap { $0.string }.map { PushedTag(repository: repo, tag: $0, digest: nil) })
        }
        // JFrog: {"domain": "docker", "event_type": "pushed", "data": {...}}
        if body["domain"]?.string == "docker", let data = body["data"] {
            guard body["event_type"]?.string == "pushed", let image = data["image_name"]?.string else { return (.jfrog, []) }
            let digest = data["sha256"]?.string.map { $0.hasPrefix("sha256:") ? $0 : "sha256:\($0)" }
            return (.jfrog, [PushedTag(repository: image, tag: data["tag"]?.string, digest: digest)])
        }
        return nil
    }
}
