// GraphiQL on GET /graphql (Accept: text/html), rendered by Yoga with this page: a few
// kilobytes that load Yoga's GraphiQL build from the console's hashed, precompressed,
// cached assets (console/vite.config.ts), instead of 9 MB built at every request.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GraphiQLOptions } from 'graphql-yoga';
import { consoleDir } from '../paths.js';

/** The operations GraphiQL opens with. Each runs as it is once the variables name a peer. */
const OPERATIONS = `# peertrust. Opened from the console, the Authorization header is filled in and the
# variables name the first peer that awaits this server's approval (else one that could be approved);
# its fingerprint is yours to fill in, from what the peer itself shows.
# Otherwise put your token in the Headers tab: { "Authorization": "Bearer <your token>" }
# Run an operation with the run button and pick it by name.
#
# Before Approve, compare the peer's fingerprint and addresses with what the peer itself
# shows (its own console or thisServer, or \`peertrust fingerprint\` there). Trust becomes
# TRUSTED once the peer's administrator approves this server too.

query Peers {
  thisServer { id name fingerprint addresses }
  peerTrusts { edges { node { id status approvalRequired approvedByThisServer approvedByPeer
    peer { id name fingerprint addresses status } } } }
}

subscription TrustApprovalRequired {
  trustApprovalRequired { peerTrust { id status approvedByPeer peer { id name fingerprint addresses } } }
}

mutation Approve($peerId: ID!, $fingerprint: String!) {
  approveTrust(input: { peerId: $peerId, fingerprint: $fingerprint }) {
    __typename
    ... on ApproveTrustSuccess { peerTrust { status approvedByPeer } }
    ... on Error { message }
  }
}

mutation Deny($peerId: ID!, $fingerprint: String!) {
  denyTrust(input: { peerId: $peerId, fingerprint: $fingerprint }) {
    __typename
    ... on DenyTrustSuccess { peerTrust { status } }
    ... on Error { message }
  }
}

mutation Revoke($peerId: ID!) {
  revokeTrust(input: { peerId: $peerId }) {
    __typename
    ... on RevokeTrustSuccess { peerTrust { status } }
    ... on Error { message }
  }
}

mutation Decommission($peerId: ID!) {
  decommissionServer(input: { serverId: $peerId }) {
    __typename
    ... on DecommissionServerSuccess { server { name status } }
    ... on Error { message }
  }
}

query History {
  trustHistory(last: 20) { edges { node { id kind at actor { name } server { name } fingerprints peerTrust { peer { name } } } } }
}
`;

/**
 * Yoga's CSRF prevention refuses a GET without this header, and GraphiQL sends
 * subscriptions as GET with server-sent events. GraphiQL adds `additionalHeaders` to
 * every request it makes, subscriptions included, beside those of its Headers tab.
 */
const GRAPHIQL_CSRF_HEADERS = { 'x-graphql-yoga-csrf': 'graphiql' };

/** Yoga hands every option to the page; `variables` is one GraphiQL takes that Yoga's type lacks. */
export type PeertrustGraphiQLOptions = GraphiQLOptions & { variables: string };

export function graphiqlOptions(serverName: string): PeertrustGraphiQLOptions {
  return {
    title: `peertrust: ${serverName}`,
    defaultQuery: OPERATIONS,
    headers: JSON.stringify({ Authorization: 'Bearer <your token>' }, null, 2),
    // Placeholders; the page puts in the first pending peer when it has a token.
    variables: JSON.stringify({ peerId: '<a peer id, from Peers>', fingerprint: '<its fingerprint, as you verified it>' }, null, 2),
    additionalHeaders: GRAPHIQL_CSRF_HEADERS,
    // A token belongs to this browser session (as in the console), not to localStorage.
    shouldPersistHeaders: false,
  };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The options as JSON that cannot end the <script> element it sits in. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

let template: string | undefined;

/** Yoga's `renderGraphiQL`: the built page with this server's options. */
export function renderGraphiQL(options: GraphiQLOptions): string {
  try {
    template ??= readFileSync(path.join(consoleDir, 'graphiql.html'), 'utf8');
  } catch {
    return '<!doctype html><title>peertrust</title><p>GraphiQL is not built here: run <code>npm run build</code>.</p>';
  }
  // GraphiQL shows the title as HTML.
  const safe = { ...options, title: escapeHtml(options.title ?? 'peertrust') };
  // Replaced by functions: a string replacement would give `$&` and the like a meaning.
  return template.replace('__TITLE__', () => safe.title).replace('__GRAPHIQL_OPTIONS__', () => scriptJson(safe));
}
