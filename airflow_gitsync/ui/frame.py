"""The Backups view's page frame: its one stylesheet (light and dark), its one script, the
Content-Security-Policy that allows just those two by their hashes, and error pages."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape

_CSS = """
:root{color-scheme:light dark}
body{font:14px/1.45 system-ui,sans-serif;color:#1f2328;margin:16px 20px;background:#fff}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:22px 0 8px}
a{color:#0b62c4}code,pre{font:12px/1.4 ui-monospace,monospace;background:#f3f4f6;border-radius:4px}
code{padding:1px 4px;overflow-wrap:anywhere}pre{padding:8px 10px;white-space:pre-wrap;user-select:all}
table{border-collapse:collapse;margin:4px 0 12px}th,td{padding:4px 8px;border-bottom:1px solid #e6e8eb;
text-align:right;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td:first-child,th:first-child,td.l,th.l{text-align:left}tr[data-state=missing] td{background:#fff3f3}
.wide,.summary table{display:block;max-width:100%;overflow-x:auto}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e6e8eb;border-radius:8px;
padding:8px 12px;min-width:170px}.card b{display:block;font-size:18px}
.state{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600}
.complete{background:#dcf5e3;color:#17602b}.partial{background:#fff0c2;color:#7a5200}
.failed,.missing{background:#fde2e2;color:#9b1c1c}.running{background:#e0ecff;color:#1d4ea3}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(520px,100%),1fr));gap:12px}
.chart{border:1px solid #e6e8eb;border-radius:8px;background:#fff}
.summary li{overflow-wrap:anywhere}.muted{color:#57606a}
input,button{font:inherit;padding:3px 6px}input[type=search]{width:min(520px,90%)}form.inline{display:inline}
table.diff{display:block;max-width:100%;overflow-x:auto;font:12px/1.4 ui-monospace,monospace}
table.diff td{text-align:left;white-space:pre;padding:0 6px;border:0}
.split td:nth-child(odd),.unified td:nth-child(-n+2),.gap td{color:#57606a}
.diff .del,.diff tr.del td{background:#ffebe9}.diff .add,.diff tr.add td{background:#dafbe1}
.deleted{background:#fde2e2;color:#9b1c1c}
@media (prefers-color-scheme:dark){
body{color:#e6edf3;background:#111418}a{color:#6cb6ff}code,pre{background:#262c36}
th{background:#1c2128}th,td,.card,.chart{border-color:#30363d}tr[data-state=missing] td{background:#3b1d20}
.chart{background:#161b22}.chart text:not([fill]),.chart text[fill="#333"]{fill:#e6edf3}
.chart line[stroke="#e6e8eb"]{stroke:#30363d}.muted{color:#9198a1}
.complete{background:#1b4721;color:#aff5b4}.partial{background:#4b3a00;color:#f8e3a1}
.failed,.missing,.deleted{background:#5d1a1d;color:#ffdcd7}.running{background:#132d5a;color:#cae8ff}
.diff .del,.diff tr.del td{background:#3b1d20}.diff .add,.diff tr.add td{background:#12361f}}
"""
SCRIPT = """
const q=document.getElementById("q"),out=document.getElementById("found");let n=0,t;
q.addEventListener("input",()=>{clearTimeout(t);t=setTimeout(async()=>{const u=new URL(location.href);
u.searchParams.set("q",q.value);u.searchParams.delete("offset");const part=new URL(u);
part.searchParams.set("part","1");const mine=++n;const r=await fetch(part);
if(r.ok&&mine===n){out.innerHTML=await r.text();history.replaceState(null,"",u)}},150)});
"""
"""The find page's one script: results while typing, the server's escaped HTML for the results."""


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSP = (
    f"default-src 'none'; style-src 'sha256-{_sha256(_CSS)}'; script-src 'sha256-{_sha256(SCRIPT)}'; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
"""The pages' Content-Security-Policy: no image or font, no style but ``_CSS`` and no script but
:data:`SCRIPT` (by their hashes), requests and forms to the view only, framed by Airflow's UI only."""


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def error_page(status: int, message: str, details: Sequence[str] = ()) -> str:
    """An error answer as a page a user can read (the browser shows it inside Airflow's UI)."""
    items = "".join(f"<li>{escape(d)}</li>" for d in details)
    return page(
        f"{status}: {message}",
        f'<h1>{escape(message)}</h1>{f"<ul>{items}</ul>" if items else ""}<p class="muted">HTTP {status}</p>',
    )
