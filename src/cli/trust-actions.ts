// What each trust command does, through one server's API with the typed client. Loaded
// only when such a command runs (the client takes a moment to load); the commands
// themselves, their flags and help, are in trust-commands.ts.
import {
  ApproveTrustDocument,
  DecommissionServerDocument,
  DenyTrustDocument,
  PeerTrustChangedDocument,
  PeerTrustDocument,
  PeerTrustsDocument,
  RevokeTrustDocument,
  RotateRootKeyDocument,
  ServersDocument,
  ThisServerDocument,
  TrustApprovalRequiredDocument,
  TrustHistoryDocument,
  VerifyTrustHistoryDocument,
  instanceLabel,
  type PeerTrustFieldsFragment,
  type ServerFieldsFragment,
  type TrustEvent,
  type TrustHistoryQuery,
} from '../../client/index.js';
import { formatFingerprint } from '../identity/fingerprint-text.js';
import { connect, succeeded, type Api } from './api.js';
import { DEFAULT_URL } from './trust-commands.js';
import { CliError, ExitCode } from './errors.js';
import { describePair, eventJson, historyTable, peerJson, peersTable, serverJson, table } from './output.js';

/** Where and how: the server's API (--url or PEERTRUST_URL, and which it came from), and --json. */
export interface Target {
  url: string;
  urlFrom: string;
  json?: boolean | undefined;
}

/** The API's page size at most. */
const PAGE = 200;

/**
 * Runs `work` against the target's API and closes the connection. With --json a failure
 * is also printed on stdout as `{ "error": { "type", "message", ... } }`.
 */
async function withApi(target: Target, work: (api: Api) => Promise<void>): Promise<void> {
  let api: Api | undefined;
  try {
    api = connect(target.url, target.urlFrom);
    await work(api);
  } catch (error) {
    if (target.json && error instanceof CliError) {
      console.log(JSON.stringify({ error: { type: error.type, message: error.message, ...error.details } }, null, 2));
    }
    throw error;
  } finally {
    await api?.close();
  }
}

function print(target: Target, json: unknown, text: string) {
  console.log(target.json ? JSON.stringify(json, null, 2) : text);
}

/** Every server of the cluster, page after page. */
function allServers(api: Api): Promise<ServerFieldsFragment[]> {
  return api.all((after) => api.query(ServersDocument, { first: PAGE, after }).then((data) => data.servers));
}

/** This server (the one whose API decides) and the server PEER names: its id, or its name when only one server has it. */
async function resolve(api: Api, name: string): Promise<{ self: ServerFieldsFragment; peer: ServerFieldsFragment }> {
  const servers = await allServers(api);
  const self = servers.find((server) => server.isThisServer);
  if (!self) throw new CliError(`${api.url} did not list its own server`, ExitCode.unavailable, 'NO_DATA');
  const byId = servers.find((server) => server.id === name);
  const named = byId ? [byId] : servers.filter((server) => server.name === name);
  if (named.length === 1) return { self, peer: named[0]! };
  // A replaced server's old instance, once decommissioned, leaves the name to the new one (its id still names it).
  const active = named.filter((server) => server.status !== 'DECOMMISSIONED');
  if (active.length === 1) {
    const others = named.filter((server) => server !== active[0]).map((server) => server.id).join(', ');
    console.error(`${name}: the active instance ${active[0]!.id}; its decommissioned instance ${others} shares the name (give its id to mean it)`);
    return { self, peer: active[0]! };
  }
  if (named.length === 0) {
    const known = servers.map((server) => (server.isThisServer ? `${server.name} (this server)` : instanceLabel(server, servers))).join(', ');
    throw new CliError(`no server has the name or id ${JSON.stringify(name)}; the servers are: ${known}`, ExitCode.refused, 'NotFoundError');
  }
  const matches = table(
    ['ID', 'NAME', 'ONLINE', 'REGISTERED', 'FINGERPRINT'],
    named.map((server) => [server.id, server.name, server.status, server.registeredAt, formatFingerprint(server.fingerprint)]),
  );
  throw new CliError(
    `${JSON.stringify(name)} names ${named.length} servers (a reinstalled server is a new instance); give the id of the one you mean:\n${matches}`,
    ExitCode.refused,
    'AmbiguousNameError',
    { matches: named.map(serverJson) },
  );
}

