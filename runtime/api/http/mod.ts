/**
 * The management HTTP API (hono): JSON routes, Prometheus `/metrics` and a dashboard, over a
 * backend that reads the sandbox records and routes actions to each sandbox's owner. See app.ts for
 * the routes and README.md for the design.
 *
 * @module
 */
export { type ApiAppOptions, createApiApp, parseExecRequest } from "./app.ts";
export { describeOwner, errorResponse, httpStatus, OwnerConflictError } from "./http_errors.ts";
export { localBackend, type LocalBackendOptions } from "./local_backend.ts";
export { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
export { type ApiServer, formatListen, type ListenAddress, parseListen, serveApi } from "./serve.ts";
export type * from "./types.ts";
