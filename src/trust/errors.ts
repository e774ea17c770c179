// Errors an administrator can act on. The API returns them as data (typed members of
// each mutation's result union); anything else is a bug and is masked.

export class TrustError extends Error {
  override name = 'TrustError';
}

export class NotFoundError extends TrustError {
  override name = 'NotFoundError';
  /** `notAnId`: what was given is not an id at all (a name, say). */
  constructor(readonly what: string, readonly id: string, notAnId = false) {
    super(`no ${what} has the id ${JSON.stringify(id)}${notAnId ? `: ids are UUIDs, such as \`servers\` lists; a name is not one` : ''}`);
  }
}

export class InvalidFingerprintError extends TrustError {
  override name = 'InvalidFingerprintError';
  constructor(readonly input: string) {
    super(
      `${JSON.stringify(input.slice(0, 100))} is not a root key fingerprint: expected 64 hexadecimal characters ` +
        `(SHA-256), optionally separated by ':' or spaces and prefixed with 'SHA256:'`,
    );
  }
}

export class FingerprintMismatchError extends TrustError {
  override name = 'FingerprintMismatchError';
  constructor(readonly peerName: string, readonly expected: string, readonly given: string) {
    // The message does not show the fingerprint this server has: read from this side, it
    // would only invite copying it over, unchecked. (`expected` carries it, for programs.)
    super(
      `the fingerprint you verified (${given}) is not the current root key fingerprint of ${peerName}; nothing was recorded. ` +
        `Read it again on ${peerName} itself (its console, or \`peertrust fingerprint\` there): if that differs from what this server lists, ${peerName} was reinstalled, or another server is using its name.`,
    );
  }
}

export class TrustDeniedError extends TrustError {
  override name = 'TrustDeniedError';
  /** `deniedBy`: who denied, as the verified history says, when it does. */
  constructor(readonly peerName: string, deniedBy?: 'this server' | 'the peer') {
    super(
      deniedBy === 'this server'
        ? `this server denied trust with ${peerName}, which is final for this instance of ${peerName}; a reinstalled ${peerName} appears as a new instance that can be approved`
        : deniedBy === 'the peer'
          ? `${peerName} denied trust with this server, which is final for this instance of this server; reinstalled, this server appears to ${peerName} as a new instance that it can approve`
          : `trust with ${peerName} was denied, which is final for this server instance; a reinstalled server appears as a new instance that can be approved`,
    );
  }
}

export class SelfTrustError extends TrustError {
  override name = 'SelfTrustError';
  constructor() {
    super('a server cannot approve, deny, revoke or decommission itself; do it from the other server');
  }
}

export class ServerDecommissionedError extends TrustError {
  override name = 'ServerDecommissionedError';
  constructor(readonly serverName: string, readonly isThisServer: boolean, neverPeer = false) {
    super(
      isThisServer
        ? `this server (${serverName}) is decommissioned: it no longer approves, denies, revokes or decommissions; use another server of the cluster`
        : neverPeer
          ? `${serverName} was decommissioned before this server registered: it was never a peer of this server, and there is no trust with it to decide`
          : `${serverName} is decommissioned and cannot be approved; it can still be denied`,
    );
  }
}

export class UntrustedDecommissionError extends TrustError {
  override name = 'UntrustedDecommissionError';
  constructor(readonly serverName: string, readonly trustedBy: string[]) {
    const servers = trustedBy.join(', ');
    super(
      `${servers} ${trustedBy.length > 1 ? 'trust' : 'trusts'} ${serverName} but not this server, and would not believe this server taking ${serverName} away; nothing was recorded. ` +
        (trustedBy.length > 1
          ? `Decommission ${serverName} from a server they all trust, or revoke ${serverName} on each of them first.`
          : `Decommission ${serverName} from ${servers} (or a server it trusts), or revoke ${serverName} on ${servers} first.`),
    );
  }
}

export class UnverifiedTrustError extends TrustError {
  override name = 'UnverifiedTrustError';
  constructor(readonly peerName: string, readonly reason: string) {
    super(
      `the stored trust with ${peerName} does not match the signed Trust History (${reason}); nothing was recorded. ` +
        'The database was changed outside peertrust: see the README, "Threat model"',
    );
  }
}