/**
 * A decision about PEER on this server: `<verb> PEER on SERVER. <the pair's state>`, or
 * `<already>: nothing was recorded` when the pair was already so (the API succeeds then
 * too, changing nothing); for --json the result, whether it was recorded, the deciding
 * server and the peer.
 */
function decide(
  target: Target,
  name: string,
  words: { done: string; already: (peer: string) => string },
  mutate: (api: Api, peerId: string) => Promise<{ __typename: string; peerTrust: PeerTrustFieldsFragment }>,
) {
  return withApi(target, async (api) => {
    const { self, peer } = await resolve(api, name);
    const before = (await api.query(PeerTrustDocument, { peerId: peer.id })).peerTrust;
    const { __typename: result, peerTrust } = await mutate(api, peer.id);
    // A recorded change moves the pair's updatedAt.
    const recorded = before?.updatedAt !== peerTrust.updatedAt;
    print(
      target,
      { result, recorded, server: { id: self.id, name: self.name }, peer: peerJson(peerTrust) },
      recorded
        ? `${words.done} ${peer.name} on ${self.name}. ${describePair(peerTrust, self)}`
        : `${words.already(peer.name)} on ${self.name}: nothing was recorded. ${describePair(peerTrust, self)}`,
    );
  });
}

export const approve = (name: string, fingerprint: string, target: Target) =>
  decide(target, name, { done: 'approved', already: (peer) => `${peer} was already approved` }, async (api, peerId) =>
    succeeded((await api.mutate(ApproveTrustDocument, { input: { peerId, fingerprint } })).approveTrust, 'ApproveTrustSuccess'),
  );

export const deny = (name: string, fingerprint: string, target: Target) =>
  decide(target, name, { done: 'denied', already: (peer) => `${peer} was already denied` }, async (api, peerId) =>
    succeeded((await api.mutate(DenyTrustDocument, { input: { peerId, fingerprint } })).denyTrust, 'DenyTrustSuccess'),
  );

export const revoke = (name: string, target: Target) =>
  decide(target, name, { done: 'revoked trust with', already: (peer) => `trust with ${peer} was already revoked` }, async (api, peerId) =>
    succeeded((await api.mutate(RevokeTrustDocument, { input: { peerId } })).revokeTrust, 'RevokeTrustSuccess'),
  );

export function decommission(name: string, target: Target) {
  return withApi(target, async (api) => {
    const { self, peer } = await resolve(api, name);
    const { decommissionServer } = await api.mutate(DecommissionServerDocument, { input: { serverId: peer.id } });
    const { server } = succeeded(decommissionServer, 'DecommissionServerSuccess');
    print(
      target,
      { result: 'DecommissionServerSuccess', server: { id: self.id, name: self.name }, decommissioned: serverJson(server) },
      `decommissioned ${server.name} (${server.id}) on ${self.name}: its pending and trusted pairs are revoked on every server; to bring it back, install a new instance and approve that`,
    );
  });
}

/** What the console warns of a new instance that has an existing server's name or address, for people. */
function possibleReplacement(peer: ServerFieldsFragment): string {
  const old = peer.possibleReplacementOf!;
  return `${peer.name} (${peer.id}) may replace ${old.name} (${old.id}), whose ${old.name === peer.name ? 'name' : 'address'} it has, with another root key: check its fingerprint on the server itself; if not a reinstall, someone may be impersonating ${old.name}`;
}

/** What a decommissioned server is, and how to replace it: said wherever its state is shown. */
const DECOMMISSIONED = 'it takes no more trust decisions; to replace it, install a new instance and have its peers approve it';

