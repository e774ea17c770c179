// Users and their bearer tokens. A token is 32 random bytes shown once; only its
// SHA-256 is stored, so a copy of the database cannot be used to call the API.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient, Role, User } from '../db/client.js';
import { OperatorError } from '../operator-error.js';

const TOKEN_PREFIX = 'ptk_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class UserRoleConflictError extends OperatorError {}

/** Creates a token for the user of this name, creating the user if new. Returns the token: it is not stored. */
export async function createApiToken(prisma: PrismaClient, input: { userName: string; role: Role }) {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const user = await prisma.user.upsert({
    where: { name: input.userName },
    create: { name: input.userName, role: input.role },
    update: {},
  });
  if (user.role !== input.role) {
    throw new UserRoleConflictError(`the user ${user.name} already exists with the role ${user.role}, not ${input.role}`);
  }
  await prisma.apiToken.create({ data: { userId: user.id, tokenHash: hashToken(token) } });
  return { token, user };
}

/** A signed-in user, and the hash of the token that says so: what ends with that token. */
export interface UserAuthentication {
  kind: 'user';
  user: User;
  tokenHash: string;
}

export type Authentication = { kind: 'anonymous' } | { kind: 'invalid'; reason: string } | UserAuthentication;

/** The token of an `Authorization: Bearer <token>` value; undefined without one or in another form. */
export function bearerToken(authorization: unknown): string | undefined {
  return typeof authorization === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
}

/** Who sent a request, from its `Authorization: Bearer <token>` value. */
export async function authenticate(prisma: PrismaClient, authorization: unknown): Promise<Authentication> {
  if (authorization === undefined || authorization === null || authorization === '') return { kind: 'anonymous' };
  const token = bearerToken(authorization);
  if (!token) return { kind: 'invalid', reason: 'the authorization must be "Bearer <token>"' };
  const tokenHash = hashToken(token);
  const found = await prisma.apiToken.findUnique({ where: { tokenHash }, include: { user: true } });
  if (!found || found.revokedAt) return { kind: 'invalid', reason: 'the token is not valid' };
  return { kind: 'user', user: found.user, tokenHash };
}

/** Revokes every active token of a user, at the database's time; returns how many. The user stays, with its history. */
export async function revokeApiTokens(prisma: PrismaClient, userName: string): Promise<number> {
  return prisma.$executeRaw`
    UPDATE "ApiToken" SET "revokedAt" = now()
    WHERE "revokedAt" IS NULL AND "userId" IN (SELECT "id" FROM "User" WHERE "name" = ${userName})`;
}

/** Every token's owner and dates, newest first; never the token, which is not stored. */
export function listApiTokens(prisma: PrismaClient) {
  return prisma.apiToken.findMany({
    orderBy: { createdAt: 'desc' },
    take: 1000,
    select: { id: true, createdAt: true, revokedAt: true, user: { select: { name: true, role: true } } },
  });
}
