import AsyncHTTPClient
import NIOCore
import Testing

@testable import Registry

@Suite struct OutgoingPolicyTests {
    func cls(_ literal: String) -> OutgoingPolicy.AddressClass? {
        OutgoingPolicy.Address(literal: literal).map(OutgoingPolicy.classify)
    }

    @Test func classifiesIPv4() {
        #expect(cls("8.8.8.8") == .publicAddress)
        #expect(cls("1.1.1.1") == .publicAddress)
        #expect(cls("172.32.0.1") == .publicAddress)
        #expect(cls("127.0.0.1") == .loopback)
        #expect(cls("127.255.255.254") == .loopback)
        #expect(cls("10.1.2.3") == .privateNetwork)
        #expect(cls("172.16.0.1") == .privateNetwork)
        #expect(cls("172.31.255.255") == .privateNetwork)
        #expect(cls("192.168.1.1") == .privateNetwork)
        #expect(cls("100.64.0.1") == .privateNetwork)
        #expect(cls("169.254.1.1") == .linkLocal)
        #expect(cls("0.0.0.0") == .unspecified)
        #expect(cls("0.1.2.3") == .unspecified)
        #expect(cls("224.0.0.1") == .reserved)
        #expect(cls("255.255.255.255") == .reserved)
        #expect(cls("192.0.2.1") == .reserved)
        #expect(cls("198.18.0.1") == .reserved)
    }

    @Test func classifiesMetadata() {
        #expect(cls("169.254.169.254") == .metadata)
        #expect(cls("169.254.170.2") == .metadata)
        #expect(cls("100.100.100.200") == .metadata)
        #expect(cls("fd00:ec2::254") == .metadata)
        #expect(cls("[fd00:ec2::254]") == .metadata)
        // Embedded in IPv6 forms.
        #expect(cls("::ffff:169.254.169.254") == .metadata)
        #expect(cls("64:ff9b::a9fe:a9fe") == .metadata)
        #expect(cls("2002:a9fe:a9fe::1") == .metadata)
    }

    @Test func classifiesIPv6() {
        #expect(cls("::1") == .loopback)
        #expect(cls("[::1]") == .loopback)
        #expect(cls("::") == .unspecified)
        #expect(cls("::ffff:127.0.0.1") == .loopback)
        #expect(cls("::ffff:7f00:1") == .loopback)
        #expect(cls("::ffff:10.0.0.1") == .privateNetwork)
        #expect(cls("::ffff:8.8.8.8") == .publicAddress)
        #expect(cls("::127.0.0.1") == .reserved)
        #expect(cls("64:ff9b::7f00:1") == .loopback)
        #expect(cls("64:ff9b::808:808") == .publicAddress)
        #expect(cls("2002:7f00:1::") == .loopback)
        #expect(cls("fc00::1") == .privateNetwork)
        #expect(cls("fd12:3456::1") == .privateNetwork)
        #expect(cls("fe80::1") == .linkLocal)
        #expect(cls("febf::1") == .linkLocal)
        #expect(cls("fec0::1") == .privateNetwork)
        #expect(cls("ff02::1") == .reserved)
        #expect(cls("2001:db8::1") == .reserved)
        #expect(cls("2001::1") == .reserved)
        #expect(cls("2606:4700:4700::1111") == .publicAddress)
        #expect(cls("4000::1") == .reserved)
    }

    @Test func decimalAndOctalFormsAreNotLiterals() {
        // inet_pton takes dotted quads only; these are names the resolver must turn into addresses.
        #expect(OutgoingPolicy.Address(literal: "2130706433") == nil)
        #expect(OutgoingPolicy.Address(literal: "0177.0.0.1") == nil)
        #expect(OutgoingPolicy.Address(literal: "0x7f.1") == nil)
    }

    @Test func resolvesTricksToTheAddressTheyMean() async throws {
        for host in ["2130706433", "0177.0.0.1", "127.1", "localhost"] {
            let addresses = try await OutgoingPolicy.resolve(host)
            #expect(!addresses.isEmpty, "\(host)")
            #expect(addresses.allSatisfy { OutgoingPolicy.classify($0) == .loopback }, "\(host): \(addresses)")
        }
        await #expect(throws: OutgoingResolutionFailed.self) { try await OutgoingPolicy.resolve("no-such-host.invalid") }
    }

    @Test func permitsByPurpose() {
        let strict = OutgoingPolicy()
        let open = OutgoingPolicy(allowPrivateTargets: true)
        for c in [OutgoingPolicy.AddressClass.loopback, .privateNetwork, .linkLocal, .unspecified, .reserved] {
            #expect(strict.permits(c, for: .registry))
            #expect(!strict.permits(c, for: .notification))
            #expect(!strict.permits(c, for: .feed))
            #expect(open.permits(c, for: .notification))
            #expect(open.permits(c, for: .feed))
        }
        for purpose in OutgoingPolicy.Purpose.allCases {
            #expect(strict.permits(.publicAddress, for: purpose))
            #expect(!strict.permits(.metadata, for: purpose))
            #expect(!open.permits(.metadata, for: purpose))
        }
    }

    @Test func oneRefusedAddressRefusesTheHost() throws {
        let a = [OutgoingPolicy.Address(literal: "8.8.8.8")!, OutgoingPolicy.Address(literal: "10.0.0.1")!]
        #expect(throws: TargetNotAllowed.self) { try OutgoingPolicy().check(a, for: .notification) }
        try OutgoingPolicy().check(a, for: .registry)
        let refusal = TargetNotAllowed(purpose: .notification, addressClass: .privateNetwork)
        #expect(!refusal.description.contains("10.0.0.1"))
    }

    @Test func clientRefusesBeforeConnecting() async throws {
        let client = OutgoingHTTPClient(configuration: HTTPClient.Configuration(), policy: OutgoingPolicy(allowPrivateTargets: true), purpose: .notification)
        let start = ContinuousClock.now
        for url in ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/"] {
            await #expect(throws: TargetNotAllowed.self) {
                _ = try await client.execute(HTTPClientRequest(url: url), deadline: .now() + .seconds(5))
            }
        }
        #expect(ContinuousClock.now - start < .seconds(1))
        try await client.shutdown()
    }
}
