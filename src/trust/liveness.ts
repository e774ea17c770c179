// Liveness: each server heartbeats into the shared database, and each one watches
// the others' heartbeats. A server that missed several in a row is offline. Every
// clock reading here is the database's, so hosts' clocks need not agree.
import { EventEmitter } from 'node:events';
import type { ServerStatus as Membership } from '../db/generated/prisma/enums.js';
import type { Logger } from '../logger.js';
import type { ServerScope } from './scope.js';
import { feed } from './stoppable.js';

/** What Server.status reports. */
export type ServerStatus = 'ONLINE' | 'OFFLINE' | 'DECOMMISSIONED';

/** A server that missed this many heartbeats in a row is offline. */
export const MISSED_HEARTBEATS_OFFLINE = 3;

/** What of a server its status is computed from. */
export interface LivenessRow {
  status: Membership;
  lastSeenAt: Date;
  heartbeatIntervalMs: number;
  stoppedAt: Date | null;
}

export const livenessFields = { status: true, lastSeenAt: true, heartbeatIntervalMs: true, stoppedAt: true } as const;

/**
 * A server's status at database time `now`. `watchingSince` is when this process last
 * regained the database: peers could not heartbeat while it was down either, so they
 * get their full allowance from then on, rather than all looking offline at once.
 */
export function statusAt(server: LivenessRow, now: number, watchingSince = 0): ServerStatus {
  if (server.status === 'DECOMMISSIONED') return 'DECOMMISSIONED';
  // Stopped cleanly, and no heartbeat since: offline now, without waiting for missed ones.
  if (server.stoppedAt && server.stoppedAt >= server.lastSeenAt) return 'OFFLINE';
  const since = Math.max(server.lastSeenAt.getTime(), watchingSince);
  return now - since > MISSED_HEARTBEATS_OFFLINE * server.heartbeatIntervalMs ? 'OFFLINE' : 'ONLINE';
}

/** One server's heartbeat, and its view of every server's status. */
export class Liveness {
  readonly #scope: ServerScope;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #changes = new EventEmitter<{ changed: [string] }>();
  /** Database clock minus this process's clock, from the last heartbeat. */
  #clockOffsetMs = 0;
  #watchingSince = 0;
  #unreachableSince: number | undefined;
  #known = new Map<string, ServerStatus>();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();

  /** `intervalMs` must be the one the server registered with: others judge it by that. */
  constructor(scope: ServerScope, intervalMs: number, log: Logger) {
    this.#scope = scope;
    this.#intervalMs = intervalMs;
    this.#log = log;
    this.#changes.setMaxListeners(0);
  }

  /** Heartbeats now, then every interval. */
  async start(): Promise<void> {
    await this.#beat();
    this.#timer = setInterval(() => {
      this.#tick = this.#beat().catch((error: unknown) => this.#log.error({ err: error }, 'liveness check failed'));
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops heartbeating and records the clean stop, so that others see this server offline at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#tick;
    await this.#scope.db.prisma.$executeRaw`
      UPDATE "Server" SET "stoppedAt" = now() WHERE "id" = ${this.#scope.serverId}::uuid`.catch((error: unknown) =>
      this.#log.warn({ err: error }, 'could not record the stop; others will see this server offline once it misses its heartbeats'),
    );
  }

  /** A server's status now, as this server sees it. */
  statusOf(server: LivenessRow): ServerStatus {
    return statusAt(server, Date.now() + this.#clockOffsetMs, this.#watchingSince);
  }

  /** Ids of servers whose status changes (online, offline, decommissioned), from now on. */
  changes(): AsyncIterableIterator<string> {
    return feed<[string], string>(this.#changes, 'changed', (push, _fail, serverId) => push(serverId));
  }

  async #beat(): Promise<void> {
    const { prisma } = this.#scope.db;
    let now: number;
    let servers: (LivenessRow & { id: string })[];
    try {
      const [beat] = await prisma.$queryRaw<{ now: Date }[]>`
        UPDATE "Server" SET "lastSeenAt" = now() WHERE "id" = ${this.#scope.serverId}::uuid RETURNING now() AS "now"`;
      servers = await prisma.server.findMany({ select: { id: true, ...livenessFields } });
      now = beat!.now.getTime();
    } catch (error) {
      if (this.#unreachableSince === undefined) {
        this.#unreachableSince = Date.now();
        this.#log.warn({ err: error }, 'heartbeat failed; retrying every interval');
      }
      return;
    }
    this.#clockOffsetMs = now - Date.now();
    if (this.#unreachableSince !== undefined) {
      this.#log.info({ downMs: Date.now() - this.#unreachableSince }, 'heartbeat recorded again');
      this.#unreachableSince = undefined;
      this.#watchingSince = now;
    }
    const known = new Map(servers.map((server) => [server.id, statusAt(server, now, this.#watchingSince)]));
    // A server seen for the first time is not a change: its registration announced it.
    for (const [id, status] of known) {
      const before = this.#known.get(id);
      if (before !== undefined && before !== status) this.#changes.emit('changed', id);
    }
    this.#known = known;
  }
}
