/**
 * The dashboard page: static HTML, shipped as a string in the package (no CDN), and its script, a
 * TypeScript module (browser/page-script.ts) built with the package and served beside it. Charts arrive as
 * SVG rendered by the host (the same Vega-Lite specs as the report), so the page needs no charting code. The token comes from the URL fragment (#token=…), never sent in a URL.
 */
import { STYLE } from '../report/html.js';

/** Where the page loads its script from (browser/page-script.ts, built with the package). */
export const DASHBOARD_SCRIPT_PATH = '/dashboard/page-script.js';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>S4oP dashboard</title>
<style>${STYLE}
#status{font-weight:600}.empty{color:#777}section{margin-bottom:22px}</style></head>
<body>
<h1>S4oP dashboard</h1>
<div class="meta"><span id="status">connecting…</span> · <span id="updated"></span></div>
<form id="login" hidden><input id="token" type="password" placeholder="token" autocomplete="off"> <button>connect</button></form>
<section><h2>Agents</h2><div id="agents"></div></section>
<section><h2>Measurements</h2><div id="jobs"></div></section>
<section id="run"><h2 id="run-title">Pruning run</h2><div class="meta" id="run-meta"></div><div class="charts" id="charts"></div><h2>Candidates</h2><div id="candidates"></div></section>
<section><h2>Deployments</h2><div id="deployments"></div></section>
<section><h2>A browser tab as an agent</h2><p>Open <a id="agent-url" href="#"></a> on any device (or scan the code): the tab joins the fleet and measures.</p><div id="agent-qr" style="width:180px"></div></section>
<script type="module" src="${DASHBOARD_SCRIPT_PATH}"></script>
</body></html>
`;
