// What an operation may cost. graphql-armor's cost limit reads literals only, so
// `trustHistory(first: $n)` counted as a page of nothing; this one applies the
// request's variables and the lists' default page sizes before anything runs.
import { createComplexityRule } from '@pothos/plugin-complexity';
import { GraphQLError, validate, type ExecutionArgs } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * The most one operation may cost: one field is 1, a list's items count once each
 * (a connection's by its `first`, 50 by default). The largest page of any list, with
 * every field of its items, costs about 3,000: one or two of them fit, many do not.
 */
export const MAX_QUERY_COST = 7_000;

function tooCostly(args: ExecutionArgs): readonly GraphQLError[] {
  return validate(args.schema, args.document, [
    createComplexityRule({
      context: args.contextValue as object,
      variableValues: args.variableValues ?? {},
      operationName: args.operationName,
      validate: ({ complexity }, report) => {
        if (complexity <= MAX_QUERY_COST) return;
        report(
          new GraphQLError(
            `this operation costs ${complexity}, more than the ${MAX_QUERY_COST} one request may cost: ask for smaller pages (first), fewer fields or fewer aliases`,
            { extensions: { code: 'QUERY_TOO_COSTLY', cost: complexity, maxCost: MAX_QUERY_COST } },
          ),
        );
      },
    }),
  ]);
}

/** Refuses an operation that costs more than MAX_QUERY_COST before any resolver runs. */
export function useQueryCost(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const errors = tooCostly(args);
      if (errors.length) setResultAndStopExecution({ errors });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = tooCostly(args);
      if (errors.length) setResultAndStopExecution({ errors });
    },
  };
}
