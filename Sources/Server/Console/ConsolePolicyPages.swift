import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The Policies pages: the list (with how many images each policy currently fails or warns),
/// one policy (read-only for viewers; edit, enable/disable and delete for admins) and the
/// create form. Every write is `PolicyService`'s, so validation, audit and the re-evaluation
/// of verdicts are the API's; a refused form comes back with the API's messages by field.
extension ConsoleRoutes {
    // MARK: Policies

    /// The organization's policies the pages show (the first 200, oldest first).
    func policyList(_ v: Viewer) async throws -> [PolicyDTO] {
        try await PolicyService(s: s).list(v.principal, page: PageRequest(page: 1, limit: 200)).policies
    }

    /// Registry ids and names, for the scope's select and its summaries.
    func registryChoices(_ v: Viewer) async -> [(id: String, name: String)] {
        ((try? await RegistryService(s: s).list(v.principal, Self.registryOptionsQuery).registries) ?? []).map { ($0.id, $0.name) }
    }

    /// "2 failing", "1 warning", "none" for a policy's current images.
    static func imageCountText(_ p: PolicyDTO, _ c: PolicyTally.PolicyCount?) -> String {
        guard p.enabled else { return "disabled" }
        guard let c, c.evaluated > 0 else { return "no image in scope" }
        return "\(c.violating) \(p.action == "warn" ? "warning" : "failing") of \(c.evaluated)"
    }

