import Crypto
import Foundation
import Registry
import Store

/// The console's stylesheet and script, served from the binary under /console/assets with a
/// content hash in the URL, so browsers may cache them for a year.
enum ConsoleAssets {
    static let version: String = {
        let digest = SHA256.hash(data: Data((css + js).utf8))
        return digest.prefix(6).hexString
    }()

    static let css = #"""
        :root { --fg: #1b1f24; --muted: #57606a; --bg: #f6f8fa; --card: #fff; --line: #d0d7de; --accent: #0a5cc2;
          --crit: #a40e26; --high: #bc4c00; --med: #7d5e00; --low: #1a7f37; --ok: #1a7f37; --bad: #a40e26; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible {
          outline: 3px solid #f0b400; outline-offset: 2px; }
        .skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
        .skip:focus { left: .5rem; z-index: 10; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.25rem; padding: .5rem 1rem; background: #0d1117; color: #fff; }
        header.top a { color: #fff; }
        .brand { font-weight: 700; text-decoration: none; font-size: 1.1rem; }
        nav ul { display: flex; flex-wrap: wrap; gap: .25rem .9rem; list-style: none; margin: 0; padding: 0; }
        nav a { text-decoration: none; padding: .2rem 0; border-bottom: 2px solid transparent; }
        nav a[aria-current="page"] { border-bottom-color: #f0b400; }
        .signout { margin-left: auto; display: flex; align-items: center; gap: .5rem; }
        .who .role { color: #c9d1d9; font-size: .85em; }
        main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
        h1 { margin: .25rem 0 1rem; font-size: 1.5rem; }
        h2 { font-size: 1.15rem; margin: 1.25rem 0 .5rem; }
        h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
        section, .card { margin-bottom: 1rem; }
        .card { margin-top: 1rem; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
        .narrow { max-width: 24rem; }
        .card > h2:first-child { margin-top: .25rem; }
        abbr[title] { text-decoration: none; }
        .danger h2 { color: var(--bad); }
        .grid2 { display: grid; grid-template-columns: 2fr 1fr; gap: 1rem; }
        @media (max-width: 760px) { .grid2 { grid-template-columns: 1fr; } .signout { margin-left: 0; } }
        .tiles { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; padding: 0; margin: 0; }
        .tile { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 7.5rem; }
        .tile .n { display: block; font-size: 1.6rem; font-weight: 700; }
        .tile.sev-critical { border-left-color: var(--crit); } .tile.sev-high { border-left-color: var(--high); }
        .tile.sev-medium { border-left-color: var(--med); } .tile.sev-low { border-left-color: var(--low); }
        .scroll { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
        td.num, th.num { text-align: right; }
        tr.current td { background: #fff8e1; }
        .wrap, .digest { word-break: break-all; }
        code { font: .85em ui-monospace, SFMono-Regular, Menlo, monospace; }
        .muted { color: var(--muted); font-size: .9em; }
        .err { color: var(--bad); font-size: .9em; }
        .note { border-left: 3px solid var(--high); padding: .25rem .6rem; background: #fff8e1; }
        .badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; border: 1px solid var(--line); background: #fff; font-size: .85em; white-space: nowrap; }
        .h-healthy, .st-completed, .s-online, .sc-ok { border-color: var(--ok); color: var(--ok); }
        .h-unhealthy, .h-degraded, .st-failed, .s-offline, .sc-failed { border-color: var(--bad); color: var(--bad); }
        .st-running, .st-queued, .h-syncing, .s-scanning { border-color: var(--accent); color: var(--accent); }
        .v-pass { border-color: var(--ok); color: var(--ok); } .v-warn { border-color: var(--med); color: var(--med); }
        .v-fail { border-color: var(--bad); background: var(--bad); color: #fff; font-weight: 700; } .v-none { color: var(--muted); }
        .a-fail { border-color: var(--bad); color: var(--bad); } .a-warn { border-color: var(--med); color: var(--med); }
        .field-err { display: block; margin-top: .15rem; }
        [aria-invalid="true"] { border-color: var(--bad); border-width: 2px; }
        fieldset.rule { background: #fbfcfd; }
        fieldset.rule legend { font-weight: 600; }
        ol.rules { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem .5rem 2.2rem; }
        a.button { display: inline-block; padding: .35rem .8rem; border-radius: 4px; border: 1px solid var(--accent); text-decoration: none; }
        a.button.primary { background: var(--accent); color: #fff; }
        tr:target td { background: #fff3c4; }
        .sev { font-weight: 700; font-size: .85em; }
        .prio { font-weight: 700; font-size: .85em; font-variant-numeric: tabular-nums; }
        .prio-P1 { color: var(--crit); } .prio-P2 { color: var(--high); }
        .kev { display: inline-block; padding: 0 .3em; border-radius: .2em; font-size: .75em; font-weight: 700; color: #fff; background: var(--crit); }
        .sev-CRITICAL { color: var(--crit); } .sev-HIGH { color: var(--high); } .sev-MEDIUM { color: var(--med); } .sev-LOW { color: var(--low); }
        .grade { display: inline-block; width: 1.6rem; text-align: center; border-radius: 4px; font-weight: 700; color: #fff; background: #57606a; }
        .g-A { background: #1a7f37; } .g-B { background: #4d7f1a; } .g-C { background: #7d5e00; } .g-D { background: #bc4c00; } .g-E, .g-F { background: #a40e26; }
        .flash { padding: .6rem .9rem; border-radius: 6px; margin-bottom: 1rem; border: 1px solid; background: #fff; }
        .flash-ok { border-color: var(--ok); } .flash-error { border-color: var(--bad); color: var(--bad); }
        .flash p { margin: .2rem 0; }
        label { display: block; font-weight: 600; margin-bottom: .15rem; }
        .check label, span.check label { display: inline; font-weight: 400; margin-left: .3rem; }
        input, select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid #8c959f; border-radius: 4px; max-width: 100%; background: #fff; color: var(--fg); }
        input:not([type=checkbox]), select, textarea { width: 100%; }
        .stack p, .filters p, .inline p { margin: .4rem 0; }
        .filters, .inline { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; margin-bottom: .5rem; }
        .filters p, .inline p { min-width: 10rem; }
        .inline p.wide { flex: 1 1 24rem; }
        .stack { max-width: 44rem; }
        fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .5rem 0; }
        button { font: inherit; padding: .35rem .8rem; border-radius: 4px; border: 1px solid #8c959f; background: #fff; color: var(--fg); cursor: pointer; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
        .actions { display: flex; flex-wrap: wrap; gap: .35rem; }
        .actions form { margin: 0; }
        .actions select { width: auto; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem 1rem; }
        dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
        details.triage summary { cursor: pointer; color: var(--accent); }
        .chart { width: 100%; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
        .chart .axis { stroke: #8c959f; } .chart .grid { stroke: #eaeef2; }
        .chart text { font-size: 11px; fill: var(--muted); }
        .pager { margin: .75rem 0; display: flex; gap: 1rem; }
        .report-meta { color: var(--muted); }
        .report table { width: 100%; }
        @page { margin: 14mm; }
        @media print {
          .top, .skip, .no-print, form, .pager, .flash, details { display: none !important; }
          body { background: #fff; color: #000; font-size: 10.5pt; }
          main { padding: 0; max-width: none; }
          a { color: inherit; text-decoration: none; }
          .scroll { overflow: visible !important; }
          table { border-collapse: collapse; }
          thead { display: table-header-group; }
          tr, .tile, dl.facts, .chart { break-inside: avoid; }
          h2, h3 { break-after: avoid; }
          .tile, .chart { border-color: #999; }
          .v-fail { background: none; color: #000; border-color: #000; }
          .badge { border-color: #999; }
        }
        """#

    static let js = #"""
        "use strict";
        // Printable reports: the print button.
        document.addEventListener("click", function (e) {
          if (e.target.closest && e.target.closest("[data-print]")) { window.print(); }
        });

        // VEX import: the chosen file's text goes into the form's document field.
        document.addEventListener("change", function (e) {
          var target = e.target.getAttribute && e.target.getAttribute("data-vex-file");
          if (!target || !e.target.files || !e.target.files[0]) { return; }
          e.target.files[0].text().then(function (text) { document.getElementById(target).value = text; });
        });

        // Confirmation for destructive forms.
        document.addEventListener("submit", function (e) {
          var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
          if (msg && !window.confirm(msg)) { e.preventDefault(); }
        });

        // Registry forms: offer the credential types of the chosen provider, show the chosen type's fields.
        function setupProviderForm(form) {
          var provider = form.querySelector("[data-provider]");
          var kind = form.querySelector("[data-credential-kind]");
          if (!kind) { return; }
          function providerValue() { return provider ? provider.value : form.getAttribute("data-provider-value"); }
          function refresh() {
            var p = providerValue();
            Array.prototype.forEach.call(kind.options, function (o) {
              var list = o.getAttribute("data-providers");
              var fits = !list || list.split(" ").indexOf(p) >= 0;
              o.hidden = !fits; o.disabled = !fits;
            });
            if (kind.selectedOptions.length && kind.selectedOptions[0].disabled) {
              var first = Array.prototype.find.call(kind.options, function (o) { return !o.disabled; });
              if (first) { kind.value = first.value; }
            }
            Array.prototype.forEach.call(form.querySelectorAll(".cred"), function (div) {
              div.hidden = div.getAttribute("data-kind") !== kind.value;
            });
          }
          if (provider) { provider.addEventListener("change", refresh); }
          kind.addEventListener("change", refresh);
          refresh();
        }

        // Policy forms: show only the fields of each rule's chosen type.
        function setupRule(box) {
          var type = box.querySelector("[data-rule-type]");
          if (!type) { return; }
          function refresh() {
            Array.prototype.forEach.call(box.querySelectorAll("[data-rule-fields]"), function (div) {
              div.hidden = div.getAttribute("data-rule-fields") !== type.value;
            });
          }
          type.addEventListener("change", refresh);
          refresh();
        }

        // Scans page: live progress of queued and running scans; reload once they all finish.
        function setupLiveScans(box) {
          var rows = box.querySelectorAll("tr[data-scan-id]");
          if (!rows.length) { return; }
          function poll() {
            var pending = Array.prototype.map.call(rows, function (row) {
              var id = row.getAttribute("data-scan-id");
              return fetch("/api/scans/" + encodeURIComponent(id) + "/status", { credentials: "same-origin" })
                .then(function (r) { return r.ok ? r.json() : null; })
                .then(function (body) {
                  if (!body) { return true; }
                  var st = body.data, status = row.querySelector("[data-status]");
                  status.textContent = st.status;
                  status.className = "badge st-" + st.status;
                  var bar = row.querySelector("[data-progress]"), text = row.querySelector("[data-progress-text]");
                  if (st.progress && st.progress.total > 0) {
                    var pct = Math.round(100 * st.progress.done / st.progress.total);
                    bar.value = pct; text.textContent = st.progress.done + " / " + st.progress.total;
                  }
                  return ["completed", "failed", "cancelled"].indexOf(st.status) >= 0;
                })
                .catch(function () { return false; });
            });
            Promise.all(pending).then(function (done) {
              if (done.every(Boolean)) { window.location.reload(); } else { window.setTimeout(poll, 2000); }
            });
          }
          poll();
        }

        // Timestamps in the reader's own time zone (the server writes UTC).
        function localTimes() {
          Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (t) {
            var d = new Date(t.getAttribute("datetime"));
            if (!isNaN(d.getTime())) {
              t.title = t.getAttribute("datetime");
              t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
            }
          });
        }

        document.addEventListener("DOMContentLoaded", function () {
          localTimes();
          Array.prototype.forEach.call(document.querySelectorAll("[data-provider-form]"), setupProviderForm);
          Array.prototype.forEach.call(document.querySelectorAll("[data-live-scans]"), setupLiveScans);
          Array.prototype.forEach.call(document.querySelectorAll("[data-rule]"), setupRule);
        });
        """#
}
