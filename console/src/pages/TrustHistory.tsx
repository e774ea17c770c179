import { useEffect, useId, useState } from 'react';
import { useQuery } from 'urql';
import { useSearchParams } from 'wouter';
import {
  ConsoleTrustHistoryDocument,
  PeerTrustsDocument,
  VerifyTrustHistoryDocument,
  type TrustEventFieldsFragment as TrustEvent,
  type TrustEventKind,
} from '../../../client/gql/graphql.js';
import { byThirdServer, eventKeys, eventSubject } from '../../../client/events.js';
import { instanceLabel, namesAmong } from '../../../client/names.js';
import { FingerprintText } from '../components/Fingerprint.js';
import { describeError } from '../client.js';
import { useLive } from '../live.js';
import { PAGE_SIZE, useRefetchAfterReconnect } from '../paging.js';
import { useSession } from '../session-context.js';

const HISTORY_PAGE = 25;

const kindLabel: Record<TrustEventKind, string> = {
  TRUST_APPROVED: 'Approved',
  TRUST_ENABLED: 'Trust enabled',
  TRUST_DENIED: 'Denied',
  TRUST_REVOKED: 'Revoked',
  SERVER_DECOMMISSIONED: 'Decommissioned',
  KEY_ROTATED: 'Root key rotated',
  TAMPERING_DETECTED: 'Tampering detected',
  TOKEN_ISSUED: 'Token issued',
  TOKEN_REVOKED: 'Token revoked',
  SERVER_REGISTERED: 'Registered',
};

export function TrustHistoryPage() {
  const { thisServer } = useSession();
  const live = useLive();
  const filterId = useId();
  // The peer filter is in the address (?peer=<id>), so that a filtered history can be linked to and reloaded.
  const [search, setSearch] = useSearchParams();
  const peerId = search.get('peer') ?? '';
  // The `before` cursors of the pages shown so far, for the filter they were read with
  // (it also changes by the browser's Back); none: the newest page.
  const [paging, setPaging] = useState<{ peerId: string; older: string[] }>({ peerId, older: [] });
  const older = paging.peerId === peerId ? paging.older : [];
  const setOlder = (next: string[]) => setPaging({ peerId, older: next });
  const before = older.at(-1) ?? null;
  const [result, reexecute] = useQuery({
    query: ConsoleTrustHistoryDocument,
    variables: { peerId: peerId || null, last: HISTORY_PAGE, before },
  });
  const [peers] = useQuery({ query: PeerTrustsDocument, variables: { first: PAGE_SIZE } });
  useRefetchAfterReconnect(reexecute);
  // Every change adds history: the newest page reads it again. Older pages never change.
  useEffect(() => {
    if (live.changes > 0 && before === null) reexecute({ requestPolicy: 'network-only' });
  }, [live.changes]); // Only on a change: reexecute is a new function at every render.

  const history = result.data?.trustHistory;
  // `last` gives a page in history order (oldest first): the grid shows newest first.
  const events = history ? [...history.edges].reverse().map((edge) => edge.node) : [];
  // A replaced server's instances share a name (this server's too): each is told apart wherever it is named.
  const nameOf = namesAmong([thisServer, ...(peers.data?.peerTrusts.edges ?? []).map(({ node }) => node.peer)]);
  const startCursor = history?.pageInfo.hasPreviousPage ? history.pageInfo.startCursor : null;

  return (
    <>
      <h1>Trust History</h1>
      <p className="lead">
        Every change to {thisServer.name}'s trust, newest first. Nothing in it is ever changed or deleted. # is the event's
        place in the cluster's one history, which also holds other pairs' events, API tokens' and servers' registrations: numbers
        not shown here are those, and verifying checks them all.
      </p>
      <HistoryVerification
        serverNames={new Map([[thisServer.id, thisServer.name], ...(peers.data?.peerTrusts.edges ?? []).map(({ node }) => [node.peer.id, node.peer.name] as const)])}
      />
      <div className="toolbar">
        <label htmlFor={filterId}>Peer</label>
        <select
          id={filterId}
          value={peerId}
          onChange={(event) => {
            setSearch(event.target.value ? { peer: event.target.value } : {});
          }}
        >
          <option value="">All peers</option>
          {peerId && !peers.data?.peerTrusts.edges.some(({ node }) => node.peer.id === peerId) && (
            // A peer beyond the list's first page, from a link: named by its events once they are read.
            <option value={peerId}>{events[0]?.peerTrust.peer.name ?? peerId}</option>
          )}
          {peers.data?.peerTrusts.edges.map(({ node }) => (
            <option key={node.peer.id} value={node.peer.id}>
              {instanceLabel(node.peer, peers.data!.peerTrusts.edges.map((edge) => edge.node.peer))}
            </option>
          ))}
        </select>
      </div>
      {result.error && <p role="alert" className="problem">Could not read the history: {describeError(result.error)}</p>}
      <div className="table-scroll" tabIndex={0} role="region" aria-label="Trust History grid">
        <table className="history">
          <caption className="visually-hidden">Trust History of {thisServer.name}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Servers</th>
              <th scope="col">Fingerprints</th>
              <th scope="col">Administrator</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <HistoryRow key={event.id} event={event} thisServerName={thisServer.name} thisServerId={thisServer.id} nameOf={nameOf} />
            ))}
          </tbody>
        </table>
      </div>
      {history && events.length === 0 && <p>No trust changes yet.</p>}
      <nav className="pager" aria-label="Trust History pages">
        <button type="button" disabled={older.length === 0} onClick={() => setOlder(older.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!startCursor} onClick={() => startCursor && setOlder([...older, startCursor])}>
          Older
        </button>
      </nav>
    </>
  );
}

