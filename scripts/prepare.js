// Run by npm install and npm ci: generates the Prisma client, schema.graphql and the
// typed client, then builds dist/. An install without devDependencies (npm ci
// --omit=dev, shipping a built tree) has nothing to build with and uses dist/ as it is.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const has = (path) => existsSync(new URL(path, root));

// typescript itself comes with production installs too (a peer of @prisma/client):
// the build's own devDependencies tell whether this install can build.
if (has('node_modules/@tsconfig/strictest/package.json') && has('node_modules/@graphql-codegen/cli/package.json')) {
  execSync('npm run generate && npm run build', { stdio: 'inherit', cwd: root });
} else if (has('dist/bundle/peertrust.js')) {
  console.error('peertrust: no build tools installed (production install): using the built dist/');
} else {
  console.error('peertrust: the build (dist/bundle/peertrust.js) is missing and the build tools are not installed: run `npm ci` with devDependencies, or ship a built tree (see README, "Shipping")');
  process.exit(1);
}
