// When a server counts as offline: the rule of src/trust/liveness.ts on its own.
import { expect, test } from 'vitest';
import { statusAt } from '../src/trust/liveness.js';

const seenAt = 1_000_000;
const server = { status: 'ACTIVE' as const, lastSeenAt: new Date(seenAt), heartbeatIntervalMs: 1_000, stoppedAt: null };

test('a server is ONLINE until it missed 3 of its own heartbeats, then OFFLINE', () => {
  expect(statusAt(server, seenAt + 500)).toBe('ONLINE');
  expect(statusAt(server, seenAt + 3_000)).toBe('ONLINE');
  expect(statusAt(server, seenAt + 3_001)).toBe('OFFLINE');
  // Judged by its own interval, not the watcher's.
  expect(statusAt({ ...server, heartbeatIntervalMs: 10_000 }, seenAt + 29_000)).toBe('ONLINE');
});

test('after the watcher regained the database, peers get a full allowance again', () => {
  const regainedAt = seenAt + 60_000;
  expect(statusAt(server, regainedAt + 1_000)).toBe('OFFLINE');
  expect(statusAt(server, regainedAt + 1_000, regainedAt)).toBe('ONLINE');
  expect(statusAt(server, regainedAt + 3_001, regainedAt)).toBe('OFFLINE');
});

test('a decommissioned server is DECOMMISSIONED, heartbeat or not', () => {
  expect(statusAt({ ...server, status: 'DECOMMISSIONED' }, seenAt)).toBe('DECOMMISSIONED');
});

test('a server that stopped cleanly is OFFLINE at once, and ONLINE again from its next heartbeat', () => {
  const stopped = { ...server, stoppedAt: new Date(seenAt + 100) };
  expect(statusAt(stopped, seenAt + 200)).toBe('OFFLINE');
  expect(statusAt({ ...stopped, lastSeenAt: new Date(seenAt + 5_000) }, seenAt + 5_100)).toBe('ONLINE');
});
