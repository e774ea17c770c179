import { defineConfig } from 'prisma/config';

// peertrust applies migrations itself at startup (src/db/migrate.ts); this file only
// tells the Prisma CLI where the schema and the migration history are.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env['DATABASE_URL'] ?? 'postgresql://localhost:5432/peertrust' },
});
