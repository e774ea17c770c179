// Prisma's schema engine compiled to WebAssembly, driven over an in-memory PGlite.
// The native engine that `prisma migrate` downloads cannot be fetched on our machines
// (see the README, "Development"); this engine computes the same diffs with no server.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type * as Engine from '@prisma/schema-engine-wasm';
import { migrationsDir, readMigrations } from '../../src/db/migrate.js';

// @types/node 20 does not declare the WebAssembly global that Node 20 has.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: object } }>;
};

export const schemaPath = path.resolve(import.meta.dirname, '../../prisma/schema.prisma');

async function loadEngineModule(): Promise<typeof Engine> {
  const require = createRequire(import.meta.url);
  const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const glue = await import(gluePath);
  const bytes = await readFile(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'));
  const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': glue });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  return glue as typeof Engine;
}

async function migrationsList() {
  const migrations = await readMigrations();
  return {
    baseDir: migrationsDir,
    lockfile: {
      path: 'migration_lock.toml',
      content: await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8'),
    },
    shadowDbInitScript: '',
    migrationDirectories: migrations.map(({ name, sql }) => ({
      path: name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: sql } },
    })),
  };
}

/** The SQL that takes the migration history to schema.prisma; empty when they agree. */
export async function pendingSchemaChange(): Promise<string> {
  const glue = await loadEngineModule();
  const schemaText = await readFile(schemaPath, 'utf8');
  const pglite = new PGlite();
  try {
    const engine = await glue.SchemaEngine.new(
      { datamodels: [[schemaPath, schemaText]] },
      () => {},
      bindMigrationAwareSqlAdapterFactory(new PrismaPGlite(pglite)),
    );
    try {
      const result = await engine.diff({
        from: { tag: 'migrations', ...(await migrationsList()) },
        to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schemaText }] },
        script: true,
        exitCode: true,
        filters: { externalTables: [], externalEnums: [] },
      } as Parameters<Engine.SchemaEngine['diff']>[0]);
      return result.exitCode === 2 ? (result.stdout ?? '') : '';
    } finally {
      engine.free();
    }
  } finally {
    await pglite.close();
  }
}
