import Foundation
import Testing

@testable import Scan

// Real parts: Debian's ruby (rubygems' own gemspecs, Ruby's default gems, the
// rubygems-integration directories, two real Gemfile.lock files), read with rubygems and
// bundler themselves as the oracle; real jars from Debian's lib*-java packages, named by syft
// too (scripts/install-deps.sh installs them all).

private let gemDirectories = [
    "/usr/lib/ruby/gems/3.1.0/specifications",
    "/usr/lib/ruby/gems/3.1.0/specifications/default",
    "/usr/share/rubygems-integration/all/specifications",
    "/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications",
]

/// rubygems' own reading of every gemspec in `directories`: "path\tname\tversion" lines.
private func rubygemsOracle(_ directories: [String]) throws -> [String: (name: String, version: String)] {
    let script = #"ARGV.each { |d| Dir[File.join(d, "*.gemspec")].sort.each { |f| s = Gem::Specification.load(f); puts [f, s.name, s.version].join("\t") } }"#
    let out = try Shell.run("ruby -e '\(script)' " + directories.map { "'\($0)'" }.joined(separator: " "))
    var result: [String: (name: String, version: String)] = [:]
    for line in String(decoding: out, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: "\t").map(String.init)
        if fields.count == 3 { result[fields[0]] = (fields[1], fields[2]) }
    }
    return result
}

/// bundler's own reading of a lock file: the specs from a gem server, "name version".
private func bundlerOracle(_ lock: [UInt8]) throws -> [String] {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-lock-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    try Data().write(to: work.appendingPathComponent("Gemfile"))
    try Data(lock).write(to: work.appendingPathComponent("Gemfile.lock"))
    let script = ##"Bundler::LockfileParser.new(File.read("Gemfile.lock")).specs.each { |s| puts "#{s.name} #{s.version}" if s.source.is_a?(Bundler::Source::Rubygems) }"##
    let out = try Shell.run("cd '\(work.path)' && ruby -rbundler -e '\(script)'")
    return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init).sorted()
}

