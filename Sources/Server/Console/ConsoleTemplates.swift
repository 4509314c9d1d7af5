import Mustache
import Store

/// The console's Mustache templates, compiled into the binary (the release build is one
/// static executable with no files beside it). `{{ }}` escapes HTML, quotes included; the only
/// triple mustaches are `body` and `chart`, which hold markup the console itself rendered.
enum ConsoleTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in all { try library.register(text, named: name) }
        return library
    }

    static let all: [(String, String)] = [
        ("layout", layout), ("sign-in", signIn), ("overview", overview), ("registries", registries),
        ("registry", registry), ("registry-form", registryForm), ("images", images), ("image", image),
        ("vulnerabilities", vulnerabilities), ("scans", scans), ("settings", settings), ("csrf", csrf),
        ("error", error), ("image-table", imageTable), ("pager", pager), ("report-head", reportHead), ("report-fixes", reportFixes),
        ("report-decisions", reportDecisions), ("report-posture", reportPosture), ("report-image", reportImage),
        ("policies", policies), ("policy", policy), ("policy-new", policyNew), ("policy-form", policyForm), ("policy-verdict", policyVerdict),
        ("report-policies", reportPolicies),
    ]

    static let csrf = #"<input type="hidden" name="_csrf" value="{{csrf}}">"#

    static let layout = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · HarborGuard</title>
        <link rel="stylesheet" href="/console/assets/app.css?v={{assetVersion}}">
        <script src="/console/assets/app.js?v={{assetVersion}}" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        {{#user}}
        <header class="top">
          <a class="brand" href="/console">HarborGuard</a>
          <nav aria-label="Main"><ul>
          {{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>{{/nav}}
          </ul></nav>
          <form method="post" action="/console/sign-out" class="signout">
            {{> csrf}}
            <span class="who">{{username}} <span class="role">{{role}}</span></span>
            <button type="submit">Sign out</button>
          </form>
        </header>
        {{/user}}
        {{^user}}<header class="top"><span class="brand">HarborGuard</span></header>{{/user}}
        <main id="main" tabindex="-1">
        <h1>{{title}}</h1>
        {{#flash}}<div class="flash flash-{{kind}}" role="{{ariaRole}}">{{text}}</div>{{/flash}}
        {{{body}}}
        </main>
        </body>
        </html>
        """#

    static let signIn = #"""
        <form method="post" action="/console/sign-in" class="card narrow">
          {{> csrf}}
          <input type="hidden" name="next" value="{{next}}">
          <p><label for="username">Username</label>
          <input id="username" name="username" autocomplete="username" required autofocus value="{{username}}"></p>
          <p><label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required></p>
          <p><button type="submit" class="primary">Sign in</button></p>
        </form>
        """#

    static let overview = #"""
        <section aria-labelledby="h-sev">
          <h2 id="h-sev">Open findings by severity</h2>
          <ul class="tiles">
          {{#severities}}<li class="tile sev-{{key}}"><span class="n">{{count}}</span> {{label}}</li>{{/severities}}
          </ul>
        </section>
        <div class="grid2">
          <section aria-labelledby="h-trend">
            <h2 id="h-trend">Open critical and high, last 30 days</h2>
            {{{chart}}}
            <p class="muted">{{trendSummary}}</p>
          </section>
          <section aria-labelledby="h-24">
            <h2 id="h-24">Scans in the last 24 hours</h2>
            <ul class="tiles">
            {{#recent}}<li class="tile"><span class="n">{{count}}</span> {{label}}</li>{{/recent}}
            </ul>
            <p><a href="/console/scans">Queue and history</a></p>
          </section>
        </div>
        <section aria-labelledby="h-fix" id="fix-first">
          <h2 id="h-fix">Fix first</h2>
          {{#first(fixFirst)}}<div class="scroll"><table>
          <thead><tr><th scope="col">Priority</th><th scope="col">Upgrade</th><th scope="col">To</th><th scope="col" class="num">Findings closed</th>
          <th scope="col" class="num">KEV</th><th scope="col" class="num">Images</th><th scope="col">Vulnerabilities</th></tr></thead><tbody>{{/first(fixFirst)}}
          {{#fixFirst}}<tr><td><span class="prio prio-{{priority}}">{{priority}}</span></td><td>{{package}} <span class="muted">{{type}}</span></td>
          <td>{{fixedVersion}}</td><td class="num">{{findings}}</td><td class="num">{{#kev}}<span class="kev">KEV</span> {{kev}}{{/kev}}</td>
          <td class="num">{{images}}</td><td class="muted">{{vulnerabilities}}</td></tr>{{/fixFirst}}
          {{#first(fixFirst)}}</tbody></table></div>{{/first(fixFirst)}}
          {{^fixFirst}}<p>No open finding has a fix to apply.</p>{{/fixFirst}}
          <p><a href="/console/reports/posture">Printable posture report</a> · <a href="/api/reports/fixes.csv" download="fixes.csv">Every fix group as CSV</a> · <a href="/api/reports/findings.csv" download="findings.csv">every current finding as CSV</a></p>
        </section>
        <section aria-labelledby="h-reg">
          <h2 id="h-reg">Risk by registry</h2>
          {{#first(registries)}}
          <div class="scroll"><table>
          <thead><tr><th scope="col">Registry</th><th scope="col">Health</th><th scope="col" class="num">Images</th>
          <th scope="col" class="num">Critical</th><th scope="col" class="num">High</th><th scope="col" class="num">Highest risk</th></tr></thead>
          <tbody>
          {{/first(registries)}}
          {{#registries}}<tr><td><a href="/console/registries/{{id}}">{{name}}</a></td><td><span class="badge h-{{health}}">{{health}}</span></td>
          <td class="num">{{images}}</td><td class="num">{{critical}}</td><td class="num">{{high}}</td><td class="num">{{maxRisk}}</td></tr>{{/registries}}
          {{#first(registries)}}</tbody></table></div>{{/first(registries)}}
          {{^registries}}<p>No registries yet. <a href="/console/registries">Add one</a>.</p>{{/registries}}
        </section>
        <section aria-labelledby="h-top">
          <h2 id="h-top">Most vulnerable images</h2>
          {{> image-table}}
        </section>
        """#

    static let imageTable = #"""
        {{#first(images)}}
        <div class="scroll"><table>
        <thead><tr><th scope="col">Image</th><th scope="col">Latest tag</th><th scope="col" class="num">Risk</th><th scope="col">Grade</th>
        <th scope="col" class="num"><abbr title="Critical">C</abbr></th><th scope="col" class="num"><abbr title="High">H</abbr></th><th scope="col" class="num"><abbr title="Medium">M</abbr></th><th scope="col" class="num"><abbr title="Low">L</abbr></th>
        <th scope="col">Last scanned</th>{{#showPolicy}}<th scope="col">Policy</th>{{/showPolicy}}</tr></thead>
        <tbody>
        {{/first(images)}}
        {{#images}}<tr><td><a href="/console/images/{{id}}">{{fullName}}</a></td><td>{{latestTag}}</td><td class="num">{{riskScore}}</td>
        <td><span class="grade g-{{grade}}" title="Grade {{grade}}">{{grade}}</span></td>
        <td class="num">{{vulnerabilities.critical}}</td><td class="num">{{vulnerabilities.high}}</td>
        <td class="num">{{vulnerabilities.medium}}</td><td class="num">{{vulnerabilities.low}}</td>
        <td>{{#lastScannedAt}}<time datetime="{{.}}">{{.}}</time>{{/lastScannedAt}}{{^lastScannedAt}}never{{/lastScannedAt}}</td>{{#showPolicy}}<td>{{#policyBadge}}<span class="badge v-{{.}}" title="Policy verdict: {{.}}" data-verdict>{{.}}</span>{{/policyBadge}}</td>{{/showPolicy}}</tr>{{/images}}
        {{#first(images)}}</tbody></table></div>{{/first(images)}}
        {{^images}}<p>No images match.</p>{{/images}}
        """#

    static let registries = #"""
        {{#first(registries)}}
        <div class="scroll"><table>
        <thead><tr><th scope="col">Name</th><th scope="col">Provider</th><th scope="col">URL</th><th scope="col">Health</th>
        <th scope="col" class="num">Images</th><th scope="col">Last sync</th><th scope="col">Scanning</th><th scope="col">Actions</th></tr></thead>
        <tbody>
        {{/first(registries)}}
        {{#registries}}<tr>
        <td><a href="/console/registries/{{id}}">{{name}}</a></td><td>{{provider}}</td><td class="wrap">{{url}}</td>
        <td><span class="badge h-{{health.status}}">{{health.status}}</span> {{#health.score}}<span class="muted">{{.}}/100</span>{{/health.score}}
        {{#health.lastError}}<div class="err">{{.}}</div>{{/health.lastError}}</td>
        <td class="num">{{imageCount}}</td><td>{{#health.lastSyncAt}}<time datetime="{{.}}">{{.}}</time>{{/health.lastSyncAt}}</td>
        <td>{{scanMethod}} · {{scanning.schedule}}{{#sensor}}<div>sensor: <span class="badge s-{{status}}">{{status}}</span></div>{{/sensor}}</td>
        <td class="actions">
        {{#canAdmin}}<form method="post" action="/console/registries/{{id}}/sync">{{> csrf}}<button type="submit">Sync</button></form>{{/canAdmin}}
        {{#canDevelop}}<form method="post" action="/console/registries/{{id}}/test">{{> csrf}}<button type="submit">Test connection</button></form>{{/canDevelop}}
        </td></tr>{{/registries}}
        {{#first(registries)}}</tbody></table></div>{{/first(registries)}}
        {{^registries}}<p>No registries yet.</p>{{/registries}}
        {{#canAdmin}}
        <section aria-labelledby="h-add" class="card">
          <h2 id="h-add">Add a registry</h2>
          <form method="post" action="/console/registries" class="stack" data-provider-form>
            {{> csrf}}
            {{> registry-form}}
            <p><button type="submit" class="primary">Add registry</button></p>
          </form>
        </section>
        {{/canAdmin}}
        """#

    static let registryForm = #"""
        <p><label for="f-name">Name</label><input id="f-name" name="name" required maxlength="100" value="{{form.name}}"></p>
        {{^editing}}
        <p><label for="f-provider">Provider</label>
        <select id="f-provider" name="provider" data-provider>
        {{#providers}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/providers}}
        </select></p>
        <p><label for="f-method">Scan method</label>
        <select id="f-method" name="scanMethod"><option value="cloud">cloud (this server pulls images)</option><option value="sensor">sensor (an agent near the registry)</option></select></p>
        {{/editing}}
        <p><label for="f-url">URL</label><input id="f-url" name="url" type="url" value="{{form.url}}" placeholder="https://registry.example.com" aria-describedby="f-url-help{{#editing}}{{#form.hasCredentials}} f-cred-note{{/form.hasCredentials}}{{/editing}}">
        <span id="f-url-help" class="help">Leave empty for the provider's default where it has one.</span></p>
        <p class="check"><input id="f-insecure" name="insecure" type="checkbox" value="true"{{#form.insecure}} checked{{/form.insecure}}{{#editing}}{{#form.hasCredentials}} aria-describedby="f-cred-note"{{/form.hasCredentials}}{{/editing}}>
        <label for="f-insecure">Insecure (allow http:// and skip TLS verification)</label></p>
        {{#editing}}{{#form.hasCredentials}}<p id="f-cred-note" class="note" role="note">Changing the URL or turning on Insecure clears the saved credentials when you save, unless you enter new credentials below.</p>{{/form.hasCredentials}}{{/editing}}
        <p><label for="f-schedule">Schedule</label>
        <select id="f-schedule" name="schedule">{{#schedules}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/schedules}}</select></p>
        <fieldset><legend>Scanners</legend>
        {{#scanners}}<span class="check"><input id="sc-{{value}}" type="checkbox" name="scanners[]" value="{{value}}"{{#selected}} checked{{/selected}}><label for="sc-{{value}}">{{value}}</label></span> {{/scanners}}
        </fieldset>
        <p><label for="f-inc">Include tags</label><input id="f-inc" name="includeTags" value="{{form.includeTags}}" placeholder="*"></p>
        <p><label for="f-exc">Exclude tags</label><input id="f-exc" name="excludeTags" value="{{form.excludeTags}}" placeholder="*-dev"></p>
        <fieldset><legend>Credentials{{#editing}} (leave as "keep" to keep the stored ones){{/editing}}</legend>
        <p><label for="f-kind">Credential type</label>
        <select id="f-kind" name="credentialKind" data-credential-kind>
        {{#editing}}<option value="keep">keep the stored credentials</option>{{/editing}}
        {{#credentialKinds}}<option value="{{value}}" data-providers="{{providers}}">{{label}}</option>{{/credentialKinds}}
        </select></p>
        {{#credentialKinds}}{{#first(fields)}}<div class="cred" data-kind="{{value}}">{{/first(fields)}}
        {{#fields}}<p><label for="c-{{kind}}-{{name}}">{{label}}</label>
        {{#multiline}}<textarea id="c-{{kind}}-{{name}}" name="cred.{{kind}}.{{name}}" rows="4" autocomplete="off"></textarea>{{/multiline}}
        {{^multiline}}<input id="c-{{kind}}-{{name}}" name="cred.{{kind}}.{{name}}" type="{{type}}" autocomplete="off">{{/multiline}}</p>{{/fields}}
        {{#first(fields)}}</div>{{/first(fields)}}{{/credentialKinds}}
        </fieldset>
        """#

    static let registry = #"""
        <p><a href="/console/registries">All registries</a></p>
        <dl class="facts">
        <dt>Provider</dt><dd>{{registry.provider}}</dd>
        <dt>URL</dt><dd class="wrap">{{registry.url}}</dd>
        <dt>Health</dt><dd><span class="badge h-{{registry.health.status}}">{{registry.health.status}}</span> {{#registry.health.score}}{{.}}/100{{/registry.health.score}} {{#registry.health.lastError}}<span class="err">{{.}}</span>{{/registry.health.lastError}}</dd>
        <dt>Images</dt><dd><a href="/console/images?registryId={{registry.id}}">{{registry.imageCount}}</a></dd>
        <dt>Scan method</dt><dd>{{registry.scanMethod}}</dd>
        {{#sensor}}<dt>Sensor</dt><dd><span class="badge s-{{status}}">{{status}}</span> {{#sensor.name}}{{.}} {{/sensor.name}}{{#lastHeartbeatAt}}last heartbeat <time datetime="{{.}}">{{.}}</time>{{/lastHeartbeatAt}} · jobs queued {{jobs.queued}}, running {{jobs.running}}</dd>{{/sensor}}
        {{#registry.webhookUrl}}<dt>Webhook URL</dt><dd class="wrap"><code>{{.}}</code></dd>{{/registry.webhookUrl}}
        </dl>
        <div class="actions">
        {{#canAdmin}}<form method="post" action="/console/registries/{{registry.id}}/sync">{{> csrf}}<input type="hidden" name="next" value="/console/registries/{{registry.id}}"><button type="submit">Sync now</button></form>{{/canAdmin}}
        {{#canDevelop}}<form method="post" action="/console/registries/{{registry.id}}/test">{{> csrf}}<input type="hidden" name="next" value="/console/registries/{{registry.id}}"><button type="submit">Test connection</button></form>{{/canDevelop}}
        </div>
        {{#canAdmin}}
        <section class="card" aria-labelledby="h-edit">
          <h2 id="h-edit">Edit</h2>
          <form method="post" action="/console/registries/{{registry.id}}" class="stack" data-provider-form data-provider-value="{{registry.provider}}">
            {{> csrf}}
            {{> registry-form}}
            <p><button type="submit" class="primary">Save</button></p>
          </form>
        </section>
        <section class="card danger" aria-labelledby="h-del">
          <h2 id="h-del">Delete</h2>
          <p>Removes the registry with its images, scans and stored credentials.</p>
          <form method="post" action="/console/registries/{{registry.id}}/delete" data-confirm="Delete this registry and all its images and scans?">
            {{> csrf}}<button type="submit" class="danger">Delete registry</button></form>
        </section>
        {{/canAdmin}}
        """#

    static let images = #"""
        <form method="get" action="/console/images" class="filters" role="search">
          <p><label for="q">Search</label><input id="q" name="search" value="{{search}}"></p>
          <p><label for="reg">Registry</label><select id="reg" name="registryId"><option value="">all</option>
          {{#registryOptions}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/registryOptions}}</select></p>
          <p><label for="sort">Sort</label><select id="sort" name="sort">
          {{#sortOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sortOptions}}</select></p>
          <p><button type="submit">Apply</button></p>
        </form>
        <p class="muted">Images found: {{total}} · <a href="{{csvHref}}" download="images.csv">Download CSV</a></p>
        {{> image-table}}
        {{> pager}}
        """#

    static let image = #"""
        <p><a href="/console/images">All images</a> · <a href="/console/reports/images/{{image.id}}">Printable report</a></p>
        <dl class="facts">
        <dt>Risk</dt><dd>{{image.riskScore}} <span class="grade g-{{grade}}">{{grade}}</span></dd>
        <dt>Open findings</dt><dd>{{image.vulnerabilities.critical}} critical, {{image.vulnerabilities.high}} high, {{image.vulnerabilities.medium}} medium, {{image.vulnerabilities.low}} low</dd>
        <dt>Registry</dt><dd><a href="/console/registries/{{image.registryId}}">{{registryName}}</a></dd>
        {{#imagePolicy}}<dt>Policy</dt><dd><span class="badge v-{{badge}}" data-image-verdict>{{badge}}</span> {{#violations}}{{.}} violations in the current scans of its tags · {{/violations}}<a href="/console/policies">Policies</a></dd>{{/imagePolicy}}
        </dl>
        <section aria-labelledby="h-tags">
        <h2 id="h-tags">Tags</h2>
        <div class="scroll"><table>
        <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Last scanned</th><th scope="col">Actions</th></tr></thead>
        <tbody>
        {{#tags}}<tr{{#current}} class="current"{{/current}}><td>{{name}}</td><td><code class="digest">{{digest}}</code></td>
        <td>{{#lastScanId}}<a href="/console/images/{{image.id}}?scan={{.}}">{{#lastScannedAt}}{{.}}{{/lastScannedAt}}{{^lastScannedAt}}view{{/lastScannedAt}}</a>{{/lastScanId}}{{^lastScanId}}never{{/lastScanId}}</td>
        <td>{{#canDevelop}}<form method="post" action="/console/scans">{{> csrf}}<input type="hidden" name="image" value="{{reference}}">
        <input type="hidden" name="next" value="/console/images/{{image.id}}"><button type="submit" aria-label="Scan {{name}}">Scan</button></form>{{/canDevelop}}</td></tr>{{/tags}}
        </tbody></table></div>
        </section>
        {{#scan}}
        <section aria-labelledby="h-scan">
        <h2 id="h-scan">Scan of {{reference}}</h2>
        <dl class="facts">
        <dt>Status</dt><dd><span class="badge st-{{status}}">{{status}}</span> {{#finishedAt}}<time datetime="{{.}}">{{.}}</time>{{/finishedAt}} {{#error}}<span class="err">{{.}}</span>{{/error}}</dd>
        <dt>OS</dt><dd>{{os.family}} {{os.version}}</dd>
        <dt>Packages</dt><dd>{{packageCount}}</dd>
        <dt>Scanners</dt><dd>{{#scanners}}<span class="badge sc-{{status}}">{{name}}: {{status}}</span> {{/scanners}}</dd>
        <dt>SBOM</dt><dd><a href="/api/scans/{{id}}/sbom?format=cyclonedx" download="sbom-{{id}}.cdx.json">CycloneDX</a> · <a href="/api/scans/{{id}}/sbom?format=spdx" download="sbom-{{id}}.spdx.json">SPDX</a></dd>
        </dl>
        {{#policyView}}<h3 id="policy">Policy verdict</h3>{{/policyView}}
        {{> policy-verdict}}
        <h3>Layers</h3>
        {{#first(layers)}}<div class="scroll"><table><thead><tr><th scope="col">#</th><th scope="col">Layer</th><th scope="col" class="num">Packages</th></tr></thead><tbody>{{/first(layers)}}
        {{#layers}}<tr><td class="num">{{index}}</td><td><code class="digest">{{digest}}</code></td><td class="num">{{packages}}</td></tr>{{/layers}}
        {{#first(layers)}}</tbody></table></div>{{/first(layers)}}
        {{#layerTotals}}<p class="muted">{{total}} layers, {{cached}} from cache, {{bytesDownloaded}} bytes downloaded.</p>{{/layerTotals}}
        <h3 id="findings">Findings</h3>
        <form method="get" action="/console/images/{{image.id}}#findings" class="filters">
          <input type="hidden" name="scan" value="{{id}}">
          <p><label for="fs">Severity</label><select id="fs" name="severity">{{#severityOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/severityOptions}}</select></p>
          <p class="check"><input id="ff" type="checkbox" name="fixable" value="true"{{#fixableOnly}} checked{{/fixableOnly}}><label for="ff">Fixable only</label></p>
          <p><label for="fp">Package</label><input id="fp" name="package" value="{{packageFilter}}"></p>
          <p><button type="submit">Filter</button></p>
        </form>
        {{#first(findings)}}<div class="scroll"><table><thead><tr><th scope="col">Priority</th><th scope="col">Vulnerability</th><th scope="col">Severity</th><th scope="col">Package</th>
        <th scope="col">Installed</th><th scope="col">Fixed in</th><th scope="col">Triage</th></tr></thead><tbody>{{/first(findings)}}
        {{#findings}}<tr id="finding-{{id}}"><td><span class="prio prio-{{priority}}">{{priority}}</span>{{#kev}} <span class="kev" title="In CISA KEV since {{dateAdded}}">KEV</span>{{/kev}}</td>
        <td><a href="/console/vulnerabilities?cveId={{vulnerabilityId}}">{{vulnerabilityId}}</a><div class="muted">{{title}}</div></td>
        <td><span class="sev sev-{{severity}}">{{severity}}</span>{{#epss}}<div class="muted">EPSS {{percentile}}</div>{{/epss}}</td><td>{{package.name}}</td><td>{{package.version}}</td>
        <td>{{fixedVersion}}</td><td>{{#triage}}{{status}}{{/triage}}</td></tr>{{/findings}}
        {{#first(findings)}}</tbody></table></div>{{/first(findings)}}
        {{^findings}}<p>No findings match.</p>{{/findings}}
        <p><a href="{{csvHref}}" download="findings-{{id}}.csv">Download these findings as CSV</a></p>
        <h3>Packages</h3>
        <p class="muted">{{packageTotal}} packages{{#packagesTruncated}}, the first 200 shown{{/packagesTruncated}}.</p>
        <details><summary>Show packages</summary>
        <div class="scroll"><table><thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Type</th></tr></thead><tbody>
        {{#packages}}<tr><td>{{name}}</td><td>{{version}}</td><td>{{type}}</td></tr>{{/packages}}
        </tbody></table></div></details>
        </section>
        {{/scan}}
        {{^scan}}<p>This image has not been scanned yet.</p>{{/scan}}
        """#

    static let vulnerabilities = #"""
        <form method="get" action="/console/vulnerabilities" class="filters" role="search">
          <p><label for="vs">Severity</label><select id="vs" name="severity">{{#severityOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/severityOptions}}</select></p>
          <p><label for="vt">Status</label><select id="vt" name="status">{{#statusFilter}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statusFilter}}</select></p>
          <p><label for="vc">CVE</label><input id="vc" name="cveId" value="{{cveId}}"></p>
          <p><label for="vp">Package</label><input id="vp" name="package" value="{{package}}"></p>
          <p><button type="submit">Filter</button></p>
        </form>
        <p class="muted">Vulnerabilities found: {{total}} · <a href="{{csvHref}}" download="vulnerabilities.csv">Download CSV</a></p>
        {{#canDevelop}}<details class="vex"><summary>Import VEX</summary>
        <form method="post" action="/console/vex" class="stack">
          {{> csrf}}
          <p><label for="vex-file">OpenVEX or CycloneDX file</label><input id="vex-file" type="file" accept=".json,application/json" data-vex-file="vex-doc"></p>
          <p><label for="vex-doc">The document (the file's text, or pasted)</label><textarea id="vex-doc" name="document" rows="6" required></textarea></p>
          <p><button type="submit">Import</button></p>
        </form></details>{{/canDevelop}}
        {{#first(rows)}}<div class="scroll"><table>
        <thead><tr><th scope="col">Priority</th><th scope="col">Vulnerability</th><th scope="col">Severity</th><th scope="col">Package</th><th scope="col" class="num">Images</th>
        <th scope="col">Fixed in</th><th scope="col">Triage</th></tr></thead><tbody>{{/first(rows)}}
        {{#rows}}<tr><td><span class="prio prio-{{priority}}">{{priority}}</span>{{#kev}} <span class="kev" title="In CISA KEV since {{dateAdded}}">KEV</span>{{/kev}}</td>
        <td>{{vulnerabilityId}}<div class="muted">{{title}}</div></td><td><span class="sev sev-{{severity}}">{{severity}}</span>{{#epss}}<div class="muted">EPSS {{percentile}}</div>{{/epss}}</td>
        <td>{{packageName}} {{packageVersion}}</td><td class="num">{{affectedImages}}</td><td>{{fixedVersion}}</td>
        <td><span class="badge t-{{triageStatus}}">{{triageStatus}}</span>{{#triage.justification}}<div class="muted">{{.}}</div>{{/triage.justification}}{{#triage.source.author}}<div class="muted">VEX: {{.}}</div>{{/triage.source.author}}{{#triage.note}}<div class="muted">{{.}}</div>{{/triage.note}}{{#triage.expiresAt}}<div class="muted">until {{.}}</div>{{/triage.expiresAt}}
        {{#canDevelop}}<details class="triage"><summary>Triage</summary>
        <form method="post" action="/console/vulnerabilities/{{triageId}}/triage" class="stack">
          {{> csrf}}<input type="hidden" name="next" value="{{returnTo}}">
          <p><label for="ts-{{index}}">Status</label><select id="ts-{{index}}" name="status">{{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/statusOptions}}</select></p>
          <p><label for="tj-{{index}}">Justification (NOT_AFFECTED)</label><select id="tj-{{index}}" name="justification"><option value="">—</option>{{#justificationOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/justificationOptions}}</select></p>
          <p><label for="tn-{{index}}">Note</label><textarea id="tn-{{index}}" name="note" rows="2" maxlength="2000">{{triage.note}}</textarea></p>
          <p><label for="te-{{index}}">Expires</label><input id="te-{{index}}" name="expiresAt" type="date"></p>
          <p><button type="submit">Save triage</button></p>
        </form></details>{{/canDevelop}}</td></tr>{{/rows}}
        {{#first(rows)}}</tbody></table></div>{{/first(rows)}}
        {{^rows}}<p>No vulnerabilities match.</p>{{/rows}}
        {{> pager}}
        """#

    static let pager = #"""
        {{#pager}}<nav class="pager" aria-label="Pages">{{#prev}}<a href="{{.}}" rel="prev">Previous</a>{{/prev}} <span>page {{page}} of {{pages}}</span> {{#next}}<a href="{{.}}" rel="next">Next</a>{{/next}}</nav>{{/pager}}
        """#

    static let scans = #"""
        <section aria-labelledby="h-q">
        <h2 id="h-q">Queue</h2>
        <div data-live-scans>
        {{#first(active)}}<div class="scroll"><table><thead><tr><th scope="col">Image</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Queued</th><th scope="col">Actions</th></tr></thead><tbody>{{/first(active)}}
        {{#active}}<tr data-scan-id="{{id}}"><td>{{reference}}</td><td><span class="badge st-{{status}}" data-status>{{status}}</span></td>
        <td><progress max="100" value="0" data-progress aria-label="Progress of {{reference}}"></progress> <span data-progress-text></span></td>
        <td><time datetime="{{queuedAt}}">{{queuedAt}}</time></td>
        <td>{{#canDevelop}}<form method="post" action="/console/scans/{{id}}/cancel">{{> csrf}}<button type="submit">Cancel</button></form>{{/canDevelop}}</td></tr>{{/active}}
        {{#first(active)}}</tbody></table></div>{{/first(active)}}
        {{^active}}<p>No scan is queued or running.</p>{{/active}}
        </div>
        </section>
        {{#canDevelop}}
        <section class="card" aria-labelledby="h-new">
        <h2 id="h-new">Scan an image</h2>
        <form method="post" action="/console/scans" class="inline">{{> csrf}}
        <p class="wide"><label for="img">Image reference</label><input id="img" name="image" required placeholder="registry.example.com/team/app:1.0"></p>
        <p><button type="submit" class="primary">Scan</button></p></form>
        </section>
        {{/canDevelop}}
        <section aria-labelledby="h-h">
        <h2 id="h-h">History</h2>
        {{#first(history)}}<div class="scroll"><table><thead><tr><th scope="col">Image</th><th scope="col">Status</th><th scope="col">Trigger</th>
        <th scope="col" class="num">Risk</th><th scope="col" class="num"><abbr title="Critical">C</abbr></th><th scope="col" class="num"><abbr title="High">H</abbr></th><th scope="col">Finished</th><th scope="col" class="num">Seconds</th></tr></thead><tbody>{{/first(history)}}
        {{#history}}<tr><td>{{#imageId}}<a href="/console/images/{{.}}?scan={{id}}">{{reference}}</a>{{/imageId}}{{^imageId}}{{reference}}{{/imageId}}</td>
        <td><span class="badge st-{{status}}">{{status}}</span>{{#error}}<div class="err">{{.}}</div>{{/error}}</td><td>{{trigger}}</td>
        <td class="num">{{riskScore}}</td><td class="num">{{counts.critical}}</td><td class="num">{{counts.high}}</td>
        <td>{{#finishedAt}}<time datetime="{{.}}">{{.}}</time>{{/finishedAt}}</td><td class="num">{{seconds}}</td></tr>{{/history}}
        {{#first(history)}}</tbody></table></div>{{/first(history)}}
        {{^history}}<p>No finished scans yet.</p>{{/history}}
        {{> pager}}
        </section>
        """#

    static let settings = #"""
        {{#newKey}}<div class="flash flash-ok" role="status"><p>New API key <strong>{{name}}</strong>, shown once:</p><p><code class="wrap" data-new-key>{{key}}</code></p></div>{{/newKey}}
        <section aria-labelledby="h-keys">
        <h2 id="h-keys">API keys</h2>
        {{#canAdmin}}
        {{#first(keys)}}<div class="scroll"><table><thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead><tbody>{{/first(keys)}}
        {{#keys}}<tr><td>{{name}}</td><td><code>{{prefix}}</code></td><td>{{role}}</td><td>{{#lastUsedAt}}<time datetime="{{.}}">{{.}}</time>{{/lastUsedAt}}{{^lastUsedAt}}never{{/lastUsedAt}}</td><td>{{#expiresAt}}<time datetime="{{.}}">{{.}}</time>{{/expiresAt}}</td>
        <td><form method="post" action="/console/settings/api-keys/{{id}}/revoke" data-confirm="Revoke this key?">{{> csrf}}<button type="submit" aria-label="Revoke {{name}}">Revoke</button></form></td></tr>{{/keys}}
        {{#first(keys)}}</tbody></table></div>{{/first(keys)}}
        {{^keys}}<p>No API keys.</p>{{/keys}}
        <form method="post" action="/console/settings/api-keys" class="inline">{{> csrf}}
        <p><label for="kn">Name</label><input id="kn" name="name" required maxlength="100"></p>
        <p><label for="kr">Role</label><select id="kr" name="role">{{#roles}}<option value="{{.}}">{{.}}</option>{{/roles}}</select></p>
        <p><button type="submit">Create key</button></p></form>
        {{/canAdmin}}
        {{^canAdmin}}<p>Only admins manage API keys.</p>{{/canAdmin}}
        </section>
        {{#canAdmin}}
        <section aria-labelledby="h-mem">
        <h2 id="h-mem">Members</h2>
        <div class="scroll"><table><thead><tr><th scope="col">Username</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead><tbody>
        {{#members}}<tr><td>{{username}}</td><td>{{role}}</td><td><time datetime="{{createdAt}}">{{createdAt}}</time></td>
        <td class="actions">{{#manageable}}<form method="post" action="/console/settings/members/{{id}}">{{> csrf}}<select name="role" aria-label="New role for {{username}}">{{#roleOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/roleOptions}}</select> <button type="submit" aria-label="Change the role of {{username}}">Change role</button></form>
        <form method="post" action="/console/settings/members/{{id}}/delete" data-confirm="Remove this member? Their sessions and personal tokens stop working.">{{> csrf}}<button type="submit" aria-label="Remove {{username}}">Remove</button></form>{{/manageable}}</td></tr>{{/members}}
        </tbody></table></div>
        <form method="post" action="/console/settings/members" class="inline">{{> csrf}}
        <p><label for="mu">Username</label><input id="mu" name="username" required maxlength="64" autocomplete="off"></p>
        <p><label for="mp">Password</label><input id="mp" name="password" type="password" required autocomplete="new-password"></p>
        <p><label for="mr">Role</label><select id="mr" name="role">{{#roles}}<option value="{{.}}">{{.}}</option>{{/roles}}</select></p>
        <p><button type="submit">Add member</button></p></form>
        </section>
        <section aria-labelledby="h-ch">
        <h2 id="h-ch">Notification channels</h2>
        {{#first(channels)}}<div class="scroll"><table><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Target</th><th scope="col">Events</th><th scope="col">Delivery</th><th scope="col">Enabled</th><th scope="col">Actions</th></tr></thead><tbody>{{/first(channels)}}
        {{#channels}}<tr><td>{{name}}</td><td>{{type}}</td><td class="wrap">{{url}}</td><td>{{eventList}}{{#minSeverity}} (≥ {{.}}){{/minSeverity}}{{#minPriority}} ({{.}} or higher){{/minPriority}}</td><td>{{delivery}}</td><td>{{enabled}}</td>
        <td class="actions"><form method="post" action="/console/settings/channels/{{id}}/test">{{> csrf}}<button type="submit" aria-label="Send a test to {{name}}">Test</button></form>
        <form method="post" action="/console/settings/channels/{{id}}/delete" data-confirm="Delete this channel?">{{> csrf}}<button type="submit" aria-label="Delete {{name}}">Delete</button></form></td></tr>{{/channels}}
        {{#first(channels)}}</tbody></table></div>{{/first(channels)}}
        {{^channels}}<p>No notification channels.</p>{{/channels}}
        <form method="post" action="/console/settings/channels" class="stack">{{> csrf}}
        <h3>Add a channel</h3>
        <p><label for="cn">Name</label><input id="cn" name="name" required maxlength="100"></p>
        <p><label for="ct">Type</label><select id="ct" name="type"><option value="webhook">Webhook (signed JSON per event)</option><option value="slack">Slack</option><option value="teams">Microsoft Teams</option><option value="email">E-mail (SMTP)</option></select></p> <p><label for="cu">URL (webhook, Slack or Teams; stored encrypted for Slack and Teams)</label><input id="cu" name="url" type="url" placeholder="https://hooks.example.com/harborguard"></p>
        <p><label for="cs">Signing secret (webhook, optional, 16 characters or more)</label><input id="cs" name="secret" type="password" autocomplete="off" minlength="16"></p> <p><label for="cm">Minimum severity</label><select id="cm" name="minSeverity"><option value="">any</option>{{#severityOptions}}<option value="{{.}}">{{.}}</option>{{/severityOptions}}</select></p> <p><label for="cp">Minimum priority</label><select id="cp" name="minPriority"><option value="">any</option>{{#priorityOptions}}<option value="{{.}}">{{.}}</option>{{/priorityOptions}}</select></p>
        <p><label for="cd">Delivery (Slack, Teams, e-mail)</label><select id="cd" name="delivery"><option value="immediate">immediate</option><option value="hourly">hourly digest (on the hour, UTC)</option><option value="daily">daily digest (08:00 UTC)</option></select></p> <fieldset><legend>E-mail (SMTP)</legend>
        <p><label for="eh">SMTP host</label><input id="eh" name="emailHost" maxlength="253"></p> <p><label for="ep">Port</label><input id="ep" name="emailPort" inputmode="numeric" placeholder="587"></p> <p><label for="ex">Security</label><select id="ex" name="emailSecurity"><option value="starttls">STARTTLS</option><option value="tls">TLS</option></select></p>
        <p><label for="eu">Username</label><input id="eu" name="emailUsername" autocomplete="off"></p> <p><label for="ew">Password (stored encrypted)</label><input id="ew" name="emailPassword" type="password" autocomplete="new-password"></p> <p><label for="ef">From</label><input id="ef" name="emailFrom" type="email"></p> <p><label for="eo">To (comma-separated)</label><input id="eo" name="emailTo"></p>
        </fieldset>
        <fieldset><legend>Events</legend>
        {{#eventOptions}}<span class="check"><input id="ev-{{.}}" type="checkbox" name="events[]" value="{{.}}"><label for="ev-{{.}}">{{.}}</label></span> {{/eventOptions}}
        </fieldset>
        <p><button type="submit">Add channel</button></p></form>
        </section>
        {{/canAdmin}}
        {{#canAudit}}
        <section aria-labelledby="h-audit">
        <h2 id="h-audit">Audit log</h2>
        <div class="scroll"><table><thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">IP</th></tr></thead><tbody>
        {{#audit}}<tr><td><time datetime="{{createdAt}}">{{createdAt}}</time></td><td>{{actor}}</td><td>{{action}}</td><td class="wrap">{{target}}</td><td>{{ip}}</td></tr>{{/audit}}
        </tbody></table></div>
        </section>
        {{/canAudit}}
        """#

    static let error = #"""
        <p>{{message}}</p>
        <p><a href="/console">Back to the overview</a></p>
        """#
}
