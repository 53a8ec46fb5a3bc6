// A WebSocket server written with the npm package `ws`, for the reverse proxy's tests.
// Echoes each message as it came (text or binary); a few text commands do more:
// "headers" answers the handshake's request headers as JSON; "close NNNN" closes with
// that code; "ping" pings the client and says "pong received" once its pong comes;
// "flood N" sends N binary messages of 1 MB at once (node holds what the socket does not take);
// "drop" ends the TCP connection without a closing handshake.
// GET /closes answers the close codes the clients sent, as JSON; a handshake on
// /refuse is answered 403. The 101 sets _ga and sessionid.
"use strict";
const http = require("node:http");
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const closes = [];
const server = http.createServer((request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify(closes));
});
const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (offered) => (offered.has("chat.v2") ? "chat.v2" : false),
});
wss.on("headers", (headers) => {
  headers.push("Set-Cookie: _ga=GA1.1.111.222; Path=/", "Set-Cookie: sessionid=ws1; Path=/");
});
server.on("upgrade", (request, socket, head) => {
  if (request.url.startsWith("/refuse")) {
    socket.end("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nrefused\n");
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
});
wss.on("connection", (ws, request) => {
  ws.on("close", (code) => closes.push(code));
  ws.on("message", (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === "headers") {
      ws.send(JSON.stringify({ ...request.headers, url: request.url }));
    } else if (text !== null && text.startsWith("close ")) {
      ws.close(Number(text.slice(6)), "bye from upstream");
    } else if (text === "ping") {
      ws.once("pong", () => ws.send("pong received"));
      ws.ping();
    } else if (text !== null && text.startsWith("flood ")) {
      const chunk = Buffer.alloc(1000 * 1000, 7);
      for (let left = Number(text.slice(6)); left > 0; left--) ws.send(chunk, { binary: true });
    } else if (text === "drop") {
      ws._socket.destroy();
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});
server.listen(port, "127.0.0.1");