@Suite struct RubyGemDetectorTests {
    @Test("every gemspec Debian's ruby installs is read as rubygems reads it, default gems included")
    func realGemspecsAgreeWithRubygems() async throws {
        let oracle = try rubygemsOracle(gemDirectories)
        #expect(oracle.count >= 85, "Debian's ruby installs ~91 gemspecs; found \(oracle.count)")
        #expect(oracle.keys.filter { $0.contains("/specifications/default/") }.count >= 60)
        let detector = RubyGemDetector()
        for (path, expected) in oracle {
            let relative = String(path.dropFirst())
            #expect(detector.interest(in: relative, size: 1, executable: false) == .metadata, "\(relative)")
            let result = try detector.detect(path: relative, contents: try HostFiles.read(path))
            #expect(result.packages.map { "\($0.name) \($0.version) \($0.purl)" } == [
                "\(expected.name) \(expected.version) pkg:gem/\(expected.name)@\(expected.version)",
            ], "\(path)")
        }
        // The whole set in one layer: one package per file, `cgi` and `uri` among them.
        let inventory = try await analyzeOneLayer { tar in
            for path in oracle.keys.sorted() { tar.file(String(path.dropFirst()), try HostFiles.read(path)) }
        }.inventory
        #expect(inventory.packages.count == oracle.count)
        let cgi = try #require(oracle.first { $0.value.name == "cgi" })
        #expect(inventory.packages.contains { $0.name == "cgi" && $0.version == cgi.value.version && $0.path == String(cgi.key.dropFirst()) })
        #expect(inventory.packages.contains { $0.name == "uri" && $0.path?.contains("/specifications/default/") == true })
    }

    @Test("two installed versions of one gem are two packages; gemspecs outside specifications/ are not read")
    func twoVersionsAndPaths() async throws {
        let original = try HostFiles.read("/usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec")
        // The newer version as rubygems itself writes it (Specification#to_ruby).
        let newer = try Shell.run(
            #"ruby -e 's = Gem::Specification.load("/usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec"); s.version = "0.3.6"; puts s.to_ruby'"#)
        let result = try await analyzeOneLayer {
            $0.file("usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec", original)
            $0.file("var/lib/gems/3.1.0/specifications/cgi-0.3.6.gemspec", newer)
            // A gem's source gemspec and a cache copy are not installed gems.
            $0.file("var/lib/gems/3.1.0/gems/cgi-0.3.6/cgi.gemspec", newer)
            $0.file("usr/lib/ruby/gems/3.1.0/specifications/default/nested/cgi-9.gemspec", newer)
        }
        #expect(result.inventory.packages.map(\.purl) == ["pkg:gem/cgi@0.3.5", "pkg:gem/cgi@0.3.6"])
        #expect(result.inventory.packages.map(\.path) == [
            "usr/lib/ruby/gems/3.1.0/specifications/default/cgi-0.3.5.gemspec", "var/lib/gems/3.1.0/specifications/cgi-0.3.6.gemspec",
        ])
    }

    @Test("gemspec forms rubygems has written, and Ruby code that is not a literal")
    func gemspecForms() throws {
        func parse(_ text: String) -> String {
            do {
                let spec = try RubyGemDetector.parseGemspec(Array(text.utf8), path: "x.gemspec")
                return "\(spec.name) \(spec.version)"
            } catch {
                return "error: \(error)"
            }
        }
        #expect(parse("Gem::Specification.new do |s|\n  s.name = %q{rake}\n  s.version = \"0.8.7\"\nend\n") == "rake 0.8.7")
        #expect(parse("Gem::Specification.new do |spec|\n  spec.name = 'json'.freeze\n  spec.version = Gem::Version.new(\"2.6.1\")\nend") == "json 2.6.1")
        #expect(parse("# stub: cgi 0.3.5 ruby lib\nGem::Specification.new do |s|\n  s.name = NAME\n  s.version = VERSION\nend") == "cgi 0.3.5")
        #expect(parse("s.name = \"x\"\r\ns.version = \"1.0\"\r\n") == "x 1.0")
        // Never evaluated: interpolation, escapes, constants, method calls are not names.
        #expect(parse("s.name = \"#{`id`}\"\ns.version = \"1\"").hasPrefix("error: x.gemspec: no literal name/version"))
        #expect(parse("s.name = \"a\\\"b\"\ns.version = \"1\"").hasPrefix("error:"))
        #expect(parse("s.name = File.read('/etc/passwd')\ns.version = \"1\"").hasPrefix("error:"))
        #expect(parse("s.name = \"a b\"\ns.version = \"1\"") == "error: x.gemspec: gem name \"a b\" is not a gem name")
        #expect(parse("s.name = \"ok\"\ns.version = \"v1\"") == "error: x.gemspec: gem version \"v1\" is not a gem version")
        #expect(parse("s.required_rubygems_version = \"1\"\ns.rubygems_version = \"3\"").hasPrefix("error:"))
        // Binary garbage and a huge one-line file: an error, no crash.
        #expect(parse(String(decoding: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }, as: UTF8.self)).hasPrefix("error:"))
        #expect(parse("s.name = \"" + String(repeating: "a", count: 1 << 20)).hasPrefix("error:"))
        #expect(parse(String(repeating: "\n", count: 1000) + "s.name = \"late\"\ns.version = \"1\"").hasPrefix("error:"))
    }

    @Test("Gemfile.lock: the GEM specs as bundler reads them, PATH/GIT and versionless specs noted, gem-source locks skipped")
    func gemfileLocks() async throws {
        let typeprof = try HostFiles.read("/usr/lib/ruby/gems/3.1.0/gems/typeprof-0.21.2/Gemfile.lock")
        let steep = try HostFiles.read("/usr/lib/ruby/gems/3.1.0/gems/rbs-2.1.0/steep/Gemfile.lock")
        let app = """
            GIT
              remote: https://github.com/example/pinned.git
              revision: 0123456789abcdef0123456789abcdef01234567
              specs:
                pinned (0.1.0)

            PATH
              remote: engines/billing
              specs:
                billing (1.0.0)
                  rack (>= 2)

            GEM
              remote: https://rubygems.org/
              specs:
                nokogiri (1.15.4-x86_64-linux)
                  racc (~> 1.4)
                rack (2.2.8)
                racc (1.7.1)

            PLATFORMS
              x86_64-linux

            DEPENDENCIES
              billing!
              nokogiri
              pinned!

            BUNDLED WITH
               2.4.19

            """
        for lock in [typeprof, steep, Array(app.utf8)] {
            let result = GemfileLock.detect(path: "srv/app/Gemfile.lock", contents: lock)
            #expect(result.packages.map { "\($0.name) \($0.version)" }.sorted() == (try bundlerOracle(lock)))
            #expect(result.packages.allSatisfy { $0.path == "srv/app/Gemfile.lock" && $0.purl == "pkg:gem/\($0.name)@\($0.version)" })
        }
        let appResult = GemfileLock.detect(path: "srv/app/Gemfile.lock", contents: Array(app.utf8))
        #expect(appResult.packages.map(\.purl) == ["pkg:gem/nokogiri@1.15.4", "pkg:gem/rack@2.2.8", "pkg:gem/racc@1.7.1"])
        #expect(appResult.notes == ["srv/app/Gemfile.lock: 2 gem(s) from PATH/GIT sources not reported (not from a gem server): pinned, billing"])
        let bare = GemfileLock.detect(path: "a/Gemfile.lock", contents: Array("GEM\n  specs:\n    bare\n    ok (1.0)\n    (weird) (1)\n".utf8))
        #expect(bare.packages.map(\.purl) == ["pkg:gem/ok@1.0"])
        #expect(bare.notes == [
            "a/Gemfile.lock: 1 gem(s) without a version skipped: bare",
            "a/Gemfile.lock: 1 spec line(s) that are not a gem name and version skipped",
        ])
        // In an image: the app's lock is read; the lock files in installed gems' sources are not.
        let merged = try await analyzeOneLayer {
            $0.file("srv/app/Gemfile.lock", app)
            $0.file("usr/lib/ruby/gems/3.1.0/gems/typeprof-0.21.2/Gemfile.lock", typeprof)
            $0.file("usr/lib/ruby/gems/3.1.0/gems/rbs-2.1.0/steep/Gemfile.lock", steep)
        }
        #expect(merged.inventory.packages.count == 3)
        #expect(merged.notes.filter { $0.contains("development lock file of the installed gem") }.count == 2)
    }
}

