import { useEffect, useState } from 'react';
import { useQuery, type TypedDocumentNode } from 'urql';
import { useLive } from './live.js';

/** One page of a list: small enough for the API's cost limit with every field a tile shows. */
export const PAGE_SIZE = 50;

interface Connection<Node> {
  edges: { node: Node }[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
}

/**
 * A Relay connection read a page at a time, oldest first: `more` appends the next
 * page (the API's `after` cursor). The page read last is read again after a lost
 * connection; earlier ones stay as they are and live data brings them up to date.
 */
export function useConnectionPages<Data, Node>(
  query: TypedDocumentNode<Data, { first: number; after?: string | null }>,
  connectionOf: (data: Data) => Connection<Node>,
) {
  const [after, setAfter] = useState<string | null>(null);
  const [earlier, setEarlier] = useState<Node[]>([]);
  const [result, reexecute] = useQuery({ query, variables: { first: PAGE_SIZE, after } });
  useRefetchAfterReconnect(reexecute);
  const page = result.data ? connectionOf(result.data) : undefined;
  const nodes = [...earlier, ...(page?.edges.map((edge) => edge.node) ?? [])];
  const endCursor = page?.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
  return {
    nodes,
    loaded: page !== undefined,
    complete: page !== undefined && !page.pageInfo.hasNextPage,
    error: result.error,
    more: endCursor
      ? () => {
          setEarlier(nodes);
          setAfter(endCursor);
        }
      : undefined,
  };
}

/** Reads a query again once the live connection is back: changes made meanwhile were not announced to us. */
export function useRefetchAfterReconnect(reexecute: (options: { requestPolicy: 'network-only' }) => void) {
  const { connection } = useLive();
  useEffect(() => {
    if (connection > 0) reexecute({ requestPolicy: 'network-only' });
    // Only on a new connection: reexecute is a new function at every render.
  }, [connection]);
}
