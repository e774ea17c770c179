import { approvalRequired, approvedByPeer, approvedByThisServer, deniedByThisServer, pairWithServers, peerOf, reportedTrust } from '../trust/peer-trusts.js';
import { readOnce, type PairNotice } from '../trust/notices.js';
import { builder } from './builder.js';
import { ServerRef } from './server.js';

export const TrustStatusEnum = builder.enumType('TrustStatus', {
  description: 'The state of trust between two server instances.',
  values: {
    PENDING: { description: 'Neither or only one server has approved in the current round.' },
    TRUSTED: { description: "Both servers approved, each against the other's current root key fingerprint, as their signed decisions prove." },
    REVOKED: { description: 'One server revoked trust; approving again starts a new round.' },
    DENIED: { description: 'One server denied the other: final for this pair of instances.' },
    UNVERIFIED: {
      description:
        'What the database holds for this pair is not what the signed Trust History gives: it was changed outside peertrust. Never trusted, and no decision can be made on it until the database is put right; see unverifiedReason. peerTrusts(status: [UNVERIFIED]) lists them.',
    },
  } as const,
});

export const PeerTrustRef = builder.prismaObject('PeerTrust', {
  description: 'Trust between the server whose API you call and one peer, as this server sees it.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier of the pair.' }),
    peer: t.field({
      type: ServerRef,
      description: 'The other server of the pair.',
      select: (_args, _ctx, nestedSelection) => ({ serverA: nestedSelection(true), serverB: nestedSelection(true) }),
      resolve: (pair, _args, ctx) => peerOf(ctx.scope, pair),
    }),
    status: t.field({
      type: TrustStatusEnum,
      description: 'The state of trust, as this server verified it against the signed Trust History.',
      select: pairWithServers,
      resolve: async (pair, _args, ctx) => (await reportedTrust(ctx.scope, pair)).status,
    }),
    unverifiedReason: t.string({
      nullable: true,
      description: 'Why the status is UNVERIFIED: what differs between the database and the signed Trust History. Null otherwise.',
      select: pairWithServers,
      resolve: async (pair, _args, ctx) => (await reportedTrust(ctx.scope, pair)).reason ?? null,
    }),
    approvedByThisServer: t.boolean({
      description: "Whether this server's administrator approved the peer in the current round.",
      resolve: (pair, _args, ctx) => approvedByThisServer(ctx.scope, pair),
    }),
    approvedByPeer: t.boolean({
      description: "Whether the peer's administrator approved this server in the current round.",
      resolve: (pair, _args, ctx) => approvedByPeer(ctx.scope, pair),
    }),
    deniedByThisServer: t.boolean({
      nullable: true,
      description: 'For a DENIED pair, whether this server denied the peer (false: the peer denied this server). Null for any other status.',
      select: pairWithServers,
      resolve: (pair, _args, ctx) => deniedByThisServer(ctx.scope, pair),
    }),
    approvalRequired: t.boolean({
      description:
        "Whether this server's administrator is asked to approve: PENDING, not yet approved here, and the peer is active.",
      select: pairWithServers,
      resolve: (pair, _args, ctx) => approvalRequired(ctx.scope, pair),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the two servers first saw each other.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the state last changed.' }),
  }),
});

export const TrustApprovalRequiredRef = builder.objectRef<PairNotice>('TrustApprovalRequired');

builder.objectType(TrustApprovalRequiredRef, {
  description: "A peer awaits this server's approval: verify its fingerprint and addresses, then approve or deny.",
  fields: (t) => ({
    peerTrust: t.prismaField({
      type: 'PeerTrust',
      description: 'The pair that awaits approval.',
      resolve: (query, notice, _args, ctx) =>
        readOnce(notice, JSON.stringify(query), () => ctx.scope.db.prisma.peerTrust.findUniqueOrThrow({ ...query, where: { id: notice.peerTrustId } })),
    }),
  }),
});
