import { approvalRequests, peerTrustChanges } from '../trust/notices.js';
import { builder } from '../schema/builder.js';
import { TrustApprovalRequiredRef } from '../schema/peer-trust.js';

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
    resolve: (peerTrustId: string) => ({ peerTrustId }),
  }),
  serverStatusChanged: t.prismaField({
    type: 'Server',
    description: 'Each server of the cluster whose status changes: it came online, went offline or was decommissioned.',
    subscribe: (_root, _args, ctx) => ctx.liveness.changes(),
    resolve: (query, serverId: string, _args, ctx) =>
      ctx.scope.db.prisma.server.findUniqueOrThrow({ ...query, where: { id: serverId } }),
  }),
  peerTrustChanged: t.prismaField({
    type: 'PeerTrust',
    description: "Each change to this server's trust with any peer, with the state after it.",
    subscribe: (_root, _args, ctx) => peerTrustChanges(ctx.scope),
    resolve: (query, peerTrustId: string, _args, ctx) =>
      ctx.scope.db.prisma.peerTrust.findUniqueOrThrow({ ...query, where: { id: peerTrustId } }),
  }),
}));
