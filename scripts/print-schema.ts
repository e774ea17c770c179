// Writes schema.graphql, the SDL clients and codegen read, from the Pothos schema.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';

await writeFile(path.resolve(import.meta.dirname, '../schema.graphql'), `${printSchema(schema)}\n`);
