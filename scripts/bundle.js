// npm run build, after tsc: the server and CLI as one file, dist/peertrust.js, which
// bin/peertrust.js runs. From dist/src, Node's loader finds, reads and compiles some
// 1,500 files one by one at every start; from one file, a `peertrust serve` starts in
// half the time and half the CPU, which every CLI command, restart and cluster server
// pays. Its source map (dist/peertrust.js.map) maps stack traces back to src/ under
// `node --enable-source-maps`.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/main.js'],
  outfile: 'dist/peertrust.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // From node_modules as installed: Prisma loads its query compiler beside its runtime,
  // and pg is the one its adapter uses (one copy, one set of type parsers). The others
  // are optional native add-ons of ws and pg.
  external: ['@prisma/*', 'pg', 'pg-native', 'bufferutil', 'utf-8-validate'],
  // The bundle is ESM; the CommonJS dependencies in it call require.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
