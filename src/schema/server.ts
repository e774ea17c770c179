import { livenessFields, MISSED_HEARTBEATS_OFFLINE } from '../trust/liveness.js';
import { currentRootKey } from '../trust/servers.js';
import { builder } from './builder.js';

export const ServerStatusEnum = builder.enumType('ServerStatus', {
  description: 'Whether a server instance takes part in the cluster and is alive.',
  values: {
    ONLINE: { description: 'Taking part, and heartbeating; its trust can be approved.' },
    OFFLINE: {
      description: `Taking part, but stopped cleanly, or it missed ${MISSED_HEARTBEATS_OFFLINE} heartbeats in a row (crashed, frozen or cut off from the database).`,
    },
    DECOMMISSIONED: { description: 'Taken out of the cluster: its trusts were revoked and it cannot be approved again.' },
  } as const,
});

export const ServerRef = builder.prismaObject('Server', {
  description:
    'One installed server instance of the cluster. Reinstalling a server makes a new instance with a new id and root key.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier of this server instance.' }),
    name: t.exposeString('name', { description: 'The name the server was started with.' }),
    addresses: t.exposeStringList('addresses', { description: 'The IP addresses the server reported: verify them.' }),
    fingerprint: t.string({
      description:
        "The current root key's SHA-256 fingerprint: verify it before approving trust. For the server whose API you call, the key it holds, whatever the database says.",
      select: { rootKeys: currentRootKey },
      resolve: (server, _args, ctx) =>
        server.id === ctx.scope.serverId ? ctx.scope.identity.key.fingerprint : (server.rootKeys[0]?.fingerprint ?? ''),
    }),
    possibleReplacementOf: t.relation('possibleReplacementOf', {
      nullable: true,
      description:
        'An active server that had this instance\'s name, or one of its addresses while not running, when it registered with a new key that server did not endorse: this instance may replace it, or impersonate it. Check before approving.',
    }),
    rootKeys: t.relation('rootKeys', {
      description: "The server's root public keys, newest first.",
      query: { orderBy: { createdAt: 'desc' } },
    }),
    status: t.field({
      type: ServerStatusEnum,
      description: 'Whether the server takes part in the cluster, and whether it is alive as this server sees it.',
      select: livenessFields,
      resolve: (server, _args, ctx) => ctx.liveness.statusOf(server),
    }),
    registeredAt: t.expose('registeredAt', { type: 'DateTime', description: 'When the instance first registered.' }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', description: 'The last heartbeat of the server.' }),
    isThisServer: t.boolean({
      description: 'Whether this is the server whose API you are calling.',
      resolve: (server, _args, ctx) => server.id === ctx.scope.serverId,
    }),
  }),
});
