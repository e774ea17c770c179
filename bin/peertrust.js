#!/usr/bin/env node
// The CLI runs the build, bundled into one file (npm install makes it; npm run build remakes it).
import { existsSync } from 'node:fs';

const main = new URL('../dist/bundle/peertrust.js', import.meta.url);
if (!existsSync(main)) {
  console.error('peertrust: the build (dist/bundle/peertrust.js) is missing: run `npm run build` (npm install runs it) in the peertrust directory');
  process.exit(2);
}
await import(main.href);