function HistoryRow({
  event,
  thisServerName,
  thisServerId,
  nameOf,
}: {
  event: TrustEvent;
  thisServerName: string;
  thisServerId: string;
  nameOf(server: { id: string; name: string }): string;
}) {
  const thisServer = { id: thisServerId, name: thisServerName };
  const { peer } = event.peerTrust;
  const subject = eventSubject(event, thisServer);
  const servers =
    event.kind === 'TRUST_ENABLED'
      ? `${nameOf(thisServer)} ↔ ${nameOf(peer)}`
      : event.kind === 'KEY_ROTATED'
        ? // One entry for each of its pairs: the pair says which.
          `${nameOf(event.server)} (its own key), with ${nameOf(subject)}`
        : event.kind === 'TAMPERING_DETECTED'
          ? `${nameOf(event.server)} found the pair with ${nameOf(subject)} changed`
          : byThirdServer(event, thisServer)
            ? `${nameOf(event.server)} decommissioned ${nameOf(subject)}: its pair with ${nameOf(subject.id === peer.id ? thisServer : peer)}`
            : `${nameOf(event.server)} → ${nameOf(subject)}`;
  return (
    <tr>
      <td>{event.sequence}</td>
      <td>
        <time dateTime={event.at}>{new Date(event.at).toLocaleString()}</time>
      </td>
      <td>
        <span className={`badge event-${event.kind.toLowerCase()}`}>{kindLabel[event.kind]}</span>
      </td>
      <td>{servers}</td>
      <td>
        {eventKeys(event, thisServer).map(({ owner, fingerprint }) => (
          <span key={fingerprint} className="fingerprint-cell">
            {owner}: <FingerprintText value={fingerprint} />
          </span>
        ))}
      </td>
      <td>{event.actor.name}</td>
    </tr>
  );
}

/**
 * Verifies the whole history on this server when asked: it reads every entry and checks
 * every signature, seconds for a long history, so never on its own.
 */
function HistoryVerification({ serverNames }: { serverNames: Map<string, string> }) {
  const [result, verify] = useQuery({ query: VerifyTrustHistoryDocument, variables: {}, pause: true });
  const report = result.data?.verifyTrustHistory;
  return (
    <section className="verification" aria-label="History verification">
      <button type="button" disabled={result.fetching} onClick={() => verify({ requestPolicy: 'network-only' })}>
        {result.fetching ? 'Verifying…' : report ? 'Verify again' : 'Verify the whole history'}
      </button>
      <div>
        {result.error && <p role="alert" className="problem">Could not verify: {describeError(result.error)}</p>}
        {report?.ok && (
          <p role="status" className="ok">
            Verified: all {report.size} entries of the cluster's history, each decision's signature and the Merkle tree (root{' '}
            <code>{report.rootHash}</code>).{' '}
            {report.witnesses.length > 0
              ? `Its newest checkpoint is cosigned by ${report.witnesses.map((id) => serverNames.get(id) ?? id).join(', ')}.`
              : 'No trusted peer has cosigned a checkpoint yet.'}
          </p>
        )}
        {report && !report.ok && (
          <p role="alert" className="problem">
            The history does not verify: it breaks at entry {report.brokenAt} ({report.reason}). It was changed outside
            peertrust: see the README, "Threat model".
          </p>
        )}
      </div>
    </section>
  );
}
