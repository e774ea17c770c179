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
import { builder } from './builder.js';

export const ErrorInterface = builder.interfaceRef<TrustError>('Error').implement({
  description: 'A problem the caller can act on. Nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'What is wrong and what to do about it.' }),
  }),
});

const implementError = { interfaces: [ErrorInterface] };

builder.objectType(NotFoundError, {
  ...implementError,
  name: 'NotFoundError',
  description: 'The id names nothing.',
  fields: (t) => ({ id: t.exposeString('id', { description: 'The id that was given.' }) }),
});

builder.objectType(InvalidFingerprintError, {
  ...implementError,
  name: 'InvalidFingerprintError',
  description: 'The fingerprint given is not a SHA-256 fingerprint.',
  fields: (t) => ({ input: t.exposeString('input', { description: 'What was given.' }) }),
});

builder.objectType(FingerprintMismatchError, {
  ...implementError,
  name: 'FingerprintMismatchError',
  description: "The verified fingerprint is not the peer's current root key fingerprint. Nothing was recorded.",
  fields: (t) => ({
    expected: t.exposeString('expected', { description: "The peer's current root key fingerprint." }),
    given: t.exposeString('given', { description: 'The fingerprint given, in canonical form.' }),
  }),
});

builder.objectType(TrustDeniedError, {
  ...implementError,
  name: 'TrustDeniedError',
  description: 'Trust with this peer instance was denied, which is final.',
  fields: () => ({}),
});

builder.objectType(SelfTrustError, {
  ...implementError,
  name: 'SelfTrustError',
  description: 'A server cannot approve, deny, revoke or decommission itself.',
  fields: () => ({}),
});

builder.objectType(ServerDecommissionedError, {
  ...implementError,
  name: 'ServerDecommissionedError',
  description: 'A decommissioned server cannot be approved, and its own API no longer changes trust.',
  fields: (t) => ({
    isThisServer: t.exposeBoolean('isThisServer', {
      description: 'True when the server whose API you called is the decommissioned one.',
    }),
  }),
});

builder.objectType(UntrustedDecommissionError, {
  ...implementError,
  name: 'UntrustedDecommissionError',
  description: 'Servers that trust the peer do not trust this server: only a server they trust may take the peer away.',
  fields: (t) => ({ trustedBy: t.exposeStringList('trustedBy', { description: 'The names of the servers that trust the peer but not this server.' }) }),
});

builder.objectType(UnverifiedTrustError, {
  ...implementError,
  name: 'UnverifiedTrustError',
  description: "The pair's stored state is not what the signed Trust History gives: nothing is decided on it.",
  fields: (t) => ({ reason: t.exposeString('reason', { description: 'What differs.' }) }),
});
