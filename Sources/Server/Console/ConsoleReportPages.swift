import Cron
import Foundation
import GRDB
import Hummingbird
import Scan
import Store

/// Printable reports: the organization's security posture and one image's, as pages of the
/// console with print styles (Print → Save as PDF gives a clean document).
extension ConsoleRoutes {
    static let reportDecisionLimit = 200

    /// A triage decision as the reports list it.
    struct Decision: Sendable {
        var vulnerabilityId: String
        var scope: String
        var status: String
        var note: String
        var expiresAt: String
        var owner: String
        var updatedAt: String
    }

    func decisions(_ v: Viewer, imageId: String?) async throws -> [Decision] {
        let org = v.principal.orgId, scope = v.principal.registryScope, now = s.now
        return try await s.db.read { db in
            try ReportRepository.triageDecisions(
                org: org, imageId: imageId, registryScope: scope, now: now, limit: Self.reportDecisionLimit, in: db
            ).map { r in
                let image: String = r[1]
                return Decision(
                    vulnerabilityId: r[0], scope: image.isEmpty ? "organization" : ((r[2] as String?) ?? image), status: r[3],
                    note: (r[4] as String?) ?? "", expiresAt: (r[5] as String?) ?? "no expiry", owner: r[6], updatedAt: r[7])
            }
        }
    }

    @Sendable func postureReport(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let o = try await ImageService(s: s).overview(v.principal)
        let fixes = try await FixService(s: s).list(v.principal, filter: PriorityFilter(), limit: 10, offset: 0)
        let t = o.severities
        let rows = await imageRows(o.topImages, v)
        var data: [String: Any] = [
            "generatedAt": Timestamp.format(s.now),
            "severities": [("Critical", t.critical), ("High", t.high), ("Medium", t.medium), ("Low", t.low), ("Unknown", t.unknown)]
                .map { ["label": $0.0, "count": $0.1, "key": $0.0.lowercased()] as [String: Any] },
            "registries": o.registries.map {
                ["name": $0.name, "health": $0.health, "images": $0.imageCount, "critical": $0.critical, "high": $0.high, "maxRisk": $0.maxRisk]
                    as [String: Any]
            },
            "imageCount": o.registries.reduce(0) { $0 + $1.imageCount },
            "registryCount": o.registries.count,
            "chart": ConsoleChart.svg(o.trend),
            "fixes": fixes.groups.map { Self.fixRow($0.group) },
            "fixTotal": fixes.total,
            "images": rows.rows, "showPolicy": rows.showPolicy,
            "decisions": try await decisions(v, imageId: nil),
        ]
        if let policyRows = await policyReportRows(v) { data["policyRows"] = policyRows }
        return show(req, "report-posture", title: "Security posture report", viewer: v, current: "overview", data: data)
    }

    @Sendable func imageReport(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        guard let img = try? await ImageService(s: s).image(v.principal, id: id) else { return notFound(v, "No such image.") }
        let tags = img.tags ?? []
        let latest = tags.filter { $0.lastScanId != nil }.max { ($0.lastScannedAt ?? "") < ($1.lastScannedAt ?? "") }
        var data: [String: Any] = [
            "generatedAt": Timestamp.format(s.now), "image": ConsoleView(img), "grade": Self.grade(img.riskScore),
            "tags": tags.map { ConsoleView($0) },
        ]
        let reg = try? await RegistryService(s: s).registry(v.principal, id: img.registryId)
        data["registryName"] = reg?.name ?? img.registryId
        if let scanId = latest?.lastScanId, let dto = try? await ScanService(s: s).scan(v.principal, id: scanId) {
            var scan = ConsoleJSON.object(dto)
            let found = try await ScanService(s: s).findings(v.principal, id: scanId, ScanRepository.FindingsQuery(limit: 50, offset: 0))
            scan["findings"] = found.findings.map { ConsoleJSON.object($0) }
            scan["findingTotal"] = found.total
            scan["findingsTruncated"] = found.total > 50
            scan["policyView"] = await scanPolicyView(dto, imageId: id, v)
            data["scan"] = scan
        }
        let fixes = try await FixService(s: s).list(v.principal, imageId: id, filter: PriorityFilter(), limit: 10, offset: 0)
        data["fixes"] = fixes.groups.map { Self.fixRow($0.group) }
        data["decisions"] = try await decisions(v, imageId: id)
        return show(req, "report-image", title: "Image report: \(img.fullName)", viewer: v, current: "images", data: data)
    }
}