/// One real jar's expected naming, and syft's.
private struct JarCase: Sendable {
    var path: String
    var purl: String
    var evidence: String
    var syft: String?
}

private let jarCases: [JarCase] = [
    // libcommons-logging-java 1.2-3: no pom.properties, MANIFEST with Implementation-Vendor-Id
    // org.apache and Bundle-SymbolicName org.apache.commons.logging.
    JarCase(path: "/usr/share/java/commons-logging-1.2.jar", purl: "pkg:maven/org.apache.commons/commons-logging@1.2",
            evidence: "MANIFEST.MF", syft: "pkg:maven/org.apache/logging@1.2"),
    JarCase(path: "/usr/share/java/commons-logging-api-1.2.jar", purl: "pkg:maven/org.apache.commons/commons-logging-api@1.2",
            evidence: "MANIFEST.MF", syft: "pkg:maven/org.apache/logging@1.2"),
    JarCase(path: "/usr/share/java/commons-logging-adapters-1.2.jar",
            purl: "pkg:maven/org.apache.commons/commons-logging-adapters@1.2", evidence: "MANIFEST.MF",
            syft: "pkg:maven/org.apache/logging@1.2"),
    // libmongodb-java 3.6.3-2: OSGi names only.
    JarCase(path: "/usr/share/java/bson-3.6.3.jar", purl: "pkg:maven/org.mongodb/bson@3.6.3", evidence: "MANIFEST.MF",
            syft: "pkg:maven/org.mongodb.bson/bson@3.6.3"),
    JarCase(path: "/usr/share/java/mongo-java-driver-3.6.3.jar", purl: "pkg:maven/org.mongodb/mongo-java-driver@3.6.3",
            evidence: "MANIFEST.MF", syft: "pkg:maven/org.mongodb.mongo-java-driver/mongo-java-driver@3.6.3"),
    JarCase(path: "/usr/share/java/mongodb-driver-async-3.6.3.jar", purl: "pkg:maven/org.mongodb/mongodb-driver-async@3.6.3",
            evidence: "MANIFEST.MF", syft: "pkg:maven/org.mongodb.driver-async/mongodb-driver-async@3.6.3"),
    JarCase(path: "/usr/share/java/mongodb-driver-core-3.6.3.jar", purl: "pkg:maven/org.mongodb/mongodb-driver-core@3.6.3",
            evidence: "MANIFEST.MF", syft: "pkg:maven/org.mongodb.driver-core/mongodb-driver-core@3.6.3"),
    // No MANIFEST name or version at all: the file name.
    JarCase(path: "/usr/share/java/mongodb-driver-3.6.3.jar", purl: "pkg:maven/mongodb-driver@3.6.3", evidence: "filename",
            syft: "pkg:maven/mongodb-driver/mongodb-driver@3.6.3"),
    // With pom.properties (libcommons-lang3-java, libslf4j-java): both agree.
    JarCase(path: "/usr/share/java/commons-lang3.jar", purl: "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
            evidence: "pom.properties", syft: "pkg:maven/org.apache.commons/commons-lang3@3.12.0"),
    JarCase(path: "/usr/share/java/slf4j-api.jar", purl: "pkg:maven/org.slf4j/slf4j-api@1.7.32", evidence: "pom.properties",
            syft: "pkg:maven/org.slf4j/slf4j-api@1.7.32"),
]

