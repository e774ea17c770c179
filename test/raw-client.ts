// GraphQL over HTTP and graphql-ws spoken by hand, as an attacker or a careless client
// would: every status, message and close code visible, nothing retried, and from any
// loopback address (127.0.0.2, ...), since limits per address tell clients apart by it.
import { request, type Agent } from 'node:http';
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** POSTs `body` as JSON (a string is sent as it is) and reads the whole answer. */
export function rawPost(
  url: string,
  body: unknown,
  options: { headers?: Record<string, string>; localAddress?: string; agent?: Agent } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sending = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.agent ? { agent: options.agent } : {}),
    });
    sending.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    sending.on('error', reject);
    sending.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

export interface Closed {
  code: number;
  reason: string;
}

export interface ServerMessage {
  id?: string;
  type: string;
  payload?: unknown;
}

export interface RawSocket {
  readonly ws: WebSocket;
  readonly closed: Promise<Closed>;
  /** Sends connection_init; resolves with 'ack', or with how the server closed the connection. */
  init(payload?: Record<string, unknown>): Promise<'ack' | Closed>;
  send(message: Record<string, unknown>): void;
  subscribe(id: string, query: string, variables?: Record<string, unknown>): void;
  /** The next message (from now on, or already received and not yet taken) that `matches`. */
  next(matches: (message: ServerMessage) => boolean, timeoutMs?: number): Promise<ServerMessage>;
}

/** Opens a graphql-transport-ws connection to `url` (http:// or https://); closed when the test ends. */
export async function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<RawSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', options);
  onTestFinished(() => ws.terminate());
  const received: ServerMessage[] = [];
  const waiting = new Set<() => void>();
  ws.on('message', (data) => {
    received.push(JSON.parse(String(data)) as ServerMessage);
    for (const wake of waiting) wake();
  });
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
  });
  const send = (message: Record<string, unknown>) => ws.send(JSON.stringify(message));
  const next = (matches: (message: ServerMessage) => boolean, timeoutMs = 10_000) =>
    new Promise<ServerMessage>((resolve, reject) => {
      const look = () => {
        const index = received.findIndex(matches);
        if (index < 0) return false;
        const [message] = received.splice(index, 1);
        waiting.delete(look);
        clearTimeout(timer);
        resolve(message!);
        return true;
      };
      const timer = setTimeout(() => {
        waiting.delete(look);
        reject(new Error(`no matching message within ${timeoutMs} ms; received ${JSON.stringify(received)}`));
      }, timeoutMs);
      if (!look()) waiting.add(look);
    });
  return {
    ws,
    closed,
    init: (payload = {}) => {
      send({ type: 'connection_init', payload });
      return Promise.race([next((m) => m.type === 'connection_ack').then(() => 'ack' as const), closed]);
    },
    send,
    subscribe: (id, query, variables) => send({ id, type: 'subscribe', payload: { query, ...(variables ? { variables } : {}) } }),
    next,
  };
}
