import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError, log } from '../util.js';
import { parsePort } from '../options.js';
import { dashboardRoutes } from '../../dashboard/routes.js';
import { agentPageUrl, terminalQr } from '../../fleet/agent-page/index.js';
import { startFleet } from '../../fleet/fleet.js';
import { RunStore } from '../../store/run-store.js';

export interface ServeOptions {
  port: string;
  bind: string;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  heartbeatMs: string;
  maxRefusals: string;
  workspace: string;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UserError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('listen for board agents (WebSocket) and serve measurement jobs to them')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '7480')
    .option('--bind <address>', 'interface to listen on', '127.0.0.1')
    .option('--token <t>', 'shared token agents must present (or set S4OP_TOKEN)')
    .option('--tls-cert <file>', 'PEM certificate: serve wss:// instead of ws://')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--heartbeat-ms <n>', 'ping interval; a peer silent for 2.5 of them is dropped', '2000')
    .option(
      '--max-refusals <n>',
      'refused handshakes per address in 10 s before its connections are turned away (429) until the window ends; 0: never',
      '20',
    )
    .option(
      '--workspace <dir>',
      'run store (runs.sqlite) holding the agent registry and deployments, and the deployed models',
      '.s4op',
    )
    .action(async (opts: ServeOptions) => {
      const token = opts.token ?? process.env.S4OP_TOKEN;
      if (!token) throw new UserError('no token: pass --token T or set S4OP_TOKEN (agents must present the same one)');
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new UserError('--tls-cert and --tls-key go together');
      const heartbeatMs = Number(opts.heartbeatMs);
      if (!Number.isInteger(heartbeatMs) || heartbeatMs < 100)
        throw new UserError(`--heartbeat-ms must be an integer ≥ 100, got "${opts.heartbeatMs}"`);
      const maxRefusals = Number(opts.maxRefusals);
      if (!Number.isInteger(maxRefusals) || maxRefusals < 0)
        throw new UserError(`--max-refusals must be a non-negative integer, got "${opts.maxRefusals}"`);
      const tls = opts.tlsCert
        ? { cert: readPem(opts.tlsCert, '--tls-cert'), key: readPem(opts.tlsKey!, '--tls-key') }
        : undefined;
      let store: RunStore;
      try {
        store = RunStore.openWorkspace(opts.workspace);
      } catch (err) {
        throw new UserError(`--workspace ${opts.workspace}: ${(err as Error).message}`);
      }
      let fleet;
      try {
        fleet = await startFleet({
          port: parsePort(opts.port),
          bind: opts.bind,
          token,
          tls,
          heartbeatMs,
          refusals: { max: maxRefusals, windowMs: 10_000 },
          workspace: { store, dir: opts.workspace },
          routes: [(app, f) => dashboardRoutes(app, { server: f.server, jobs: f.jobs, store })],
        });
      } catch (err) {
        store.close();
        throw new UserError(`cannot listen on ${opts.bind}:${opts.port}: ${(err as Error).message}`);
      }
      // One machine-readable line on stdout: the URL agents dial (tests read the port from it with --port 0).
      process.stdout.write(`listening on ${fleet.server.url}\n`);
      log(`s4op serve: agents connect with: s4op-agent --host ${fleet.server.url} --token <token> --name <name>`);
      log(`s4op serve: dashboard at ${fleet.server.url.replace(/^ws/, 'http')}/dashboard#token=<token>`);
      log(
        `s4op serve: a browser tab joins as an agent at ${agentPageUrl(fleet.server.url, '').replace(/#token=$/, '#token=<token>')}`,
      );
      // The QR code carries the token, so it goes to a person's terminal only, never into a captured log.
      if (process.stderr.isTTY)
        process.stderr.write(`${terminalQr(agentPageUrl(fleet.server.url, token))}
`);
      else
        log('s4op serve: its QR code (with the token) is on the dashboard, and printed here when stderr is a terminal');
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log(`s4op serve: ${sig}, stopping`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await fleet.stop();
      store.close();
    });
}
