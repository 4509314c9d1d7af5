import Foundation
public import Scan

/// A tag a registry says was pushed.
public struct PushedTag: Sendable, Hashable {
    public var repository: String
    public var tag: String?
    public var digest: String?
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
                guard e["action"]?.stringValue == "push", let target = e["target"], let repo = target["repository"]?.stringValue
                else { return nil }
                let tag = target["tag"]?.stringValue
                let media = target["mediaType"]?.stringValue ?? ""
                guard tag != nil || manifestTypes.contains(media) else { return nil }  // blob pushes
                return PushedTag(repository: repo, tag: tag, digest: target["digest"]?.stringValue)
            }
            return (.distribution, tags)
        }
        // Harbor: {"type": "PUSH_ARTIFACT", "event_data": {"resources": [...], "repository": {...}}}
        if let type = body["type"]?.stringValue, let data = body["event_data"] {
            guard type == "PUSH_ARTIFACT" else { return (.harbor, []) }
            let repo = data["repository"]?["repo_full_name"]?.stringValue
                ?? [data["repository"]?["namespace"]?.stringValue, data["repository"]?["name"]?.stringValue].compactMap { $0 }
                    .joined(separator: "/")
            let tags = data["resources"]?.array.map {
                PushedTag(repository: repo, tag: $0["tag"]?.stringValue, digest: $0["digest"]?.stringValue)
            } ?? []
            return (.harbor, tags.filter { !$0.repository.isEmpty })
        }
        // GitHub packages (GHCR): "package" or "registry_package" events.
        if let pkg = body["package"] ?? body["registry_package"], pkg["package_type"]?.stringValue?.lowercased() == "container" {
            guard ["published", "updated"].contains(body["action"]?.stringValue ?? "") else { return (.github, []) }
            let owner = (pkg["namespace"]?.stringValue ?? pkg["owner"]?["login"]?.stringValue ?? "").lowercased()
            let name = (pkg["name"]?.stringValue ?? "").lowercased()
            let version = pkg["package_version"]
            let tag = version?["container_metadata"]?["tag"]?["name"]?.stringValue
            let digest = version?["container_metadata"]?["tag"]?["digest"]?.stringValue ?? version?["version"]?.stringValue
            guard !name.isEmpty else { return (.github, []) }
            let repo = owner.isEmpty ? name : "\(owner)/\(name)"
            return (.github, [PushedTag(repository: repo, tag: (tag?.isEmpty ?? true) ? nil : tag, digest: digest)])
        }
        // Docker Hub: {"push_data": {"tag"}, "repository": {"repo_name"}}
        if let push = body["push_data"], let repo = body["repository"]?["repo_name"]?.stringValue {
            return (.dockerHub, [PushedTag(repository: repo, tag: push["tag"]?.stringValue, digest: nil)])
        }
        // Quay: {"repository": "ns/repo", "updated_tags": [...]}
        if let repo = body["repository"]?.stringValue, let updated = body["updated_tags"] {
            return (.quay, updated.array.compactMap { $0.stringValue }.map { PushedTag(repository: repo, tag: $0, digest: nil) })
        }
        // JFrog: {"domain": "docker", "event_type": "pushed", "data": {...}}
        if body["domain"]?.stringValue == "docker", let data = body["data"] {
            guard body["event_type"]?.stringValue == "pushed", let image = data["image_name"]?.stringValue else { return (.jfrog, []) }
            let digest = data["sha256"]?.stringValue.map { $0.hasPrefix("sha256:") ? $0 : "sha256:\($0)" }
            return (.jfrog, [PushedTag(repository: image, tag: data["tag"]?.stringValue, digest: digest)])
        }
        return nil
    }
}