function decommissionedNote(self: ServerFieldsFragment): string {
  return `${self.name} is decommissioned: ${DECOMMISSIONED}`;
}

export function peers(target: Target) {
  return withApi(target, async (api) => {
    const { thisServer } = await api.query(ThisServerDocument, {});
    const pairs = await api.all((after) => api.query(PeerTrustsDocument, { first: PAGE, after }).then((data) => data.peerTrusts));
    const waiting = pairs.filter((pair) => pair.approvalRequired).length;
    const text = pairs.length
      ? [
          `peers of ${thisServer.name} (${api.url})`,
          ...(thisServer.status === 'DECOMMISSIONED' ? [decommissionedNote(thisServer)] : []),
          peersTable(pairs),
          ...(waiting
            ? [`\n${waiting} awaiting approval on ${thisServer.name}: check the fingerprint on the peer itself (\`peertrust fingerprint\` there), then an administrator runs \`peertrust approve NAME --fingerprint FP${api.url === DEFAULT_URL ? '' : ` --url ${api.url}`}\``]
            : []),
          ...pairs.flatMap(({ peer }) => (peer.possibleReplacementOf ? [`\n${possibleReplacement(peer)}`] : [])),
        ].join('\n')
      : `${thisServer.name} has no peers yet`;
    print(target, { server: { id: thisServer.id, name: thisServer.name, serverStatus: thisServer.status }, peers: pairs.map(peerJson) }, text);
  });
}

export function history(options: { peer?: string | undefined; limit: number }, target: Target) {
  return withApi(target, async (api) => {
    const { thisServer } = await api.query(ThisServerDocument, {});
    const peerId = options.peer ? (await resolve(api, options.peer)).peer.id : null;
    // The newest `limit` events, read backwards a page at a time, shown oldest first.
    const pages: TrustEvent[][] = [];
    let before: string | null = null;
    let earlier = true;
    for (let wanted = options.limit; wanted > 0 && earlier; ) {
      const page: TrustHistoryQuery['trustHistory'] = (await api.query(TrustHistoryDocument, { peerId, last: Math.min(wanted, PAGE), before })).trustHistory;
      pages.unshift(page.edges.map((edge) => edge.node));
      wanted -= page.edges.length;
      ({ hasPreviousPage: earlier, startCursor: before } = page.pageInfo);
    }
    const events = pages.flat();
    // Numbers missing from the list are the cluster's other events, not lost ones: say so.
    const gaps = (!earlier && events[0] !== undefined && events[0].sequence !== 1) || events.some((event, index) => index > 0 && event.sequence !== events[index - 1]!.sequence + 1);
    if (gaps && !target.json) {
      console.error(
        `# is each event's place in the cluster's one Trust History, which also holds the events of ${thisServer.name}'s other pairs, other servers' pairs, API tokens and servers' registrations: \`peertrust history export\` has them all, and \`peertrust history verify\` checks them`,
      );
    }
    const text = events.length
      ? [historyTable(events, thisServer, await allServers(api)), ...(earlier ? [`(the ${events.length} newest; more with a larger --limit)`] : [])].join('\n')
      : 'no trust history yet';
    print(target, { events: events.map((event) => eventJson(event, thisServer)) }, text);
  });
}

/**
 * Prints each "trust approval required" notice (first every pending one, then each new
 * one) and each change of trust, until Ctrl-C or SIGTERM. With --json, one JSON object
 * per line: `{ "notice": "trustApprovalRequired" | "peerTrustChanged", "peer": {...} }`.
 */
