// How a server's API meets its clients: TLS, which web origins may call it, and how
// much one client may use. Defaults here; src/env.ts reads them from flags and the
// environment.

/** The files of `serve --tls-cert FILE --tls-key FILE`, both PEM. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** What one client may use of one server, so that no client can exhaust it. */
export interface ClientLimits {
  /** HTTP requests and WebSocket upgrades per minute from one address, whoever sends them. */
  requestsPerMinutePerAddress: number;
  /** Requests per minute with one token: HTTP requests, WebSocket connections and the operations on them. */
  requestsPerMinutePerToken: number;
  /** Requests per minute from one address without a token, or with one that is not valid. */
  anonymousRequestsPerMinutePerAddress: number;
  /** Open WebSocket connections of one user. */
  connectionsPerUser: number;
  /** Operations running at once on one WebSocket connection. */
  subscriptionsPerConnection: number;
  /** Subscriptions running at once for one user, over WebSocket and server-sent events. */
  subscriptionsPerUser: number;
}

export interface HttpSettings {
  /** HTTPS and WSS with these files; plain HTTP without. */
  tls?: TlsFiles | undefined;
  /** Web origins allowed to call the API from a browser (CORS); none: same origin only. */
  corsOrigins: readonly string[];
  limits: ClientLimits;
  /** When set, /metrics asks for it as a bearer token. */
  metricsToken?: string | undefined;
}

/** Generous for people and automation, far below what floods a server. */
export const defaultClientLimits: ClientLimits = {
  requestsPerMinutePerAddress: 2400,
  requestsPerMinutePerToken: 1200,
  anonymousRequestsPerMinutePerAddress: 120,
  connectionsPerUser: 20,
  subscriptionsPerConnection: 50,
  subscriptionsPerUser: 200,
};

export const defaultHttpSettings: HttpSettings = { corsOrigins: [], limits: defaultClientLimits };
