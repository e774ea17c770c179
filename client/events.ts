// What the Trust History's events mean, for every reader of them (the console, the CLI,
// scripts): no Node.js-only import here, so that the browser can use it too.
import type { TrustEventFieldsFragment } from './gql/graphql.js';

/**
 * The server a Trust History event is about: the other server of its pair than the one
 * through whose API the change was made (`event.server`). A server's history holds its
 * own pairs, so the pair is `thisServer` and `event.peerTrust.peer`.
 */
export function eventSubject(event: TrustEventFieldsFragment, thisServer: { id: string; name: string }): { id: string; name: string } {
  const { peer } = event.peerTrust;
  return event.server.id === thisServer.id ? { id: peer.id, name: peer.name } : { id: thisServer.id, name: thisServer.name };
}
