// What the trust commands print: aligned tables and lines for people, and for --json the
// shapes documented in the README. Those shapes are built here field by field, so that
// a change of the API's documents cannot change what scripts read.
import { byThirdServer, eventKeys, eventSubject, namesAmong, type PeerTrustFieldsFragment, type ServerFieldsFragment, type TrustEvent } from '../../client/index.js';
import { formatFingerprint } from '../identity/fingerprint-text.js';


/** A peer as this server sees it: `peers --json`, and the `peer` of the other commands. */
export function peerJson(pair: PeerTrustFieldsFragment) {
  return {
    id: pair.peer.id,
    name: pair.peer.name,
    trustStatus: pair.status,
    approvedByThisServer: pair.approvedByThisServer,
    approvedByPeer: pair.approvedByPeer,
    approvalRequired: pair.approvalRequired,
    serverStatus: pair.peer.status,
    fingerprint: pair.peer.fingerprint,
    addresses: pair.peer.addresses,
    updatedAt: pair.updatedAt,
  };
}

export function serverJson(server: ServerFieldsFragment) {
  return {
    id: server.id,
    name: server.name,
    serverStatus: server.status,
    fingerprint: server.fingerprint,
    addresses: server.addresses,
    registeredAt: server.registeredAt,
    lastSeenAt: server.lastSeenAt,
  };
}

/** An event of `thisServer`'s history: `server` made the change, about `peer`, the other server of the pair. */
export function eventJson(event: TrustEvent, thisServer: { id: string; name: string }) {
  return {
    sequence: event.sequence,
    kind: event.kind,
    at: event.at,
    server: { id: event.server.id, name: event.server.name },
    peer: eventSubject(event, thisServer),
    actor: { name: event.actor.name, role: event.actor.role },
    fingerprints: event.fingerprints,
  };
}

/** Columns padded to their widest cell, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** Who has approved in the current round. */
function approvals(pair: PeerTrustFieldsFragment): string {
  if (pair.approvedByThisServer && pair.approvedByPeer) return 'both';
  if (pair.approvedByThisServer) return 'this server';
  if (pair.approvedByPeer) return 'peer';
  return 'none';
}

export function peersTable(pairs: PeerTrustFieldsFragment[]): string {
  return table(
    ['NAME', 'STATUS', 'APPROVALS', 'ONLINE', 'FINGERPRINT', 'ADDRESSES'],
    pairs.map((pair) => [
      pair.peer.name,
      pair.approvalRequired ? `${pair.status} (approval required)` : pair.status,
      approvals(pair),
      pair.peer.status,
      formatFingerprint(pair.peer.fingerprint),
      pair.peer.addresses.join(', '),
    ]),
  );
}

/** `servers`: every server of the cluster, this one included, so that instances sharing a name are told apart. */
export function historyTable(events: TrustEvent[], thisServer: { id: string; name: string }, servers: readonly ServerFieldsFragment[]): string {
  const nameOf = namesAmong(servers);
  return table(
    ['#', 'AT', 'EVENT', 'ON', 'PEER', 'BY', 'FINGERPRINTS'],
    events.map((event) => [
      String(event.sequence),
      event.at,
      // Made through neither server of the pair: by a decommission.
      byThirdServer(event, thisServer) ? `${event.kind} (decommission)` : event.kind,
      nameOf(event.server),
      nameOf(eventSubject(event, thisServer)),
      event.actor.name,
      eventKeys(event, thisServer).map(({ owner, fingerprint }) => `${owner}: ${formatFingerprint(fingerprint)}`).join(', '),
    ]),
  );
}

/** One line about a pair after a change or a notice: status, and who has approved. */
export function describePair(pair: PeerTrustFieldsFragment, self: Pick<ServerFieldsFragment, 'name' | 'status'>): string {
  const thisServer = self.name;
  const peer = pair.peer.name;
  switch (pair.status) {
    case 'TRUSTED':
      return `TRUSTED: ${thisServer} and ${peer} trust each other`;
    case 'PENDING':
      if (pair.approvedByThisServer) return `PENDING: ${thisServer} approved ${peer}; waiting for ${peer} to approve ${thisServer} (on ${peer}: peertrust approve ${thisServer} --fingerprint <${thisServer}'s fingerprint, as ${thisServer} shows it>)`;
      if (pair.approvedByPeer) return `PENDING: ${peer} approved ${thisServer}; approval required on ${thisServer}`;
      return `PENDING: neither ${thisServer} nor ${peer} has approved`;
    case 'REVOKED':
      if (self.status === 'DECOMMISSIONED') return `REVOKED: ${thisServer} is decommissioned`;
      return pair.peer.status === 'DECOMMISSIONED'
        ? `REVOKED: ${peer} is decommissioned and cannot be approved again (a new instance of it is a new peer)`
        : `REVOKED: approving again starts a new round on both servers`;
    case 'DENIED':
      return `DENIED by ${pair.deniedByThisServer ? thisServer : peer}: final for this instance of ${peer}`;
    case 'UNVERIFIED':
      return `UNVERIFIED: the database does not hold what the signed history says (${pair.unverifiedReason ?? 'no reason given'}); do not trust ${peer} until this is resolved`;
  }
}
