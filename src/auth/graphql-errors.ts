import { GraphQLError, Kind, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { User } from '../db/client.js';
import type { Context } from '../schema/context.js';

export function unauthenticatedError(problem: string): GraphQLError {
  return new GraphQLError(problem, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

export function forbiddenError(viewer: User): GraphQLError {
  return new GraphQLError(`${viewer.name} is ${viewer.role}; only an ADMINISTRATOR may change trust`, {
    extensions: { code: 'FORBIDDEN', http: { status: 403 } },
  });
}

/** Introspection only: the schema is public (schema.graphql), and GraphiQL loads it before a token is pasted. */
function isIntrospectionOnly(document: DocumentNode): boolean {
  return document.definitions.every(
    (definition) =>
      definition.kind !== Kind.OPERATION_DEFINITION ||
      definition.selectionSet.selections.every(
        (selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'),
      ),
  );
}

/**
 * Anonymous requests get one UNAUTHENTICATED error and nothing else, before any
 * resolver runs. Field-level scopes (builder.ts) still guard every field.
 */
export function useRequireAuthentication(): Plugin<Context> {
  const refuse = (context: Context, document: DocumentNode) =>
    context.viewer || isIntrospectionOnly(document) ? undefined : { errors: [unauthenticatedError(context.authProblem)] };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = refuse(args.contextValue, args.document);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = refuse(args.contextValue, args.document);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}
