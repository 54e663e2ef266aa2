import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError, emit } from '../cli-util.js';
import { ServerCallError, callServer, serverRef } from '../fleet/deploy-client.js';
import { fleetText, fleetView, type FleetAgentView } from '../fleet/deploy-view.js';
import { StoreAgentRegistry } from '../fleet/registry-store.js';
import { RunStore, STORE_FILE } from '../store/run-store.js';

interface FleetFlags {
  server?: string;
  token?: string;
  workspace?: string;
  json?: boolean;
}

/** From the server when one is named (live online flags), else from the workspace's run store as last recorded. */
export async function readFleet(o: FleetFlags): Promise<FleetAgentView[]> {
  if (o.server || process.env.S4OP_SERVER || !o.workspace) {
    try {
      return (await callServer<{ agents: FleetAgentView[] }>(serverRef(o.server, o.token), 'GET', '/v1/fleet')).agents;
    } catch (err) {
      if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
      throw err;
    }
  }
  const file = path.join(o.workspace, STORE_FILE);
  if (!existsSync(file)) throw new UserError(`no run store at ${file}: point --workspace at the one s4op serve uses, or give --server`);
  const store = RunStore.open(file);
  try {
    // Read-only view: a server that is not running leaves every agent offline here.
    return fleetView(new StoreAgentRegistry(store, { readOnly: true }));
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
    .option('--token <t>', 'the server\'s token (or set S4OP_TOKEN)')
    .option('--workspace <dir>', 'read the registry from this workspace\'s run store instead of a server')
    .option('--json', 'print JSON')
    .action(async (o: FleetFlags) => {
      const agents = await readFleet(o);
      emit(o, { agents }, () => fleetText(agents));
    });
}
