import Crypto
import Foundation
import Testing
import _CryptoExtras
@testable import Registry

/// AWS's published SigV4 test suite (aws-sig-v4-test-suite), credentials AKIDEXAMPLE /
/// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service", 20150830T123600Z.
@Suite struct SigV4Tests {
    let creds = SigV4.Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let date = Date(timeIntervalSince1970: 1_440_938_160) // 2015-08-30T12:36:00Z

    func authorization(_ method: String, _ url: String) -> String? {
        let headers = SigV4.sign(method: method, url: url, headers: [("Host", "example.amazonaws.com")], payload: [],
                                 credentials: creds, region: "us-east-1", service: "service", date: date)
        return headers.first { $0.0 == "Authorization" }?.1
    }

    @Test func getVanilla() {
        #expect(SigV4.amzDateString(date) == "20150830T123600Z")
        let (canonical, _) = SigV4.canonicalRequest(method: "GET", url: "https://example.amazonaws.com/",
                                                    headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")], payload: [])
        #expect(canonical == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(authorization("GET", "https://example.amazonaws.com/") ==
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func postVanillaAndQueryOrder() {
        #expect(authorization("POST", "https://example.amazonaws.com/")?.hasSuffix("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") == true)
        #expect(authorization("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1")?.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") == true)
    }

    @Test func sessionTokenIsSigned() {
        var c = creds
        c.sessionToken = "session"
        let headers = SigV4.sign(method: "POST", url: "https://api.ecr.us-east-1.amazonaws.com/", headers: [("Host", "api.ecr.us-east-1.amazonaws.com")],
                                 payload: Array("{}".utf8), credentials: c, region: "us-east-1", service: "ecr", date: date)
        #expect(headers.contains { $0.0 == "X-Amz-Security-Token" && $0.1 == "session" })
        #expect(headers.first { $0.0 == "Authorization" }?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }
}

@Suite struct JWTTests {
    @Test func rs256VerifiesWithThePublicKey() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let jwt = try JWT.signRS256(header: ["alg": "RS256", "typ": "JWT"], claims: ["iss": "me", "exp": 5], key: key)
        let parts = jwt.split(separator: ".")
        #expect(parts.count == 3)
        let signature = _RSA.Signing.RSASignature(rawRepresentation: JWT.decodeBase64URL(parts[2])!)
        #expect(key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5))
        let claims = try JSONSerialization.jsonObject(with: JWT.decodeBase64URL(parts[1])!) as? [String: Any]
        #expect(claims?["iss"] as? String == "me")
        // A PEM round trip, as a service-account key carries it.
        _ = try JWT.signRS256(header: ["alg": "RS256"], claims: ["a": 1], privateKeyPEM: key.pemRepresentation)
        #expect(throws: (any Error).self) { try JWT.signRS256(header: [:], claims: [:], privateKeyPEM: "not a key") }
    }
}
