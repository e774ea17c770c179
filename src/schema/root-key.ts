import { builder } from './builder.js';

builder.prismaObject('RootKey', {
  description:
    "A server's Ed25519 root public key. The private key never leaves the server's data directory and is never served.",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier.' }),
    algorithm: t.exposeString('algorithm', { description: 'The key algorithm: Ed25519.' }),
    publicKey: t.exposeString('publicKey', { description: 'The public key as a PEM SubjectPublicKeyInfo.' }),
    fingerprint: t.exposeString('fingerprint', {
      description: 'SHA-256 of the DER SubjectPublicKeyInfo, 64 lowercase hex characters: compare it with the server.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the server created this key.' }),
    retiredAt: t.expose('retiredAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When a rotation replaced it (its successor is endorsed by it); null for the current key.',
    }),
  }),
});
