// npm run migrate:new -- <name>: writes prisma/migrations/<timestamp>_<name>/migration.sql
// with the SQL that takes the current migration history to schema.prisma.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { migrationsDir } from '../src/db/migrate.js';
import { pendingSchemaChange } from './lib/schema-engine.js';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: npm run migrate:new -- <name in lower_snake_case>');
  process.exit(2);
}
const sql = await pendingSchemaChange();
if (!sql.trim()) {
  console.log('schema.prisma and prisma/migrations agree: no migration needed.');
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const dir = path.join(migrationsDir, `${stamp}_${name}`);
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, 'migration.sql'), sql);
console.log(`wrote ${path.relative(process.cwd(), dir)}/migration.sql`);
