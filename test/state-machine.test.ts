// The table of DESIGN.md "What one administrator's action on server A does to the pair".
import { describe, expect, test } from 'vitest';
import { decide, type PairState } from '../src/trust/state-machine.js';

const pending = (acceptedByA = false, acceptedByB = false): PairState => ({ status: 'PENDING', acceptedByA, acceptedByB });
const trusted: PairState = { status: 'TRUSTED', acceptedByA: true, acceptedByB: true };
const revoked: PairState = { status: 'REVOKED', acceptedByA: false, acceptedByB: false };
const denied: PairState = { status: 'DENIED', acceptedByA: true, acceptedByB: false };

describe('approve', () => {
  test('PENDING, nobody accepted: this side accepts, still PENDING', () => {
    expect(decide(pending(), 'A', 'ACCEPT')).toEqual({ outcome: 'changed', next: pending(true, false), events: ['TRUST_APPROVED'] });
    expect(decide(pending(), 'B', 'ACCEPT')).toEqual({ outcome: 'changed', next: pending(false, true), events: ['TRUST_APPROVED'] });
  });
  test('PENDING, the peer accepted: TRUSTED', () => {
    expect(decide(pending(false, true), 'A', 'ACCEPT')).toEqual({
      outcome: 'changed',
      next: { status: 'TRUSTED', acceptedByA: true, acceptedByB: true },
      events: ['TRUST_APPROVED', 'TRUST_ENABLED'],
    });
    expect(decide(pending(true, false), 'B', 'ACCEPT')).toMatchObject({ next: { status: 'TRUSTED' } });
  });
  test('PENDING, this side accepted already: unchanged', () => {
    expect(decide(pending(true, false), 'A', 'ACCEPT')).toEqual({ outcome: 'unchanged' });
    expect(decide(pending(false, true), 'B', 'ACCEPT')).toEqual({ outcome: 'unchanged' });
  });
  test('TRUSTED: unchanged', () => {
    expect(decide(trusted, 'A', 'ACCEPT')).toEqual({ outcome: 'unchanged' });
  });
  test('REVOKED: a new round, PENDING with only this side accepted', () => {
    expect(decide({ status: 'REVOKED', acceptedByA: true, acceptedByB: true }, 'B', 'ACCEPT')).toEqual({
      outcome: 'changed',
      next: pending(false, true),
      events: ['TRUST_APPROVED'],
    });
  });
  test('DENIED: refused', () => {
    expect(decide(denied, 'A', 'ACCEPT')).toEqual({ outcome: 'denied' });
    expect(decide(denied, 'B', 'ACCEPT')).toEqual({ outcome: 'denied' });
  });
});

describe('deny', () => {
  test.each([pending(), pending(true, false), trusted, revoked])('from %j: DENIED', (state) => {
    expect(decide(state, 'A', 'DENY')).toEqual({ outcome: 'changed', next: { ...state, status: 'DENIED' }, events: ['TRUST_DENIED'] });
  });
  test('DENIED: unchanged', () => {
    expect(decide(denied, 'B', 'DENY')).toEqual({ outcome: 'unchanged' });
  });
});

describe('revoke', () => {
  test.each([pending(), pending(false, true), trusted])('from %j: REVOKED, acceptances cleared', (state) => {
    expect(decide(state, 'B', 'REVOKE')).toEqual({ outcome: 'changed', next: revoked, events: ['TRUST_REVOKED'] });
  });
  test('REVOKED: unchanged', () => {
    expect(decide(revoked, 'A', 'REVOKE')).toEqual({ outcome: 'unchanged' });
  });
  test('DENIED: refused', () => {
    expect(decide(denied, 'A', 'REVOKE')).toEqual({ outcome: 'denied' });
  });
});
