import type { Database } from '../db/client.js';
import type { RootKeyPair } from '../identity/root-key.js';
import { NotFoundError, SelfTrustError } from './errors.js';
import type { Ledger } from './ledger.js';

/** Everything in src/trust runs on behalf of one server instance: the one whose API was called. */
export interface ServerScope {
  readonly db: Database;
  readonly serverId: string;
  /** The root key this server holds now (a rotation replaces it): what it is, and what it signs with. */
  readonly identity: { key: RootKeyPair };
  /** The Trust History as this server verified it. */
  readonly ledger: Ledger;
}

/** Who made a change: an authenticated user. */
export interface Actor {
  readonly id: string;
  readonly name: string;
}

/** A pair is stored once, its lower id first. */
export function orderedPair(x: string, y: string): { serverAId: string; serverBId: string } {
  return x < y ? { serverAId: x, serverBId: y } : { serverAId: y, serverBId: x };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are UUIDs; anything else names nothing (and must not reach a uuid column). */
export function isId(value: string): boolean {
  return UUID.test(value);
}

/** The canonical id of the peer a change names: another server, never this one. */
export function peerIdFor(scope: ServerScope, input: string): string {
  const peerId = input.toLowerCase();
  if (!isId(peerId)) throw new NotFoundError('server', input, true);
  if (peerId === scope.serverId) throw new SelfTrustError();
  return peerId;
}
