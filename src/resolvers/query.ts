import { allServers } from '../trust/servers.js';
import { peerTrustsPage, peerTrustWith, trustHistoryPage } from '../trust/peer-trusts.js';
import { builder, connectionTypes, pageSize } from '../schema/builder.js';
import { checkedPage } from '../schema/cursors.js';
import { HistoryVerificationRef } from '../schema/history-verification.js';
import { TrustStatusEnum } from '../schema/peer-trust.js';
import { verifyHistory } from '../trust/audit.js';

builder.queryType({
  description: 'Reading the cluster and its trust. Any authenticated user may read.',
  authScopes: { authenticated: true },
});

builder.queryFields((t) => ({
  thisServer: t.prismaField({
    type: 'Server',
    description: 'The server whose API this is.',
    resolve: (query, _root, _args, ctx) =>
      ctx.scope.db.prisma.server.findUniqueOrThrow({ ...query, where: { id: ctx.scope.serverId } }),
  }),
  servers: t.prismaConnection({
    type: 'Server',
    cursor: 'id',
    ...pageSize,
    description: 'Every server instance registered in the shared database, oldest first, this one included.',
    resolve: (query, _root, _args, ctx) => ctx.scope.db.prisma.server.findMany({ ...checkedPage(query, 'uuid'), ...allServers() }),
  }, ...connectionTypes('Server', 'servers')),
  peerTrusts: t.prismaConnection({
    type: 'PeerTrust',
    cursor: 'id',
    ...pageSize,
    description: "This server's trust with each peer, oldest pair first.",
    args: { status: t.arg({ type: [TrustStatusEnum], required: false, description: 'Only pairs in these states.' }) },
    resolve: async (query, _root, args, ctx) =>
      peerTrustsPage(ctx.scope, checkedPage(query, 'uuid'), args.status),
  }, ...connectionTypes('PeerTrust', 'trust with peers')),
  peerTrust: t.prismaField({
    type: 'PeerTrust',
    nullable: true,
    description: "This server's trust with one peer; null when no server has that id.",
    args: { peerId: t.arg.id({ required: true, description: 'The id of the peer server.' }) },
    resolve: (query, _root, args, ctx) =>
      ctx.scope.db.prisma.peerTrust.findFirst({ ...query, ...peerTrustWith(ctx.scope, String(args.peerId)) }),
  }),
  trustHistory: t.prismaConnection({
    type: 'TrustEvent',
    cursor: 'sequence',
    ...pageSize,
    description:
      "The Trust History of this server's pairs, oldest first (in sequence, the order the changes committed); of one pair with peerId. Paging with `after` never skips or repeats an event, however many commit meanwhile. Token events, servers' registrations and the rotations of a server with no pair belong to no pair: they are in the verified history (verifyTrustHistory, `peertrust history export`), not here.",
    args: { peerId: t.arg.id({ required: false, description: 'Only the history with this peer.' }) },
    resolve: (query, _root, args, ctx) =>
      trustHistoryPage(ctx.scope, checkedPage(query, 'sequence'), args.peerId === null || args.peerId === undefined ? null : String(args.peerId)),
  }, ...connectionTypes('TrustEvent', 'Trust History events')),
  verifyTrustHistory: t.field({
    type: HistoryVerificationRef,
    description:
      "Verifies the whole Trust History again, from its first entry: each entry's place, the signatures of the decisions it comes from, the rules, and the Merkle tree against the signed checkpoints. Reports ok, or the first entry that breaks. Seconds for a long history.",
    resolve: (_root, _args, ctx) => verifyHistory(ctx.scope),
  }),
  viewer: t.prismaField({
    type: 'User',
    nullable: true,
    description: 'The user the token belongs to.',
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer ? ctx.scope.db.prisma.user.findUnique({ ...query, where: { id: ctx.viewer.id } }) : null,
  }),
}));
