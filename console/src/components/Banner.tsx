import { Link } from 'wouter';
import { consolePaths } from '../../../src/http/console-routes.js';
import { useAwaitingApproval, useLive } from '../live.js';

/** "Trust approval required", on every page, live: one link per peer that awaits this server's approval. */
export function ApprovalBanner() {
  const awaiting = useAwaitingApproval();
  const { problem } = useLive();
  return (
    // Always in the page, so that screen readers announce it when it fills.
    <section aria-live="polite" aria-label="Trust approval notices" className="banner-slot">
      {awaiting.length > 0 && (
        <div className="banner">
          <h2>Trust approval required</h2>
          <p>
            {awaiting.length === 1 ? '1 peer awaits' : `${awaiting.length} peers await`} this server's approval:{' '}
            {awaiting.map((pair, index) => (
              <span key={pair.id}>
                {index > 0 && ', '}
                <Link href={`${consolePaths.peer}${pair.peer.id}`}>
                  {pair.peer.name}
                  {pair.approvedByPeer ? ' (it has approved this server)' : ''}
                </Link>
              </span>
            ))}
          </p>
        </div>
      )}
      {problem && <p className="problem">Live notices stopped: {problem}. Reload the page to try again.</p>}
    </section>
  );
}
