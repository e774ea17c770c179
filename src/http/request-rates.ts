// Request rates per client address and per token, counted before a request is read,
// so that a flood costs the server a map lookup per request, not a query.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { bearerToken, hashToken } from '../auth/tokens.js';
import type { ClientLimits } from './settings.js';

/** Seconds a client must wait before it may send again, or undefined when it may go on now. */
export type Wait = number | undefined;

type RateSettings = Pick<
  ClientLimits,
  'requestsPerMinutePerAddress' | 'requestsPerMinutePerToken' | 'anonymousRequestsPerMinutePerAddress'
>;

const perMinute = (points: number) => new RateLimiterMemory({ points, duration: 60 });

async function take(limiter: RateLimiterMemory, key: string): Promise<Wait> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
    throw rejection;
  }
}

export class RequestRates {
  readonly #perAddress: RateLimiterMemory;
  readonly #perToken: RateLimiterMemory;
  readonly #anonymous: RateLimiterMemory;

  constructor(limits: RateSettings) {
    this.#perAddress = perMinute(limits.requestsPerMinutePerAddress);
    this.#perToken = perMinute(limits.requestsPerMinutePerToken);
    this.#anonymous = perMinute(limits.anonymousRequestsPerMinutePerAddress);
  }

  /** An HTTP request or WebSocket upgrade: counted for its address, and for its token or as anonymous. */
  async admit(request: IncomingMessage): Promise<Wait> {
    const address = clientAddress(request);
    const token = bearerToken(request.headers.authorization);
    return (
      (await take(this.#perAddress, address)) ??
      (token === undefined ? await take(this.#anonymous, address) : await take(this.#perToken, hashToken(token)))
    );
  }

  /** A request whose token was refused also counts as anonymous: made-up tokens are limited like none. */
  refusedToken(address: string): Promise<Wait> {
    return take(this.#anonymous, address);
  }

  /** A WebSocket connection, or an operation on one, of the token with this hash. */
  operation(tokenHash: string): Promise<Wait> {
    return take(this.#perToken, tokenHash);
  }
}

export function clientAddress(request: IncomingMessage): string {
  return request.socket.remoteAddress ?? 'unknown';
}

/** RATE_LIMITED, with when to retry; over HTTP also status 429 and a Retry-After header. */
export function rateLimitedError(seconds: number, overHttp = false): GraphQLError {
  return new GraphQLError(`too many requests: retry in ${seconds} s`, {
    extensions: {
      code: 'RATE_LIMITED',
      retryAfterSeconds: seconds,
      ...(overHttp ? { http: { status: 429, headers: { 'retry-after': String(seconds) } } } : {}),
    },
  });
}

/** Answers an HTTP request that is over its rate, without reading it. */
export function refuseRateLimited(res: ServerResponse, seconds: number): void {
  res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(seconds) });
  res.end(JSON.stringify({ errors: [rateLimitedError(seconds)] }));
}
