export { dashboardRoutes, type DashboardOptions } from './routes.js';
export {
  DashboardSource,
  type DashboardState,
  type DashboardAgent,
  type DashboardRun,
  type RecentMeasurement,
} from './state.js';
export { DASHBOARD_HTML } from './page.js';
