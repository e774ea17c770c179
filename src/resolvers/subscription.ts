import { approvalRequests, peerTrustChanges, readOnce, trustEvents, type PairNotice } from '../trust/notices.js';
import { builder } from '../schema/builder.js';
import { TrustApprovalRequiredRef } from '../schema/peer-trust.js';

/** Its events are the same for every subscriber from the moment it subscribes: served as one broadcast (src/http/broadcasts.ts). */
const BROADCAST = { broadcast: true };

builder.subscriptionType({
  description: 'Live notices, over graphql-ws or server-sent events on /graphql.',
  authScopes: { authenticated: true },
});

builder.subscriptionFields((t) => ({
  trustApprovalRequired: t.field({
    type: TrustApprovalRequiredRef,
    description:
      "Trust approval required: first every peer that awaits this server's approval now, then each one as it comes to.",
    subscribe: (_root, _args, ctx) => approvalRequests(ctx.scope),
    resolve: (notice: PairNotice) => notice,
  }),
  serverStatusChanged: t.prismaField({
    type: 'Server',
    description: 'Each server of the cluster whose status changes: it came online, went offline or was decommissioned.',
    extensions: BROADCAST,
    subscribe: (_root, _args, ctx) => ctx.liveness.changes(),
    resolve: (query, serverId: string, _args, ctx) =>
      ctx.scope.db.prisma.server.findUniqueOrThrow({ ...query, where: { id: serverId } }),
  }),
  trustEvents: t.prismaField({
    type: 'TrustEvent',
    description:
      "The Trust History of this server's pairs after sequence `after` (0: from the start): what was committed, then each event as it commits, each once, in order. To resume after a reconnect, on this server or another, start a new subscription with the last sequence you got (a client that retries the same operation resends its first `after`). Like trustHistory, it lists the events of pairs: token events, registrations and the rotations of a server with no pair are in the verified history (verifyTrustHistory, `peertrust history export`), not here.",
    args: {
      after: t.arg.int({ required: false, description: 'The last sequence you have; events after it come. 0 (the default) for all.' }),
      peerId: t.arg.id({ required: false, description: 'Only the history with this peer.' }),
    },
    subscribe: (_root, args, ctx) => trustEvents(ctx.scope, Math.max(0, args.after ?? 0), args.peerId === undefined || args.peerId === null ? null : String(args.peerId)),
    resolve: (query, sequence: bigint, _args, ctx) =>
      ctx.scope.db.prisma.trustEvent.findUniqueOrThrow({ ...query, where: { sequence } }),
  }),
  peerTrustChanged: t.prismaField({
    type: 'PeerTrust',
    description: "Each change to this server's trust with any peer, with the state after it.",
    extensions: BROADCAST,
    subscribe: (_root, _args, ctx) => peerTrustChanges(ctx.scope),
    resolve: (query, notice: PairNotice, _args, ctx) =>
      readOnce(notice, JSON.stringify(query), () => ctx.scope.db.prisma.peerTrust.findUniqueOrThrow({ ...query, where: { id: notice.peerTrustId } })),
  }),
}));
