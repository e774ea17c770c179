import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.js';

function toDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string');
  return date;
}

builder.scalarType('DateTime', {
  description: 'A point in time, as an ISO 8601 string in UTC, e.g. 2026-11-28T10:15:00.000Z.',
  serialize: (date) => date.toISOString(),
  parseValue: toDate,
  parseLiteral: (ast) => toDate(ast.kind === Kind.STRING ? ast.value : undefined),
});
