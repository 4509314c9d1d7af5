import Foundation
import Registry
import Store

/// The one check of a (repository, tag, digest) that something outside the server reports:
/// push events and sensor sync results. The grammar is the Registry module's (the
/// distribution reference grammar), so what the crawler accepts and what a receiver accepts
/// cannot drift apart:
/// - repository: path components `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` joined by `/`,
///   at most 255 characters;
/// - tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
/// - digest: `sha256:` with 64 or `sha512:` with 128 lowercase hex digits.
/// Messages never echo the value (it is hostile input).
enum ReceivedTag {
    static let repositoryMessage = "Not a valid repository name (lowercase path components joined by '/', at most 255 characters)."
    static let tagMessage = "Not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})."
    static let digestMessage = "Not a valid digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)."

    static func isRepository(_ s: String) -> Bool { (try? Repository(s)) != nil }
    static func isTag(_ s: String) -> Bool { (try? Tag(s)) != nil }
    static func isDigest(_ s: String) -> Bool { (try? Digest(s)) != nil }

    /// The problems of one entry as (field, message); empty when it is valid.
    static func problems(repository: String, tag: String?, digest: String?) -> [(field: String, message: String)] {
        var out: [(String, String)] = []
        if !isRepository(repository) { out.append(("repository", repositoryMessage)) }
        if let tag, !isTag(tag) { out.append(("tag", tagMessage)) }
        if let digest, !isDigest(digest) { out.append(("digest", digestMessage)) }
        return out
    }
}
