// What the trust commands print, from the API's answers alone: no server needed.
import { expect, test } from 'vitest';
import type { ServerFieldsFragment, TrustEvent } from '../client/index.js';
import { historyTable } from '../src/cli/output.js';

const server = (id: string, key: string, status: string) => ({ id, name: id === 'a' ? 'alpha' : 'charlie', fingerprint: key.repeat(64), status }) as ServerFieldsFragment;
const alpha = server('a', 'a', 'ONLINE');
const oldCharlie = server('c1', '1', 'DECOMMISSIONED');
const newCharlie = server('c2', '2', 'ONLINE');
const approved = (sequence: number, by: ServerFieldsFragment, about: ServerFieldsFragment) =>
  ({
    id: String(sequence),
    sequence,
    kind: 'TRUST_APPROVED',
    at: '2026-01-01T00:00:00.000Z',
    fingerprints: [about.fingerprint],
    actor: { id: 'u', name: 'admin', role: 'ADMINISTRATOR' },
    server: { id: by.id, name: by.name },
    peerTrust: { id: `p${sequence}`, peer: about },
  }) as unknown as TrustEvent;
/** Each approval row's ON and PEER columns. */
const columns = (text: string) => text.split('\n').filter((row) => row.includes('TRUST_APPROVED')).map((row) => row.split(/ {2,}/).slice(3, 5));

test("a history page with one instance of a shared name still names it apart: the cluster's servers say which names are shared", () => {
  // `history --peer <the new charlie>` on alpha: the old charlie's events are not on the page.
  expect(columns(historyTable([approved(7, alpha, newCharlie)], alpha, [alpha, oldCharlie, newCharlie]))).toEqual([['alpha', 'charlie (2222:2222)']]);
});

test('a replacement names the instance it replaced apart from itself', () => {
  expect(columns(historyTable([approved(3, newCharlie, oldCharlie)], newCharlie, [alpha, oldCharlie, newCharlie]))).toEqual([
    ['charlie (2222:2222)', 'charlie (decommissioned, 1111:1111)'],
  ]);
});
