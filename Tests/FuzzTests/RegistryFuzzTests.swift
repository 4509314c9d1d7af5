import PropertyBased
import Testing

@testable import Registry

private func isASCII(_ s: String) -> Bool { s.utf8.allSatisfy { $0 < 0x80 } }

@Suite("Fuzz: image references and WWW-Authenticate")
struct RegistryFuzzTests {
    // MARK: image references

    @Test("arbitrary strings: a reference parses to ASCII parts and re-parses from its description")
    func referenceArbitrary() {
        let input = Gen<Int>.int(in: 0...3).map { $0 }
        let strings = Gens.mixed("abz09.-_/:@[]ABsha256ef:localhost", 0...80, wildRate: 6)
        FuzzRun.run("reference.arbitrary", count: 2500, zip(strings, input)) { pair, run in
            let (raw, style) = pair
            // Bias some inputs towards the grammar so the later checks are reached.
            let text = switch style {
            case 0: raw
            case 1: "127.0.0.1:5000/" + raw
            case 2: raw + "@sha256:" + String(repeating: "ab", count: 32)
            default: "team/" + raw + ":v1"
            }
            let reference: ImageReference
            do { reference = try ImageReference(text) } catch { return }
            run.check(isASCII(reference.registry), "non-ASCII registry host \(reference.registry.debugDescription) from \(text.debugDescription)")
            run.check(isASCII(reference.repository.name), "non-ASCII repository from \(text.debugDescription)")
            run.check(reference.tag != nil || reference.digest != nil, "neither tag nor digest from \(text.debugDescription)")
            do {
                let again = try ImageReference(reference.description)
                run.check(again == reference, "\(text.debugDescription) → \(reference) → \(again)")
            } catch {
                run.check(false, "\(text.debugDescription) parsed to \(reference), which does not parse: \(error)")
            }
        }
    }

    @Test("generated references: every part comes back as written")
    func referenceGenerated() {
        let alnum = Gens.string("abcz0189", 1...6)
        let separator = Gen<String?>.element(of: [".", "_", "__", "-", "---"]).map { $0! }
        let component = zip(alnum, zip(separator, alnum).array(of: 0...2)).map { head, tail in
            head + tail.map { $0 + $1 }.joined()
        }
        let host = Gen<String?>.element(of: ["", "localhost:5000", "127.0.0.1:5000", "registry.example.com", "ghcr.io",
                                             "[::1]:5000", "a-b.c-d.example:443", "docker.io", "index.docker.io"]).map { $0! }
        let tag = zip(Gens.string("aZ09_", 1...1), Gens.string("aZ09_.-", 0...20)).map { $0 + $1 }
        let digest = Gens.string("0123456789abcdef", 64...64)
        let cases = zip(host, component.array(of: 1...4), tag.optional, digest.optional)
        FuzzRun.run("reference.generated", count: 2000, cases) { parts, run in
            let (writtenHost, writtenComponents, tag, digest) = parts
            var text = (writtenHost.isEmpty ? "" : writtenHost + "/") + writtenComponents.joined(separator: "/")
            if let tag { text += ":" + tag }
            if let digest { text += "@sha256:" + digest }
            let reference: ImageReference
            do { reference = try ImageReference(text) } catch {
                // Only over-long names, and a first component that reads as a host (it has a
                // '.') but is not a valid one (an '_'), may be refused.
                let badImplicitHost = writtenHost.isEmpty && writtenComponents.count > 1
                    && writtenComponents[0].contains(".") && !ImageReference.isValidHost(writtenComponents[0])
                run.check(text.utf8.count > 255 || badImplicitHost, "\(text) refused: \(error)")
                return
            }
            // Without a host, a first component with a '.' is a host (the distribution grammar).
            let implicitHost = writtenHost.isEmpty && writtenComponents.count > 1 && writtenComponents[0].contains(".")
            let host = implicitHost ? writtenComponents[0] : writtenHost
            let components = implicitHost ? Array(writtenComponents.dropFirst()) : writtenComponents
            let hub = host.isEmpty || ImageReference.dockerHubAliases.contains(host)
            run.check(reference.registry == (hub ? ImageReference.dockerHubRegistry : host), "registry of \(text): \(reference.registry)")
            let path = components.joined(separator: "/")
            let expectedPath = hub && components.count == 1 ? "library/" + path : path
            run.check(reference.repository.name == expectedPath, "repository of \(text): \(reference.repository)")
            run.check(reference.tag?.name == (tag ?? (digest == nil ? "latest" : nil)), "tag of \(text): \(String(describing: reference.tag))")
            run.check(reference.digest?.hex == digest, "digest of \(text)")
            run.check((try? ImageReference(reference.description)) == reference, "\(reference) does not round-trip")
        }
    }

