// /health and /ready for load balancers and orchestrators. No authentication: they say
// whether this server lives and can serve, and name nothing but the server (no id,
// address, user or database).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Database, Readiness } from '../db/client.js';

/** Serves its route and returns true, or returns false for a request that is not its. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The path of a GET or HEAD request, or undefined for any other method. */
export function pathOfRead(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  return new URL(req.url ?? '/', 'http://localhost').pathname;
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * /health: the process is alive and serving HTTP (200, always).
 * /ready: it can serve requests and live notices: 200, or 503 with each check and why it failed.
 */
export function createHealthHandler(server: { name: string; database: Database }): RouteHandler {
  const started = performance.now();
  // Requests that arrive while a check runs share it: a flood of /ready costs one query at a time.
  let running: Promise<Readiness> | undefined;
  const readiness = () => (running ??= server.database.readiness().finally(() => (running = undefined)));
  return (req, res) => {
    const path = pathOfRead(req);
    if (path === '/health') {
      sendJson(res, 200, { status: 'ok', server: server.name, uptimeSeconds: Math.floor((performance.now() - started) / 1000) });
      return true;
    }
    if (path === '/ready') {
      void readiness().then(
        (checks) => {
          const ready = Object.values(checks).every((check) => check.ok);
          sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', server: server.name, checks });
        },
        () => sendJson(res, 503, { status: 'not ready', server: server.name }),
      );
      return true;
    }
    return false;
  };
}
