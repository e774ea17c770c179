// The trust rules of one pair of servers, as a pure function (DESIGN.md, "Trust states").
// Services lock the pair, call decide(), then store the result and its events.
import type { TrustDecisionKind, TrustEventKind, TrustStatus } from '../db/generated/prisma/enums.js';

export type Side = 'A' | 'B';

export interface PairState {
  status: TrustStatus;
  acceptedByA: boolean;
  acceptedByB: boolean;
}

export type Decision =
  | { outcome: 'unchanged' }
  | { outcome: 'changed'; next: PairState; events: TrustEventKind[] }
  | { outcome: 'denied' };

const other = (side: Side): Side => (side === 'A' ? 'B' : 'A');
const accepted = (state: PairState, side: Side) => (side === 'A' ? state.acceptedByA : state.acceptedByB);

function withAccepted(side: Side, self: boolean, peer: boolean): Pick<PairState, 'acceptedByA' | 'acceptedByB'> {
  return side === 'A' ? { acceptedByA: self, acceptedByB: peer } : { acceptedByA: peer, acceptedByB: self };
}

function accept(state: PairState, side: Side): Decision {
  switch (state.status) {
    case 'DENIED':
      return { outcome: 'denied' };
    case 'TRUSTED':
      return { outcome: 'unchanged' };
    case 'REVOKED':
      // A new round: the peer's acceptance from before the revoke no longer counts.
      return {
        outcome: 'changed',
        next: { status: 'PENDING', ...withAccepted(side, true, false) },
        events: ['TRUST_APPROVED'],
      };
    case 'PENDING': {
      if (accepted(state, side)) return { outcome: 'unchanged' };
      const peerAccepted = accepted(state, other(side));
      return {
        outcome: 'changed',
        next: { status: peerAccepted ? 'TRUSTED' : 'PENDING', ...withAccepted(side, true, peerAccepted) },
        events: peerAccepted ? ['TRUST_APPROVED', 'TRUST_ENABLED'] : ['TRUST_APPROVED'],
      };
    }
  }
}

function deny(state: PairState): Decision {
  if (state.status === 'DENIED') return { outcome: 'unchanged' };
  return { outcome: 'changed', next: { ...state, status: 'DENIED' }, events: ['TRUST_DENIED'] };
}

function revoke(state: PairState): Decision {
  switch (state.status) {
    case 'DENIED':
      return { outcome: 'denied' };
    case 'REVOKED':
      return { outcome: 'unchanged' };
    case 'PENDING':
    case 'TRUSTED':
      return {
        outcome: 'changed',
        next: { status: 'REVOKED', acceptedByA: false, acceptedByB: false },
        events: ['TRUST_REVOKED'],
      };
  }
}

/** What the decision `kind`, made by the server on `side`, does to the pair. */
export function decide(state: PairState, side: Side, kind: Exclude<TrustDecisionKind, 'DECOMMISSION'>): Decision {
  switch (kind) {
    case 'ACCEPT':
      return accept(state, side);
    case 'DENY':
      return deny(state);
    case 'REVOKE':
      return revoke(state);
  }
}
