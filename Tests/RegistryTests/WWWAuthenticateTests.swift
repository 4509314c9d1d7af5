import Testing
@testable import Registry

@Suite struct WWWAuthenticateTests {
    @Test func bearerWithParams() {
        let c = WWWAuthenticate.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].realm == "https://auth.docker.io/token")
        #expect(c[0].service == "registry.docker.io")
        #expect(c[0].scope == "repository:library/nginx:pull")
    }

    @Test func severalChallengesAnyCaseSpaces() {
        let c = WWWAuthenticate.parse(#"BASIC realm="Registry Realm" , bEaReR Realm="https://a/t", SERVICE = "svc",  Scope="repository:x:pull,push""#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c[0].realm == "Registry Realm")
        #expect(c[1].realm == "https://a/t")
        #expect(c[1].service == "svc")
        #expect(c[1].scope == "repository:x:pull,push")
    }

    @Test func quotedCommasAndEscapes() {
        let c = WWWAuthenticate.parse(#"Bearer realm="https://h/t?a=1,b=2",error="insufficient_scope",error_description="say \"hi\", ok\\", Basic realm=r"#)
        #expect(c.count == 2)
        #expect(c[0].realm == "https://h/t?a=1,b=2")
        #expect(c[0].parameters["error"] == "insufficient_scope")
        #expect(c[0].parameters["error_description"] == #"say "hi", ok\"#)
        #expect(c[1].scheme == "basic")
        #expect(c[1].realm == "r")
    }

    @Test func unquotedValuesTokensAndEmpty() {
        #expect(WWWAuthenticate.parse("").isEmpty)
        #expect(WWWAuthenticate.parse(" , ,").isEmpty)
        let c = WWWAuthenticate.parse("Basic, Bearer realm=https://x/token,service=reg")
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c[1].realm == "https://x/token")
        #expect(c[1].service == "reg")
        let n = WWWAuthenticate.parse("Negotiate abc+/==, Basic realm=\"x\"")
        #expect(n[0].scheme == "negotiate")
        #expect(n[0].token68 == "abc+/==")
        #expect(n[1].realm == "x")
    }

    @Test func multipleHeaderLinesAndGarbage() {
        let c = WWWAuthenticate.parse(["Basic realm=\"a\"", "Bearer realm=\"b\", service=\"s\""])
        #expect(c.count == 2)
        let unterminated = WWWAuthenticate.parse(#"Bearer realm="https://x/t"#)
        #expect(unterminated.first?.realm == "https://x/t")
        // Never crashes on junk.
        for junk in ["=", "==,==", "\"", "Bearer =x", "Bearer realm=", ",,,Bearer", "Bearer realm=\"a\" junk", "Basic realm=\"\\"] {
            _ = WWWAuthenticate.parse(junk)
        }
        #expect(WWWAuthenticate.parse("Bearer realm=\"a\" service=\"b\"").first?.service == "b")
        #expect(RegistryClient.choose(WWWAuthenticate.parse("Basic realm=x, Bearer realm=\"y\""))?.scheme == "bearer")
        #expect(RegistryClient.choose(WWWAuthenticate.parse("Bearer service=x, Basic realm=x"))?.scheme == "basic")
        #expect(RegistryClient.choose(WWWAuthenticate.parse("Negotiate abc")) == nil)
    }

    @Test func linkHeader() {
        #expect(RegistryClient.nextLink([#"</v2/_catalog?last=b&n=2>; rel="next""#]) == "/v2/_catalog?last=b&n=2")
        #expect(RegistryClient.nextLink([#"<https://x/prev>; rel="prev", <https://x/next?a=1>; rel=next"#]) == "https://x/next?a=1")
        #expect(RegistryClient.nextLink([#"<https://x/p>; rel="prev""#]) == nil)
        #expect(RegistryClient.nextLink([]) == nil)
    }
}
