import { TrustEventKind } from '../db/generated/prisma/enums.js';
import { builder } from './builder.js';

export const TrustEventKindEnum = builder.enumType(TrustEventKind, {
  name: 'TrustEventKind',
  description: 'What changed.',
  values: {
    TRUST_APPROVED: { description: "One server's administrator approved the peer." },
    TRUST_ENABLED: { description: 'Both servers approved: the pair became TRUSTED.' },
    TRUST_DENIED: { description: "One server's administrator denied the peer: final." },
    TRUST_REVOKED: { description: 'Trust was revoked, by an administrator or by a decommission.' },
    SERVER_DECOMMISSIONED: { description: 'The peer was decommissioned.' },
    KEY_ROTATED: { description: 'A server replaced its root key with one its old key endorsed: fingerprints are the old and the new.' },
    TAMPERING_DETECTED: { description: 'A server found the stored state of the pair not to be what the signed history gives.' },
    TOKEN_ISSUED: { description: 'An API token was issued (or signed by one more server). About no pair.' },
    TOKEN_REVOKED: { description: 'API tokens were revoked. About no pair.' },
    SERVER_REGISTERED: {
      description:
        "A server instance registered its root key, signed with it: a new instance its first key, one registered before registrations were recorded the key it held at its next start. About no pair.",
    },
  },
});

builder.prismaObject('TrustEvent', {
  description: 'One entry of the Trust History: append-only, never changed or deleted.',
  fields: (t) => ({
    id: t.id({ description: 'Stable identifier: the sequence number, as an ID.', resolve: (event) => String(event.sequence) }),
    sequence: t.int({
      description:
        'Position in the Trust History across the cluster: 1, 2, 3... in the order the changes committed, without gaps. Later events have larger numbers.',
      resolve: (event) => Number(event.sequence),
    }),
    kind: t.expose('kind', { type: TrustEventKindEnum, description: 'What changed.' }),
    at: t.expose('at', { type: 'DateTime', description: 'When it changed.' }),
    actor: t.relation('actor', { description: 'The administrator whose action made the change.' }),
    server: t.relation('server', { description: 'The server through whose API the change was made.' }),
    // Lists of events are of this server's pairs: an event about no pair is in none of them.
    peerTrust: t.relation('peerTrust', { description: 'The pair that changed.', onNull: 'error' }),
    fingerprints: t.exposeStringList('fingerprints', {
      description: 'The root key fingerprints the change was made against.',
    }),
  }),
});
