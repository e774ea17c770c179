// Pothos decodes `after` and `before` into a key value of whatever type the cursor
// says, not the type of the list's key: a tampered cursor would reach the database as a
// query that fails. Such a cursor is the client's error, said as one.
import { GraphQLError } from 'graphql';
import { isId } from '../trust/scope.js';

const MAX_INT4 = 2_147_483_647;

const keyKinds = {
  uuid: (value: unknown) => typeof value === 'string' && isId(value),
  int: (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_INT4,
};

/** A connection's page query, refused (BAD_USER_INPUT) when its cursor holds no possible key. */
export function checkedPage<Query extends { cursor?: { id?: unknown } }>(query: Query, key: keyof typeof keyKinds): Query {
  if (query.cursor && !keyKinds[key](query.cursor.id)) {
    throw new GraphQLError('the cursor given as after or before is not one this list gave out', {
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  }
  return query;
}
