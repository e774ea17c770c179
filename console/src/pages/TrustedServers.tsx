import { useEffect, useId, useRef, useState } from 'react';
import { useMutation } from 'urql';
import { Link } from 'wouter';
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
  type PeerTrustFieldsFragment,
  type TrustStatus,
} from '../../../client/gql/graphql.js';
import { canonicalFingerprint } from '../../../src/identity/fingerprint-text.js';
import { consolePaths } from '../../../src/http/console-routes.js';
import { ActionDialog } from '../components/ActionDialog.js';
import { Fingerprint, FingerprintText } from '../components/Fingerprint.js';
import { describeError } from '../client.js';
import { useLive, useLivePair } from '../live.js';
import { problemOf } from '../outcome.js';
import { useConnectionPages } from '../paging.js';
import { useSession } from '../session-context.js';

export const statusLabel: Record<TrustStatus, string> = {
  PENDING: 'Pending',
  TRUSTED: 'Trusted',
  REVOKED: 'Revoked',
  DENIED: 'Denied',
  UNVERIFIED: 'Unverified',
};

export function TrustedServersPage({ focusPeerId }: { focusPeerId: string | undefined }) {
  const { thisServer } = useSession();
  const live = useLive();
  const list = useConnectionPages(PeerTrustsDocument, (data) => data.peerTrusts);
  const known = new Set(list.nodes.map((pair) => pair.id));
  // Pairs of servers that registered after the list was read: the newest, so last.
  const arrived = list.complete ? [...live.pairs.values()].filter((pair) => !known.has(pair.id)) : [];
  const pairs = [...list.nodes, ...arrived];
  return (
    <>
      <h1>Trusted Servers</h1>
      <p className="lead">
        Each tile is one peer of <strong>{thisServer.name}</strong>. Trust is Trusted once the administrators of both servers
        have approved, each on their own server, after checking the other's fingerprint.
      </p>
      {list.error && <p role="alert" className="problem">Could not read the peers: {describeError(list.error)}</p>}
      {list.loaded && pairs.length === 0 && <p>No other server has registered in this cluster's database yet.</p>}
      <div className="tiles">
        {pairs.map((pair) => (
          <PeerTile key={pair.id} loaded={pair} focused={pair.peer.id === focusPeerId} />
        ))}
      </div>
      {list.more && (
        <button type="button" onClick={list.more}>
          More servers
        </button>
      )}
    </>
  );
}

type Action = 'approve' | 'deny' | 'revoke' | 'decommission';

function PeerTile({ loaded, focused }: { loaded: PeerTrustFieldsFragment; focused: boolean }) {
  const { thisServer, canChangeTrust } = useSession();
  const pair = useLivePair(loaded);
  const { peer } = pair;
  const [action, setAction] = useState<Action>();
  const ref = useRef<HTMLElement>(null);
  const titleId = useId();
  useEffect(() => {
    if (focused) ref.current?.focus();
  }, [focused]);

  const decommissioned = peer.status === 'DECOMMISSIONED';
  // Every decision on an unverified pair is refused until the database is put right.
  const unverified = pair.status === 'UNVERIFIED';
  const replaced = peer.possibleReplacementOf;
  const available: Record<Action, boolean> = {
    approve: !decommissioned && ((pair.status === 'PENDING' && !pair.approvedByThisServer) || pair.status === 'REVOKED'),
    deny: !unverified && pair.status !== 'DENIED',
    revoke: pair.status === 'PENDING' || pair.status === 'TRUSTED',
    // Taking a server out never rests on the pair's state: an unverified peer may be just the one to remove.
    decommission: !decommissioned,
  };
  const actionLabel: Record<Action, string> = {
    approve: pair.status === 'REVOKED' ? 'Approve again…' : 'Approve…',
    deny: 'Deny…',
    revoke: 'Revoke…',
    decommission: 'Decommission…',
  };
  const close = () => setAction(undefined);

  return (
    <article
      ref={ref}
      tabIndex={-1}
      className={`tile status-${pair.status.toLowerCase()}${focused ? ' focused' : ''}`}
      aria-labelledby={titleId}
      data-peer={peer.name}
    >
      <header>
        <h2 id={titleId}>{peer.name}</h2>
        <span className={`badge trust-${pair.status.toLowerCase()}`}>{statusLabel[pair.status]}</span>
        <span className={`badge server-${peer.status.toLowerCase()}`}>{peer.status}</span>
      </header>
      {unverified && (
        <p className="problem">
          <strong>Do not trust {peer.name}:</strong> the database does not hold what the signed Trust History says (
          {pair.unverifiedReason}). It was changed outside peertrust; no decision on this pair can be made until it is put
          right. See the README, "Threat model".
        </p>
      )}
      {replaced && (
        <p className="warning">
          {replaced.name === peer.name ? (
            <>
              Another instance named <strong>{replaced.name}</strong> (instance {replaced.id}) is registered with a different
              root key.
            </>
          ) : (
            <>
              {peer.name} has an address of <strong>{replaced.name}</strong> (instance {replaced.id}), which was not running
              when {peer.name} registered, and a different root key.
            </>
          )}{' '}
          If {replaced.name} was reinstalled, this is its new instance: approve it only after checking its fingerprint on the
          server itself, and decommission the old one. If not, someone may be impersonating {replaced.name}.
        </p>
      )}
      <dl>
        <dt>Addresses</dt>
        <dd>{peer.addresses.join(', ') || 'none reported'}</dd>
        <dt>Fingerprint</dt>
        <dd>
          <Fingerprint value={peer.fingerprint} owner={peer.name} />
        </dd>
        <dt>{pair.status === 'DENIED' ? 'Denied by' : 'Approved by'}</dt>
        <dd>
          {pair.status === 'DENIED' ? (
            pair.deniedByThisServer ? `${thisServer.name} (this server)` : peer.name
          ) : unverified ? (
            'unknown: the stored approvals are not the signed ones'
          ) : decommissioned ? (
            `none: ${peer.name} is decommissioned and cannot be approved again`
          ) : (
            <ul className="approvals">
              <li>
                {thisServer.name} (this server): {pair.approvedByThisServer ? 'approved' : 'not yet'}
              </li>
              <li>
                {peer.name}: {pair.approvedByPeer ? 'approved' : 'not yet'}
              </li>
            </ul>
          )}
        </dd>
        <dt>Instance</dt>
        <dd className="id">{peer.id}</dd>
      </dl>
      <p>
        <Link href={`${consolePaths.history}?peer=${peer.id}`}>History with {peer.name}</Link>
      </p>
      {canChangeTrust && (
        <div className="actions">
          {(Object.keys(available) as Action[])
            .filter((name) => available[name])
            .map((name) => (
              <button
                key={name}
                type="button"
                className={name === 'approve' ? 'primary' : name === 'deny' ? 'danger' : undefined}
                onClick={() => setAction(name)}
              >
                {actionLabel[name]}
              </button>
            ))}
        </div>
      )}
      {action === 'approve' && <ApproveDialog pair={pair} onClose={close} />}
      {action === 'deny' && <DenyDialog pair={pair} onClose={close} />}
      {action === 'revoke' && <RevokeDialog pair={pair} onClose={close} />}
      {action === 'decommission' && <DecommissionDialog pair={pair} onClose={close} />}
    </article>
  );
}

interface DialogProps {
  pair: PeerTrustFieldsFragment;
  onClose(): void;
}

/** What the operator typed, against the peer's fingerprint: nothing yet, not a whole fingerprint, another one, or it. */
type Typed = 'empty' | 'incomplete' | 'mismatch' | 'match';
const HINT_CLASS: Record<Typed, string> = { empty: 'note', incomplete: 'note', mismatch: 'problem', match: 'ok' };

/** Whether what the operator typed is the peer's fingerprint, and if not, why not, in words. */
function checkTyped(typed: string, expected: string): { state: Typed; hint: string } {
  if (!typed.trim()) return { state: 'empty', hint: '' };
  const canonical = canonicalFingerprint(typed);
  if (!canonical) return { state: 'incomplete', hint: 'Not a complete SHA-256 fingerprint yet: 64 hexadecimal characters.' };
  if (canonical !== expected) {
    return {
      state: 'mismatch',
      hint: 'Does not match the fingerprint this server has for the peer. Do not approve: check that you read it on the peer itself, not on this server, and which server you are looking at.',
    };
  }
  return { state: 'match', hint: 'Matches.' };
}

function ApproveDialog({ pair, onClose }: DialogProps) {
  const { peer } = pair;
  const [, approve] = useMutation(ApproveTrustDocument);
  const [typed, setTyped] = useState('');
  const inputId = useId();
  const hintId = useId();
  const check = checkTyped(typed, peer.fingerprint);
  return (
    <ActionDialog
      title={`Approve ${peer.name}`}
      confirmLabel={`Approve ${peer.name}`}
      canConfirm={check.state === 'match'}
      onClose={onClose}
      onConfirm={async () => {
        const result = await approve({ input: { peerId: peer.id, fingerprint: typed } });
        return problemOf(result, (data) => data.approveTrust);
      }}
    >
      <p>
        Read {peer.name}'s fingerprint on {peer.name} itself (its console's Root Key Management page, or{' '}
        <code>peertrust fingerprint</code> there) and type or paste it here. Approve only if it is the one you read there.
      </p>
      <p>
        Addresses {peer.name} reported: <strong>{peer.addresses.join(', ') || 'none'}</strong>. Check them too.
      </p>
      <label htmlFor={inputId}>Fingerprint read on {peer.name}</label>
      <input
        id={inputId}
        className="fingerprint-input"
        value={typed}
        onChange={(event) => setTyped(event.target.value)}
        autoComplete="off"
        spellCheck={false}
        aria-describedby={hintId}
        aria-invalid={check.state === 'incomplete' || check.state === 'mismatch'}
        placeholder="e.g. 1a2b:3c4d:… (any case, ':' or spaces)"
      />
      <p id={hintId} className={HINT_CLASS[check.state]} aria-live="polite">
        {check.hint}
      </p>
    </ActionDialog>
  );
}

