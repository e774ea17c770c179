// How a trust command reaches one server's API: the URL and token from the command
// line and the environment, the typed client, and each answer turned into its data or
// into a CliError with the exit code it means.
import type { AnyVariables, CombinedError, TypedDocumentNode } from '@urql/core';
import { CloseCode } from 'graphql-ws';
import { z } from 'zod';
import { createPeertrustClient, type PeertrustClient } from '../../client/index.js';
import { CliError, ExitCode } from './errors.js';

const ApiUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:4000/graphql' })
  // A credential in a flag shows in `ps` and in shell history.
  // zod runs this even when the URL is not one (already reported above).
  .refine((url) => !URL.canParse(url) || (!new URL(url).username && !new URL(url).password), 'must not carry a user or password: put the token in PEERTRUST_TOKEN')
  // The server's origin is enough: the API is at /graphql.
  .transform((url) => {
    const parsed = new URL(url);
    if (parsed.pathname === '/') parsed.pathname = '/graphql';
    return parsed.toString();
  });

/** Codes of a server that cannot serve now: another try, or another server, may do. */
const UNAVAILABLE_CODES = new Set(['DATABASE_UNAVAILABLE', 'SERVER_BUSY', 'STORAGE_FULL', 'RATE_LIMITED']);

/** Why a TLS connection to a server failed (Node's error code: mostly its certificate refused), and what to do: no retry mends any. */
const UNTRUSTED = 'its TLS certificate is not one this machine trusts (replaced?); check it, then trust its CA with NODE_EXTRA_CA_CERTS';
const TLS_REFUSED: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  CERT_HAS_EXPIRED: 'its TLS certificate has expired: the server needs a new one',
  CERT_NOT_YET_VALID: "its TLS certificate is not valid yet: check this machine's clock and the server's",
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for other names: use a URL with a name or address the certificate has',
  // Not a certificate: no TLS at all there.
  ERR_SSL_WRONG_VERSION_NUMBER: 'it does not speak TLS there: use an http:// URL (or start the server with --tls-cert and --tls-key)',
};
const tlsRefusal = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && Object.hasOwn(TLS_REFUSED, code) ? TLS_REFUSED[code] : undefined;
};

/** A Relay connection page, as every list of the API answers. */
export interface Page<Node> {
  edges: { node: Node }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** The API's union results: the success type, or an error type with a message (and fields of its own). */
type UnionResult = { __typename: string; message?: string };

export class Api {
  readonly url: string;
  readonly #client: PeertrustClient;

  constructor(url: string, token: string) {
    this.url = url;
    this.#client = createPeertrustClient({ url, token });
  }

  async query<Data, Variables extends AnyVariables>(document: TypedDocumentNode<Data, Variables>, variables: Variables): Promise<Data> {
    return this.#dataOf(await this.#client.urql.query(document, variables).toPromise());
  }

  async mutate<Data, Variables extends AnyVariables>(document: TypedDocumentNode<Data, Variables>, variables: Variables): Promise<Data> {
    return this.#dataOf(await this.#client.urql.mutation(document, variables).toPromise());
  }

  /** Every item of a list, page after page (the API gives at most 200 at once). */
  async all<Node>(page: (after: string | null) => Promise<Page<Node>>): Promise<Node[]> {
    const nodes: Node[] = [];
    for (let after: string | null = null, more = true; more; ) {
      const { edges, pageInfo } = await page(after);
      nodes.push(...edges.map((edge) => edge.node));
      ({ hasNextPage: more, endCursor: after } = pageInfo);
    }
    return nodes;
  }

  /** Delivers each result until unsubscribed; a failure ends it with `onFailure`. */
  subscribe<Data, Variables extends AnyVariables>(
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
    onData: (data: Data) => void,
    onFailure: (error: CliError) => void,
  ): () => void {
    const { unsubscribe } = this.#client.urql.subscription(document, variables).subscribe((result) => {
      if (result.error) {
        unsubscribe();
        onFailure(this.#failure(result.error));
      } else if (result.data) onData(result.data);
    });
    return unsubscribe;
  }

