// Appending to the Trust History. Every change of trust appends its events in the
// transaction that makes the change, numbered from the one-row TrustHistory counter.
// Updating that row locks it until the transaction commits, so the next appender
// reads the counter only after this one is visible: sequence numbers follow commit
// order across every process that shares the database, without gaps, and a reader
// paging with `after` never skips an event that commits later with a smaller number.
import { Prisma, type TransactionClient } from '../db/client.js';
import type { TrustEventKind } from '../db/generated/prisma/enums.js';

/** One event to append. */
export interface NewEvent {
  kind: TrustEventKind;
  peerTrustId: string;
  /** The server through whose API the change was made. */
  serverId: string;
  actorId: string;
  fingerprints: string[];
}

/** Where appended events go: their sequence numbers, and the database's time of the append. */
export interface Reservation {
  /** The sequence number of the first event. */
  first: bigint;
  /** The database's clock, read under the counter's lock: times follow the history's order. */
  at: Date;
}

/**
 * Takes the next `count` sequence numbers. Call it last before writing, so the counter
 * stays locked for as short a time as possible: appenders queue on it until commit.
 */
export async function reserve(tx: TransactionClient, count: number): Promise<Reservation> {
  const [row] = await tx.$queryRaw<{ first: bigint; at: Date }[]>`
    UPDATE "TrustHistory" SET "length" = "length" + ${count}
    WHERE "id" = 1
    RETURNING "length" - ${count} + 1 AS "first", clock_timestamp() AS "at"`;
  if (!row) throw new Error('the TrustHistory counter row is missing');
  return row;
}

/**
 * An INSERT of `events` at `reservation`, in order, as one SQL fragment: callers put it
 * in a WITH clause beside the change it records, so that both are one statement.
 */
export function insertEvents(reservation: Reservation, events: NewEvent[]): Prisma.Sql {
  const rows = events.map((event, index) => ({ ...event, sequence: String(reservation.first + BigInt(index)) }));
  return Prisma.sql`
    INSERT INTO "TrustEvent" ("sequence", "kind", "at", "peerTrustId", "serverId", "actorId", "fingerprints")
    SELECT e."sequence", e."kind"::"TrustEventKind", ${reservation.at}::timestamptz, e."peerTrustId"::uuid, e."serverId"::uuid, e."actorId"::uuid, e."fingerprints"
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      AS e("sequence" bigint, "kind" text, "peerTrustId" text, "serverId" text, "actorId" text, "fingerprints" text[])`;
}
