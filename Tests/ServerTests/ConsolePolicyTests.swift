import Foundation
import Mustache
import Scan
import Testing

@testable import Server
@testable import Store

/// The console's policy parts that need no server: the form's API body and the API's issues
/// mapped back onto its inputs, the verdict tally behind badges and counts, rules in words,
/// and the templates' markup for errors and verdicts.
@Suite struct ConsolePolicyTests {
    static func form(_ pairs: [(String, String)]) throws -> ConsoleForm {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return try ConsoleForm(query: pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&"))
    }

    @Test func formMakesTheAPIBodySkippingEmptySlots() throws {
        let f = PolicyForm(form: try Self.form([
            ("name", " gate "), ("action", "warn"), ("enabled", "true"), ("registryIds[]", "reg_a"), ("registryIds[]", "reg_b"),
            ("repositories", "team/*\r\n\r\n  other/x  \n"), ("tags", ""),
            ("r0.type", "severity"), ("r0.level", "CRITICAL"), ("r0.fixableOnly", "true"),
            ("r1.type", ""), ("r1.percentile", "0.5"),
            ("r2.type", "epss"), ("r2.percentile", "0.9"),
            ("r3.type", "sla"), ("r3.slaSeverity", "HIGH"), ("r3.days", "7"),
            ("r4.type", "package"), ("r4.purl", "pkg:pypi/pyyaml"), ("r4.versions", ""),
            ("r5.type", "count"), ("r5.countSeverity", "LOW"), ("r5.max", "ten"),
            ("r6.type", "kev"),
        ]))
        let (body, slots) = f.body()
        #expect(slots == [0, 2, 3, 4, 5, 6])
        #expect(body["name"] == .string("gate") && body["action"] == .string("warn") && body["enabled"] == .bool(true))
        #expect(body["scope"] == .object([
            "registryIds": .array([.string("reg_a"), .string("reg_b")]), "repositories": .array([.string("team/*"), .string("other/x")]),
            "tags": .array([]),
        ]))
        #expect(body["rules"] == .array([
            .object(["type": .string("severity"), "level": .string("CRITICAL"), "fixableOnly": .bool(true)]),
            .object(["type": .string("epss"), "percentile": .number(0.9)]),
            .object(["type": .string("sla"), "severity": .string("HIGH"), "days": .number(7)]),
            .object(["type": .string("package"), "purl": .string("pkg:pypi/pyyaml")]),
            // Not a number: sent as typed, so the API names the field and what it expected.
            .object(["type": .string("count"), "severity": .string("LOW"), "max": .string("ten")]),
            .object(["type": .string("kev")]),
        ]))
        // An unchecked box is absent from a form: disabled.
        #expect(PolicyForm(form: try Self.form([("name", "x")])).enabled == false)
    }

    @Test func theAPIsIssuesLandOnTheirInputs() throws {
        let f = PolicyForm(form: try Self.form([
            ("name", ""), ("action", "fail"), ("repositories", "ok/*\n[bad"),
            ("r0.type", ""), ("r1.type", "epss"), ("r1.percentile", "1.5"), ("r2.type", "count"), ("r2.max", ""),
            ("r3.type", "bogus"),
        ]))
        let (body, slots) = f.body()
        var reader = ObjectReader(body)
        _ = PolicyInput.read(&reader, creating: true)
        // The API's own validation of what the form sent.
        #expect(Set(reader.issues.map(\.path)) == ["name", "scope.repositories[1]", "rules[0].percentile", "rules[1].max", "rules[2].type"])
        let e = f.errors(reader.issues, slots: slots)
        #expect(e.fields["name"] == "Must not be empty.")
        #expect(e.fields["repositories"]?.hasPrefix("Line 2: ") == true)
        #expect(e.fields["r1.percentile"] == "Must be between 0.0 and 1.0.")
        #expect(e.fields["r2.max"] == "Required.")
        #expect(e.fields["r3.type"]?.contains("Unknown rule type 'bogus'") == true)
        #expect(e.general.isEmpty)
        // sla's and count's severity have inputs of their own; what fits no input is general.
        let g = f.errors([ValidationIssue("rules[1].severity", "x"), ValidationIssue("rules", "At least one rule."), ValidationIssue("scope.owner", "Unknown field.")], slots: [0, 2])
        #expect(g.fields["r2.countSeverity"] == "x" && g.fields["rules"] == "At least one rule.")
        #expect(g.general == ["scope.owner: Unknown field."])
    }

    @Test func savedPoliciesFillTheFormAndBlankSlotsFollow() throws {
        var r = ObjectReader([
            "name": .string("p"), "action": .string("fail"),
            "scope": .object(["repositories": .array([.string("a/*"), .string("b/*")])]),
            "rules": .array([
                .object(["type": .string("epss"), "percentile": .number(0.25)]),
                .object(["type": .string("sla"), "severity": .string("HIGH"), "days": .number(30)]),
            ]),
        ])
        let input = PolicyInput.read(&r, creating: true)
        let record = PolicyRecord(
            id: "pol_1", orgId: "org", name: "p", enabled: false, action: "fail",
            scope: try PolicyInput.encode(PolicyInput.scopeJSON(try #require(input.scope))),
            rules: try PolicyInput.encode(.array(try #require(input.rules).map(\.json))), now: Date())
        let f = PolicyForm(policy: PolicyDTO(record))
        #expect(f.enabled == false && f.repositories == "a/*\nb/*")
        #expect(f.slots.map(\.type) == ["epss", "sla"] && f.slots[0].percentile == "0.25" && f.slots[1].days == "30" && f.slots[1].slaSeverity == "HIGH")
        #expect(f.padded().slots.count == 4)
        #expect(PolicyForm().padded().slots.count == 3)
        // Round trip: the saved policy's form makes the same rules.
        #expect(f.body().body["rules"] == .array(try #require(input.rules).map(\.json)))
    }

    static func detail(_ verdict: PolicyVerdict, policies: [String], violations: [String]) -> PolicyTally.Light {
        PolicyTally.Light(verdict: verdict, policies: policies, violations: violations.map { .init(policyId: $0) })
    }

    @Test func tallyTakesTheWorstTagAndCountsImagesPerPolicy() throws {
        let t = PolicyTally([
            ("img_a", Self.detail(.pass, policies: ["p1", "p2"], violations: [])),
            ("img_a", Self.detail(.fail, policies: ["p1"], violations: ["p1", "p1"])),
            ("img_b", Self.detail(.warn, policies: ["p1", "p2"], violations: ["p2"])),
            ("img_c", Self.detail(.pass, policies: [], violations: [])),
            ("img_d", nil),
        ])
        #expect(t.badge("img_a") == "fail" && t.images["img_a"]?.violations == 2)
        #expect(t.badge("img_b") == "warn")
        // No policy in scope of its scans (or nothing readable): none, not pass.
        #expect(t.badge("img_c") == "none" && t.badge("img_d") == "none" && t.badge("img_unknown") == "none")
        #expect(t.policies["p1"] == PolicyTally.PolicyCount(evaluated: 2, violating: 1))
        #expect(t.policies["p2"] == PolicyTally.PolicyCount(evaluated: 2, violating: 1))
        #expect(t.policies["p1"]?.passing == 1)
        // The stored detail's JSON (as PolicyRecording writes it) decodes.
        let stored = PolicyRecording.Detail(
            verdict: .warn, evaluatedAt: Date(timeIntervalSince1970: 1_800_000_000), policies: ["p9"],
            violations: [PolicyViolation(policyId: "p9", policyName: "n", action: .warn, ruleIndex: 0, ruleType: "kev", reason: "r")], noData: [])
        let light = try #require(PolicyTally.decode(try JSONCoding.encoder.encode(stored)))
        #expect(light.verdict == .warn && light.policies == ["p9"] && light.violations.map(\.policyId) == ["p9"])
    }

    @Test func rulesAndScopesInWords() {
        #expect(PolicyText.rule(.object(["type": .string("severity"), "level": .string("HIGH"), "fixableOnly": .bool(true)]))
            == "a finding at or above HIGH, fixable only")
        #expect(PolicyText.rule(.object(["type": .string("epss"), "percentile": .number(0.9)])) == "EPSS percentile at or above 0.9")
        #expect(PolicyText.rule(.object(["type": .string("count"), "severity": .string("LOW"), "max": .number(3)])) == "more than 3 findings at or above LOW")
        #expect(PolicyText.rule(.object(["type": .string("package"), "purl": .string("pkg:pypi/pyyaml"), "versions": .string("<5.4")]))
            == "package pkg:pypi/pyyaml <5.4")
        #expect(PolicyText.scope(.object([:])) == "whole organization")
        #expect(PolicyText.scope(.object(["registryIds": .array([.string("reg_1")]), "tags": .array([.string("v*")])]), registryNames: ["reg_1": "prod"])
            == "registries prod; tags v*")
    }

    @Test func templatesMarkRefusedInputsAndShowVerdicts() throws {
        let library = try ConsoleTemplates.library()
        let f = PolicyForm(form: try Self.form([("name", "<b>"), ("r0.type", "epss"), ("r0.percentile", "2")])).padded()
        let errors = PolicyForm.Errors(fields: ["r0.percentile": "Must be between 0.0 and 1.0."])
        let html = library.render(["form": f.view(registries: [("reg_1", "prod")], errors: errors), "csrf": "t"], withTemplate: "policy-new") ?? ""
        #expect(html.contains(#"name="r0.percentile" inputmode="decimal" value="2" placeholder="0.9" aria-invalid="true" aria-describedby="r0-pct-err""#))
        #expect(html.contains(#"data-error-for="r0.percentile">Must be between 0.0 and 1.0.</span>"#))
        #expect(html.contains(#"value="&lt;b&gt;""#) && !html.contains("<b>"))
        #expect(html.contains(#"<option value="epss" selected>"#))
        #expect(html.components(separatedBy: "<fieldset class=\"rule\"").count - 1 == 3)
        let verdict: [String: Any] = [
            "policyView": [
                "badge": "fail", "evaluatedAt": "2026-12-04T20:00:00Z", "policyCount": "1 policy",
                "violations": [[
                    "policyId": "pol_1", "policyName": "gate", "action": "fail", "ruleNumber": 1, "ruleType": "severity", "reason": "CRITICAL finding",
                    "vulnerabilityId": "CVE-1", "vulnerabilityHref": "/console/vulnerabilities?cveId=CVE-1", "package": "tar@1.0",
                    "findingHref": "/console/images/img_1?scan=s&package=tar#finding-s:1",
                ] as [String: Any]],
                "noData": [["policyName": "gate", "ruleNumber": 2, "reason": "no KEV data"] as [String: Any]],
            ] as [String: Any],
        ]
        let v = library.render(verdict, withTemplate: "policy-verdict") ?? ""
        #expect(v.contains(#"<span class="badge v-fail" data-verdict>fail</span> from 1 policy in scope"#))
        #expect(v.contains(#"<a href="/console/images/img_1?scan=s&amp;package=tar#finding-s:1">tar@1.0</a>"#))
        #expect(v.contains("gate, rule 2: no KEV data"))
        #expect((library.render([String: Any](), withTemplate: "policy-verdict") ?? "x").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let report = library.render(["policyRows": [["name": "gate", "action": "fail", "enabled": "yes", "ruleCount": 2, "passing": 3, "warning": 0, "failing": 1] as [String: Any]]], withTemplate: "report-policies") ?? ""
        #expect(report.contains("<td>gate</td>") && report.components(separatedBy: "<table>").count == 2)
        #expect(!(library.render(["policyRows": [Any]()], withTemplate: "report-policies") ?? "").contains("<table>"))
    }
}
