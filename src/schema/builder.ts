import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { forbiddenError, unauthenticatedError } from '../auth/graphql-errors.js';
import type PrismaTypes from '../db/generated/pothos-types.js';
import { getDatamodel } from '../db/generated/pothos-types.js';
import type { Context } from './context.js';

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  AuthScopes: { authenticated: boolean; administrator: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  // scope-auth first and errors before prisma (notes/stack.md).
  plugins: [ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  // Costs only: the limit is checked per request, with its variables (src/http/query-cost.ts).
  complexity: { defaultComplexity: 1, defaultListMultiplier: 10 },
  scopeAuth: {
    authScopes: (ctx) => ({
      authenticated: ctx.viewer !== null,
      administrator: ctx.viewer?.role === 'ADMINISTRATOR',
    }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, ctx) =>
      ctx.viewer ? forbiddenError(ctx.viewer) : unauthenticatedError(ctx.authProblem),
  },
  errors: { defaultTypes: [] },
  prisma: {
    client: (ctx) => ctx.scope.db.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    pageInfoTypeOptions: { description: 'Where a page of a list stands in the whole list.' },
    hasNextPageFieldOptions: { description: 'Whether there are items after this page.' },
    hasPreviousPageFieldOptions: { description: 'Whether there are items before this page.' },
    startCursorFieldOptions: { description: 'The cursor of the first item of this page.' },
    endCursorFieldOptions: { description: 'The cursor of the last item of this page: pass it as `after` for the next page.' },
    // A page's items are counted by its connection field's `first` (pageSize below), not again here.
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.', complexity: { field: 1, multiplier: 1 } },
    pageInfoFieldOptions: { description: 'Where this page stands in the whole list.' },
    cursorFieldOptions: { description: 'Pass as `after` to list the items after this one.' },
    nodeFieldOptions: { description: 'The item.' },
    firstArgOptions: { description: 'At most this many items (default 50, at most 200).' },
    afterArgOptions: { description: 'Items after this cursor.' },
    lastArgOptions: { description: 'At most this many items, from the end.' },
    beforeArgOptions: { description: 'Items before this cursor.' },
  },
});

const defaultSize = 50;
const maxSize = 200;

/**
 * Page sizes of every connection (nothing loads an unbounded list), and what a page
 * costs: each item it may hold, so `first: $n` costs what n items cost.
 */
export const pageSize = {
  defaultSize,
  maxSize,
  complexity: ({ first, last }: { first?: number | null; last?: number | null }) => ({
    field: 1,
    multiplier: Math.min(Math.max(first ?? last ?? defaultSize, 0), maxSize),
  }),
};

/** The Connection and Edge type names and descriptions of a list of `items` of type `type`. */
export function connectionTypes(type: string, items: string) {
  return [
    { name: `${type}Connection`, description: `A page of ${items}.` },
    { name: `${type}Edge`, description: `One of ${items}, with its cursor.` },
  ] as const;
}
