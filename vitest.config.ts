import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) builds. Node loads the CommonJS
    // one for every package; Vite would give our sources the ESM one, and then
    // `instanceof GraphQLError` fails across the two copies. One copy, as in production.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // One embedded PostgreSQL for the run; each test gets its own database on it.
    globalSetup: ['test/global-setup.ts'],
    // Each test starts real servers on a fresh database: seconds, not milliseconds.
    // Generous: a test that starts several processes takes seconds on an idle machine and
    // much longer on one loaded by other work; a limit only matters when something hangs.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // The test files of a worker share its module cache: each importing the server anew
    // through Vite cost ~65 s of CPU a run, on machines where the suite is CPU-bound.
    // Nothing a test starts outlives it, and the modules' own caches are made to be
    // shared by several servers in one process.
    isolate: false,
    // Tests mostly wait on servers and PostgreSQL; two workers use both cores.
    maxWorkers: 2,
  },
});
