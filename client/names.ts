// A server's name as people read it in lists: a reinstalled server is a new instance
// with the same name, so where a name is shared, each instance also says its state and
// the start of its fingerprint. No Node.js-only import: the console uses it too.
import { formatFingerprint } from '../src/identity/fingerprint-text.js';

type Instance = { id: string; name: string; fingerprint: string; status: string };

/** `server`'s name, told apart from the other instances in `among` that share it. */
export function instanceLabel(server: Instance, among: Iterable<Instance>): string {
  const shared = [...among].some((other) => other.name === server.name && other.id !== server.id);
  if (!shared) return server.name;
  const key = formatFingerprint(server.fingerprint).slice(0, 9);
  return server.status === 'DECOMMISSIONED' ? `${server.name} (decommissioned, ${key})` : `${server.name} (${key})`;
}

/** Names servers as `instanceLabel` does among `servers`; one not among them, by its name alone. */
export function namesAmong(servers: readonly Instance[]): (server: { id: string; name: string }) => string {
  return (server) => {
    const known = servers.find((candidate) => candidate.id === server.id);
    return known ? instanceLabel(known, servers) : server.name;
  };
}
