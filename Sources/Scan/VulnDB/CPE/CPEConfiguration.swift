/// One `configurations[]` element of an NVD CVE record: nodes combined by `operator`
/// (`OR` unless NVD says `AND`), each node's `cpeMatch[]` combined by the node's operator,
/// `negate` inverting a node (or the whole configuration). A typical AND configuration is
/// "this software (vulnerable) running on that platform (not vulnerable)".
public struct CPEConfiguration: Sendable, Hashable, Codable {
    public var op: CPEOperator
    public var negate: Bool
    public var nodes: [CPENode]

    public init(op: CPEOperator = .or, negate: Bool = false, nodes: [CPENode]) {
        self.op = op
        self.negate = negate
        self.nodes = nodes
    }

    enum CodingKeys: String, CodingKey {
        case op = "operator", negate, nodes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        op = try c.decodeIfPresent(CPEOperator.self, forKey: .op) ?? .or
        negate = try c.decodeIfPresent(Bool.self, forKey: .negate) ?? false
        nodes = try c.decodeIfPresent([CPENode].self, forKey: .nodes) ?? []
    }

    /// The vendor/product pairs of its vulnerable criteria (what the index is keyed by).
    public var vulnerableProducts: Set<CPEProduct> {
        var out: Set<CPEProduct> = []
        for n in nodes {
            for m in n.matches where m.vulnerable {
                if let product = CPEProduct(criteria: m.criteria) { out.insert(product) }
            }
        }
        return out
    }

    /// Compact JSON of configurations in the shape they decode from (NVD's keys), written by
    /// hand: an NVD import stores one per CVE, and `JSONEncoder` cost more than the rest of
    /// the record's import.
    public static func json(_ configurations: [CPEConfiguration]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func append(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        func string(_ s: String) {
            out.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0..<0x20:
                    append("\\u00")
                    out.append(Array("0123456789abcdef".utf8)[Int(b >> 4)])
                    out.append(Array("0123456789abcdef".utf8)[Int(b & 0xF)])
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        func optional(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            append(",\"")
            append(key)
            append("\":")
            string(value)
        }
        append("[")
        for (ci, c) in configurations.enumerated() {
            if ci > 0 { append(",") }
            append("{\"operator\":")
            append(c.op == .and ? "\"AND\"" : "\"OR\"")
            append(c.negate ? ",\"negate\":true,\"nodes\":[" : ",\"negate\":false,\"nodes\":[")
            for (ni, n) in c.nodes.enumerated() {
                if ni > 0 { append(",") }
                append("{\"operator\":")
                append(n.op == .and ? "\"AND\"" : "\"OR\"")
                append(n.negate ? ",\"negate\":true,\"cpeMatch\":[" : ",\"negate\":false,\"cpeMatch\":[")
                for (mi, m) in n.matches.enumerated() {
                    if mi > 0 { append(",") }
                    append(m.vulnerable ? "{\"vulnerable\":true,\"criteria\":" : "{\"vulnerable\":false,\"criteria\":")
                    string(m.criteria)
                    optional("versionStartIncluding", m.versionStartIncluding)
                    optional("versionStartExcluding", m.versionStartExcluding)
                    optional("versionEndIncluding", m.versionEndIncluding)
                    optional("versionEndExcluding", m.versionEndExcluding)
                    append("}")
                }
                append("]}")
            }
            append("]}")
        }
        append("]")
        return out
    }
}

public enum CPEOperator: String, Sendable, Hashable, Codable {
    case and = "AND"
    case or = "OR"

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = raw.uppercased() == "AND" ? .and : .or
    }
}

public struct CPENode: Sendable, Hashable, Codable {
    public var op: CPEOperator
    public var negate: Bool
    public var matches: [CPEMatchCriterion]

    public init(op: CPEOperator = .or, negate: Bool = false, matches: [CPEMatchCriterion]) {
        self.op = op
        self.negate = negate
        self.matches = matches
    }

    enum CodingKeys: String, CodingKey {
        case op = "operator", negate, matches = "cpeMatch"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        op = try c.decodeIfPresent(CPEOperator.self, forKey: .op) ?? .or
        negate = try c.decodeIfPresent(Bool.self, forKey: .negate) ?? false
        matches = try c.decodeIfPresent([CPEMatchCriterion].self, forKey: .matches) ?? []
    }
}

/// One `cpeMatch[]` element: a CPE name, whether software it names is vulnerable (rather than
/// the platform it must run on), and an optional version range.
public struct CPEMatchCriterion: Sendable, Hashable, Codable {
    public var vulnerable: Bool
    public var criteria: String
    public var versionStartIncluding: String?
    public var versionStartExcluding: String?
    public var versionEndIncluding: String?
    public var versionEndExcluding: String?

    public init(
        vulnerable: Bool, criteria: String, versionStartIncluding: String? = nil, versionStartExcluding: String? = nil,
        versionEndIncluding: String? = nil, versionEndExcluding: String? = nil
    ) {
        self.vulnerable = vulnerable
        self.criteria = criteria
        self.versionStartIncluding = versionStartIncluding
        self.versionStartExcluding = versionStartExcluding
        self.versionEndIncluding = versionEndIncluding
        self.versionEndExcluding = versionEndExcluding
    }

    var hasRange: Bool {
        versionStartIncluding != nil || versionStartExcluding != nil || versionEndIncluding != nil || versionEndExcluding != nil
    }

