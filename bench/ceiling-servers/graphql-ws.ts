// The graphql-ws ceilings (memory per subscription, fan-out): graphql-ws's useServer on ws
// with one subscription, `tick`, each one listener on an EventEmitter and a queue. Every
// message on the /control connection is sent to every subscriber as a tick. GET
// /subscriptions says how many have started, so the bench knows when all are live.
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const ticks = new EventEmitter();
ticks.setMaxListeners(0);
let started = 0;

// As little as graphql-ws needs of an iterator. node:events' on() preallocates two
// 2,048-slot queues (about 32 KB on Node 20), which would count as the stack's own cost
// of a subscription; a generator around once() adds and removes a listener per tick,
// which over n subscribers costs O(n²) a broadcast.
function tick(): AsyncIterableIterator<string> {
  started++;
  const queued: string[] = [];
  const waiting: ((result: IteratorResult<string>) => void)[] = [];
  const listener = (value: string) => {
    const reader = waiting.shift();
    if (reader) reader({ value, done: false });
    else queued.push(value);
  };
  ticks.on('tick', listener);
  return {
    next: () => (queued.length ? Promise.resolve({ value: queued.shift()!, done: false }) : new Promise((resolve) => waiting.push(resolve))),
    return: () => {
      ticks.off('tick', listener);
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'world' } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: { tick: { type: GraphQLString, subscribe: tick, resolve: (value: string) => value } },
  }),
});

const httpServer = createServer((request, response) => {
  if (request.url !== '/subscriptions') return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ started }));
});
const graphqlWs = new WebSocketServer({ noServer: true });
const control = new WebSocketServer({ noServer: true });
control.on('connection', (socket) => socket.on('message', (value) => ticks.emit('tick', value.toString())));
httpServer.on('upgrade', (request, socket, head) => {
  const server = request.url === '/control' ? control : request.url === '/graphql' ? graphqlWs : undefined;
  if (!server) return void socket.destroy();
  server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
});
useServer({ schema }, graphqlWs);
httpServer.listen(0, '127.0.0.1', () => {
  const { port } = httpServer.address() as AddressInfo;
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${port}/graphql` }));
});