    @Sendable func policies(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let list: [PolicyDTO], tally: PolicyTally
        do {
            list = try await policyList(v)
            tally = try await PolicyService(s: s).tally(v.principal)
        } catch {
            return failed(error, ConsoleForm(), fallback: "/console", viewer: v)
        }
        let names = Dictionary(await registryChoices(v).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let rows = list.map { p -> [String: Any] in
            let c = tally.policies[p.id]
            return [
                "id": p.id, "name": p.name, "enabled": p.enabled, "action": p.action, "scope": PolicyText.scope(p.scope, registryNames: names),
                "ruleCount": p.rules.count, "images": Self.imageCountText(p, c), "violating": (c?.violating ?? 0) > 0,
            ]
        }
        return show(req, "policies", title: "Policies", viewer: v, current: "policies", data: ["policies": rows])
    }

    /// The create form (admins; anyone else gets the 403 page the service would answer).
    @Sendable func newPolicy(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        guard v.canAdmin else { return failed(APIError.forbidden, ConsoleForm(), fallback: "/console/policies", viewer: v) }
        let form = await PolicyForm().padded().view(registries: registryChoices(v), errors: .init())
        return show(req, "policy-new", title: "New policy", viewer: v, current: "policies", data: ["form": form])
    }

    @Sendable func policy(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        guard let p = try? await PolicyService(s: s).get(v.principal, id: id) else { return notFound(v, "No such policy.") }
        let data = try await policyPageData(v, p, form: PolicyForm(policy: p), errors: .init())
        return show(req, "policy", title: p.name, viewer: v, current: "policies", data: data)
    }

    func policyPageData(_ v: Viewer, _ p: PolicyDTO, form: PolicyForm, errors: PolicyForm.Errors) async throws -> [String: Any] {
        let registries = await registryChoices(v)
        let names = Dictionary(registries.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let tally = try? await PolicyService(s: s).tally(v.principal)
        return [
            "policy": [
                "id": p.id, "name": p.name, "enabled": p.enabled, "action": p.action, "scope": PolicyText.scope(p.scope, registryNames: names),
                "rules": p.rules.enumerated().map { ["number": $0.offset + 1, "type": $0.element.field("type").string ?? "", "text": PolicyText.rule($0.element)] },
                "images": Self.imageCountText(p, tally?.policies[p.id]), "updatedAt": p.updatedAt,
            ] as [String: Any],
            "form": form.padded().view(registries: registries, errors: errors),
        ]
    }

    /// The form's refusal as a notice: a summary, plus what belongs to no field.
    static func formNotice(_ e: PolicyForm.Errors) -> Flash {
        Flash(kind: "error", text: (["The policy was not saved: correct the fields marked below."] + e.general).joined(separator: " "))
    }

    /// A 400 or 409 from the service as errors on the form; nil for anything else.
    static func formErrors(_ error: any Error, _ form: PolicyForm, slots: [Int]) -> PolicyForm.Errors? {
        guard let e = error as? APIError else { return nil }
        if e.status == .conflict { return PolicyForm.Errors(fields: ["name": e.message]) }
        guard e.status == .badRequest else { return nil }
        var errors = form.errors(e.issues, slots: slots)
        if e.issues.isEmpty { errors.general.append(e.message) }
        return errors
    }

    @Sendable func createPolicy(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ f: ConsoleForm) async throws -> Response {
        let form = PolicyForm(form: f)
        let (body, slots) = form.body()
        do {
            let made = try await PolicyService(s: s).create(v.principal, ObjectReader(body), ip: ctx.remoteIP)
            return done(f, fallback: "/console/policies", "ok", "Policy \(made.name) created.")
        } catch {
            guard let errors = Self.formErrors(error, form, slots: slots) else { return failed(error, f, fallback: "/console/policies", viewer: v) }
            let view = form.padded().view(registries: await registryChoices(v), errors: errors)
            return render(
                "policy-new", title: "New policy", viewer: v, current: "policies", data: ["form": view], flash: Self.formNotice(errors),
                status: (error as? APIError)?.status ?? .badRequest)
        }
    }

    @Sendable func updatePolicy(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ f: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let back = "/console/policies/\(ConsoleHTTP.percentEncode(id))"
        let form = PolicyForm(form: f)
        let (body, slots) = form.body()
        do {
            let saved = try await PolicyService(s: s).update(v.principal, id: id, ObjectReader(body), ip: ctx.remoteIP)
            return done(f, fallback: back, "ok", "Policy \(saved.name) saved.")
        } catch {
            guard let errors = Self.formErrors(error, form, slots: slots), let p = try? await PolicyService(s: s).get(v.principal, id: id)
            else { return failed(error, f, fallback: back, viewer: v) }
            let data = try await policyPageData(v, p, form: form, errors: errors)
            return render(
                "policy", title: p.name, viewer: v, current: "policies", data: data, flash: Self.formNotice(errors),
                status: (error as? APIError)?.status ?? .badRequest)
        }
    }

    @Sendable func setPolicyEnabled(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ f: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        let enabled = f["enabled"] == "true"
        return await act(f, fallback: "/console/policies", v) {
            let saved = try await PolicyService(s: s).update(v.principal, id: id, ObjectReader(["enabled": .bool(enabled)]), ip: ctx.remoteIP)
            return ("ok", "Policy \(saved.name) \(saved.enabled ? "enabled" : "disabled").")
        }
    }

    @Sendable func deletePolicy(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer, _ f: ConsoleForm) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        do {
            let name = try? await PolicyService(s: s).get(v.principal, id: id).name
            _ = try await PolicyService(s: s).delete(v.principal, id: id, ip: ctx.remoteIP)
            return ConsoleHTTP.redirect(
                "/console/policies", cookies: [flashCookie(Flash(kind: "ok", text: "Policy \(name ?? id) deleted."))])
        } catch {
            return failed(error, f, fallback: "/console/policies", viewer: v)
        }
    }

    // MARK: Verdicts on images

    /// Whether the organization has any policy, and the tally of the given images' verdicts
    /// (nil when there is no policy or the caller may not read them).
    func policyTally(_ v: Viewer, imageIds: [String]) async -> PolicyTally? {
        let service = PolicyService(s: s)
        guard let total = try? await service.list(v.principal, page: PageRequest(page: 1, limit: 1)).total, total > 0 else { return nil }
        return try? await service.tally(v.principal, imageIds: imageIds)
    }

    /// Image rows with their verdict badge when policies exist.
    func imageRows(_ images: [ImageDTO], _ v: Viewer) async -> (rows: [ConsoleView], showPolicy: Bool) {
        guard let tally = await policyTally(v, imageIds: images.map(\.id)) else { return (images.map(Self.imageRow), false) }
        return (images.map { ConsoleView($0, ["grade": Self.grade($0.riskScore), "policyBadge": tally.badge($0.id)]) }, true)
    }

    /// A scan's violations as the image page and the image report list them: the policy, the
    /// rule in words, the reason, and links to the finding and its vulnerability.
    func violationRows(_ verdict: PolicyVerdictDTO, imageId: String, scanId: String, policies: [PolicyDTO]) -> [[String: Any]] {
        let byId = Dictionary(policies.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return verdict.violations.map { x in
            var row: [String: Any] = [
                "policyId": x.policyId, "policyName": x.policyName, "action": x.action, "ruleNumber": x.rule.index + 1,
                "ruleType": x.rule.type, "reason": x.reason,
            ]
            if let rule = byId[x.policyId]?.rules, x.rule.index < rule.count { row["ruleText"] = PolicyText.rule(rule[x.rule.index]) }
            if let vuln = x.vulnerabilityId {
                row["vulnerabilityId"] = vuln
                row["vulnerabilityHref"] = "/console/vulnerabilities" + Self.query([("cveId", vuln)])
            }
            if let pkg = x.package {
                row["package"] = pkg
                if let findingId = x.findingId {
                    let name = pkg.lastIndex(of: "@").map { $0 > pkg.startIndex ? String(pkg[..<$0]) : pkg } ?? pkg
                    row["findingHref"] = "/console/images/\(ConsoleHTTP.percentEncode(imageId))"
                        + Self.query([("scan", scanId), ("package", name)]) + "#finding-" + findingId
                }
            }
            return row
        }
    }

    /// The `policy` part of the image page and report for a scan: badge, when, violations, rules without data.
    func scanPolicyView(_ dto: ScanDTO, imageId: String, _ v: Viewer) async -> [String: Any]? {
        guard let verdict = dto.policy else { return nil }
        let policies = (try? await policyList(v)) ?? []
        guard !policies.isEmpty else { return nil }
        let rows = violationRows(verdict, imageId: imageId, scanId: dto.id, policies: policies)
        return [
            "badge": verdict.policies.isEmpty ? "none" : verdict.verdict, "evaluatedAt": verdict.evaluatedAt,
            "policyCount": verdict.policies.count == 1 ? "1 policy" : "\(verdict.policies.count) policies", "violations": rows, "violationCount": rows.count,
            "noData": verdict.noData.map { ["policyId": $0.policyId, "policyName": $0.policyName, "ruleNumber": $0.ruleIndex + 1, "reason": $0.reason] },
        ]
    }

    /// The posture report's policy section: per policy, images passing, warning and failing.
    func policyReportRows(_ v: Viewer) async -> [[String: Any]]? {
        guard let list = try? await policyList(v), !list.isEmpty, let tally = try? await PolicyService(s: s).tally(v.principal) else { return nil }
        return list.map { p in
            let c = tally.policies[p.id] ?? PolicyTally.PolicyCount()
            return [
                "name": p.name, "action": p.action, "enabled": p.enabled ? "yes" : "no", "ruleCount": p.rules.count,
                "passing": c.passing, "warning": p.action == "warn" ? c.violating : 0, "failing": p.action == "fail" ? c.violating : 0,
                "evaluated": c.evaluated,
            ]
        }
    }
}

extension ConsoleTemplates {
    static let policies = #"""
        <p class="muted">A policy decides whether an image may ship: the server evaluates every enabled policy in scope at each scan and rematch. Counts are of the images' current scans.</p>
        {{#canAdmin}}<p><a class="button primary" href="/console/policies/new">New policy</a></p>{{/canAdmin}}
        {{#first(policies)}}<div class="scroll"><table>
        <thead><tr><th scope="col">Name</th><th scope="col">Enabled</th><th scope="col">Action</th><th scope="col">Scope</th><th scope="col" class="num">Rules</th>
        <th scope="col">Images</th>{{#canAdmin}}<th scope="col">Actions</th>{{/canAdmin}}</tr></thead><tbody>{{/first(policies)}}
        {{#policies}}<tr data-policy="{{name}}"><td><a href="/console/policies/{{id}}">{{name}}</a></td><td>{{#enabled}}yes{{/enabled}}{{^enabled}}<span class="muted">no</span>{{/enabled}}</td>
        <td><span class="badge a-{{action}}">{{action}}</span></td><td>{{scope}}</td><td class="num">{{ruleCount}}</td>
        <td>{{#violating}}<strong>{{images}}</strong>{{/violating}}{{^violating}}{{images}}{{/violating}}</td>
        {{#canAdmin}}<td class="actions"><form method="post" action="/console/policies/{{id}}/enabled">{{> csrf}}<input type="hidden" name="enabled" value="{{^enabled}}true{{/enabled}}{{#enabled}}false{{/enabled}}">
        <button type="submit" aria-label="{{#enabled}}Disable{{/enabled}}{{^enabled}}Enable{{/enabled}} {{name}}">{{#enabled}}Disable{{/enabled}}{{^enabled}}Enable{{/enabled}}</button></form>
        <form method="post" action="/console/policies/{{id}}/delete" data-confirm="Delete the policy {{name}}? Images are re-evaluated without it.">{{> csrf}}<button type="submit" aria-label="Delete {{name}}">Delete</button></form></td>{{/canAdmin}}</tr>{{/policies}}
        {{#first(policies)}}</tbody></table></div>{{/first(policies)}}
        {{^policies}}<p>No policies yet.{{#canAdmin}} <a href="/console/policies/new">Create one</a>.{{/canAdmin}}</p>{{/policies}}
        """#

    static let policyNew = #"""
        <p><a href="/console/policies">All policies</a></p>
        <form method="post" action="/console/policies" class="stack card" data-policy-form novalidate>
          {{> csrf}}
          {{#form}}{{> policy-form}}{{/form}}
          <p><button type="submit" class="primary">Create policy</button></p>
        </form>
        """#

    static let policy = #"""
        <p><a href="/console/policies">All policies</a></p>
        {{#policy}}
        <dl class="facts">
        <dt>Enabled</dt><dd>{{#enabled}}yes{{/enabled}}{{^enabled}}no{{/enabled}}</dd>
        <dt>Action</dt><dd><span class="badge a-{{action}}">{{action}}</span></dd>
        <dt>Scope</dt><dd>{{scope}}</dd>
        <dt>Images</dt><dd>{{images}}</dd>
        <dt>Updated</dt><dd><time datetime="{{updatedAt}}">{{updatedAt}}</time></dd>
        </dl>
        <h2>Rules</h2>
        <ol class="rules">{{#rules}}<li><span class="muted">{{type}}</span>: {{text}}</li>{{/rules}}</ol>
        {{/policy}}
        {{#canAdmin}}
        <section class="card" aria-labelledby="h-edit">
          <h2 id="h-edit">Edit</h2>
          <form method="post" action="/console/policies/{{policy.id}}" class="stack" data-policy-form novalidate>
            {{> csrf}}
            {{#form}}{{> policy-form}}{{/form}}
            <p><button type="submit" class="primary">Save policy</button></p>
          </form>
        </section>
        <section class="card danger" aria-labelledby="h-del">
          <h2 id="h-del">Delete</h2>
          <p>Removes the policy; every image is re-evaluated without it.</p>
          <form method="post" action="/console/policies/{{policy.id}}/delete" data-confirm="Delete the policy {{policy.name}}? Images are re-evaluated without it.">
            {{> csrf}}<button type="submit" class="danger">Delete policy</button></form>
        </section>
        {{/canAdmin}}
        """#

    /// The policy form's inputs; an input the API refused carries `aria-invalid` and its message.
    static let policyForm = #"""
        <p><label for="p-name">Name</label><input id="p-name" name="name" maxlength="100" value="{{name}}"{{#err.name}} aria-invalid="true" aria-describedby="p-name-err"{{/err.name}}>
        {{#err.name}}<span id="p-name-err" class="err field-err" data-error-for="name">{{.}}</span>{{/err.name}}</p>
        <p><label for="p-action">Action</label><select id="p-action" name="action"{{#err.action}} aria-invalid="true" aria-describedby="p-action-err"{{/err.action}}>{{#actionOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/actionOptions}}</select>
        {{#err.action}}<span id="p-action-err" class="err field-err" data-error-for="action">{{.}}</span>{{/err.action}}</p>
        <p class="check"><input id="p-enabled" name="enabled" type="checkbox" value="true"{{#enabled}} checked{{/enabled}}><label for="p-enabled">Enabled</label></p>
        <fieldset><legend>Scope (everything left empty matches any image)</legend>
        <p><label for="p-regs">Registries</label><select id="p-regs" name="registryIds[]" multiple size="3" aria-describedby="p-regs-help{{#err.registryIds}} p-regs-err{{/err.registryIds}}"{{#err.registryIds}} aria-invalid="true"{{/err.registryIds}}>
        {{#registryOptions}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/registryOptions}}</select>
        <span id="p-regs-help" class="help">None selected: every registry.</span>{{#err.registryIds}}<span id="p-regs-err" class="err field-err" data-error-for="registryIds">{{.}}</span>{{/err.registryIds}}</p>
        <p><label for="p-repos">Repository globs, one per line</label><textarea id="p-repos" name="repositories" rows="2" placeholder="team/*"{{#err.repositories}} aria-invalid="true" aria-describedby="p-repos-err"{{/err.repositories}}>{{repositories}}</textarea>
        {{#err.repositories}}<span id="p-repos-err" class="err field-err" data-error-for="repositories">{{.}}</span>{{/err.repositories}}</p>
        <p><label for="p-tags">Tag globs, one per line</label><textarea id="p-tags" name="tags" rows="2" placeholder="release-*"{{#err.tags}} aria-invalid="true" aria-describedby="p-tags-err"{{/err.tags}}>{{tags}}</textarea>
        {{#err.tags}}<span id="p-tags-err" class="err field-err" data-error-for="tags">{{.}}</span>{{/err.tags}}</p>
        </fieldset>
        <h3>Rules</h3>
        <p class="muted">An image breaks the policy when any rule matches. Choose a type per rule; empty rules are left out (save to get more).</p>
        {{#err.rules}}<p class="err field-err" data-error-for="rules">{{.}}</p>{{/err.rules}}
        {{#slots}}
        <fieldset class="rule" data-rule>
        <legend>Rule {{number}}</legend>
        <p><label for="r{{index}}-type">Type</label><select id="r{{index}}-type" name="r{{index}}.type" data-rule-type{{#err.type}} aria-invalid="true" aria-describedby="r{{index}}-type-err"{{/err.type}}>
        {{#types}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/types}}</select>
        {{#err.type}}<span id="r{{index}}-type-err" class="err field-err" data-error-for="r{{index}}.type">{{.}}</span>{{/err.type}}</p>
        <div class="rule-fields" data-rule-fields="severity">
        <p><label for="r{{index}}-level">Level (this or higher)</label><select id="r{{index}}-level" name="r{{index}}.level">{{#levelOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/levelOptions}}</select>
        {{#err.level}}<span class="err field-err" data-error-for="r{{index}}.level">{{.}}</span>{{/err.level}}</p>
        <p class="check"><input id="r{{index}}-fix" name="r{{index}}.fixableOnly" type="checkbox" value="true"{{#fixableOnly}} checked{{/fixableOnly}}><label for="r{{index}}-fix">Fixable findings only</label></p>
        </div>
        <div class="rule-fields" data-rule-fields="kev"><p class="muted">Any finding whose vulnerability is in CISA KEV (known exploited).</p></div>
        <div class="rule-fields" data-rule-fields="epss">
        <p><label for="r{{index}}-pct">Percentile (0 to 1)</label><input id="r{{index}}-pct" name="r{{index}}.percentile" inputmode="decimal" value="{{percentile}}" placeholder="0.9"{{#err.percentile}} aria-invalid="true" aria-describedby="r{{index}}-pct-err"{{/err.percentile}}>
        {{#err.percentile}}<span id="r{{index}}-pct-err" class="err field-err" data-error-for="r{{index}}.percentile">{{.}}</span>{{/err.percentile}}</p>
        </div>
        <div class="rule-fields" data-rule-fields="sla">
        <p><label for="r{{index}}-slasev">Severity (this or higher)</label><select id="r{{index}}-slasev" name="r{{index}}.slaSeverity">{{#slaOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/slaOptions}}</select>
        {{#err.slaSeverity}}<span class="err field-err" data-error-for="r{{index}}.slaSeverity">{{.}}</span>{{/err.slaSeverity}}</p>
        <p><label for="r{{index}}-days">Days open at most</label><input id="r{{index}}-days" name="r{{index}}.days" inputmode="numeric" value="{{days}}" placeholder="7"{{#err.days}} aria-invalid="true" aria-describedby="r{{index}}-days-err"{{/err.days}}>
        {{#err.days}}<span id="r{{index}}-days-err" class="err field-err" data-error-for="r{{index}}.days">{{.}}</span>{{/err.days}}</p>
        </div>
        <div class="rule-fields" data-rule-fields="package">
        <p><label for="r{{index}}-purl">Package URL without version</label><input id="r{{index}}-purl" name="r{{index}}.purl" value="{{purl}}" placeholder="pkg:pypi/pyyaml"{{#err.purl}} aria-invalid="true" aria-describedby="r{{index}}-purl-err"{{/err.purl}}>
        {{#err.purl}}<span id="r{{index}}-purl-err" class="err field-err" data-error-for="r{{index}}.purl">{{.}}</span>{{/err.purl}}</p>
        <p><label for="r{{index}}-vers">Versions (optional)</label><input id="r{{index}}-vers" name="r{{index}}.versions" value="{{versions}}" placeholder="&lt;5.4 or &gt;=1.0,&lt;2.0"{{#err.versions}} aria-invalid="true" aria-describedby="r{{index}}-vers-err"{{/err.versions}}>
        {{#err.versions}}<span id="r{{index}}-vers-err" class="err field-err" data-error-for="r{{index}}.versions">{{.}}</span>{{/err.versions}}</p>
        </div>
        <div class="rule-fields" data-rule-fields="count">
        <p><label for="r{{index}}-cntsev">Severity (this or higher)</label><select id="r{{index}}-cntsev" name="r{{index}}.countSeverity">{{#countOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/countOptions}}</select>
        {{#err.countSeverity}}<span class="err field-err" data-error-for="r{{index}}.countSeverity">{{.}}</span>{{/err.countSeverity}}</p>
        <p><label for="r{{index}}-max">At most this many findings</label><input id="r{{index}}-max" name="r{{index}}.max" inputmode="numeric" value="{{max}}" placeholder="10"{{#err.max}} aria-invalid="true" aria-describedby="r{{index}}-max-err"{{/err.max}}>
        {{#err.max}}<span id="r{{index}}-max-err" class="err field-err" data-error-for="r{{index}}.max">{{.}}</span>{{/err.max}}</p>
        </div>
        </fieldset>
        {{/slots}}
        """#

    /// The verdict of a scan and its violations (image page and image report).
    static let policyVerdict = #"""
        {{#policyView}}
        <p>Verdict <span class="badge v-{{badge}}" data-verdict>{{badge}}</span> from {{policyCount}} in scope, evaluated <time datetime="{{evaluatedAt}}">{{evaluatedAt}}</time>.</p>
        {{#first(violations)}}<div class="scroll"><table class="violations"><thead><tr><th scope="col">Policy</th><th scope="col">Rule</th><th scope="col">Reason</th><th scope="col">Finding</th></tr></thead><tbody>{{/first(violations)}}
        {{#violations}}<tr><td><a href="/console/policies/{{policyId}}">{{policyName}}</a> <span class="badge a-{{action}}">{{action}}</span></td>
        <td>{{ruleNumber}}. {{ruleType}}{{#ruleText}}<div class="muted">{{.}}</div>{{/ruleText}}</td><td>{{reason}}</td>
        <td>{{#vulnerabilityId}}<a href="{{vulnerabilityHref}}">{{.}}</a>{{/vulnerabilityId}}{{#package}} in {{#findingHref}}<a href="{{.}}">{{package}}</a>{{/findingHref}}{{^findingHref}}{{package}}{{/findingHref}}{{/package}}{{^vulnerabilityId}}{{^package}}<span class="muted">the whole image</span>{{/package}}{{/vulnerabilityId}}</td></tr>{{/violations}}
        {{#first(violations)}}</tbody></table></div>{{/first(violations)}}
        {{^violations}}<p>No violations.</p>{{/violations}}
        {{#first(noData)}}<p class="muted">Rules without data (they neither pass nor fail):</p><ul class="muted">{{/first(noData)}}{{#noData}}<li>{{policyName}}, rule {{ruleNumber}}: {{reason}}</li>{{/noData}}{{#first(noData)}}</ul>{{/first(noData)}}
        {{/policyView}}
        """#

    static let reportPolicies = #"""
        {{#first(policyRows)}}<section aria-labelledby="r-pol"><h2 id="r-pol">Policies</h2>
        <p class="muted">Images by the verdict of their current scans under each policy.</p>
        <table><thead><tr><th scope="col">Policy</th><th scope="col">Action</th><th scope="col">Enabled</th><th scope="col" class="num">Rules</th>
        <th scope="col" class="num">Passing</th><th scope="col" class="num">Warning</th><th scope="col" class="num">Failing</th></tr></thead><tbody>{{/first(policyRows)}}
        {{#policyRows}}<tr><td>{{name}}</td><td>{{action}}</td><td>{{enabled}}</td><td class="num">{{ruleCount}}</td><td class="num">{{passing}}</td><td class="num">{{warning}}</td><td class="num">{{failing}}</td></tr>{{/policyRows}}
        {{#first(policyRows)}}</tbody></table></section>{{/first(policyRows)}}
        """#
}
