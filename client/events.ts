// What the Trust History's events mean, for every reader of them (the console, the CLI,
// scripts): no Node.js-only import here, so that the browser can use it too.
import type { TrustEventFieldsFragment } from './gql/graphql.js';

/**
 * The server a Trust History event is about: the other server of its pair than the one
 * through whose API the change was made (`event.server`). A server's history holds its
 * own pairs, so the pair is `thisServer` and `event.peerTrust.peer`. A decommission made
 * through a third server revokes the decommissioned server's other pairs too: those
 * events name its key, which never changes after.
 */
export function eventSubject(event: TrustEventFieldsFragment, thisServer: { id: string; name: string }): { id: string; name: string } {
  const { peer } = event.peerTrust;
  const self = { id: thisServer.id, name: thisServer.name };
  const other = { id: peer.id, name: peer.name };
  if (event.server.id === thisServer.id) return other;
  if (!byThirdServer(event, thisServer)) return self;
  return event.fingerprints[0] === peer.fingerprint ? other : self;
}

/** Whether the change was made through neither server of the pair: only a decommission does that. */
export function byThirdServer(event: TrustEventFieldsFragment, thisServer: { id: string }): boolean {
  return event.server.id !== thisServer.id && event.server.id !== event.peerTrust.peer.id;
}

/** Whose root key each of an event's fingerprints is, in the event's order, as a label. */
export function eventKeys(event: TrustEventFieldsFragment, thisServer: { id: string; name: string }): { owner: string; fingerprint: string }[] {
  const subject = eventSubject(event, thisServer).name;
  const owners =
    event.kind === 'TRUST_ENABLED'
      ? [event.server.name, subject]
      : event.kind === 'KEY_ROTATED'
        ? [`${event.server.name}, old`, `${event.server.name}, new`]
        : [subject];
  return event.fingerprints.map((fingerprint, index) => ({ owner: owners[index] ?? 'unknown', fingerprint }));
}
