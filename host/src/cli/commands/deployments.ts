import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError, emit } from '../util.js';
import { ServerCallError, hostApi, serverRef } from '../../fleet/http/client.js';
import { DeploymentStore } from '../../fleet/deploy/store.js';
import { deploymentText, deploymentView, deploymentsText, type DeploymentView } from '../../fleet/deploy/view.js';
import { RunStore, STORE_FILE } from '../../store/run-store.js';

interface DeploymentsFlags {
  server?: string;
  token?: string;
  workspace?: string;
  json?: boolean;
  rollback?: boolean;
}

async function fromServer(o: DeploymentsFlags, id?: string): Promise<DeploymentView[]> {
  try {
    const ref = serverRef(o.server, o.token);
    if (id) return [await hostApi.deployment(ref, id)];
    return await hostApi.deployments(ref);
  } catch (err) {
    if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
    throw err;
  }
}

function fromStore(workspace: string, id?: string): DeploymentView[] {
  const file = path.join(workspace, STORE_FILE);
  if (!existsSync(file))
    throw new UserError(`no run store at ${file}: point --workspace at the one s4op serve uses, or give --server`);
  const store = RunStore.open(file);
  try {
    const ds = new DeploymentStore(store);
    if (id) {
      const d = ds.get(id);
      if (!d) throw new UserError(`unknown_deployment: no deployment ${id} in ${file}`);
      return [deploymentView(ds, d)];
    }
    return ds.list().map((d) => deploymentView(ds, d));
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  program
    .command('deployments')
    .argument('[id]', 'show this deployment with its per-agent outcome')
    .description('deployment history: model hash, lab measurement, gate, status with reason, per-agent outcome')
    .option('--server <url>', 'a running s4op serve (default S4OP_SERVER, else --workspace)')
    .option('--token <t>', "the server's token (or set S4OP_TOKEN)")
    .option('--workspace <dir>', "read the history from this workspace's run store instead of a server")
    .option(
      '--rollback',
      'with an id: roll the deployment back (its agents restore their previous model; needs the server)',
    )
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: DeploymentsFlags) => {
      if (o.rollback) {
        if (!id) throw new UserError('--rollback needs a deployment id: s4op deployments ID --rollback');
        let d: DeploymentView;
        try {
          d = await hostApi.rollback(serverRef(o.server, o.token), id);
        } catch (err) {
          if (err instanceof ServerCallError) throw new UserError(`${err.code}: ${err.message}`);
          throw err;
        }
        emit(o, d, () => deploymentText(d));
        return;
      }
      const list =
        o.server || process.env.S4OP_SERVER || !o.workspace ? await fromServer(o, id) : fromStore(o.workspace, id);
      if (id) emit(o, list[0], () => deploymentText(list[0]!));
      else emit(o, { deployments: list }, () => deploymentsText(list));
    });
}
