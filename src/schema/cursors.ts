// Pothos decodes `after` and `before` into a key value of whatever type the cursor
// says, not the type of the list's key: a tampered cursor would reach the database as a
// query that fails. Such a cursor is the client's error, said as one.
import { GraphQLError } from 'graphql';
import { isId } from '../trust/scope.js';

const keyKinds = {
  uuid: (value: unknown) => typeof value === 'string' && isId(value),
  /** A history sequence number: 1, 2, 3... */
  sequence: (value: unknown) =>
    (typeof value === 'bigint' && value > 0n) || (typeof value === 'number' && Number.isSafeInteger(value) && value > 0),
};

/** A connection's page query, refused (BAD_USER_INPUT) when its cursor holds no possible key. */
export function checkedPage<Query extends { cursor?: object }>(query: Query, key: keyof typeof keyKinds): Query {
  const values = query.cursor ? Object.values(query.cursor) : [];
  if (query.cursor && (values.length !== 1 || !keyKinds[key](values[0]))) {
    throw new GraphQLError('the cursor given as after or before is not one this list gave out', {
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  }
  return query;
}
