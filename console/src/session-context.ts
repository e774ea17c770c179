import { createContext, useContext } from 'react';
import type { ServerFieldsFragment, ViewerQuery } from '../../client/gql/graphql.js';

export interface Session {
  token: string;
  viewer: NonNullable<ViewerQuery['viewer']>;
  thisServer: ServerFieldsFragment;
  /** Whether the viewer may change trust: READ_ONLY users see no button that would. */
  canChangeTrust: boolean;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}
