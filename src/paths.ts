// Where peertrust's own files are. The same code runs from src/ (tests) and from
// dist/src/ (the build), so paths are found from the package root, not from this file.
import { existsSync } from 'node:fs';
import path from 'node:path';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The directory of peertrust's package.json. */
export const packageRoot = findPackageRoot(import.meta.dirname);

/** prisma/migrations: applied at every start. */
export const migrationsDir = path.join(packageRoot, 'prisma', 'migrations');

/** The built web console (npm run build), served at / by every server. */
export const consoleDir = path.join(packageRoot, 'dist', 'console');