extension ConsoleTemplates {
    /// What both reports start with: when, and a print button (the script binds it).
    static let reportHead = #"""
        <p class="report-meta">Generated {{generatedAt}} by HarborGuard. <button type="button" class="no-print" data-print>Print or save as PDF</button></p>
        """#

    static let reportFixes = #"""
        {{#first(fixes)}}<table><thead><tr><th scope="col">Priority</th><th scope="col">Upgrade</th><th scope="col">To</th><th scope="col" class="num">Findings closed</th>
        <th scope="col" class="num">KEV</th><th scope="col" class="num">Images</th><th scope="col">Vulnerabilities</th></tr></thead><tbody>{{/first(fixes)}}
        {{#fixes}}<tr><td>{{priority}}</td><td>{{package}} <span class="muted">{{type}}</span></td><td>{{fixedVersion}}</td><td class="num">{{findings}}</td>
        <td class="num">{{#kev}}{{.}}{{/kev}}</td><td class="num">{{images}}</td><td class="muted">{{vulnerabilities}}</td></tr>{{/fixes}}
        {{#first(fixes)}}</tbody></table>{{/first(fixes)}}
        {{^fixes}}<p>No open finding has a fix to apply.</p>{{/fixes}}
        """#

    static let reportDecisions = #"""
        {{#first(decisions)}}<table><thead><tr><th scope="col">Vulnerability</th><th scope="col">Scope</th><th scope="col">Decision</th><th scope="col">Owner</th>
        <th scope="col">Decided</th><th scope="col">Expires</th><th scope="col">Note</th></tr></thead><tbody>{{/first(decisions)}}
        {{#decisions}}<tr><td>{{vulnerabilityId}}</td><td>{{scope}}</td><td>{{status}}</td><td>{{owner}}</td><td>{{updatedAt}}</td><td>{{expiresAt}}</td><td>{{note}}</td></tr>{{/decisions}}
        {{#first(decisions)}}</tbody></table>{{/first(decisions)}}
        {{^decisions}}<p>No triage decision is in force.</p>{{/decisions}}
        """#

    static let reportPosture = #"""
        <article class="report">
        {{> report-head}}
        <section aria-labelledby="r-sum"><h2 id="r-sum">Summary</h2>
        <p>{{imageCount}} images in {{registryCount}} registries. Open findings in the latest scan of every image:</p>
        <ul class="tiles">{{#severities}}<li class="tile sev-{{key}}"><span class="n">{{count}}</span> {{label}}</li>{{/severities}}</ul>
        </section>
        <section aria-labelledby="r-trend"><h2 id="r-trend">Open critical and high, last 30 days</h2>{{{chart}}}</section>
        <section aria-labelledby="r-fix"><h2 id="r-fix">Top fixes</h2>
        <p class="muted">The ten upgrades that close the most urgent findings, of {{fixTotal}}.</p>
        {{> report-fixes}}</section>
        <section aria-labelledby="r-reg"><h2 id="r-reg">Registries</h2>
        {{#first(registries)}}<table><thead><tr><th scope="col">Registry</th><th scope="col">Health</th><th scope="col" class="num">Images</th><th scope="col" class="num">Critical</th>
        <th scope="col" class="num">High</th><th scope="col" class="num">Highest risk</th></tr></thead><tbody>{{/first(registries)}}
        {{#registries}}<tr><td>{{name}}</td><td>{{health}}</td><td class="num">{{images}}</td><td class="num">{{critical}}</td><td class="num">{{high}}</td><td class="num">{{maxRisk}}</td></tr>{{/registries}}
        {{#first(registries)}}</tbody></table>{{/first(registries)}}
        </section>
        {{> report-policies}}
        <section aria-labelledby="r-img"><h2 id="r-img">Most vulnerable images</h2>{{> image-table}}</section>
        <section aria-labelledby="r-tri"><h2 id="r-tri">Triage decisions in force</h2>{{> report-decisions}}</section>
        </article>
        """#

    static let reportImage = #"""
        <article class="report">
        {{> report-head}}
        <section aria-labelledby="r-sum"><h2 id="r-sum">Summary</h2>
        <dl class="facts">
        <dt>Registry</dt><dd>{{registryName}}</dd>
        <dt>Risk</dt><dd>{{image.riskScore}} (grade {{grade}})</dd>
        <dt>Open findings</dt><dd>{{image.vulnerabilities.critical}} critical, {{image.vulnerabilities.high}} high, {{image.vulnerabilities.medium}} medium, {{image.vulnerabilities.low}} low</dd>
        <dt>Tags</dt><dd>{{#tags}}{{name}} {{/tags}}</dd>
        {{#scan}}<dt>Latest scan</dt><dd>{{reference}}, <code class="digest">{{digest}}</code>, {{finishedAt}}</dd>
        <dt>OS</dt><dd>{{os.family}} {{os.version}}</dd><dt>Packages</dt><dd>{{packageCount}}</dd>{{/scan}}
        </dl></section>
        {{#scan}}{{#policyView}}<section aria-labelledby="r-pol"><h2 id="r-pol">Policy verdict</h2>{{/policyView}}{{> policy-verdict}}{{#policyView}}</section>{{/policyView}}{{/scan}}
        <section aria-labelledby="r-fix"><h2 id="r-fix">Top fixes</h2>{{> report-fixes}}</section>
        {{#scan}}<section aria-labelledby="r-find"><h2 id="r-find">Findings, most urgent first</h2>
        {{#findingsTruncated}}<p class="muted">The first 50 of {{findingTotal}}; the CSV report has them all.</p>{{/findingsTruncated}}
        {{#first(findings)}}<table><thead><tr><th scope="col">Priority</th><th scope="col">Vulnerability</th><th scope="col">Severity</th><th scope="col">Package</th>
        <th scope="col">Installed</th><th scope="col">Fixed in</th><th scope="col">Triage</th></tr></thead><tbody>{{/first(findings)}}
        {{#findings}}<tr><td>{{priority}}{{#kev}} KEV{{/kev}}</td><td>{{vulnerabilityId}}<div class="muted">{{title}}</div></td><td>{{severity}}</td>
        <td>{{package.name}}</td><td>{{package.version}}</td><td>{{fixedVersion}}</td><td>{{#triage}}{{status}}{{/triage}}</td></tr>{{/findings}}
        {{#first(findings)}}</tbody></table>{{/first(findings)}}
        {{^findings}}<p>No findings.</p>{{/findings}}
        </section>{{/scan}}
        {{^scan}}<p>This image has not been scanned yet.</p>{{/scan}}
        <section aria-labelledby="r-tri"><h2 id="r-tri">Triage decisions in force</h2>{{> report-decisions}}</section>
        </article>
        """#
}
