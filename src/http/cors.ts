// Which web pages may call the API from a browser. Yoga's default answers any Origin
// with its own name and credentials allowed; ours allows none but the configured ones.
import type { YogaServerOptions } from 'graphql-yoga';

type CorsOption = YogaServerOptions<object, object>['cors'];

/** Same origin only, unless origins are listed (PEERTRUST_CORS_ORIGINS). Tokens travel in a header, not a cookie. */
export function corsFor(origins: readonly string[]): CorsOption {
  if (origins.length === 0) return false;
  return {
    origin: [...origins],
    credentials: false,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type', 'x-graphql-yoga-csrf'],
  };
}
