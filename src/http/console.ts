// The web console at / on every server: the files Vite built into dist/console, sent
// precompressed (brotli or gzip, as the browser accepts), hashed assets cached for
// good, the pages revalidated. A request that is not the console's is left to the
// caller, so /graphql and any other route keep working as before.
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import sirv from 'sirv';
import { consoleDir } from '../paths.js';
import { isConsolePage } from './console-routes.js';

/** Vite's output directory for files with a content hash in their names. */
const ASSETS = '/assets/';

/** The console's own files and the API on this origin, nothing else: Vite's build needs no inline script or style. */
export const consoleContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function setHeaders(res: ServerResponse, pathname: string) {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (pathname.startsWith(ASSETS)) {
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
  } else {
    // The page names the assets of the current build: always ask whether it changed.
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Security-Policy', consoleContentSecurityPolicy);
    res.setHeader('Referrer-Policy', 'no-referrer');
  }
}

function answer(res: ServerResponse, status: number, text: string) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

/** Serves a console request and returns true, or returns false for a request that is not the console's. */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function createConsoleHandler(dir: string = consoleDir): ConsoleHandler {
  // Built once: sirv reads the file list at start. A missing build is said in words.
  const files = existsSync(path.join(dir, 'index.html'))
    ? sirv(dir, { brotli: true, gzip: true, etag: true, dotfiles: false, setHeaders })
    : undefined;
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const page = isConsolePage(pathname);
    if (!page && !pathname.startsWith(ASSETS)) return false;
    if (!files) {
      answer(res, 503, `The web console is not built here: run \`npm run build\` (it writes ${dir}).\n`);
      return true;
    }
    // Every page is the same document; the console routes in the browser.
    if (page) req.url = '/index.html';
    files(req, res, () => answer(res, 404, "No such file in this build of the console.\n"));
    return true;
  };
}
