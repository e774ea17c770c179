// /metrics in Prometheus's text format. Open by default, as Prometheus expects: it holds
// counts only, no id, name, address or secret. With PEERTRUST_METRICS_TOKEN set it asks
// for that bearer token, for servers reachable from outside the monitoring network.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ServerMetrics } from '../metrics.js';
import { pathOfRead, type RouteHandler } from './health.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compared as digests, in constant time: the time taken says nothing about the token. */
function bearerMatches(headers: IncomingHttpHeaders, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(headers.authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

export function createMetricsHandler(metrics: ServerMetrics, token: string | undefined): RouteHandler {
  return (req, res) => {
    if (pathOfRead(req) !== '/metrics') return false;
    if (token !== undefined && !bearerMatches(req.headers, token)) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer', 'cache-control': 'no-store' });
      res.end('send "Authorization: Bearer <token>" with the token set in PEERTRUST_METRICS_TOKEN\n');
      return true;
    }
    void metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('collecting the metrics failed\n');
      },
    );
    return true;
  };
}
