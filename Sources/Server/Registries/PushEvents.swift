import Foundation
public import Scan
import Store

/// A tag a registry says was pushed: one entry of a notification, as sent (nothing checked
/// yet; `ReceivedTag.problems` and the registry's confirmation decide what is kept).
public struct PushedTag: Sendable, Hashable {
    /// The entry's position in the notification (`events[i]`, `resources[i]`, …).
    public var index: Int
    /// The event id, when the format has one (CNCF distribution).
    public var id: String?
    public var repository: String
    public var tag: String?
    public var digest: String?
    /// A field of the entry that is present but not a string.
    public var malformed: String?

    public init(
        index: Int = 0, id: String? = nil, repository: String, tag: String?, digest: String?, malformed: String? = nil
    ) {
        self.index = index
        self.id = id
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.malformed = malformed
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

    /// A recognised notification.
    public struct Parsed: Sendable {
        public var format: Format
        /// The push entries (pulls, deletes and blob pushes are left out).
        public var tags: [PushedTag]
        /// How many entries the notification holds in all (what the per-request limit counts).
        public var entries: Int
    }

    /// A string field: its value, or whether it is present with another type.
    static func string(_ v: JSONValue?, _ name: String, _ malformed: inout String?) -> String? {
        guard let v, v != .null else { return nil }
        if let s = v.stringValue { return s }
        malformed = malformed ?? name
        return nil
    }

    public static func parse(_ body: JSONValue) -> Parsed? {
        // CNCF distribution (and GitLab's registry, which uses its notifications).
        if let events = body["events"], case .array(let list) = events {
            var tags: [PushedTag] = []
            for (i, e) in list.enumerated() {
                guard e["action"]?.stringValue == "push", let target = e["target"], case .object = target else { continue }
                var bad: String?
                let repo = string(target["repository"], "target.repository", &bad)
                let tag = string(target["tag"], "target.tag", &bad)
                let media = target["mediaType"]?.stringValue ?? ""
                guard tag != nil || manifestTypes.contains(media) || bad != nil else { continue }  // blob pushes
                let digest = string(target["digest"], "target.digest", &bad)
                let id = string(e["id"], "id", &bad)
                tags.append(PushedTag(index: i, id: id, repository: repo ?? "", tag: tag, digest: digest, malformed: bad))
            }
            return Parsed(format: .distribution, tags: tags, entries: list.count)
        }
        // Harbor: {"type": "PUSH_ARTIFACT", "event_data": {"resources": [...], "repository": {...}}}
        if let type = body["type"]?.stringValue, let data = body["event_data"] {
            let resources = data["resources"]?.array ?? []
            guard type == "PUSH_ARTIFACT" else { return Parsed(format: .harbor, tags: [], entries: resources.count) }
            let repo = data["repository"]?["repo_full_name"]?.stringValue
                ?? [data["repository"]?["namespace"]?.stringValue, data["repository"]?["name"]?.stringValue].compactMap { $0 }
                    .joined(separator: "/")
            let tags = resources.enumerated().map { i, r in
                var bad: String?
                let tag = string(r["tag"], "tag", &bad)
                let digest = string(r["digest"], "digest", &bad)
                return PushedTag(index: i, repository: repo, tag: tag, digest: digest, malformed: bad)
            }
            return Parsed(format: .harbor, tags: tags, entries: resources.count)
        }
        // GitHub packages (GHCR): "package" or "registry_package" events.
        if let pkg = body["package"] ?? body["registry_package"], pkg["package_type"]?.stringValue?.lowercased() == "container" {
            guard ["published", "updated"].contains(body["action"]?.stringValue ?? "") else {
                return Parsed(format: .github, tags: [], entries: 1)
            }
            let owner = (pkg["namespace"]?.stringValue ?? pkg["owner"]?["login"]?.stringValue ?? "").lowercased()
            let name = (pkg["name"]?.stringValue ?? "").lowercased()
            let version = pkg["package_version"]
            let tag = version?["container_metadata"]?["tag"]?["name"]?.stringValue
            let digest = version?["container_metadata"]?["tag"]?["digest"]?.stringValue ?? version?["version"]?.stringValue
            guard !name.isEmpty else { return Parsed(format: .github, tags: [], entries: 1) }
            let repo = owner.isEmpty ? name : "\(owner)/\(name)"
            return Parsed(
                format: .github, tags: [PushedTag(repository: repo, tag: (tag?.isEmpty ?? true) ? nil : tag, digest: digest)],
                entries: 1)
        }
        // Docker Hub: {"push_data": {"tag"}, "repository": {"repo_name"}}
        if let push = body["push_data"], let repo = body["repository"]?["repo_name"]?.stringValue {
            var bad: String?
            let tag = string(push["tag"], "push_data.tag", &bad)
            return Parsed(format: .dockerHub, tags: [PushedTag(repository: repo, tag: tag, digest: nil, malformed: bad)], entries: 1)
        }
        // Quay: {"repository": "ns/repo", "updated_tags": [...]}
        if let repo = body["repository"]?.stringValue, let updated = body["updated_tags"] {
            let list = updated.array
            let tags = list.enumerated().map { i, t in
                var bad: String?
                let tag = string(t, "updated_tags[\(i)]", &bad)
                return PushedTag(index: i, repository: repo, tag: tag, digest: nil, malformed: bad)
            }
            return Parsed(format: .quay, tags: tags, entries: list.count)
        }
        // JFrog: {"domain": "docker", "event_type": "pushed", "data": {...}}
        if body["domain"]?.stringValue == "docker", let data = body["data"] {
            guard body["event_type"]?.stringValue == "pushed", let image = data["image_name"]?.stringValue else {
                return Parsed(format: .jfrog, tags: [], entries: 1)
            }
            var bad: String?
            let tag = string(data["tag"], "data.tag", &bad)
            let digest = string(data["sha256"], "data.sha256", &bad).map { $0.hasPrefix("sha256:") ? $0 : "sha256:\($0)" }
            return Parsed(format: .jfrog, tags: [PushedTag(repository: image, tag: tag, digest: digest, malformed: bad)], entries: 1)
        }
        return nil
    }
}
