// Subscriptions over server-sent events: each is one HTTP response, authenticated once.
// It counts towards its user's subscriptions while the response is open, and ends
// (the response is closed) when its token is revoked or its user's role changes.
// Subscriptions over WebSocket are counted and ended by their connection (websocket.ts).
import type { Plugin } from 'graphql-yoga';
import type { CredentialWatch } from '../auth/credential-watch.js';
import type { ClientQuotas } from './client-quotas.js';
import type { ApiContext, ServerContext } from './context.js';

export function useEventStreamLimits(quotas: ClientQuotas, credentials: CredentialWatch): Plugin<ApiContext & ServerContext> {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const { res, auth } = args.contextValue;
      if (!res || auth.kind !== 'user') return;
      const refused = quotas.subscriptionRefused(auth.user.id);
      if (refused) return setResultAndStopExecution({ errors: [refused] });
      const releaseQuota = quotas.addStream(auth.user.id);
      const releaseHold = credentials.hold(auth, () => res.destroy());
      res.once('close', () => {
        releaseQuota();
        releaseHold();
      });
    },
  };
}
