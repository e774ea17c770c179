// The entries of the Trust History's Merkle tree. Each event is one entry: canonical
// JSON of the event and of the signed statement it comes from (with its signatures),
// so that an entry can be verified on its own, by a server or by an auditor with
// nothing but a bundle. TrustEvent's columns are a copy of the entry, for queries.
import { z } from 'zod';
import { TrustEventKind } from '../db/generated/prisma/enums.js';

/** A signature of a statement, by the key with this fingerprint. */
export const EntrySignature = z.object({ fingerprint: z.string(), signature: z.string() });
export type EntrySignature = z.infer<typeof EntrySignature>;

export const EventEntry = z.object({
  type: z.literal('peertrust/event/v1'),
  sequence: z.number().int().positive(),
  kind: z.enum(TrustEventKind),
  /** The database's time, ISO 8601 in UTC with milliseconds. */
  time: z.string(),
  /** The pair that changed, if the event is about one, with its two servers (in id order). */
  pair: z.object({ id: z.string(), servers: z.tuple([z.string(), z.string()]) }).nullable(),
  /** The server through whose API (or key) the change was made. */
  server: z.string(),
  actor: z.string(),
  fingerprints: z.array(z.string()),
  /** The signed statement the event comes from, as signed. */
  statement: z.string().optional(),
  signatures: z.array(EntrySignature).optional(),
  /** Recorded before the history was signed: taken as found at the upgrade. */
  legacy: z.literal(true).optional(),
});
export type EventEntry = z.infer<typeof EventEntry>;

/** The entry's bytes: its fields in the schema's order. */
export function formatEntry(entry: EventEntry): string {
  return JSON.stringify(EventEntry.parse(entry));
}

/** Reads an entry; undefined when the text is not one in its canonical form. */
export function parseEntry(text: string): EventEntry | undefined {
  try {
    const parsed = EventEntry.safeParse(JSON.parse(text));
    return parsed.success && JSON.stringify(parsed.data) === text ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
