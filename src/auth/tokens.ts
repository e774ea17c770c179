// Users and their bearer tokens. A token is 32 random bytes shown once; only its
// SHA-256 is stored, so a copy of the database cannot be used to call the API.
//
// A token's record is a statement (the token's hash, the user, the role) signed by the
// root keys of the servers that issued it. A server believes a token only when one of
// those signatures is by a key it trusts (its own, or a verified trusted peer's): a
// row written into the database by someone without a server's key is not a token.
// Issuing and revoking are entries of the Trust History; a server that has seen a
// revoke there keeps it, even if the database later forgets it.
import { createHash, randomBytes } from 'node:crypto';
import type { Database, PrismaClient, Role, User } from '../db/client.js';
import type { TransactionClient } from '../db/client.js';
import { fingerprintOf } from '../identity/fingerprint.js';
import type { RootKeyPair } from '../identity/root-key.js';
import { canonical, readStatement, signStatement, TokenRevocationStatement, TokenStatement, verifyStatement } from '../identity/statements.js';
import { OperatorError } from '../operator-error.js';
import { appendClauses, AUTOMATIC_ACTOR, reserve } from '../trust/history.js';
import { inTransaction } from '../trust/transaction.js';

const TOKEN_PREFIX = 'ptk_';
/** Letters, digits and a few marks: a name that reads the same everywhere it is shown. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class UserRoleConflictError extends OperatorError {}
export class TokenIssuerError extends OperatorError {}

/** A server key that signs: the server's id, and the key it holds. */
export interface TokenSigner {
  serverId: string;
  key: RootKeyPair;
}

interface StoredSignature {
  server: string;
  fingerprint: string;
  signature: string;
}

/** The registered servers whose keys are these; keys of servers never registered are left out. */
export async function tokenSigners(prisma: PrismaClient, keys: RootKeyPair[]): Promise<TokenSigner[]> {
  const rows = await prisma.rootKey.findMany({ where: { fingerprint: { in: keys.map((k) => k.fingerprint) } }, select: { serverId: true, fingerprint: true } });
  return keys.flatMap((key) => {
    const row = rows.find((r) => r.fingerprint === key.fingerprint);
    return row ? [{ serverId: row.serverId, key }] : [];
  });
}

/**
 * Refuses keys rotated away (a copy of a data directory from before a rotation, say): no
 * server takes what they sign after their rotation. Read after the history's turn is
 * taken, so a rotation that committed first is seen.
 */
async function refuseRetired(tx: TransactionClient, fingerprints: string[]): Promise<void> {
  const [retired] = await tx.$queryRaw<{ fingerprint: string }[]>`
    SELECT "fingerprint" FROM "RootKey" WHERE "fingerprint" = ANY(${fingerprints}::text[]) AND "retiredAt" IS NOT NULL LIMIT 1`;
  if (retired) {
    throw new TokenIssuerError(`the root key ${retired.fingerprint} was rotated away: no server takes a token it signs now. Use the server's data directory as it is now`);
  }
}

/**
 * Creates a token for the user of this name (created if new), signed by `signers`, and
 * records its issue in the Trust History. Returns the token: it is not stored.
 */
export async function createApiToken(db: Database, input: { userName: string; role: Role }, signers: TokenSigner[]) {
  if (!USER_NAME.test(input.userName)) {
    throw new UserRoleConflictError(`the user name ${JSON.stringify(input.userName)} must be 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`);
  }
  if (!signers.length) throw new TokenIssuerError('no server key to sign the token with: start the server once, so that its key is registered');
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const tokenHash = hashToken(token);
  const user = await inTransaction(db, async (tx, afterCommit) => {
    const user = await tx.user.upsert({ where: { name: input.userName }, create: { name: input.userName, role: input.role }, update: {} });
    if (user.role !== input.role) {
      throw new UserRoleConflictError(`the user ${user.name} already exists with the role ${user.role}, not ${input.role}`);
    }
    const reservation = await reserve(tx, 1);
    await refuseRetired(tx, signers.map(({ key }) => key.fingerprint));
    const statement = canonical(TokenStatement, {
      type: 'peertrust/token/v1',
      token: tokenHash,
      user: { id: user.id, name: user.name },
      role: user.role,
      time: reservation.at.toISOString(),
    });
    const signatures: StoredSignature[] = signers.map(({ serverId, key }) => ({ server: serverId, fingerprint: key.fingerprint, signature: signStatement(statement, key.privateKey) }));
    const [first] = signers;
    const appended = await appendClauses(db, tx, afterCommit, reservation, [{
      kind: 'TOKEN_ISSUED',
      pair: null,
      serverId: first!.serverId,
      actorId: AUTOMATIC_ACTOR,
      fingerprints: signatures.map((s) => s.fingerprint),
      statement,
      signatures: signatures.map(({ fingerprint, signature }) => ({ fingerprint, signature })),
    }], first!);
    await tx.$executeRaw`
      WITH ${appended}
      INSERT INTO "ApiToken" ("id", "userId", "tokenHash", "createdAt", "statement", "signatures")
      VALUES (gen_random_uuid(), ${user.id}::uuid, ${tokenHash}, ${reservation.at}::timestamptz, ${statement}, ${JSON.stringify(signatures)}::jsonb)`;
    return user;
  });
  return { token, user };
}

