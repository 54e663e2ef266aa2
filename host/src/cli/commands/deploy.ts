import type { Command } from 'commander';
import { UserError, emit, log } from '../util.js';
import { ServerCallError, hostApi, serverRef } from '../../fleet/http/client.js';
import { GateError, gateText, parseGate } from '../../fleet/deploy/gate.js';
import { ModelRefError, resolveModel } from '../../fleet/deploy/model.js';
import { PlanError, parseCanary, parseSelector, parseWaves } from '../../fleet/deploy/plan.js';
import { deploymentText } from '../../fleet/deploy/view.js';

interface DeployFlags {
  model: string;
  to: string;
  canary: string;
  waves: string;
  gate?: string;
  settings?: string;
  server?: string;
  token?: string;
  workspace: string;
  wait: boolean;
  waitMs: string;
  json?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function register(program: Command): void {
  program
    .command('deploy')
    .description(
      'roll a model out to agents of a running `s4op serve`: canary, then waves, each agent gated on its own field measurement',
    )
    .requiredOption('--model <id|file>', "a candidate id of the workspace's run store, or an ONNX file")
    .requiredOption('--to <target>', 'tag:T or agent:NAME (comma-separated for several)')
    .option('--canary <n|p%>', 'agents that go first: a percentage or a count (0: no canary)', '10%')
    .option('--waves <n>', 'waves the remaining agents are split into', '1')
    .option(
      '--gate <terms>',
      'limits each agent must meet, e.g. "p99<=12ms,rss<=200MB,p50<=1.5x" (x: factor of the lab figure)',
    )
    .option(
      '--settings <json>',
      "field measurement settings (default: the lab measurement's runtime and threads, 1 s of timed runs)",
    )
    .option('--server <url>', 'the s4op serve to deploy through (default S4OP_SERVER or http://127.0.0.1:7480)')
    .option('--token <t>', "the server's token (or set S4OP_TOKEN)")
    .option('--workspace <dir>', 'run store to look candidate ids and lab measurements up in', '.s4op')
    .option('--no-wait', 'return once the deployment is recorded and started')
    .option(
      '--wait-ms <n>',
      'how long to follow the rollout before giving up watching (it goes on in the server)',
      '1800000',
    )
    .option('--json', 'print the deployment record as JSON')
    .action(async (o: DeployFlags) => {
      let settings: unknown;
      try {
        // Checked here too, so a typo fails before any bytes travel.
        parseSelector(o.to);
        parseGate(o.gate);
        parseCanary(o.canary);
        parseWaves(o.waves);
        settings = o.settings === undefined ? undefined : JSON.parse(o.settings);
      } catch (err) {
        if (err instanceof GateError || err instanceof PlanError) throw new UserError(err.message);
        if (err instanceof SyntaxError) throw new UserError(`--settings is not JSON: ${err.message}`);
        throw err;
      }
      let model;
      try {
        model = resolveModel(o.model, o.workspace);
      } catch (err) {
        if (err instanceof ModelRefError) throw new UserError(err.message);
        throw err;
      }
      const waitMs = Number(o.waitMs);
      if (!Number.isFinite(waitMs) || waitMs < 0)
        throw new UserError(`--wait-ms must be a non-negative number, got "${o.waitMs}"`);
      try {
        const ref = serverRef(o.server, o.token);
        if (!o.json)
          log(
            `deploying ${model.name} ${model.sha256.slice(0, 12)}… (${model.bytes.length} bytes${model.lab ? `, lab p50 ${model.lab.p50_ms?.toFixed(4)} ms on ${model.lab.agent}` : ', no lab measurement'}) to ${o.to}; gate ${gateText(parseGate(o.gate))}`,
          );
        let d = await hostApi.deploy(ref, {
          model: { base64: model.bytes.toString('base64'), name: model.name, source: model.source },
          to: o.to,
          canary: o.canary,
          waves: Number(o.waves),
          gate: o.gate,
          settings,
          lab: model.lab,
        });
        if (!o.json) log(`deployment ${d.id}: ${d.plan.map((s) => `${s.name} (${s.agents.length})`).join(' → ')}`);
        const seen = new Map<string, string>();
        const until = Date.now() + waitMs;
        while (o.wait && d.status === 'running' && Date.now() < until) {
          await sleep(400);
          d = await hostApi.deployment(ref, d.id);
          for (const a of d.agents) {
            const line = `${a.state}${a.reason ? `: ${a.reason}` : ''}`;
            if (seen.get(a.agent_id) !== line && !o.json)
              log(`  ${d.plan[a.stage]?.name ?? a.stage} ${a.agent_name}: ${line}`);
            seen.set(a.agent_id, line);
          }
        }
        emit(o, d, () => deploymentText(d));
        if (d.status === 'failed')
          throw new UserError(`deployment ${d.id} failed: ${d.reason ?? 'no reason recorded'}`);
        if (o.wait && d.status === 'running')
          log(`deployment ${d.id} is still running after ${waitMs} ms; follow it with s4op deployments ${d.id}`);
      } catch (err) {
        if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
        throw err;
      }
    });
}
