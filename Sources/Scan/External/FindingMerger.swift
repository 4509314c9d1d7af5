import Foundation

/// Merges finding lists from several scanners into one.
///
/// Two findings are the same when they are about the same package (name — PEP 503
/// normalised for Python, case-insensitive — and version) and their ids overlap: the
/// vulnerability id or any alias of one is an id or alias of the other (so a grype GHSA
/// match with a related CVE meets trivy's CVE). The merged finding's id is the smallest
/// CVE among all ids when there is one, else the id of the first finding (lists earlier in
/// the input win: native, then syft, trivy, grype); every other id is an alias.
public enum FindingMerger {
    public static func merge(_ lists: [[Finding]]) -> [Finding] {
        let all = lists.flatMap { $0 }
        // Group by package identity first; ids are compared only within a group.
        struct PackageKey: Hashable {
            var name: String
            var version: String
        }
        func key(_ f: Finding) -> PackageKey {
            let name = f.package.type == .python ? OSVEcosystem.pep503(f.package.name) : f.package.name.lowercased()
            return PackageKey(name: name, version: f.package.version)
        }
        var groups: [PackageKey: [Int]] = [:]
        var groupOrder: [PackageKey] = []
        for (i, f) in all.enumerated() {
            let k = key(f)
            if groups[k] == nil { groupOrder.append(k) }
            groups[k, default: []].append(i)
        }
        var merged: [Finding] = []
        for k in groupOrder {
            let members = groups[k]!
            // Union-find over shared ids.
            var parent = Array(0..<members.count)
            func find(_ x: Int) -> Int {
                var x = x
                while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
                return x
            }
            var owner: [String: Int] = [:]
            for (j, index) in members.enumerated() {
                let f = all[index]
                for id in [f.vulnerabilityId] + f.aliases {
                    if let other = owner[id] {
                        let a = find(other), b = find(j)
                        if a != b { parent[max(a, b)] = min(a, b) }
                    } else {
                        owner[id] = j
                    }
                }
            }
            var clusters: [Int: [Finding]] = [:]
            var clusterOrder: [Int] = []
            for (j, index) in members.enumerated() {
                let root = find(j)
                if clusters[root] == nil { clusterOrder.append(root) }
                clusters[root, default: []].append(all[index])
            }
            for root in clusterOrder { merged.append(combine(clusters[root]!)) }
        }
        return merged.sorted(by: order)
    }

    /// Most severe first, then id, package name, version.
    static func order(_ a: Finding, _ b: Finding) -> Bool {
        if a.severity != b.severity { return a.severity > b.severity }
        if a.vulnerabilityId != b.vulnerabilityId { return a.vulnerabilityId < b.vulnerabilityId }
        if a.package.name != b.package.name { return a.package.name < b.package.name }
        return a.package.version < b.package.version
    }

    /// One finding from several reports of it (in input order).
    static func combine(_ findings: [Finding]) -> Finding {
        var result = findings[0]
        guard findings.count > 1 else { return result }
        var ids = Set<String>()
        var sources = Set<String>()
        var references = Set<String>()
        var advisories = Set<String>()
        for f in findings {
            ids.insert(f.vulnerabilityId)
            ids.formUnion(f.aliases)
            sources.formUnion(f.sources)
            references.formUnion(f.references)
            advisories.formUnion(f.advisoryIds)
            if f.severity > result.severity { result.severity = f.severity }
            if let c = f.cvss { result.cvss = max(result.cvss ?? 0, c) }
            if result.fixedVersion == nil, let fix = f.fixedVersion { result.fixedVersion = fix }
            if result.title == nil { result.title = f.title }
            if result.package.purl.isEmpty { result.package.purl = f.package.purl }
            if result.package.layer == nil { result.package.layer = f.package.layer }
        }
        let canonical = ids.filter { $0.hasPrefix("CVE-") }.min() ?? findings[0].vulnerabilityId
        result.vulnerabilityId = canonical
        result.aliases = ids.subtracting([canonical]).sorted()
        result.sources = sources.sorted()
        result.references = references.sorted()
        result.advisoryIds = advisories.sorted()
        if result.fixedVersion != nil {
            result.fixState = .fixed
        } else {
            // Someone's word on "no fix" beats nobody's.
            let states = findings.map(\.fixState)
            result.fixState = states.contains(.wontFix) ? .wontFix : states.contains(.notFixed) ? .notFixed : .unknown
        }
        return result
    }
}