/**
 * Adds `signer`'s signature to every active token of a user, so that its server (and
 * servers that trust it) accept them too; recorded in the Trust History. Returns how many.
 */
export async function signApiTokens(db: Database, userName: string, signer: TokenSigner): Promise<number> {
  return inTransaction(db, async (tx, afterCommit) => {
    const tokens = await tx.$queryRaw<{ tokenHash: string; statement: string | null; signatures: StoredSignature[] | null }[]>`
      SELECT t."tokenHash", t."statement", t."signatures" FROM "ApiToken" t JOIN "User" u ON u."id" = t."userId"
      WHERE u."name" = ${userName} AND t."revokedAt" IS NULL AND t."statement" IS NOT NULL FOR UPDATE OF t`;
    const unsigned = tokens.filter((t) => !(t.signatures ?? []).some((s) => s.fingerprint === signer.key.fingerprint));
    if (!unsigned.length) return 0;
    const reservation = await reserve(tx, unsigned.length);
    await refuseRetired(tx, [signer.key.fingerprint]);
    const signed = unsigned.map((t) => ({
      ...t,
      signature: { server: signer.serverId, fingerprint: signer.key.fingerprint, signature: signStatement(t.statement!, signer.key.privateKey) },
    }));
    const appended = await appendClauses(db, tx, afterCommit, reservation, signed.map((t) => ({
      kind: 'TOKEN_ISSUED' as const,
      pair: null,
      serverId: signer.serverId,
      actorId: AUTOMATIC_ACTOR,
      fingerprints: [signer.key.fingerprint],
      statement: t.statement!,
      signatures: [{ fingerprint: t.signature.fingerprint, signature: t.signature.signature }],
    })), signer);
    return tx.$executeRaw`
      WITH ${appended}
      UPDATE "ApiToken" a SET "signatures" = coalesce(a."signatures", '[]'::jsonb) || jsonb_build_array(s."signature")
      FROM jsonb_to_recordset(${JSON.stringify(signed.map((t) => ({ tokenHash: t.tokenHash, signature: t.signature })))}::jsonb)
        AS s("tokenHash" text, "signature" jsonb)
      WHERE a."tokenHash" = s."tokenHash"`;
  });
}

/** A signed-in user, and the hash of the token that says so: what ends with that token. */
export interface UserAuthentication {
  kind: 'user';
  user: User;
  tokenHash: string;
}

/** `malformed`: no token could be read from what was sent. */
export type Authentication = { kind: 'anonymous' } | { kind: 'invalid'; reason: string; malformed?: true } | UserAuthentication;

/**
 * Why a request is not signed in, for its client: what is wrong with the token it sent,
 * or, when it sent none it could read, that and `howToSend`.
 */
export function authenticationProblem(auth: Exclude<Authentication, UserAuthentication>, howToSend: string): string {
  if (auth.kind === 'invalid' && !auth.malformed) return auth.reason;
  return `${auth.kind === 'invalid' ? auth.reason : 'authentication required'}: ${howToSend}`;
}

/** What a server believes of token issuers and revokes: its verified history (src/trust/ledger.ts). */
export interface TokenTrust {
  /** Whether `serverId`'s key `fingerprint` may issue a token with this signed `statement` (a key rotated away issues no new one). */
  acceptsIssuer(serverId: string, fingerprint: string, statement: string): boolean;
  isRevoked(tokenHash: string): boolean;
}

/** The token of an `Authorization: Bearer <token>` value; undefined without one or in another form. */
export function bearerToken(authorization: unknown): string | undefined {
  return typeof authorization === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
}

const NOT_VALID = { kind: 'invalid', reason: 'the token is not valid' } as const;

