import { useId } from 'react';
import { useQuery } from 'urql';
import { ConsoleRootKeysDocument, ThisServerDocument, type ThisServerQuery } from '../../../client/gql/graphql.js';
import { Fingerprint } from '../components/Fingerprint.js';
import { describeError } from '../client.js';
import { useLive } from '../live.js';
import { useConnectionPages } from '../paging.js';
import { useSession } from '../session-context.js';

type ServerWithKeys = ThisServerQuery['thisServer'];

export function RootKeysPage() {
  const { thisServer } = useSession();
  const [own] = useQuery({ query: ThisServerDocument, variables: {} });
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
      {server.rootKeys.map((key, index) => (
        <div key={key.id} className="root-key">
          <h4>
            {key.algorithm} root key{index === 0 ? ' (current)' : ''}, created{' '}
            <time dateTime={key.createdAt}>{new Date(key.createdAt).toLocaleString()}</time>
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
