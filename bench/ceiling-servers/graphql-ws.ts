// The graphql-ws memory ceiling: graphql-ws's useServer on ws with one subscription,
// `tick`, each an async generator waiting on an EventEmitter. GET /subscriptions says
// how many generators have started, so the bench knows when every subscription is live.
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const ticks = new EventEmitter();
ticks.setMaxListeners(0);
let started = 0;

// once() rather than on(): on()'s iterator preallocates two 2048-slot queues (about
// 32 KB on Node 20), which would be counted as the stack's own cost of a subscription.
async function* tick() {
  started++;
  for (;;) yield ((await once(ticks, 'tick')) as [string])[0];
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
useServer({ schema }, new WebSocketServer({ server: httpServer, path: '/graphql' }));
httpServer.listen(0, '127.0.0.1', () => {
  const { port } = httpServer.address() as AddressInfo;
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${port}/graphql` }));
});
