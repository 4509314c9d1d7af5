/// Applies analysed layers in order, as an overlay filesystem would, to get an image's inventory.
public enum ImageAnalyzer {
    /// The merged inventory plus the notes of the findings that survived and of every layer.
    public struct Result: Sendable, Hashable {
        public var inventory: ImageInventory
        public var notes: [String]
    }

    /// Applies `layers` (lowest first) with whiteouts and opaque directories; each package is
    /// attributed to the first layer from which its database kept listing it, unbroken, up
    /// to the final image (a database deleted and re-added restarts the count).
    public static func merge(layers: [(digest: String, analysis: LayerAnalysis)]) -> ImageInventory {
        mergeWithNotes(layers: layers).inventory
    }

    public static func mergeWithNotes(layers: [(digest: String, analysis: LayerAnalysis)]) -> Result {
        // For each surviving file with a finding: its versions, one per layer that wrote it.
        var history: [String: [(layer: Int, finding: FileFinding)]] = [:]
        var notes: [String] = []
        for (index, layer) in layers.enumerated() {
            let analysis = layer.analysis
            let hidden = Set(analysis.whiteouts + analysis.replacedPaths)
            let opaque = Set(analysis.opaqueDirectories)
            if !hidden.isEmpty || !opaque.isEmpty {
                // A lower file goes if it or one of its directories was whited out or replaced
                // by a non-directory, or if one of its directories was made opaque.
                for path in Array(history.keys) where Self.ancestors(of: path, hidden: hidden, opaque: opaque) {
                    history[path] = nil
                }
            }
            for finding in analysis.findings {
                history[finding.path, default: []].append((index, finding))
            }
            notes += analysis.notes.map { "layer \(layer.digest): \($0)" }
        }

        var os: OSInfo?
        for path in ["etc/os-release", "usr/lib/os-release"] {
            if let current = history[path]?.last?.finding.result.os {
                os = current
                break
            }
        }
        // Files the OS package databases of the final image own: a runtime there is reported
        // by its OS package, not again from its binary.
        var owned: Set<String> = []
        for (_, versions) in history {
            if let files = versions.last?.finding.result.ownedFiles { owned.formUnion(files) }
        }
        var packages: [InstalledPackage] = []
        for (_, versions) in history {
            guard let current = versions.last else { continue }
            let keysByVersion = versions.map { version in
                Set(version.finding.result.packages.map(Self.key))
            }
            for var package in current.finding.result.packages {
                if package.type == .binary, package.evidence != nil, let path = package.path, owned.contains(path) { continue }
                let key = Self.key(package)
                var first = versions.count - 1
                while first > 0, keysByVersion[first - 1].contains(key) { first -= 1 }
                package.layer = layers[versions[first].layer].digest
                if [.deb, .apk, .rpm].contains(package.type) {
                    let qualifiers = Self.qualifiers(of: package.purl)
                    package.purl = PackageURL.osPackage(package, os: os, arch: qualifiers["arch"], epoch: qualifiers["epoch"])
                }
                packages.append(package)
            }
            notes += current.finding.result.notes
        }
        packages.sort {
            ($0.type.rawValue, $0.name, $0.version, $0.path ?? "") < ($1.type.rawValue, $1.name, $1.version, $1.path ?? "")
        }
        return Result(inventory: ImageInventory(os: os, packages: packages), notes: notes)
    }

    private static func ancestors(of path: String, hidden: Set<String>, opaque: Set<String>) -> Bool {
        if hidden.contains(path) { return true }
        var directory = TarPath.parent(path)
        while true {
            if hidden.contains(directory) || opaque.contains(directory) { return true }
            if directory.isEmpty { return false }
            directory = TarPath.parent(directory)
        }
    }

    private static func key(_ package: InstalledPackage) -> String {
        "\(package.type.rawValue)\u{0}\(package.name)\u{0}\(package.version)"
    }

    private static func qualifiers(of purl: String) -> [String: String] {
        guard let question = purl.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in purl[purl.index(after: question)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { result[String(parts[0])] = (String(parts[1]).removingPercentEncodingLite) }
        }
        return result
    }
}

extension String {
    /// Decodes `%XX` escapes (the purl qualifiers this module wrote itself).
    var removingPercentEncodingLite: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
