// What a server signs with its root key: canonical statements of its decisions, of a
// key rotation, and of an API token it issues. A statement is JSON built in a fixed
// field order, so that the same facts always give the same bytes; the signature
// (Ed25519, node:crypto) is over those bytes, and verifiers check the signature first,
// then read the facts from the bytes they checked, never from database columns.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { fingerprintOf } from './fingerprint.js';
import { remembered } from './remembered.js';

/** A server as a statement names it: its instance id and the fingerprint of a key. */
const ServerKey = z.object({ server: z.string(), fingerprint: z.string().regex(/^[0-9a-f]{64}$/) });
export type ServerKey = z.infer<typeof ServerKey>;

const Administrator = z.object({ user: z.string(), name: z.string() });

/** One server's decision about another (or, for DECOMMISSION, about a peer's membership). */
export const DecisionStatement = z.object({
  type: z.literal('peertrust/decision/v1'),
  kind: z.enum(['ACCEPT', 'DENY', 'REVOKE', 'DECOMMISSION']),
  pair: z.string(),
  decider: ServerKey,
  /** The fingerprint the administrator verified (ACCEPT, DENY), or the subject's key as the decider knew it. */
  subject: ServerKey,
  administrator: Administrator,
  /** The database's time of the decision. */
  time: z.string(),
  /** The history sequence number of its first event. */
  sequence: z.number().int().positive(),
});
export type DecisionStatement = z.infer<typeof DecisionStatement>;

/** A server's new root key, endorsed by its current one. */
export const KeyRotationStatement = z.object({
  type: z.literal('peertrust/key-rotation/v1'),
  server: z.string(),
  from: z.string().regex(/^[0-9a-f]{64}$/),
  to: z.string().regex(/^[0-9a-f]{64}$/),
  /** The new key, SubjectPublicKeyInfo DER in base64: a verifier needs nothing else. */
  publicKey: z.string(),
  administrator: Administrator,
  time: z.string(),
  sequence: z.number().int().positive(),
});
export type KeyRotationStatement = z.infer<typeof KeyRotationStatement>;

/**
 * A server instance's root key as the server registered it (a new instance's first key;
 * for one registered before registrations were recorded, the key it held at its next
 * start): signed by that key, so that a key row someone adds to the database for the
 * server later does not speak for it. Its other keys are those rotations connect to it.
 */
export const RegistrationStatement = z.object({
  type: z.literal('peertrust/registration/v1'),
  server: z.string(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  /** The key, SubjectPublicKeyInfo DER in base64. */
  publicKey: z.string(),
  time: z.string(),
  sequence: z.number().int().positive(),
});
export type RegistrationStatement = z.infer<typeof RegistrationStatement>;

/** An API token, named by its SHA-256, issued for a user with a role. */
export const TokenStatement = z.object({
  type: z.literal('peertrust/token/v1'),
  token: z.string().regex(/^[0-9a-f]{64}$/),
  user: z.object({ id: z.string(), name: z.string() }),
  role: z.enum(['ADMINISTRATOR', 'READ_ONLY']),
  time: z.string(),
});
export type TokenStatement = z.infer<typeof TokenStatement>;

/** API tokens taken back: their hashes, by a server's key. */
export const TokenRevocationStatement = z.object({
  type: z.literal('peertrust/token-revocation/v1'),
  tokens: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
  user: z.object({ id: z.string(), name: z.string() }),
  revoker: ServerKey,
  time: z.string(),
  sequence: z.number().int().positive(),
});
export type TokenRevocationStatement = z.infer<typeof TokenRevocationStatement>;

/** What a server found in the database that its verified history does not say. */
export const TamperingStatement = z.object({
  type: z.literal('peertrust/tampering/v1'),
  pair: z.string(),
  detector: ServerKey,
  reason: z.string(),
  time: z.string(),
  sequence: z.number().int().positive(),
});
export type TamperingStatement = z.infer<typeof TamperingStatement>;

/** The signed bytes of a statement: its fields in the order the schema lists them. */
export function canonical<T extends z.ZodObject>(schema: T, statement: z.infer<T>): string {
  return JSON.stringify(schema.parse(statement));
}

/**
 * Signatures known to hold: made by this process, or verified by it. A history reads back
 * what its server signed, and a statement's later events carry the signatures its first
 * one did: the same bytes, with the same key, need no second verification. The newest
 * few thousand, by signature; a hit must match the statement and key exactly.
 */
const knownValid = new Map<string, { text: string; publicKeyPem: string }>();
const KNOWN_VALID_LIMIT = 4_096;
const publicKeyPemOf = new WeakMap<KeyObject, string>();

function remember(signature: string, text: string, publicKeyPem: string): void {
  if (knownValid.size >= KNOWN_VALID_LIMIT) knownValid.delete(knownValid.keys().next().value!);
  knownValid.set(signature, { text, publicKeyPem });
}

/** A signature as stored and exchanged: base64 of the 64 Ed25519 bytes. */
export function signStatement(text: string, privateKey: KeyObject): string {
  const signature = sign(null, Buffer.from(text), privateKey).toString('base64');
  let publicKeyPem = publicKeyPemOf.get(privateKey);
  if (publicKeyPem === undefined) publicKeyPemOf.set(privateKey, (publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString()));
  remember(signature, text, publicKeyPem);
  return signature;
}

/** Parsed public keys: verifying a history checks thousands of signatures by a few keys. */
export const publicKeyOf: (pem: string) => KeyObject = remembered((pem) => createPublicKey(pem));

/** Whether `signature` is `publicKeyPem`'s over `text`. */
export function verifyStatement(text: string, signature: string, publicKeyPem: string): boolean {
  const known = knownValid.get(signature);
  if (known && known.text === text && known.publicKeyPem === publicKeyPem) return true;
  let holds: boolean;
  try {
    holds = verify(null, Buffer.from(text), publicKeyOf(publicKeyPem), Buffer.from(signature, 'base64'));
  } catch {
    holds = false;
  }
  if (holds) remember(signature, text, publicKeyPem);
  return holds;
}

/** Parses signed bytes as a statement of `schema`; undefined when they are not one. */
export function readStatement<T extends z.ZodObject>(schema: T, text: string): z.infer<T> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    // Canonical or not at all: the same facts must not have two signed forms.
    return parsed.success && JSON.stringify(parsed.data) === text ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** SHA-256 of a statement's bytes, hex: how events and bundles refer to it. */
export function statementHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A public key as statements carry it: SubjectPublicKeyInfo DER in base64. */
export function encodePublicKey(publicKeyPem: string): string {
  return createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** A public key's PEM from the base64 DER a statement carries, checked against the fingerprint it names. */
export function publicKeyFromStatement(publicKey: string, fingerprint: string): string | undefined {
  try {
    const pem = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    return fingerprintOf(pem) === fingerprint ? pem : undefined;
  } catch {
    return undefined;
  }
}
