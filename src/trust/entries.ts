// The entries of the Trust History's Merkle tree. Each event is one entry: canonical
// JSON of the event and of the signed statement it comes from (with its signatures),
// so that an entry can be verified on its own, by a server or by an auditor with
// nothing but a bundle. TrustEvent's columns are a copy of the entry, for queries.
import { z } from 'zod';
import { TrustEventKind } from '../db/generated/prisma/enums.js';
import {
  DecisionStatement,
  KeyRotationStatement,
  readStatement,
  RegistrationStatement,
  TamperingStatement,
  TokenRevocationStatement,
  TokenStatement,
  verifyStatement,
} from '../identity/statements.js';

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

/** An entry's statement, read by its kind. */
export type EntryStatement =
  | { type: 'decision'; statement: DecisionStatement }
  | { type: 'rotation'; statement: KeyRotationStatement }
  | { type: 'token'; statement: TokenStatement }
  | { type: 'revocation'; statement: TokenRevocationStatement }
  | { type: 'tampering'; statement: TamperingStatement }
  | { type: 'registration'; statement: RegistrationStatement };

const STATEMENTS = {
  'peertrust/decision/v1': ['decision', DecisionStatement],
  'peertrust/key-rotation/v1': ['rotation', KeyRotationStatement],
  'peertrust/token/v1': ['token', TokenStatement],
  'peertrust/token-revocation/v1': ['revocation', TokenRevocationStatement],
  'peertrust/tampering/v1': ['tampering', TamperingStatement],
  'peertrust/registration/v1': ['registration', RegistrationStatement],
} as const;

/** The events each kind of statement may record. */
const KINDS: Record<EntryStatement['type'], readonly TrustEventKind[]> = {
  decision: [], // by the decision's kind: see decisionEvents
  rotation: ['KEY_ROTATED'],
  token: ['TOKEN_ISSUED'],
  revocation: ['TOKEN_REVOKED'],
  tampering: ['TAMPERING_DETECTED'],
  registration: ['SERVER_REGISTERED'],
};

/** The events each kind of decision may record. */
export const DECISION_EVENTS: Record<DecisionStatement['kind'], readonly TrustEventKind[]> = {
  ACCEPT: ['TRUST_APPROVED', 'TRUST_ENABLED'],
  DENY: ['TRUST_DENIED'],
  REVOKE: ['TRUST_REVOKED'],
  DECOMMISSION: ['TRUST_REVOKED', 'SERVER_DECOMMISSIONED'],
};

/** Reads the statement of a signed entry; undefined when it has none, of no known kind, or not of its event's kind. */
export function entryStatement(entry: EventEntry): EntryStatement | undefined {
  if (!entry.statement) return undefined;
  let type: unknown;
  try {
    type = (JSON.parse(entry.statement) as { type?: unknown }).type;
  } catch {
    return undefined;
  }
  const known = STATEMENTS[type as keyof typeof STATEMENTS];
  if (!known) return undefined;
  const statement = readStatement(known[1] as z.ZodObject, entry.statement);
  if (!statement) return undefined;
  const read = { type: known[0], statement } as EntryStatement;
  const kinds = read.type === 'decision' ? DECISION_EVENTS[read.statement.kind] : KINDS[read.type];
  return kinds.includes(entry.kind) ? read : undefined;
}

/** The keys whose signatures an entry's statement needs. */
export function requiredSigners(read: EntryStatement, entry: EventEntry): string[] {
  switch (read.type) {
    case 'decision':
      return [read.statement.decider.fingerprint];
    case 'rotation':
      // The old key endorses the new one; the new one confirms the old.
      return [read.statement.from, read.statement.to];
    case 'token':
      return (entry.signatures ?? []).map((s) => s.fingerprint);
    case 'revocation':
      return [read.statement.revoker.fingerprint];
    case 'tampering':
      return [read.statement.detector.fingerprint];
    case 'registration':
      // Signed by the key it registers: whoever registered it holds that key.
      return [read.statement.fingerprint];
  }
}

/**
 * Whether the entry carries a valid signature of its statement by each of `required`,
 * with `publicKeyOf` giving each key's PEM (only when its fingerprint matches: the
 * caller's keys, from wherever it trusts them).
 */
export function signaturesHold(entry: EventEntry, required: string[], publicKeyOf: (fingerprint: string) => string | undefined): boolean {
  return (
    required.length > 0 &&
    required.every((fingerprint) => {
      const signature = entry.signatures?.find((s) => s.fingerprint === fingerprint);
      const pem = publicKeyOf(fingerprint);
      return !!signature && !!pem && verifyStatement(entry.statement!, signature.signature, pem);
    })
  );
}
