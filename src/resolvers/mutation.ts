import { approveTrust, denyTrust, revokeTrust } from '../trust/decisions.js';
import {
  FingerprintMismatchError,
  InvalidFingerprintError,
  NotFoundError,
  SelfTrustError,
  ServerDecommissionedError,
  TrustDeniedError,
  TrustError,
  UnverifiedTrustError,
  UntrustedDecommissionError,
} from '../trust/errors.js';
import { rotateRootKey } from '../trust/keys.js';
import { decommissionServer } from '../trust/servers.js';
import type { Actor } from '../trust/scope.js';
import type { DecisionKind } from '../metrics.js';
import { builder } from '../schema/builder.js';
import type { Context } from '../schema/context.js';
import { PeerTrustRef } from '../schema/peer-trust.js';
import { ServerRef } from '../schema/server.js';

builder.mutationType({
  description: 'Changing trust. Only administrators may; every change is kept in the Trust History.',
  authScopes: { authenticated: true },
});

/** scope-auth has let only administrators through by the time a resolver runs. */
function actorOf(ctx: Context): Actor {
  if (!ctx.viewer) throw new Error('resolver ran without an authenticated viewer');
  return ctx.viewer;
}

/**
 * Runs a decision and counts what it answered, for /metrics: the success type, or the
 * error type the client gets (each TrustError is named as its union member).
 */
async function counted<T>(ctx: Context, kind: DecisionKind, success: string, decide: () => Promise<T>): Promise<T> {
  try {
    const result = await decide();
    ctx.metrics.decided(kind, success);
    return result;
  } catch (error) {
    ctx.metrics.decided(kind, error instanceof TrustError ? error.name : 'error');
    throw error;
  }
}

/** The result union of a mutation: its success type with one data field, or one of its errors. */
function resultOf(mutation: string, dataField: string, errors: (new (...args: never[]) => Error)[]) {
  return {
    types: errors,
    result: { name: `${mutation}Success`, description: `${mutation} succeeded, or changed nothing because there was nothing to change.` },
    union: { name: `${mutation}Result`, description: `What ${mutation} did: success, or an error to act on.` },
    dataField: { name: dataField, description: 'The state after the mutation.' },
  };
}

const fingerprintedInput = (name: string, action: string) =>
  builder.inputType(name, {
    description: `Which peer to ${action}, and the fingerprint you verified for it.`,
    fields: (t) => ({
      peerId: t.id({ required: true, description: 'The id of the peer server.' }),
      fingerprint: t.string({
        required: true,
        description: "The peer's root key fingerprint as you verified it; any case, ':' or spaces, optional 'SHA256:'.",
      }),
    }),
  });

const ApproveTrustInput = fingerprintedInput('ApproveTrustInput', 'approve');
const DenyTrustInput = fingerprintedInput('DenyTrustInput', 'deny');

const RevokeTrustInput = builder.inputType('RevokeTrustInput', {
  description: 'Which peer to revoke trust with.',
  fields: (t) => ({ peerId: t.id({ required: true, description: 'The id of the peer server.' }) }),
});

const DecommissionServerInput = builder.inputType('DecommissionServerInput', {
  description: 'Which server to decommission.',
  fields: (t) => ({ serverId: t.id({ required: true, description: 'The id of the server; not this one.' }) }),
});

/** A decommissioned server's API changes no trust: every mutation can answer ServerDecommissionedError. */
const decisionErrors = [
  NotFoundError,
  SelfTrustError,
  InvalidFingerprintError,
  FingerprintMismatchError,
  TrustDeniedError,
  ServerDecommissionedError,
  UnverifiedTrustError,
];

builder.mutationFields((t) => ({
  approveTrust: t.field({
    type: PeerTrustRef,
    description:
      "Approves trust in a peer after you verified its fingerprint and addresses. The pair is TRUSTED once the peer's administrator approved this server too.",
    authScopes: { administrator: true },
    args: { input: t.arg({ type: ApproveTrustInput, required: true, description: 'What to do it to.' }) },
    errors: resultOf('ApproveTrust', 'peerTrust', decisionErrors),
    resolve: (_root, { input }, ctx) =>
      counted(ctx, 'approve', 'ApproveTrustSuccess', () =>
        approveTrust(ctx.scope, actorOf(ctx), { peerId: String(input.peerId), fingerprint: input.fingerprint }),
      ),
  }),
  denyTrust: t.field({
    type: PeerTrustRef,
    description: 'Denies a peer instance. This is final: only a reinstalled server (a new instance) can be trusted again.',
    authScopes: { administrator: true },
    args: { input: t.arg({ type: DenyTrustInput, required: true, description: 'What to do it to.' }) },
    errors: resultOf('DenyTrust', 'peerTrust', decisionErrors),
    resolve: (_root, { input }, ctx) =>
      counted(ctx, 'deny', 'DenyTrustSuccess', () =>
        denyTrust(ctx.scope, actorOf(ctx), { peerId: String(input.peerId), fingerprint: input.fingerprint }),
      ),
  }),
  revokeTrust: t.field({
    type: PeerTrustRef,
    description: 'Ends trust with a peer, for example before it is replaced. Approving again later starts a new round.',
    authScopes: { administrator: true },
    args: { input: t.arg({ type: RevokeTrustInput, required: true, description: 'What to do it to.' }) },
    errors: resultOf('RevokeTrust', 'peerTrust', [NotFoundError, SelfTrustError, TrustDeniedError, ServerDecommissionedError, UnverifiedTrustError]),
    resolve: (_root, { input }, ctx) =>
      counted(ctx, 'revoke', 'RevokeTrustSuccess', () => revokeTrust(ctx.scope, actorOf(ctx), { peerId: String(input.peerId) })),
  }),
  decommissionServer: t.field({
    type: ServerRef,
    description:
      'Takes a peer out of the cluster: marks it DECOMMISSIONED and revokes its pending and trusted pairs. It can still be denied.',
    authScopes: { administrator: true },
    args: { input: t.arg({ type: DecommissionServerInput, required: true, description: 'What to do it to.' }) },
    errors: resultOf('DecommissionServer', 'server', [NotFoundError, SelfTrustError, ServerDecommissionedError, UntrustedDecommissionError]),
    resolve: (_root, { input }, ctx) =>
      counted(ctx, 'decommission', 'DecommissionServerSuccess', () =>
        decommissionServer(ctx.scope, actorOf(ctx), { serverId: String(input.serverId) }),
      ),
  }),
  rotateRootKey: t.field({
    type: ServerRef,
    description:
      "Replaces this server's root key with a new one, endorsed by the current key: peers that trusted the old key keep trusting this server. The old key is kept, retired; the history records KEY_ROTATED.",
    authScopes: { administrator: true },
    errors: resultOf('RotateRootKey', 'server', [ServerDecommissionedError]),
    resolve: (_root, _args, ctx) => rotateRootKey(ctx.scope, actorOf(ctx)),
  }),
}));
