export { agentPageRoutes, agentPageUrl, terminalQr, AGENT_PAGE_PATH, type AgentPageOptions } from './routes.js';