    @Test("digests: arbitrary strings never crash; valid ones round-trip")
    func digests() {
        let hex = Gens.mixed("0123456789abcdefABCDEF:", 60...130, wildRate: 2)
        let algorithm = Gen<String?>.element(of: ["sha256:", "sha512:", "SHA256:", "md5:", "", "sha256"]).map { $0! }
        FuzzRun.run("digest", count: 3000, zip(algorithm, hex)) { pair, run in
            let text = pair.0 + pair.1
            guard let digest = try? Digest(text) else { return }
            run.check(digest.description == text, "\(text.debugDescription) became \(digest)")
            run.check(digest.hex.utf8.count == digest.algorithm.hexLength, "wrong length accepted: \(text)")
        }
    }

    // MARK: WWW-Authenticate

    @Test("arbitrary headers: the parser ends, and every scheme and parameter name is a lowercase token")
    func challengeArbitrary() {
        let header = Gens.mixed("Bearer Basic realm=\"x\\,\t =service scope\"=,,==abc", 0...200, wildRate: 5)
        FuzzRun.run("www-authenticate.arbitrary", count: 2500, header) { text, run in
            let challenges = WWWAuthenticate.parse(text)
            run.check(challenges.count <= text.utf8.count, "\(challenges.count) challenges from \(text.utf8.count) bytes")
            for challenge in challenges {
                run.check(!challenge.scheme.isEmpty && challenge.scheme == challenge.scheme.lowercased(),
                          "scheme \(challenge.scheme.debugDescription) from \(text.debugDescription)")
                run.check(challenge.scheme.utf8.allSatisfy(WWWAuthenticate.Parser.isTokenChar), "scheme not a token from \(text.debugDescription)")
                for name in challenge.parameters.keys {
                    run.check(!name.isEmpty && name == name.lowercased() && name.utf8.allSatisfy(WWWAuthenticate.Parser.isTokenChar),
                              "parameter name \(name.debugDescription) from \(text.debugDescription)")
                }
            }
        }
    }

    @Test("generated challenges: parse(description) gives the same challenges back")
    func challengeRoundTrip() {
        let scheme = Gen<String?>.element(of: ["Bearer", "Basic", "Digest", "Negotiate", "x-Custom_1"]).map { $0! }
        let name = Gens.string("abcdefghijklmnopqrstuvwxyzABCZ-_.", 1...10)
        // Values with every character a quoted-string can carry, quotes and backslashes included.
        let value = Gens.mixed("abc/:.-_ ,=\"\\\tAZ09", 0...40, wildRate: 5)
            .map { String($0.unicodeScalars.filter { $0.value >= 0x20 || $0 == "\t" }) }
        let params = zip(name, value).array(of: 0...4)
        let token68 = zip(Gens.string("abcXYZ019-._~+/", 1...30), Gens.string("=", 0...2)).map { $0 + $1 }
        let challenge = zip(scheme, params, token68.optional(valueRate: 0.2)).map { scheme, params, token68 in
            var unique: [String: String] = [:]
            for (k, v) in params where unique[k.lowercased()] == nil { unique[k.lowercased()] = v }
            return AuthChallenge(scheme: scheme, parameters: token68 == nil ? unique : [:], token68: token68)
        }
        FuzzRun.run("www-authenticate.roundtrip", count: 2000, challenge.array(of: 1...3)) { challenges, run in
            let header = challenges.map(\.description).joined(separator: ", ")
            let parsed = WWWAuthenticate.parse(header)
            run.check(parsed == challenges, "\(header.debugDescription) parsed to \(parsed), not \(challenges)")
            let lines = WWWAuthenticate.parse(challenges.map(\.description))
            run.check(lines == challenges, "one header line per challenge: \(lines)")
        }
    }
}
