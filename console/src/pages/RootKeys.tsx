import { useId, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  ConsoleRootKeysDocument,
  RotateRootKeyDocument,
  ThisServerDocument,
  type ThisServerQuery,
} from '../../../client/gql/graphql.js';
import { ActionDialog } from '../components/ActionDialog.js';
import { Fingerprint } from '../components/Fingerprint.js';
import { describeError } from '../client.js';
import { problemOf } from '../outcome.js';
import { useLive } from '../live.js';
import { useConnectionPages } from '../paging.js';
import { useSession } from '../session-context.js';

type ServerWithKeys = ThisServerQuery['thisServer'];

export function RootKeysPage() {
  const { thisServer, canChangeTrust } = useSession();
  const [own, readOwn] = useQuery({ query: ThisServerDocument, variables: {} });
  const [rotating, setRotating] = useState(false);
  const list = useConnectionPages(ConsoleRootKeysDocument, (data) => data.servers);
  const others = list.nodes.filter((server) => !server.isThisServer);
  const problem = own.error ?? list.error;
  return (
    <>
      <h1>Root Key Management</h1>
      <p className="lead">
        Each server instance has its own Ed25519 root key; its private half never leaves that server's data directory. Before
        approving a peer, compare the fingerprint its own console shows here with the one in its tile on your server.
      </p>
      {problem && <p role="alert" className="problem">Could not read the keys: {describeError(problem)}</p>}
      <div className="keys">
        <section aria-labelledby="own-key">
          <h2 id="own-key">This server: {thisServer.name}</h2>
          {own.data && <ServerKeys server={own.data.thisServer} />}
          {canChangeTrust && (
            <button type="button" onClick={() => setRotating(true)}>
              Rotate this server's root key…
            </button>
          )}
          {rotating && (
            <RotateDialog
              onClose={() => setRotating(false)}
              onRotated={() => readOwn({ requestPolicy: 'network-only' })}
            />
          )}
        </section>
        <section aria-labelledby="all-keys">
          <h2 id="all-keys">Every server</h2>
          <div className="key-cards">
            {others.map((server) => (
              <ServerKeys key={server.id} server={server} />
            ))}
          </div>
          {list.complete && others.length === 0 && <p>No other server has registered yet.</p>}
          {list.more && (
            <button type="button" onClick={list.more}>
              More servers
            </button>
          )}
        </section>
      </div>
    </>
  );
}

function ServerKeys({ server }: { server: ServerWithKeys }) {
  const titleId = useId();
  const status = useLive().servers.get(server.id)?.status ?? server.status;
  return (
    <article className="key-card" aria-labelledby={titleId}>
      <h3 id={titleId}>
        {server.name} <span className={`badge server-${status.toLowerCase()}`}>{status}</span>
      </h3>
      <dl>
        <dt>Instance</dt>
        <dd className="id">{server.id}</dd>
        <dt>Addresses</dt>
        <dd>{server.addresses.join(', ') || 'none reported'}</dd>
      </dl>
      {server.rootKeys.map((key) => (
        <div key={key.id} className={key.retiredAt ? 'root-key retired' : 'root-key'}>
          <h4>
            {key.algorithm} root key
            {key.fingerprint === server.fingerprint ? (status === 'DECOMMISSIONED' ? ' (its last: the server is decommissioned)' : ' (current)') : ''}, created{' '}
            <time dateTime={key.createdAt}>{new Date(key.createdAt).toLocaleString()}</time>
            {key.retiredAt && (
              <>
                , retired <time dateTime={key.retiredAt}>{new Date(key.retiredAt).toLocaleString()}</time>
              </>
            )}
          </h4>
          <Fingerprint value={key.fingerprint} owner={server.name} />
          <details>
            <summary>Public key (PEM)</summary>
            <pre>{key.publicKey}</pre>
          </details>
        </div>
      ))}
    </article>
  );
}

function RotateDialog({ onClose, onRotated }: { onClose(): void; onRotated(): void }) {
  const { thisServer } = useSession();
  const [, rotate] = useMutation(RotateRootKeyDocument);
  return (
    <ActionDialog
      title={`Rotate ${thisServer.name}'s root key`}
      confirmLabel="Rotate the root key"
      onClose={onClose}
      onConfirm={async () => {
        const problem = problemOf(await rotate({}), (data) => data.rotateRootKey);
        if (!problem) onRotated();
        return problem;
      }}
    >
      <p>
        {thisServer.name} gets a new root key, endorsed by the current one. Peers that trust {thisServer.name} keep trusting
        it: no new approval is needed. The current key is kept, retired: it signs nothing from now on, and its earlier
        decisions still verify. The Trust History records the rotation with both fingerprints.
      </p>
      <p>Operators who compare fingerprints will see the new one from now on.</p>
    </ActionDialog>
  );
}
