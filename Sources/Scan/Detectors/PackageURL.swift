/// Builds package URLs (https://github.com/package-url/purl-spec), percent-encoding each
/// component: everything but ASCII letters, digits and `.-_~` is encoded (so `@` in an npm
/// scope is `%40`, `+` in a Debian version is `%2B`); `:` is left alone in versions, as
/// the spec allows, so epochs stay readable.
public enum PackageURL {
    public static func make(
        type: String, namespace: String? = nil, name: String, version: String?, qualifiers: [(String, String)] = []
    ) -> String {
        var result = "pkg:" + type + "/"
        if let namespace, !namespace.isEmpty {
            let segments = namespace.split(separator: "/").map { encode($0, keepColon: false) }
            result += segments.joined(separator: "/") + "/"
        }
        result += encode(name, keepColon: false)
        if let version, !version.isEmpty {
            result += "@" + encode(version, keepColon: true)
        }
        let present = qualifiers.filter { !$0.1.isEmpty }.sorted { $0.0 < $1.0 }
        if !present.isEmpty {
            result += "?" + present.map { $0.0 + "=" + encode($0.1, keepColon: true) }.joined(separator: "&")
        }
        return result
    }

    static func encode(_ text: some StringProtocol, keepColon: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: ":") where keepColon:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The purl of an OS package, given the image's OS (qualifiers `arch`, `distro`, `epoch`).
    static func osPackage(_ package: InstalledPackage, os: OSInfo?, arch: String?, epoch: String? = nil) -> String {
        let namespace: String
        switch package.type {
        case .deb: namespace = os?.family ?? "debian"
        case .apk: namespace = os?.family ?? "alpine"
        case .rpm: namespace = os.map { $0.family == "rhel" ? "redhat" : $0.family } ?? "redhat"
        default: namespace = ""
        }
        var qualifiers: [(String, String)] = []
        if let arch { qualifiers.append(("arch", arch)) }
        if let os {
            qualifiers.append(("distro", os.version.map { "\(os.family)-\($0)" } ?? os.family))
        }
        if let epoch, epoch != "0" { qualifiers.append(("epoch", epoch)) }
        let version = package.type == .rpm ? rpmVersionWithoutEpoch(package.version) : package.version
        return make(type: package.type.rawValue, namespace: namespace, name: package.name, version: version, qualifiers: qualifiers)
    }

    private static func rpmVersionWithoutEpoch(_ version: String) -> String {
        guard let colon = version.firstIndex(of: ":") else { return version }
        return String(version[version.index(after: colon)...])
    }
}
