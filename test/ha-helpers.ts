// Shared by the HA suites: servers as processes on PostgreSQL, decisions through their
// APIs, and the checks of what the database holds afterwards.
import pg from 'pg';
import { expect, onTestFinished } from 'vitest';
import {
  ApproveTrustDocument,
  createPeertrustClient,
  DenyTrustDocument,
  RevokeTrustDocument,
  type PeertrustClient,
  type PeertrustClientOptions,
} from '../client/index.js';
import { decide, type PairState, type Side } from '../src/trust/state-machine.js';
import { request } from './helpers.js';
import { peertrust, serve, type ServeProcess } from './processes.js';

export async function sql<Row>(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** An administrator token made with the CLI, as an operator would, signed by these servers' keys (each accepts it). */
export async function adminToken(databaseUrl: string, servers: { dataDir: string }[]): Promise<string> {
  const signers = servers.flatMap((server) => ['--signer', server.dataDir]);
  const created = await peertrust(['token', 'create', '--name', 'ops', '--role', 'administrator', ...signers], { DATABASE_URL: databaseUrl });
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim().split('\n').at(-1)!;
}

/** A client of one or several servers, closed when the test ends. */
export function clientOf(
  url: string | string[],
  token: string,
  options: Omit<PeertrustClientOptions, 'url' | 'token'> = {},
): PeertrustClient {
  const client = createPeertrustClient({ url, token, ...options });
  onTestFinished(() => client.close());
  return client;
}

/** Starts servers, one process each, at the same moment. */
export function serveAll(names: string[], databaseUrl: string, heartbeatSeconds?: number): Promise<ServeProcess[]> {
  return Promise.all(names.map((name) => serve(name, databaseUrl, heartbeatSeconds ? { heartbeatSeconds } : {})));
}

export type Kind = 'approve' | 'deny' | 'revoke';

/** One decision through `on`'s API about `peer`; returns the result's type name or the transport/GraphQL error. */
export async function decideThrough(client: PeertrustClient, kind: Kind, peer: ServeProcess): Promise<string> {
  const fingerprinted = { input: { peerId: peer.id, fingerprint: peer.fingerprint } };
  const result =
    kind === 'approve'
      ? await request(client, ApproveTrustDocument, fingerprinted).then((r) => ({ error: r.error, type: r.data?.approveTrust.__typename }))
      : kind === 'deny'
        ? await request(client, DenyTrustDocument, fingerprinted).then((r) => ({ error: r.error, type: r.data?.denyTrust.__typename }))
        : await request(client, RevokeTrustDocument, { input: { peerId: peer.id } }).then((r) => ({ error: r.error, type: r.data?.revokeTrust.__typename }));
  return result.error ? `error: ${result.error.message}` : (result.type ?? 'no data');
}

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

const decisionOf = { TRUST_APPROVED: 'ACCEPT', TRUST_DENIED: 'DENY', TRUST_REVOKED: 'REVOKE' } as const;

export interface EventRow {
  peerTrustId: string;
  kind: keyof typeof decisionOf | 'TRUST_ENABLED' | 'SERVER_DECOMMISSIONED';
  serverId: string;
}
export interface PairRow extends PairState {
  id: string;
  serverAId: string;
  serverBId: string;
}

/**
 * Replays a pair's history, in the order it was appended, through the trust rules:
 * each decision must be a legal change from the state before it, and the end must be
 * the stored state. Returns the decisions, as "ACCEPT by A" and so on.
 */
export function replay(pair: PairRow, events: EventRow[]): string[] {
  let state: PairState = { status: 'PENDING', acceptedByA: false, acceptedByB: false };
  const decisions: string[] = [];
  for (let i = 0; i < events.length; ) {
    const event = events[i]!;
    expect(event.kind, 'an event that starts a decision').toBeOneOf(Object.keys(decisionOf));
    const kind = decisionOf[event.kind as keyof typeof decisionOf];
    const side: Side = event.serverId === pair.serverAId ? 'A' : 'B';
    const decision = decide(state, side, kind);
    if (decision.outcome !== 'changed') throw new Error(`history of ${pair.id} has ${kind} by ${side} in ${state.status}, which changes nothing`);
    expect(events.slice(i, i + decision.events.length).map((e) => e.kind)).toEqual(decision.events);
    state = decision.next;
    decisions.push(`${kind} by ${side}`);
    i += decision.events.length;
  }
  expect({ status: pair.status, acceptedByA: pair.acceptedByA, acceptedByB: pair.acceptedByB }).toEqual(state);
  return decisions;
}

