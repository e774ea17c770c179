import type { User } from '../db/client.js';
import type { ServerMetrics } from '../metrics.js';
import type { Liveness } from '../trust/liveness.js';
import type { ServerScope } from '../trust/scope.js';

/** What every resolver knows about the request it serves. */
export interface Context {
  /** The server whose API this is. */
  readonly scope: ServerScope;
  /** How this server sees every server's liveness. */
  readonly liveness: Liveness;
  /** Where decisions are counted, for /metrics. */
  readonly metrics: ServerMetrics;
  /** The authenticated user, or null. */
  readonly viewer: User | null;
  /** Why the request is not authenticated, for the UNAUTHENTICATED error. */
  readonly authProblem: string;
}