/// syft's purl per file name for every jar in `directory`.
private func syftNames(_ directory: URL) throws -> [String: [String]] {
    let out = try Shell.run("SYFT_CHECK_FOR_APP_UPDATE=false syft scan 'dir:\(directory.path)' -o syft-json -q")
    let json = try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any]
    var result: [String: [String]] = [:]
    for artifact in json?["artifacts"] as? [[String: Any]] ?? [] {
        guard artifact["type"] as? String == "java-archive", let purl = artifact["purl"] as? String,
            let location = (artifact["locations"] as? [[String: Any]])?.first?["path"] as? String
        else { continue }
        result[(location as NSString).lastPathComponent, default: []].append(purl)
    }
    return result
}

@Suite struct MavenNamingTests {
    @Test("real Debian jars: evidence order, names that can match Maven advisories, compared with syft")
    func realJarsTable() throws {
        let detector = JavaArchiveDetector()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-jars-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        for jar in jarCases {
            let bytes = try HostFiles.read(jar.path)
            try Data(bytes).write(to: work.appendingPathComponent((jar.path as NSString).lastPathComponent))
            let result = try detector.detect(path: String(jar.path.dropFirst()), contents: bytes)
            #expect(result.packages.map(\.purl) == [jar.purl], "\(jar.path)")
            #expect(result.packages.map(\.evidence) == [jar.evidence], "\(jar.path)")
            for package in result.packages {
                #expect(!package.name.contains(" ") && !package.purl.contains(" ") && !package.purl.contains("%20"))
                // The matcher's Maven name is the advisory key `group:artifact`.
                let parts = package.purl.dropFirst("pkg:maven/".count).split(separator: "@")[0].split(separator: "/")
                #expect(VulnerabilityMatcher.mavenName(package) == parts.joined(separator: ":"))
            }
        }
        // syft on the same files, run here: the table's syft column is what it answers today.
        let syft = try syftNames(work)
        for jar in jarCases {
            let file = (jar.path as NSString).lastPathComponent
            #expect(syft[file] == jar.syft.map { [$0] }, "syft on \(file): \(syft[file] ?? [])")
        }
    }

    @Test("pom.xml names a jar whose pom.properties is gone; the MANIFEST gives a version pom.xml leaves to a property")
    func pomXMLEvidence() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-pomxml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // Debian's commons-lang3.jar rewritten without its pom.properties (Python's zipfile).
        let jar = try Shell.run(
            """
            cd '\(work.path)' && python3 -c "
            import zipfile
            with zipfile.ZipFile('/usr/share/java/commons-lang3.jar') as src, zipfile.ZipFile('x.jar', 'w', zipfile.ZIP_DEFLATED) as dst:
                for i in src.infolist():
                    if not i.filename.endswith('pom.properties'):
                        dst.writestr(i, src.read(i))
            " && cat x.jar
            """)
        let result = try JavaArchiveDetector().detect(path: "opt/x.jar", contents: Array(jar))
        #expect(result.packages.map(\.purl) == ["pkg:maven/org.apache.commons/commons-lang3@3.12.0"])
        #expect(result.packages.map(\.evidence) == ["pom.xml"])

