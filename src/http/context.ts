// What Yoga's context holds besides the schema's Context, for the plugins and the
// WebSocket server that see a request before and around its resolvers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authentication } from '../auth/tokens.js';
import type { Context } from '../schema/context.js';
import type { DirectDelivery } from './broadcasts.js';

/** What a request starts with: Node's request and response over HTTP; over graphql-ws, its connection's. */
export interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  connectionParams?: Record<string, unknown>;
  /** Over graphql-ws: the connection's authentication, made once at connection_init. */
  auth?: Authentication;
  /** Over graphql-ws: the operation's messages written past graphql-ws, for broadcasts (src/http/broadcasts.ts). */
  delivery?: DirectDelivery;
}

export type ApiContext = Context & { readonly auth: Authentication };
