/**
 * Bundles the browser agent (agent/src/browser/: the page's script and its measurement worker) into
 * agent/dist/browser/, after `tsc -b` built the workspaces. @s4op/shared and the agent's measurement code
 * are bundled in; onnxruntime-web is not (the host serves its files from node_modules). Node built-ins that
 * shared's index names (node:crypto for hashes) become a stub that throws if the page ever called them.
 */
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const nodeStub = {
  name: 'node-stub',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({
      // CommonJS, so any named import resolves; using one in the browser is a bug, said plainly.
      contents: `module.exports = new Proxy({}, { get: (_, k) => () => { throw new Error(${JSON.stringify(args.path)} + '.' + String(k) + ' is not available in a browser'); } });`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: {
    page: path.join(repo, 'agent/src/browser/page.ts'),
    worker: path.join(repo, 'agent/src/browser/worker.ts'),
  },
  outdir: path.join(repo, 'agent/dist/browser'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: false,
  sourcemap: false,
  logLevel: 'warning',
  plugins: [nodeStub],
});