        let pom = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment <artifactId>no</artifactId> -->
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <parent><groupId>org.example</groupId><artifactId>parent</artifactId><version>2.0</version></parent>
              <artifactId>child</artifactId>
              <dependencies><dependency><groupId>x</groupId><artifactId>y</artifactId><version>9</version></dependency></dependencies>
            </project>
            """
        #expect(MavenNaming.pomXML(pom, directory: "org.example/child").success == .init(group: "org.example", artifact: "child", version: "2.0"))
        let revision = pom.replacing("<artifactId>child</artifactId>", with: "<artifactId>child</artifactId><version>${revision}</version>")
        #expect(MavenNaming.pomXML(revision, directory: "org.example/child").success == .init(group: "org.example", artifact: "child", version: nil))
        // Entities are never expanded; malformed and too deep documents are refused.
        #expect(MavenNaming.pomXML("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><project><groupId>&e;</groupId></project>", directory: "a/b").success == nil)
        #expect(MavenNaming.pomXML("<project><groupId>g</artifactId></project>", directory: "a/b").success == nil)
        #expect(MavenNaming.pomXML(String(repeating: "<a>", count: 100_000), directory: "a/b").success == nil)
        #expect(MavenNaming.pomXML("<project><groupId>g", directory: "a/b").success?.group == "a")

        // The real pom.xml, truncated and bit-flipped: a result or a refusal, never a crash.
        let real = try Shell.run("unzip -p /usr/share/java/commons-lang3.jar META-INF/maven/org.apache.commons/commons-lang3/pom.xml")
        #expect(MavenNaming.pomXML(String(decoding: real, as: UTF8.self), directory: "org.apache.commons/commons-lang3").success
            == .init(group: "org.apache.commons", artifact: "commons-lang3", version: "3.12.0"))
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            var bytes = Array(real.prefix(Int.random(in: 0...real.count, using: &generator)))
            for _ in 0..<(round % 16) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "/"), 0xFF][round % 4]
            }
            _ = MavenNaming.pomXML(String(decoding: bytes, as: UTF8.self), directory: "a/b")
        }
    }

    @Test("MANIFEST and file-name naming: never a space, evidence recorded")
    func manifestAndFileName() {
        func name(_ manifest: [String: String], _ file: String) -> String {
            guard let c = MavenNaming.fromManifest(manifest, fileStem: MavenNaming.fileStem(file)) else { return "-" }
            return "\(c.group):\(c.artifact)@\(c.version ?? "")"
        }
        #expect(name(["Bundle-SymbolicName": "org.mongodb.bson", "Bundle-Version": "3.6.3"], "x/bson-3.6.3.jar") == "org.mongodb:bson@3.6.3")
        #expect(name(["Bundle-SymbolicName": "com.example.core;singleton:=true", "Bundle-Version": "1.0"], "lib.jar") == "com.example:core@1.0")
        #expect(name(["Implementation-Title": "Commons Logging", "Implementation-Vendor-Id": "org.apache", "Implementation-Version": "1.2"],
                     "commons-logging-1.2.jar") == "org.apache:commons-logging@1.2")
        #expect(name(["Implementation-Title": "Commons Logging", "Implementation-Version": "1.2"], "app.jar") == "-")
        #expect(name(["Implementation-Title": "shop", "Implementation-Version": "3.1"], "app.war") == ":shop@3.1")
        #expect(name(["Bundle-SymbolicName": "org.x.y"], "y-1.jar") == "-")  // no version in the MANIFEST
        // The symbolic name is the artifact with dots (libslf4j-java's jars without their pom.properties).
        #expect(name(["Bundle-SymbolicName": "jcl.over.slf4j", "Bundle-Version": "1.7.32"], "jcl-over-slf4j.jar") == ":jcl-over-slf4j@1.7.32")
        #expect(name(["Bundle-SymbolicName": "slf4j.api", "Bundle-Version": "1.7.32", "Implementation-Vendor-Id": "org.slf4j"], "slf4j-api.jar")
            == "org.slf4j:slf4j-api@1.7.32")
        #expect(MavenNaming.fileStem("a/b.war!/WEB-INF/lib/spring-core-5.3.9.jar") == .init(artifact: "spring-core", version: "5.3.9"))
        #expect(MavenNaming.fileStem("guava.jar") == .init(artifact: "guava", version: nil))
        #expect(MavenNaming.fileStem("my lib-1.0.jar") == nil)
        // purl spec, maven type: namespace = groupId, name = artifactId, each percent-encoded.
        #expect(PackageURL.make(type: "maven", namespace: "org.apache.commons", name: "commons-lang3", version: "3.12.0")
            == "pkg:maven/org.apache.commons/commons-lang3@3.12.0")
        #expect(PackageURL.make(type: "maven", namespace: "org.example", name: "a_b", version: "1.0+build")
            == "pkg:maven/org.example/a_b@1.0%2Bbuild")
    }

    @Test("a jar whose only names have spaces and whose file name has no version is noted, not named")
    func unnamedJar() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hg-unnamed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let jar = try Shell.run(
            """
            cd '\(work.path)' && python3 -c "
            import zipfile
            with zipfile.ZipFile('x.jar', 'w') as z:
                z.writestr('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\\r\\nImplementation-Title: My Tool\\r\\n\\r\\n')
            " && cat x.jar
            """)
        let result = try JavaArchiveDetector().detect(path: "opt/tool.jar", contents: Array(jar))
        #expect(result.packages.isEmpty)
        #expect(result.notes == ["opt/tool.jar: no pom.properties, pom.xml, MANIFEST or file name gives a Maven name and version"])
    }
}

extension Result {
    fileprivate var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
