// An upstream site written with express (from the npm registry), for the proxy tests:
// node express_site.js PORT. It sets tracking and session cookies, streams a chunked page,
// serves Server-Sent Events, counts uploaded bytes and notes the clients that went away.
"use strict";
const express = require("express");

const app = express();
let released = false;
let waiting = [];
let gone = 0;

app.get("/", (req, res) => {
  res.cookie("_ga", "GA1.1.123.456", { maxAge: 63072000000 });
  res.cookie("_fbp", "fb.1.123.456", { maxAge: 7776000000 });
  res.cookie("sid", "s3ss10n", { httpOnly: true });
  res.type("html");
  res.write("<!doctype html><html><head><title>Node shop</title></head><body>");
  let part = 0;
  const next = () => {
    if (part < 5) {
      res.write(`<p>part ${part++}</p>`);
      setTimeout(next, 20);
    } else {
      res.end("</body></html>");
    }
  };
  next();
});

// Events until /release is called: the test reads the first one before the stream ends.
app.get("/events", (req, res) => {
  res.set({ "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  res.flushHeaders();
  res.write("data: first\n\n");
  const finish = () => res.end("data: last\n\n");
  if (released) finish();
  else waiting.push(finish);
});

app.get("/release", (req, res) => {
  released = true;
  waiting.forEach((finish) => finish());
  waiting = [];
  res.json({ released: true });
});

// Streams forever, until the client goes away.
app.get("/forever", (req, res) => {
  res.type("text/plain");
  const timer = setInterval(() => res.write("tick\n"), 10);
  res.on("close", () => {
    clearInterval(timer);
    gone += 1;
  });
});

app.get("/gone", (req, res) => res.json({ gone }));

app.get("/headers", (req, res) => res.json(req.headers));

app.post("/upload", (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => {
    bytes += chunk.length;
  });
  req.on("end", () =>
    res.json({ bytes, chunked: req.headers["transfer-encoding"] === "chunked" }),
  );
});

const server = app.listen(Number(process.argv[2]), "127.0.0.1", () => {
  console.log("listening");
});
server.keepAliveTimeout = 5000;
