import { useEffect, useMemo, useState } from 'react';
import { Provider, useQuery } from 'urql';
import { Link, Route, Switch, useRoute } from 'wouter';
import { ThisServerDocument, ViewerDocument } from '../../client/gql/graphql.js';
import { consolePaths } from '../../src/http/console-routes.js';
import { connect, describeError } from './client.js';
import { ApprovalBanner } from './components/Banner.js';
import { LiveProvider, useLive } from './live.js';
import { RootKeysPage } from './pages/RootKeys.js';
import { SignInPage } from './pages/SignIn.js';
import { TrustedServersPage } from './pages/TrustedServers.js';
import { TrustHistoryPage } from './pages/TrustHistory.js';
import { SessionContext, useSession, type Session } from './session-context.js';
import { forgetToken, keepToken, signedInLink, takeToken } from './session.js';

type LiveState = 'connecting' | 'live' | 'lost';

export function App() {
  const [token, setToken] = useState(takeToken);
  const [problem, setProblem] = useState<string>();
  // A console link pasted into this tab (a new token, after one was revoked) only changes
  // the fragment: no page load would read it.
  useEffect(() => {
    const onLink = () => {
      if (!new URLSearchParams(location.hash.slice(1)).has('token')) return;
      setProblem(undefined);
      setToken(takeToken());
    };
    window.addEventListener('hashchange', onLink);
    return () => window.removeEventListener('hashchange', onLink);
  }, []);
  const signOut = (reason?: string) => {
    forgetToken();
    setToken(null);
    setProblem(reason);
  };
  if (!token) {
    return (
      <SignInPage
        problem={problem}
        onSignIn={(entered) => {
          keepToken(entered);
          setProblem(undefined);
          setToken(entered);
        }}
      />
    );
  }
  return <SignedIn key={token} token={token} onSignOut={signOut} />;
}

function SignedIn({ token, onSignOut }: { token: string; onSignOut(reason?: string): void }) {
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  const [connection, setConnection] = useState(0);
  const client = useMemo(
    () =>
      connect(token, {
        onLive: (again) => {
          setLiveState('live');
          if (again) setConnection((n) => n + 1);
        },
        onLost: () => setLiveState('lost'),
        onRefused: (reason) => onSignOut(`The server did not accept the token: ${reason}`),
      }),
    // onSignOut only sets the App's state, through setters that never change.
    [token],
  );
  useEffect(() => () => void client.ws.dispose(), [client]);
  return (
    <Provider value={client.urql}>
      <SessionGate token={token} liveState={liveState} connection={connection} onSignOut={onSignOut} />
    </Provider>
  );
}

/** Reads who is signed in and which server this is; the pages need both. */
function SessionGate({ token, liveState, connection, onSignOut }: { token: string; liveState: LiveState; connection: number; onSignOut(reason?: string): void }) {
  const [viewer] = useQuery({ query: ViewerDocument, variables: {} });
  const [server] = useQuery({ query: ThisServerDocument, variables: {} });
  const error = viewer.error ?? server.error;
  useEffect(() => {
    if (viewer.data && !viewer.data.viewer) onSignOut('The server did not accept the token: it knows no user for it.');
  }, [viewer.data]); // only when the answer changes
  const session: Session | undefined = useMemo(
    () =>
      viewer.data?.viewer && server.data
        ? {
            token,
            viewer: viewer.data.viewer,
            thisServer: server.data.thisServer,
            // A decommissioned server refuses every decision: no button offers one.
            canChangeTrust: viewer.data.viewer.role === 'ADMINISTRATOR' && server.data.thisServer.status !== 'DECOMMISSIONED',
          }
        : undefined,
    [token, viewer.data, server.data],
  );
  if (error) {
    return (
      <main className="sign-in">
        <p role="alert" className="problem">
          {describeError(error)}
        </p>
      </main>
    );
  }
  if (!session) return <main className="sign-in" aria-busy="true">Signing in…</main>;
  return (
    <SessionContext.Provider value={session}>
      <LiveProvider connection={connection}>
        <Shell liveState={liveState} onSignOut={() => onSignOut()} />
      </LiveProvider>
    </SessionContext.Provider>
  );
}

const liveText: Record<LiveState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  lost: 'Connection lost: reconnecting…',
};

/**
 * Reads this server again at each pair change: a decommission of this server made
 * elsewhere revokes its pairs, and the session (which offers decisions) must learn it.
 * The answer updates the session's own query, through urql's cache.
 */
function useThisServerKeptCurrent() {
  const { changes } = useLive();
  const [, reexecute] = useQuery({ query: ThisServerDocument, variables: {}, pause: true });
  useEffect(() => {
    if (changes > 0) reexecute({ requestPolicy: 'network-only' });
  }, [changes]); // Only on a change: reexecute is a new function at every render.
}

function Shell({ liveState, onSignOut }: { liveState: LiveState; onSignOut(): void }) {
  const { viewer, thisServer, token } = useSession();
  useThisServerKeptCurrent();
  useEffect(() => {
    document.title = `peertrust: ${thisServer.name}`;
  }, [thisServer.name]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <p className="brand">
          peertrust <span className="server-name">{thisServer.name}</span>
        </p>
        <nav aria-label="Console">
          <NavLink href={consolePaths.servers}>Trusted Servers</NavLink>
          <NavLink href={consolePaths.history}>Trust History</NavLink>
          <NavLink href={consolePaths.keys}>Root Key Management</NavLink>
          <a href={signedInLink('/graphql', token)} target="_blank" rel="noopener">
            GraphiQL
          </a>
        </nav>
        <div className="who">
          <span>
            Signed in as <strong>{viewer.name}</strong> ({viewer.role === 'ADMINISTRATOR' ? 'administrator' : 'read-only'})
          </span>
          <span role="status" className={`live live-${liveState}`}>
            {liveText[liveState]}
          </span>
          <button type="button" className="small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      {thisServer.status === 'DECOMMISSIONED' && (
        <section className="banner-slot" aria-label="This server">
          <p className="problem">
            <strong>{thisServer.name} is decommissioned:</strong> it takes no more trust decisions, and no peer can approve
            it. Its Trust History stays readable here. To bring the server back, install a new instance (a new data
            directory, so a new root key) and approve that one.
          </p>
        </section>
      )}
      <ApprovalBanner />
      <main id="main">
        <Switch>
          <Route path={consolePaths.history} component={TrustHistoryPage} />
          <Route path={consolePaths.keys} component={RootKeysPage} />
          <Route path={`${consolePaths.peer}:peerId`}>
            {(params) => <TrustedServersPage focusPeerId={params.peerId} />}
          </Route>
          <Route>
            <TrustedServersPage focusPeerId={undefined} />
          </Route>
        </Switch>
      </main>
    </>
  );
}

function NavLink({ href, children }: { href: string; children: string }) {
  const [active] = useRoute(href);
  return (
    <Link href={href} aria-current={active ? 'page' : undefined}>
      {children}
    </Link>
  );
}
