/**
 * The browser agent's page: static HTML shipped as a string (no CDN); its script and worker are the agent
 * package's agent/src/browser/, bundled at build time, and onnxruntime-web's files come from node_modules.
 */
const escapeAttr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function agentPageHtml(ortVersion: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>S4oP agent</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ort-version" content="${escapeAttr(ortVersion)}">
<style>body{font:15px/1.45 system-ui,sans-serif;margin:24px;max-width:60em;color:#222}
#state{font-weight:600}dt{font-weight:600;margin-top:8px}dd{margin-left:1.5em}</style></head>
<body>
<h1>S4oP browser agent</h1>
<p>This tab is a measuring board of the fleet: keep it open (and visible: a hidden tab is throttled, and its figures are flagged).</p>
<dl>
<dt>State</dt><dd><span id="state" data-state="starting">starting</span> <span id="detail"></span></dd>
<dt>Device</dt><dd id="facts">–</dd>
<dt>Isolation</dt><dd id="isolation">–</dd>
<dt>Tab</dt><dd id="visibility">–</dd>
<dt>Model</dt><dd id="model">–</dd>
<dt>Progress</dt><dd id="progress">–</dd>
<dt>Last figures</dt><dd id="figures">–</dd>
</dl>
<script type="module" src="/agent/page.js"></script>
</body></html>
`;
}