function DenyDialog({ pair, onClose }: DialogProps) {
  const { peer } = pair;
  const [, deny] = useMutation(DenyTrustDocument);
  // Final, and beside Revoke on a trusted tile: the peer's name is typed, so that a slip cannot deny.
  const [typed, setTyped] = useState('');
  const inputId = useId();
  return (
    <ActionDialog
      title={`Deny ${peer.name}`}
      confirmLabel={`Deny ${peer.name}`}
      final
      canConfirm={typed.trim() === peer.name}
      onClose={onClose}
      onConfirm={async () => {
        const result = await deny({ input: { peerId: peer.id, fingerprint: peer.fingerprint } });
        return problemOf(result, (data) => data.denyTrust);
      }}
    >
      <p className="warning">
        <strong>Denying is final for this server instance.</strong> Nothing can make {peer.name} (instance {peer.id}) trusted
        again. Only a reinstalled server, a new instance with a new root key, can be trusted.
      </p>
      <p>
        It denies the key with fingerprint <FingerprintText value={peer.fingerprint} />.
      </p>
      <label htmlFor={inputId}>Type {peer.name} to deny it</label>
      <input id={inputId} value={typed} onChange={(event) => setTyped(event.target.value)} autoComplete="off" spellCheck={false} />
    </ActionDialog>
  );
}

