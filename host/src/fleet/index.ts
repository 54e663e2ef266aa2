export { FleetServer, AgentConnection } from './link/server.js';
export type { FleetServerOptions, FleetEvents } from './link/server.js';
export { JobManager, JobFailed } from './link/jobs.js';
export type { JobRequest, JobOutcome, JobTarget } from './link/jobs.js';
export { MemoryAgentRegistry } from './link/registry.js';
export type { AgentRecord, AgentRegistry } from './link/registry.js';
export { HostModels } from './link/models.js';
export { jobsRoutes } from './http/jobs-routes.js';
export { deployRoutes } from './http/deploy-routes.js';
export { createHttpServer, HttpError, MAX_BODY_BYTES } from './http/server.js';
export { hostApi, callServer, serverRef, ServerCallError, DEFAULT_SERVER } from './http/client.js';
export type { ServerRef, FleetPage } from './http/client.js';
export { startFleet, type Fleet, type FleetRoutes } from './fleet.js';
export { spawnLocalAgent, localAgentCli } from './link/local-agent.js';
export { formatMeasurement } from './link/format.js';
export { DeployController, DeployError, FIELD_SETTINGS } from './deploy/controller.js';
export type { DeployRequest } from './deploy/controller.js';
export { DeploymentStore } from './deploy/store.js';
export type {
  DeploymentRecord,
  DeploymentAgentRecord,
  DeploymentStatus,
  AgentDeployState,
  LabRecord,
  ModelSource,
} from './deploy/store.js';
export { parseGate, evaluateGate, checkGateAgainstLab, fieldFigures, GateError, GATE_METRICS } from './deploy/gate.js';
export type { GateTerm, GateOutcome, GateCheck, Figures } from './deploy/gate.js';
export { parseSelector, selectAgents, parseCanary, parseWaves, planStages, PlanError } from './deploy/plan.js';
export type { Stage, Canary, SelectorTerm } from './deploy/plan.js';
export { runRollout, convergeAgent, labFigures } from './deploy/rollout.js';
export type { AgentOps, InstallOutcome, ActivateOutcome } from './deploy/rollout.js';
export { StoreAgentRegistry } from './link/registry-store.js';
export type { FleetAgentRecord } from './link/registry-store.js';
export { resolveModel, ModelRefError } from './deploy/model.js';
export { fleetView, deploymentView } from './deploy/view.js';
export type { FleetAgentView, DeploymentView } from './deploy/view.js';
export type { StartFleetOptions } from './fleet.js';