/** Who sent a request, from its `Authorization: Bearer <token>` value, as `trust` believes it. */
export async function authenticate(prisma: PrismaClient, authorization: unknown, trust: TokenTrust): Promise<Authentication> {
  if (authorization === undefined || authorization === null || authorization === '') return { kind: 'anonymous' };
  const token = bearerToken(authorization);
  if (!token) return { kind: 'invalid', reason: 'the authorization must be "Bearer <token>"', malformed: true };
  const found = await storedToken(prisma, hashToken(token));
  return found ? believed(prisma, found, trust) : NOT_VALID;
}

type StoredToken = Awaited<ReturnType<typeof readTokens>>[number];
const readTokens = (prisma: PrismaClient, tokenHashes: string[]) => prisma.apiToken.findMany({ where: { tokenHash: { in: tokenHashes } }, include: { user: true } });

/** Per client: the token hashes asked for in this turn of the event loop, and who waits for each. */
const tokenReads = new WeakMap<PrismaClient, Map<string, { resolve(row: StoredToken | undefined): void; reject(error: unknown): void }[]>>();

/**
 * A token's row, read for this request: requests that arrive together (in one turn of
 * the event loop, after it read what the sockets had) share one query, as many clients
 * at once do. Each read starts after its request arrived, so a revoke committed before
 * is always seen.
 */
function storedToken(prisma: PrismaClient, tokenHash: string): Promise<StoredToken | undefined> {
  let waiting = tokenReads.get(prisma);
  if (!waiting) {
    const batch = (waiting = new Map());
    tokenReads.set(prisma, batch);
    setImmediate(() => {
      tokenReads.delete(prisma);
      readTokens(prisma, [...batch.keys()]).then(
        (rows) => {
          const byHash = new Map(rows.map((row) => [row.tokenHash, row]));
          for (const [hash, waiters] of batch) for (const waiter of waiters) waiter.resolve(byHash.get(hash));
        },
        (error: unknown) => {
          for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
        },
      );
    });
  }
  let waiters = waiting.get(tokenHash);
  if (!waiters) waiting.set(tokenHash, (waiters = []));
  const forThisHash = waiters;
  return new Promise((resolve, reject) => forThisHash.push({ resolve, reject }));
}

/**
 * What each of these tokens (by hash) is now, as `trust` believes it: for what a token
 * holds open, which must end when a request with it would be refused.
 */
export async function authenticateAgain(prisma: PrismaClient, tokenHashes: string[], trust: TokenTrust): Promise<Map<string, Authentication>> {
  const rows = await readTokens(prisma, tokenHashes);
  const now = new Map<string, Authentication>(tokenHashes.map((tokenHash) => [tokenHash, NOT_VALID]));
  for (const row of rows) now.set(row.tokenHash, await believed(prisma, row, trust));
  return now;
}

type TokenRow = { tokenHash: string; revokedAt: Date | null; statement: string | null; signatures: unknown; user: User };

/** Who a stored token says its holder is, if `trust` believes it: not revoked, and signed by an issuer it trusts. */
async function believed(prisma: PrismaClient, found: TokenRow, trust: TokenTrust): Promise<Authentication> {
  const { tokenHash } = found;
  // Whoever sends it holds it: saying it was revoked tells them nothing new, and what to do.
  if (found.revokedAt || trust.isRevoked(tokenHash)) return { kind: 'invalid', reason: 'the token was revoked: use a current one' };
  if (!found.statement) return { kind: 'invalid', reason: 'the token was issued before tokens were signed: issue a new one with `peertrust token create`' };
  const signedBy = await signedIssuers(prisma, found);
  if (!signedBy.some((signature) => trust.acceptsIssuer(signature.server, signature.fingerprint, found.statement!))) {
    return {
      kind: 'invalid',
      reason: `the token was not issued by this server or by a server it trusts (a new server's key signs the tokens it should take: \`peertrust token sign --name ${found.user.name} --data-dir <its data directory>\`)`,
    };
  }
  return { kind: 'user', user: found.user, tokenHash };
}

/**
 * The issuers whose signatures of a token's record verify, when the record says what the
 * row says (token, user, role); none otherwise.
 */
