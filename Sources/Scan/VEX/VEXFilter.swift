import Foundation

/// Applies VEX documents to a local scan's findings (`harborguard scan --vex`), as
/// `trivy --vex` does: a finding is excepted when the last statement about its vulnerability
/// that concerns the scanned image says `not_affected` or `fixed`.
///
/// A statement concerns the image when one of its products is a `pkg:oci` purl naming the
/// scanned repository (by `repository_url`, else by its last path segment) at the scanned
/// digest (a purl without a digest: any digest); a statement whose products are package purls
/// instead (no `pkg:oci` product) is about those packages wherever they are found. With
/// subcomponents, only findings in those packages (matched by purl type, namespace and name,
/// or by name) are excepted. The vulnerability matches by id or by alias either way.
public struct VEXFilter: Sendable {
    public var documents: [VEXDocument]

    public init(documents: [VEXDocument]) { self.documents = documents }

    /// The findings to keep and how many were excepted.
    public func apply(
        to findings: [Finding], host: String?, repository: String, digests: [String]
    ) -> (kept: [Finding], suppressed: Int) {
        let statements = documents.flatMap(\.statements)
        var kept: [Finding] = []
        var suppressed = 0
        for f in findings {
            var verdict: VEXStatement?
            for s in statements where Self.concerns(s, finding: f, host: host, repository: repository, digests: digests) {
                verdict = s
            }
            if verdict?.excepts == true { suppressed += 1 } else { kept.append(f) }
        }
        return (kept, suppressed)
    }

    static func concerns(_ s: VEXStatement, finding f: Finding, host: String?, repository: String, digests: [String]) -> Bool {
        let ids = Set([f.vulnerabilityId] + f.aliases)
        guard ids.contains(s.vulnerability) || s.aliases.contains(where: ids.contains) else { return false }
        let oci = s.products.compactMap(OCIProduct.init(purl:))
        if oci.isEmpty {
            // Package products: the statement is about these packages in any image.
            return VEXPurl.matches(subcomponents: s.products + s.subcomponents, packagePurl: f.package.purl, packageName: f.package.name)
        }
        let image = oci.contains { p in
            p.digest == nil ? p.matches(host: host, repository: repository, digest: nil)
                : digests.contains { p.matches(host: host, repository: repository, digest: $0) }
        }
        return image && VEXPurl.matches(subcomponents: s.subcomponents, packagePurl: f.package.purl, packageName: f.package.name)
    }
}