export function watch(target: Target) {
  return withApi(target, async (api) => {
    // Over HTTP first: a wrong URL or token is said at once, not retried for ever.
    const { thisServer } = await api.query(ThisServerDocument, {});
    const pairs = await api.all((after) => api.query(PeerTrustsDocument, { first: PAGE, after }).then((data) => data.peerTrusts));
    // Each peer's key as last seen: a change of trust that comes with a new one is its rotation.
    const keys = new Map(pairs.map((pair) => [pair.id, pair.peer.fingerprint]));
    // Each pair's trust as last seen: a notice that changes none of it is about this server (its key, its decommission).
    const trustOf = (pair: PeerTrustFieldsFragment) =>
      JSON.stringify([pair.status, pair.approvedByThisServer, pair.approvedByPeer, pair.deniedByThisServer, pair.unverifiedReason, pair.updatedAt]);
    const trust = new Map(pairs.map((pair) => [pair.id, trustOf(pair)]));
    // Every peer seen, by id: a peer's line names it apart from other instances of its name.
    const seen = new Map(pairs.map((pair) => [pair.peer.id, pair.peer]));
    // Each approval asked for, by pair, as of its last change and the peer's key then: the
    // server asks again after a reconnect (its own to its database, or ours to it), and the
    // line says it is a repeat. A new key (rotated while we were away) is no repeat.
    const asked = new Map<string, string>();
    console.error(
      thisServer.status === 'DECOMMISSIONED'
        ? `watching ${thisServer.name} (${api.url}): ${decommissionedNote(thisServer)}; changes its peers make still show. Ctrl-C to stop.`
        : `watching ${thisServer.name} (${api.url}): trust approval required, and every change of trust. Ctrl-C to stop.`,
    );
    /**
     * This server as last read: read again at a revoke, which a peer's decommission of
     * this server brings to each of its pairs, and at a notice that changes no pair's
     * trust, which its key rotation brings to each: each said once, as what it is.
     */
    let self = thisServer;
    const checkSelf = async () => {
      if (self.status === 'DECOMMISSIONED') return;
      const before = self;
      self = (await api.query(ThisServerDocument, {})).thisServer;
      const now = new Date().toISOString();
      if (self.status === 'DECOMMISSIONED') {
        if (target.json) return console.log(JSON.stringify({ notice: 'serverDecommissioned', server: serverJson(self) }));
        return console.log(`${now}  DECOMMISSIONED     ${self.name} (this server): ${DECOMMISSIONED}`);
      }
      if (self.fingerprint === before.fingerprint) return;
      if (target.json) return console.log(JSON.stringify({ notice: 'keyRotated', server: serverJson(self) }));
      console.log(`${now}  KEY ROTATED        ${self.name} (this server)  new fingerprint ${formatFingerprint(self.fingerprint)}; its peers keep trusting it`);
    };
    const show = async (notice: 'trustApprovalRequired' | 'peerTrustChanged', pair: PeerTrustFieldsFragment) => {
      const peer = pair.peer;
      seen.set(peer.id, peer);
      const name = instanceLabel(peer, seen.values());
      const askedAs = `${pair.updatedAt} ${peer.fingerprint}`;
      const again = notice === 'trustApprovalRequired' && asked.get(pair.id) === askedAs;
      if (notice === 'trustApprovalRequired') asked.set(pair.id, askedAs);
      const rotated = keys.has(pair.id) && keys.get(pair.id) !== peer.fingerprint;
      keys.set(pair.id, peer.fingerprint);
      if (notice === 'peerTrustChanged') {
        const unchanged = !rotated && trust.get(pair.id) === trustOf(pair);
        trust.set(pair.id, trustOf(pair));
        if (unchanged || pair.status === 'REVOKED') await checkSelf();
        if (unchanged) return;
      }
      if (target.json) return console.log(JSON.stringify({ notice, peer: peerJson(pair), ...(again ? { again } : {}) }));
      console.log(
        notice === 'trustApprovalRequired'
          ? `${pair.updatedAt}  APPROVAL REQUIRED  ${name}  ${peer.id}  fingerprint ${formatFingerprint(peer.fingerprint)}  addresses ${peer.addresses.join(', ')}${pair.approvedByPeer ? `  (${peer.name} has approved ${thisServer.name})` : ''}${peer.possibleReplacementOf ? `  (${possibleReplacement(peer)})` : ''}${again ? '  (again: asked before, still pending)' : ''}`
          : rotated
            ? // The pair's own time is its last change of trust; the rotation is now.
              `${new Date().toISOString()}  KEY ROTATED        ${name}  new fingerprint ${formatFingerprint(peer.fingerprint)}; ${describePair(pair, self)}`
            : `${pair.updatedAt}  TRUST CHANGED      ${name}  ${describePair(pair, self)}`,
      );
    };
    // One notice after the other, in the order they came, though one may wait for a query.
    let shown = Promise.resolve();
    const showInOrder = (notice: 'trustApprovalRequired' | 'peerTrustChanged', pair: PeerTrustFieldsFragment, fail: (error: CliError) => void) => {
      shown = shown.then(() => show(notice, pair)).catch((error: unknown) => fail(error instanceof CliError ? error : new CliError(String(error), ExitCode.unavailable, 'UNREACHABLE')));
    };
    let lost = false;
    api.onConnection(
      () => {
        if (!lost) console.error(`the connection to ${api.url} was lost; reconnecting...`);
        lost = true;
      },
      () => {
        if (lost) console.error('reconnected; pending approvals are shown again');
        lost = false;
      },
    );
    const unsubscribes: (() => void)[] = [];
    const failed = new Promise<CliError>((fail) => {
      api.onCertificateRefused(fail);
      unsubscribes.push(api.subscribe(TrustApprovalRequiredDocument, {}, (data) => showInOrder('trustApprovalRequired', data.trustApprovalRequired.peerTrust, fail), fail));
      unsubscribes.push(api.subscribe(PeerTrustChangedDocument, {}, (data) => showInOrder('peerTrustChanged', data.peerTrustChanged, fail), fail));
    });
    const stopped = new Promise<NodeJS.Signals>((stop) => {
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    const outcome = await Promise.race([failed, stopped]);
    for (const unsubscribe of unsubscribes) unsubscribe();
    if (outcome instanceof CliError) throw outcome;
    console.error(`stopped (${outcome})`);
  });
}

/** `history verify`: the server verifies its whole Trust History again; exit 1 if an entry breaks. */
export function verifyHistory(target: Target) {
  return withApi(target, async (api) => {
    const { verifyTrustHistory: report } = await api.query(VerifyTrustHistoryDocument, {});
    if (target.json) console.log(JSON.stringify(report, null, 2));
    if (!report.ok) {
      throw new CliError(`the Trust History does not verify: entry ${report.brokenAt ?? '?'}: ${report.reason ?? 'no reason given'}`, ExitCode.refused, 'HistoryBroken', {
        brokenAt: report.brokenAt,
        reason: report.reason,
      });
    }
    if (!target.json) {
      const witnesses = report.witnesses.length ? `, cosigned by ${report.witnesses.length} witness${report.witnesses.length === 1 ? '' : 'es'}` : '';
      console.log(`ok: ${report.size} entries verify; root hash ${report.rootHash}${witnesses}`);
    }
  });
}

/** `key rotate`: the server replaces its root key with one its current key endorses. */
export function rotateKey(target: Target) {
  return withApi(target, async (api) => {
    const { server } = succeeded((await api.mutate(RotateRootKeyDocument, {})).rotateRootKey, 'RotateRootKeySuccess');
    const retired = server.rootKeys.filter((key) => key.retiredAt);
    print(
      target,
      { result: 'RotateRootKeySuccess', server: serverJson(server), rootKeys: server.rootKeys },
      [
        `rotated the root key of ${server.name}: its fingerprint is now ${formatFingerprint(server.fingerprint)}`,
        `retired: ${retired.map((key) => `${formatFingerprint(key.fingerprint)} (${key.retiredAt})`).join(', ')}`,
        'Peers that trusted the old key keep trusting this server; its history records KEY_ROTATED.',
      ].join('\n'),
    );
  });
}