function RevokeDialog({ pair, onClose }: DialogProps) {
  const { peer } = pair;
  const [, revoke] = useMutation(RevokeTrustDocument);
  return (
    <ActionDialog
      title={`Revoke trust with ${peer.name}`}
      confirmLabel="Revoke trust"
      onClose={onClose}
      onConfirm={async () => {
        const result = await revoke({ input: { peerId: peer.id } });
        return problemOf(result, (data) => data.revokeTrust);
      }}
    >
      <p>
        This server and {peer.name} stop trusting each other now. Trust can come back later: the administrators of both
        servers approve again.
      </p>
    </ActionDialog>
  );
}

function DecommissionDialog({ pair, onClose }: DialogProps) {
  const { peer } = pair;
  const [, decommission] = useMutation(DecommissionServerDocument);
  return (
    <ActionDialog
      title={`Decommission ${peer.name}`}
      confirmLabel={`Decommission ${peer.name}`}
      final
      onClose={onClose}
      onConfirm={async () => {
        const result = await decommission({ input: { serverId: peer.id } });
        return problemOf(result, (data) => data.decommissionServer);
      }}
    >
      <p className="warning">
        {peer.name} is taken out of the cluster: it is marked DECOMMISSIONED and its pending and trusted pairs are revoked,
        on every server. It cannot be approved again (it can still be denied); a reinstalled server is a new instance.
      </p>
    </ActionDialog>
  );
}
