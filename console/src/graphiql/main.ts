// GraphiQL on /graphql: Yoga's GraphiQL build, loaded as a static, cached script (see
// console/vite.config.ts), started here with the server's options. Opened from the
// console (/graphql#token=...), the Authorization header is filled in, and the
// prefilled operations' variables name the first peer that awaits approval (not its
// fingerprint, which the administrator checks on the peer).
import { Client, fetchExchange } from '@urql/core';
import { scriptUrl, workerUrls } from 'virtual:yoga-graphiql';
import { PeerTrustsDocument } from '../../../client/gql/graphql.js';
import { takeToken } from '../session.js';

declare global {
  interface Window {
    YogaGraphiQL: { renderYogaGraphiQL(root: Element, options: Record<string, unknown>): void };
    MonacoEnvironment: { globalAPI: boolean; getWorkerUrl(moduleId: string, label: string): string | undefined };
  }
}

// Monaco's workers from their own files, not from blobs built in the page.
window.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => workerUrls[label] };

/**
 * Variables for the prefilled operations: the first peer that awaits approval, else the
 * first that could be approved (pending, or revoked); with none, the placeholders. Its fingerprint is left for the administrator to fill in
 * from the peer itself: filled in from this server's answer, Approve would take whatever
 * key the database says, unchecked.
 */
async function variablesFor(authorization: string): Promise<string | undefined> {
  const client = new Client({
    url: '/graphql',
    exchanges: [fetchExchange],
    preferGetMethod: false,
    fetchOptions: { headers: { authorization } },
  });
  const result = await client.query(PeerTrustsDocument, { first: 50 }).toPromise();
  const pairs = result.data?.peerTrusts.edges.map((edge) => edge.node) ?? [];
  const approvable = (candidate: (typeof pairs)[number]) => candidate.peer.status !== 'DECOMMISSIONED' && (candidate.status === 'PENDING' || candidate.status === 'REVOKED');
  const pair = pairs.find((candidate) => candidate.approvalRequired) ?? pairs.find(approvable);
  return pair && JSON.stringify({ peerId: pair.peer.id, fingerprint: `<${pair.peer.name}'s fingerprint, as ${pair.peer.name} itself shows it>` }, null, 2);
}

function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const element = Object.assign(document.createElement('script'), { src });
    element.onload = () => resolve();
    element.onerror = () => reject(new Error(`GraphiQL could not be loaded from ${src}`));
    document.head.append(element);
  });
}

async function start() {
  const options = JSON.parse(document.getElementById('graphiql-options')?.textContent ?? '{}') as Record<string, unknown>;
  const token = takeToken();
  const loaded = loadScript(scriptUrl);
  if (token) {
    const authorization = `Bearer ${token}`;
    options['headers'] = JSON.stringify({ Authorization: authorization }, null, 2);
    // Without them the operations still show; their variables are then placeholders.
    options['variables'] = (await variablesFor(authorization).catch(() => undefined)) ?? options['variables'];
  }
  await loaded;
  window.YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root')!, options);
}

void start();
