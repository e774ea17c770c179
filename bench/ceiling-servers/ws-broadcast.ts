// The WebSocket broadcast ceiling: a bare ws server that sends whatever arrives on its
// /control connection to every other client, once.
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('connection', (socket, request) => {
  if (request.url !== '/control') return;
  socket.on('message', (payload, isBinary) => {
    for (const client of server.clients) {
      if (client !== socket && client.readyState === WebSocket.OPEN) client.send(payload, { binary: isBinary });
    }
  });
});
server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${port}` }));
});