    /// Whether the criterion covers `candidate`. A candidate whose version is unknown (ANY)
    /// is covered by the name alone, which is how platforms (an OS whose exact release is
    /// not known) are compared; software being matched always has its version.
    func covers(_ candidate: CPEName, criterion: CPEName) -> Bool {
        guard criterion.coversAttributes(of: candidate, exceptVersion: true) else { return false }
        let v = candidate.version
        if v == CPEName.any { return true }
        let c = criterion.version
        if c != CPEName.any && c != CPEName.notApplicable {
            let equal = c.contains("*") || c.contains("?") ? CPEName.glob(c, matches: v) : CPEVersion.compare(c, v) == 0
            if !equal { return false }
        } else if c == CPEName.notApplicable && !hasRange {
            return v == CPEName.notApplicable
        }
        if let s = versionStartIncluding, CPEVersion.compare(v, s) < 0 { return false }
        if let s = versionStartExcluding, CPEVersion.compare(v, s) <= 0 { return false }
        if let e = versionEndIncluding, CPEVersion.compare(v, e) > 0 { return false }
        if let e = versionEndExcluding, CPEVersion.compare(v, e) >= 0 { return false }
        return true
    }
}

/// A vendor and product, the key NVD's criteria are looked up by.
public struct CPEProduct: Sendable, Hashable, Comparable {
    public var vendor: String
    public var product: String

    public init(vendor: String, product: String) {
        self.vendor = vendor
        self.product = product
    }

    public static func < (a: Self, b: Self) -> Bool { (a.vendor, a.product) < (b.vendor, b.product) }

    /// The vendor and product of a CPE 2.3 formatted string, lower-cased and unescaped, read
    /// from its bytes (the import does this for every criterion of every CVE); nil when it is
    /// not one. Equal to ``CPEName``'s.
    public init?(criteria: String) {
        var fields: [[UInt8]] = [[], [], [], [], []]
        var field = 0
        var escaped = false
        for b in criteria.utf8 {
            if escaped {
                fields[field].append(b)
                escaped = false
            } else if b == UInt8(ascii: "\\") {
                escaped = true
            } else if b == UInt8(ascii: ":") {
                field += 1
                if field == 5 { break }
            } else {
                fields[field].append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            }
        }
        guard field == 5, fields[0] == Array("cpe".utf8), fields[1] == Array("2.3".utf8) else { return nil }
        vendor = String(decoding: fields[3], as: UTF8.self)
        product = String(decoding: fields[4], as: UTF8.self)
    }
}

/// The outcome of evaluating a CVE's configurations for one piece of software.
public struct CPEEvaluation: Sendable, Hashable {
    /// The vulnerable criteria that covered the software, in configurations that hold.
    public var criteria: [CPEMatchCriterion]

    /// The smallest `versionEndExcluding` among them above the version (the first fixed
    /// release); nil when any covering criterion gives no end (no known fix for it).
    public func fixedVersion(above version: String) -> String? {
        var best: String?
        for c in criteria {
            guard let end = c.versionEndExcluding, CPEVersion.compare(end, version) > 0 else { return nil }
            if best.map({ CPEVersion.compare(end, $0) < 0 }) ?? true { best = end }
        }
        return best
    }
}

extension CPEConfiguration {
    /// Evaluates the configurations of one CVE for `software` (a CPE with its version) in an
    /// environment (`platform`: the image's operating system, the Linux kernel it runs on,
    /// the other software found in it). A configuration holds when its node logic is true
    /// with each criterion tested against the software and the platform; the software is
    /// affected when a configuration holds through a vulnerable criterion that covers the
    /// software itself (a criterion covering only something else in the image does not
    /// make this software vulnerable). Nil when no configuration affects it.
    public static func evaluate(_ configurations: [CPEConfiguration], software: CPEName, platform: [CPEName]) -> CPEEvaluation? {
        var hits: [CPEMatchCriterion] = []
        for config in configurations {
            var own: [CPEMatchCriterion] = []
            func node(_ n: CPENode) -> Bool {
                var result = n.op == .and
                for m in n.matches {
                    guard let criterion = CPEName(m.criteria) else {
                        if n.op == .and { result = false }
                        continue
                    }
                    let coversSoftware = m.covers(software, criterion: criterion)
                    if m.vulnerable && coversSoftware && !n.negate { own.append(m) }
                    let present = coversSoftware || platform.contains { m.covers($0, criterion: criterion) }
                    if n.op == .and { result = result && present } else { result = result || present }
                }
                return n.negate ? !result : result
            }
            var holds = config.op == .and
            for n in config.nodes {
                let r = node(n)
                if config.op == .and { holds = holds && r } else { holds = holds || r }
            }
            if config.negate { holds = !holds }
            if holds && !own.isEmpty { hits += own }
        }
        return hits.isEmpty ? nil : CPEEvaluation(criteria: hits)
    }

    /// The platform of an image for CPE configurations: its distribution as NVD names it
    /// (release known when os-release gives one) and the Linux kernel every container runs on.
    public static func platform(os: OSInfo?) -> [CPEName] {
        var names = ["cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*"]
        if let os {
            let release = os.version.map(cpeValue) ?? "*"
            let products: [String: String] = [
                "debian": "debian:debian_linux", "ubuntu": "canonical:ubuntu_linux", "alpine": "alpinelinux:alpine_linux",
                "rhel": "redhat:enterprise_linux", "centos": "centos:centos", "fedora": "fedoraproject:fedora",
                "rocky": "rocky:rocky_linux", "almalinux": "almalinux:almalinux", "amzn": "amazon:linux",
                "opensuse-leap": "opensuse:leap", "sles": "suse:linux_enterprise_server", "ol": "oracle:linux",
            ]
            if let p = products[os.family.lowercased()] {
                names.append("cpe:2.3:o:\(p):\(release):*:*:*:*:*:*:*")
            }
        }
        return names.compactMap(CPEName.init)
    }

    static func cpeValue(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") { out.append(c) } else { out += "\\\(c)" }
        }
        return out
    }
}
