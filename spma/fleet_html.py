"""The fleet report as one self-contained HTML page: inline CSS, a few lines of JavaScript to
sort the tables, no external assets, so it can be mailed or served from anywhere. Every value
from inventories and advisories is escaped."""

from __future__ import annotations

import html
from typing import Any, Dict, List

SEVERITIES = ("critical", "important", "moderate", "low", "unknown")
_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.cards{display:flex;gap:.8em;flex-wrap:wrap}
.card{border:1px solid #ccc;border-radius:6px;padding:.5em .9em;min-width:7em}
.card .n{font-size:1.6em;font-weight:600}
table{border-collapse:collapse;margin-top:.5em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
.critical{background:#f8d0d0}.important{background:#fbe3c8}.moderate{background:#fdf5c4}
.low{background:#e3f1e3}.unknown{background:#eee}
.muted{color:#777}
"""

# Click a header to sort by it (again: reverse). A cell's data-sort wins over its text;
# numbers sort as numbers. `#sort=TABLE:COLUMN:asc|desc` in the URL sorts on load.
_JS = """
(function(){
function key(td){var v=td.getAttribute('data-sort');if(v===null)v=td.textContent;
 var n=Number(v);return (v!==''&&!isNaN(n))?n:v.toLowerCase();}
function sortTable(table,col,dir){var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);var c=(x<y)?-1:(x>y)?1:0;
  return dir==='desc'?-c:c;});
 rows.forEach(function(r){body.appendChild(r);});
 Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){th.className=(i===col)?dir:'';});}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(table){
 Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
  th.addEventListener('click',function(){sortTable(table,i,th.className==='asc'?'desc':'asc');});});});
var m=/^#sort=([\\w-]+):(\\d+):(asc|desc)$/.exec(location.hash);
if(m){var t=document.getElementById(m[1]);if(t)sortTable(t,parseInt(m[2],10),m[3]);}
document.body.setAttribute('data-ready','1');
})();
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _sev(s: str) -> str:
    return '<td class="%s" data-sort="%d">%s</td>' % (_e(s), _RANK.get(s, 0), _e(s))


def render(rep: Dict[str, Any]) -> str:
    s = rep["summary"]
    out: List[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>spma fleet report</title>",
        "<style>%s</style></head><body>" % _CSS,
        "<h1>spma fleet report</h1>",
        '<p class="muted">generated %s from %s (%s, %d advisories)</p>'
        % (
            _e(rep["generated"]),
            _e(", ".join(rep["source"]["inputs"])),
            _e(rep["source"]["kind"]),
            rep["source"]["advisories"],
        ),  # fmt: skip
        '<div class="cards">',
        '<div class="card">hosts<div class="n" id="hosts-total">%d</div></div>' % s["hosts"],
        '<div class="card">exposed<div class="n" id="hosts-exposed">%d</div></div>' % s["exposed_hosts"],
    ]
    for sev in SEVERITIES:
        out.append('<div class="card %s">worst %s<div class="n" id="hosts-worst-%s">%d</div></div>'
                   % (sev, sev, sev, s["hosts_by_worst"][sev]))  # fmt: skip
    out.append("</div>")
    out.append('<h2>Advisories by severity</h2><table id="severity-counts"><tr>')
    out.extend("<th>%s</th>" % sev for sev in SEVERITIES)
    out.append("</tr><tr>")
    out.extend('<td class="%s" id="advisories-%s">%d</td>' % (sev, sev, s["advisories_by_severity"][sev])
               for sev in SEVERITIES)  # fmt: skip
    out.append("</tr></table>")
    out.append("<h2>State since the last run</h2><p>")
    out.append(
        ", ".join('<span id="state-%s">%d</span> %s' % (k, n, k) for k, n in s["hosts_by_state"].items())
    )
    out.append("</p>")
    out.extend(_advisories(rep))
    out.extend(_hosts(rep))
    if rep["unreadable"]:
        out.append("<h2>Unreadable inventories</h2><ul>")
        out.extend("<li>%s: %s</li>" % (_e(b["host"]), _e(b["error"])) for b in rep["unreadable"])
        out.append("</ul>")
    out.append("<script>%s</script></body></html>\n" % _JS)
    return "\n".join(out)


def _advisories(rep: Dict[str, Any]) -> List[str]:
    out = ["<h2>Advisories (%d)</h2>" % len(rep["advisories"])]
    out.append('<table class="sortable" id="advisories"><thead><tr><th>advisory</th><th>severity</th>'
               "<th>type</th><th>hosts</th><th>fixed in</th><th>offered</th><th>reboot</th><th>CVEs</th>"
               "<th>title</th></tr></thead><tbody>")  # fmt: skip
    for a in rep["advisories"]:
        fixed = ", ".join("%s %s" % (n, v) for n, v in sorted(a["packages"].items()))
        offered = {True: "yes", False: "no", None: ""}[a["offered"]]
        out.append("<tr><td>%s</td>%s<td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                   % (_e(a["id"]), _sev(a["severity"]), _e(a["type"]), len(a["hosts"]), _e(fixed), offered,
                      "yes" if a["reboot"] else "", _e(" ".join(a["cves"])), _e(a["title"])))  # fmt: skip
    out.append("</tbody></table>")
    return out


def _hosts(rep: Dict[str, Any]) -> List[str]:
    out = ["<h2>Hosts (%d)</h2>" % len(rep["hosts"])]
    out.append('<table class="sortable" id="hosts"><thead><tr><th>host</th><th>worst</th><th>advisories</th>'
               + "".join("<th>%s</th>" % sev for sev in SEVERITIES)
               + "<th>reboot</th><th>state</th><th>last run</th><th>os</th><th>kernel</th><th>packages</th>"
               "</tr></thead><tbody>")  # fmt: skip
    for h in rep["hosts"]:
        worst = h["worst"] or "none"
        cells = ["<td>%s</td>" % _e(h["name"]), _sev(worst) if h["worst"] else '<td data-sort="0">none</td>',
                 "<td>%d</td>" % len(h["advisories"])]  # fmt: skip
        cells += ["<td>%d</td>" % h["counts"][sev] for sev in SEVERITIES]
        cells += ["<td>%s</td>" % ("yes" if h["reboot_required"] else ""), "<td>%s</td>" % _e(h["state"]),
                  "<td>%s</td>" % _e(h["last_run"] or ""), "<td>%s</td>" % _e(h["os"]),
                  "<td>%s</td>" % _e(h["running_kernel"] or ""), "<td>%d</td>" % h["packages"]]  # fmt: skip
        out.append("<tr>%s</tr>" % "".join(cells))
    out.append("</tbody></table>")
    return out