async function signedIssuers(
  prisma: PrismaClient,
  row: { tokenHash: string; statement: string | null; signatures: unknown; user: User },
): Promise<StoredSignature[]> {
  const statement = row.statement ? readStatement(TokenStatement, row.statement) : undefined;
  if (!statement || statement.token !== row.tokenHash || statement.user.id !== row.user.id || statement.user.name !== row.user.name || statement.role !== row.user.role) {
    return [];
  }
  const signatures = Array.isArray(row.signatures) ? (row.signatures as StoredSignature[]) : [];
  const recordOf = (signature: StoredSignature) => JSON.stringify([String(signature.fingerprint), signature.signature, row.statement]);
  const unverified = signatures.filter((signature) => !verifiedRecords.has(recordOf(signature)));
  const keys = unverified.length
    ? await prisma.rootKey.findMany({ where: { fingerprint: { in: unverified.map((s) => String(s.fingerprint)) } }, select: { fingerprint: true, publicKey: true } })
    : [];
  return signatures.filter((signature) => {
    if (verifiedRecords.has(recordOf(signature))) return true;
    const key = keys.find((k) => k.fingerprint === signature.fingerprint);
    if (!key || fingerprintOf(key.publicKey) !== signature.fingerprint || !verifyStatement(row.statement!, signature.signature, key.publicKey)) return false;
    if (verifiedRecords.size >= 10_000) verifiedRecords.clear();
    verifiedRecords.add(recordOf(signature));
    return true;
  });
}

/**
 * Token records whose signature verified, by the signing key's fingerprint: a signature
 * that held once holds for good (the fingerprint names one key), and every request
 * presents one, so neither the key nor the signature is read or checked again.
 */
const verifiedRecords = new Set<string>();

/** Whether a server that believes `trust` takes `token` as an administrator's (its own keys, retired ones too): for a command that keeps one. */
export async function acceptsAsAdministrator(prisma: PrismaClient, token: string, trust: TokenTrust): Promise<boolean> {
  const auth = await authenticate(prisma, `Bearer ${token}`, trust);
  return auth.kind === 'user' && auth.user.role === 'ADMINISTRATOR';
}

/** Whether `token` is still a token these keys signed, and not revoked: for a command that keeps one. */
export async function stillIssued(prisma: PrismaClient, token: string, keys: RootKeyPair[]): Promise<boolean> {
  const found = await prisma.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!found || found.revokedAt || found.user.role !== 'ADMINISTRATOR') return false;
  const signed = await signedIssuers(prisma, found);
  return keys.every((key) => signed.some((s) => s.fingerprint === key.fingerprint));
}

/**
 * Revokes every active token of a user (or only `onlyToken`, if it is one), at the
 * database's time, and records the revoke in the Trust History, signed by `signer`;
 * returns how many. The user stays, with its history.
 */
export async function revokeApiTokens(db: Database, userName: string, signer: TokenSigner, onlyToken?: string): Promise<number> {
  const onlyHash = onlyToken === undefined ? null : hashToken(onlyToken);
  return inTransaction(db, async (tx: TransactionClient, afterCommit) => {
    const tokens = await tx.$queryRaw<{ tokenHash: string; userId: string }[]>`
      SELECT t."tokenHash", t."userId" FROM "ApiToken" t JOIN "User" u ON u."id" = t."userId"
      WHERE u."name" = ${userName} AND t."revokedAt" IS NULL AND (${onlyHash}::text IS NULL OR t."tokenHash" = ${onlyHash}::text)
      FOR UPDATE OF t`;
    if (!tokens.length) return 0;
    const reservation = await reserve(tx, 1);
    const statement = canonical(TokenRevocationStatement, {
      type: 'peertrust/token-revocation/v1',
      tokens: tokens.map((t) => t.tokenHash),
      user: { id: tokens[0]!.userId, name: userName },
      revoker: { server: signer.serverId, fingerprint: signer.key.fingerprint },
      time: reservation.at.toISOString(),
      sequence: Number(reservation.first),
    });
    const signature = signStatement(statement, signer.key.privateKey);
    const appended = await appendClauses(db, tx, afterCommit, reservation, [{
      kind: 'TOKEN_REVOKED',
      pair: null,
      serverId: signer.serverId,
      actorId: AUTOMATIC_ACTOR,
      fingerprints: [signer.key.fingerprint],
      statement,
      signatures: [{ fingerprint: signer.key.fingerprint, signature }],
    }], signer);
    return tx.$executeRaw`
      WITH ${appended}
      UPDATE "ApiToken" SET "revokedAt" = ${reservation.at}::timestamptz
      WHERE "tokenHash" = ANY(${tokens.map((t) => t.tokenHash)}::text[])`;
  });
}

/** Every token's owner and dates, newest first; never the token, which is not stored. */
export function listApiTokens(prisma: PrismaClient) {
  return prisma.apiToken.findMany({
    orderBy: { createdAt: 'desc' },
    take: 1000,
    select: { id: true, createdAt: true, revokedAt: true, user: { select: { name: true, role: true } } },
  });
}

