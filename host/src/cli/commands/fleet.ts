import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError, emit } from '../util.js';
import { ServerCallError, hostApi, serverRef } from '../../fleet/http/client.js';
import { fleetText, fleetView, pageFleet, type FleetAgentView } from '../../fleet/deploy/view.js';
import { StoreAgentRegistry } from '../../fleet/link/registry-store.js';
import { RunStore, STORE_FILE } from '../../store/run-store.js';

interface FleetFlags {
  server?: string;
  token?: string;
  workspace?: string;
  json?: boolean;
  limit?: string;
  offset?: string;
}

interface FleetPage {
  agents: FleetAgentView[];
  total: number;
  online: number;
  offset: number;
}

function count(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag} must be a non-negative integer, got "${v}"`);
  return n;
}

/** From the server when one is named (live online flags), else from the workspace's run store as last recorded. */
export async function readFleet(o: FleetFlags): Promise<FleetAgentView[]> {
  return (await readFleetPage(o)).agents;
}

/** One page of the fleet (all of it without --limit/--offset), with the totals. */
export async function readFleetPage(o: FleetFlags, dfltLimit = Number.MAX_SAFE_INTEGER): Promise<FleetPage> {
  const offset = count(o.offset, '--offset', 0);
  const limit = count(o.limit, '--limit', dfltLimit);
  if (o.server || process.env.S4OP_SERVER || !o.workspace) {
    try {
      const page = await hostApi.fleet(serverRef(o.server, o.token), offset, limit);
      // A server from before paging sends every agent and no totals.
      return page.total === undefined ? pageFleet(page.agents, offset, limit) : (page as FleetPage);
    } catch (err) {
      if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
      throw err;
    }
  }
  const file = path.join(o.workspace, STORE_FILE);
  if (!existsSync(file))
    throw new UserError(`no run store at ${file}: point --workspace at the one s4op serve uses, or give --server`);
  const store = RunStore.open(file);
  try {
    // Read-only view: a server that is not running leaves every agent offline here.
    return pageFleet(fleetView(new StoreAgentRegistry(store, { readOnly: true })), offset, limit);
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  const fleet = program.command('fleet').description('the agents of the fleet');
  fleet
    .command('status')
    .description('agents, their active (and previous) model, the desired one, online/last seen and health')
    .option('--server <url>', 'a running s4op serve (default S4OP_SERVER, else --workspace)')
    .option('--token <t>', "the server's token (or set S4OP_TOKEN)")
    .option('--workspace <dir>', "read the registry from this workspace's run store instead of a server")
    .option('--limit <n>', 'show at most n agents (default 200 as text, all with --json)')
    .option('--offset <n>', 'skip the first n agents (by name)')
    .option('--json', 'print JSON')
    .action(async (o: FleetFlags) => {
      const page = await readFleetPage(o, o.json ? Number.MAX_SAFE_INTEGER : 200);
      emit(o, page, () => fleetText(page.agents, page));
    });
  fleet
    .command('forget <agent-id>')
    .description(
      'remove an offline agent from the registry: its name and key are free again (a re-flashed board registers afresh)',
    )
    .option('--server <url>', 'a running s4op serve (default S4OP_SERVER, else --workspace)')
    .option('--token <t>', "the server's token (or set S4OP_TOKEN)")
    .option('--workspace <dir>', "edit this workspace's run store directly (no server running)")
    .option('--json', 'print JSON')
    .action(async (id: string, o: FleetFlags) => {
      if (o.server || process.env.S4OP_SERVER || !o.workspace) {
        try {
          await hostApi.forget(serverRef(o.server, o.token), id);
        } catch (err) {
          if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
          throw err;
        }
      } else {
        const file = path.join(o.workspace, STORE_FILE);
        if (!existsSync(file)) throw new UserError(`no run store at ${file}`);
        const store = RunStore.open(file);
        try {
          if (!new StoreAgentRegistry(store, { readOnly: true }).remove(id))
            throw new UserError(`no registered agent with id ${id}`);
        } finally {
          store.close();
        }
      }
      emit(o, { forgotten: id }, () => `forgot agent ${id}: its name and key are free`);
    });
}
