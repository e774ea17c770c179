import type { CombinedError } from 'urql';
import { describeError } from './client.js';

/**
 * A mutation's outcome as a problem in words, or undefined when it succeeded. The API's
 * errors a user can act on are union members with a `message`; refusals (FORBIDDEN) and
 * outages are GraphQL or network errors.
 */
export function problemOf<Data>(
  result: { data?: Data | undefined; error?: CombinedError | undefined },
  payloadOf: (data: Data) => object,
): string | undefined {
  if (result.error) return describeError(result.error);
  if (!result.data) return 'the server gave no answer; try again';
  const payload = payloadOf(result.data);
  return 'message' in payload && typeof payload.message === 'string' ? payload.message : undefined;
}