  /** Called when the live connection drops and when it is back (the client reconnects by itself). */
  onConnection(lost: () => void, back: () => void): void {
    this.#client.ws.on('closed', (event) => {
      // 1000: the client's own close, not a lost server.
      if ((event as { code?: number }).code !== 1000) lost();
    });
    this.#client.ws.on('connected', back);
  }

  /**
   * A live connection that reconnecting cannot mend: the server's TLS certificate is not
   * one this machine trusts (it was replaced, or expired, while the connection was up).
   */
  onCertificateRefused(refused: (error: CliError) => void): void {
    this.#client.ws.on('error', (event) => {
      const error = (event as { error?: unknown }).error;
      if (error instanceof Error && tlsRefusal(error)) refused(this.#unreachable(error));
    });
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  #dataOf<Data>(result: { data?: Data | undefined; error?: CombinedError | undefined }): Data {
    if (result.error) throw this.#failure(result.error);
    if (!result.data) throw new CliError(`${this.url} answered without data`, ExitCode.unavailable, 'NO_DATA');
    return result.data;
  }

  #unreachable(cause: Error): CliError {
    const hint = tlsRefusal(cause);
    return new CliError(`cannot reach ${this.url}: ${cause.message}${hint ? `: ${hint}` : ''}`, ExitCode.unavailable, 'UNREACHABLE');
  }

  #failure(error: CombinedError): CliError {
    // A subscription's WebSocket closed by the server: its close event, with the reason.
    const closed = error.networkError as { code?: unknown; reason?: unknown } | undefined;
    if (typeof closed?.code === 'number') {
      const reason = String(closed.reason || `code ${closed.code}`);
      if (closed.code === CloseCode.Forbidden) return new CliError(`the server refused PEERTRUST_TOKEN: ${reason}`, ExitCode.permission, 'UNAUTHENTICATED');
      return new CliError(`${this.url} closed the connection: ${reason}`, ExitCode.unavailable, 'UNREACHABLE');
    }
    if (error.networkError) {
      const status = (error.response as Response | undefined)?.status;
      return status
        ? new CliError(`${this.url} answered HTTP ${status}, not GraphQL: is it a peertrust server's /graphql?`, ExitCode.unavailable, 'UNREACHABLE')
        : this.#unreachable(error.networkError.cause instanceof Error ? error.networkError.cause : error.networkError);
    }
    const first = error.graphQLErrors[0];
    const code = String(first?.extensions['code'] ?? 'GRAPHQL_ERROR');
    const message = first?.message ?? error.message;
    if (code === 'UNAUTHENTICATED') return new CliError(`the server refused PEERTRUST_TOKEN: ${message}`, ExitCode.permission, code);
    if (code === 'FORBIDDEN') return new CliError(message, ExitCode.permission, code);
    if (UNAVAILABLE_CODES.has(code)) return new CliError(message, ExitCode.unavailable, code);
    return new CliError(message, ExitCode.refused, code);
  }
}

/**
 * The result of a mutation when it is `success`; its typed error (FingerprintMismatchError,
 * TrustDeniedError, ...) as a CliError with the API's message and fields.
 */
export function succeeded<Result extends UnionResult, Success extends Result['__typename']>(
  result: Result,
  success: Success,
): Extract<Result, { __typename: Success }> {
  if (result.__typename === success) return result as Extract<Result, { __typename: Success }>;
  const { __typename: type, message = type, ...fields } = result;
  throw new CliError(message, ExitCode.refused, type, fields);
}

/**
 * The server to talk to (`urlFrom` says where its URL came from, for the error) and the
 * token: from PEERTRUST_TOKEN only, since a flag would show in `ps`.
 */
export function connect(url: string, urlFrom: string, env: NodeJS.ProcessEnv = process.env): Api {
  const endpoint = ApiUrl.safeParse(url);
  if (!endpoint.success) throw new CliError(`${urlFrom} ${JSON.stringify(url)} ${endpoint.error.issues[0]?.message}`, ExitCode.usage, 'USAGE');
  const token = env['PEERTRUST_TOKEN']?.trim();
  if (!token) {
    throw new CliError(
      'PEERTRUST_TOKEN is not set: export a token from `peertrust token create --name NAME --role ADMINISTRATOR` (READ_ONLY to only read)',
      ExitCode.usage,
      'USAGE',
    );
  }
  // The client sends "Bearer <token>" itself: a token pasted with it, or with spaces, is not one.
  if (/\s/.test(token)) {
    throw new CliError('PEERTRUST_TOKEN must be the token alone (ptk_...), without "Bearer " or spaces', ExitCode.usage, 'USAGE');
  }
  return new Api(endpoint.data, token);
}
