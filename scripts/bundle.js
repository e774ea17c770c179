// npm run build, after tsc: the server and CLI bundled, dist/bundle/peertrust.js, which
// bin/peertrust.js runs. From dist/src, Node's loader finds, reads and compiles some
// 1,500 files one by one at every start; bundled, a `peertrust serve` starts in half
// the time and half the CPU, which every CLI command, restart and cluster server pays.
// Split at the CLI's dynamic imports, a command parses only what it loads: a trust
// command (the client) half of what serve does. Source maps beside each file map stack
// traces back to src/ under `node --enable-source-maps`.
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

const graphqlDir = path.dirname(createRequire(import.meta.url).resolve('graphql/package.json'));

/**
 * graphql-js as ES modules, for `import` and `require` alike: one copy, whose functions
 * its callers (graphql-tools' executor, Pothos, Yoga) call directly. Resolved as
 * CommonJS (its `main`), every call went through esbuild's interop getter: 5% of a page
 * of pairs' CPU. It ships each module's .mjs beside its .js.
 */
const graphqlAsEsm = {
  name: 'graphql-as-esm',
  setup(bundle) {
    bundle.onResolve({ filter: /^graphql(\/|$)/ }, ({ path: request }) => {
      const subpath = request.slice('graphql'.length).replace(/^\//, '').replace(/\.(m?js)$/, '') || 'index';
      return { path: path.join(graphqlDir, `${subpath}.mjs`) };
    });
  },
};

// Chunks are named by their content: a build leaves none of the one before.
await rm('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: { peertrust: 'dist/src/main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  // A command loads only what it imports: the trust commands, the client; serve, the API.
  splitting: true,
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
  plugins: [graphqlAsEsm],
  logLevel: 'warning',
});
