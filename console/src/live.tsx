// Live data shared by every page: the trust approval notices (the banner), each pair's
// newest state and each server's status, from three graphql-ws subscriptions.
import { createContext, useContext, useEffect, useMemo, useReducer, type ReactNode } from 'react';
import { useClient } from 'urql';
import {
  PeerTrustChangedDocument,
  ServerStatusChangedDocument,
  TrustApprovalRequiredDocument,
  type PeerTrustFieldsFragment,
  type ServerFieldsFragment,
} from '../../client/gql/graphql.js';
import { describeError } from './client.js';

export interface LiveTrust {
  /** The newest state of each pair seen live, in the order they were first seen. */
  pairs: ReadonlyMap<string, PeerTrustFieldsFragment>;
  /** Each server's status as last announced. */
  servers: ReadonlyMap<string, ServerFieldsFragment>;
  /** How many pair changes arrived: lists built from them (the history) reload on it. */
  changes: number;
  /** Why live data stopped, in words; undefined while it flows. */
  problem: string | undefined;
  /** Counts the connections made after the first: 0 until the live connection was lost once. */
  connection: number;
}

type LiveEvent =
  | { kind: 'pair'; pair: PeerTrustFieldsFragment; changed: boolean }
  | { kind: 'server'; server: ServerFieldsFragment }
  | { kind: 'problem'; problem: string }
  | { kind: 'reset' };

type LiveState = Omit<LiveTrust, 'connection'>;

const initial: LiveState = { pairs: new Map(), servers: new Map(), changes: 0, problem: undefined };

/** The two notices about one pair may arrive in either order: the later state wins. */
function newerPair<T extends { updatedAt: string }>(a: T | undefined, b: T): T {
  return a && a.updatedAt > b.updatedAt ? a : b;
}

function reduce(state: LiveState, event: LiveEvent): LiveState {
  switch (event.kind) {
    case 'pair': {
      const pairs = new Map(state.pairs).set(event.pair.id, newerPair(state.pairs.get(event.pair.id), event.pair));
      return { ...state, pairs, changes: state.changes + (event.changed ? 1 : 0) };
    }
    case 'server':
      return { ...state, servers: new Map(state.servers).set(event.server.id, event.server) };
    case 'problem':
      return { ...state, problem: event.problem };
    case 'reset':
      return initial;
  }
}

const LiveContext = createContext<LiveTrust>({ ...initial, connection: 0 });

export const useLive = () => useContext(LiveContext);

/**
 * Subscribes while mounted, and anew at each new `connection`: notices sent while the
 * connection was lost are gone, so it starts again from the server's current state
 * (trustApprovalRequired sends every pending approval first).
 */
export function LiveProvider({ connection, children }: { connection: number; children: ReactNode }) {
  const client = useClient();
  const [live, dispatch] = useReducer(reduce, initial);
  useEffect(() => {
    dispatch({ kind: 'reset' });
    // The client directly rather than useSubscription: every notice counts, and
    // React may render only the last of several that arrive together.
    const listen = <T,>(source: ReturnType<typeof client.subscription<T>>, handle: (data: T) => LiveEvent) =>
      source.subscribe((result) => {
        if (result.error) dispatch({ kind: 'problem', problem: describeError(result.error) });
        else if (result.data) dispatch(handle(result.data));
      });
    const subscriptions = [
      listen(client.subscription(TrustApprovalRequiredDocument, {}), (data) => ({
        kind: 'pair',
        pair: data.trustApprovalRequired.peerTrust,
        changed: false,
      })),
      listen(client.subscription(PeerTrustChangedDocument, {}), (data) => ({
        kind: 'pair',
        pair: data.peerTrustChanged,
        changed: true,
      })),
      listen(client.subscription(ServerStatusChangedDocument, {}), (data) => ({
        kind: 'server',
        server: data.serverStatusChanged,
      })),
    ];
    return () => subscriptions.forEach((s) => s.unsubscribe());
  }, [client, connection]);
  const value = useMemo(() => ({ ...live, connection }), [live, connection]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

/** The pairs that await this server's approval now, as the banner shows them. */
export function useAwaitingApproval(): PeerTrustFieldsFragment[] {
  return [...useLive().pairs.values()].filter((pair) => pair.approvalRequired);
}

/** A pair as the page loaded it, brought up to date by what arrived live since. */
export function useLivePair(loaded: PeerTrustFieldsFragment): PeerTrustFieldsFragment {
  const live = useLive();
  const pair = newerPair(live.pairs.get(loaded.id), loaded);
  const server = live.servers.get(pair.peer.id);
  return server ? { ...pair, peer: server } : pair;
}
