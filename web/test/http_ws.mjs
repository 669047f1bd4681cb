// Test helper: a static file server for web/ on 127.0.0.1 with a minimal WebSocket (RFC 6455)
// server for the paths the test asks for. Text messages only (all SpeakUp signaling is JSON text).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.y4m': 'application/octet-stream',
};

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// One complete WebSocket frame at the start of `bytes`, masked or not: { fin, opcode, payload
// (unmasked, a copy), size (bytes the frame took) }; null while it has not all arrived.
export function readFrame(bytes) {
  if (bytes.length < 2) return null;
  const masked = (bytes[1] & 0x80) !== 0;
  let length = bytes[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return null;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return null;
    length = Number(bytes.readBigUInt64BE(2));
    offset = 10;
  }
  const start = offset + (masked ? 4 : 0);
  if (bytes.length < start + length) return null;
  const payload = Buffer.from(bytes.subarray(start, start + length));
  if (masked) for (let i = 0; i < payload.length; ++i) payload[i] ^= bytes[offset + (i & 3)];
  return { fin: (bytes[0] & 0x80) !== 0, opcode: bytes[0] & 0x0f, payload, size: start + length };
}

// One server-side WebSocket connection.
export class WsConnection {
  constructor(socket, path, query) {
    this.socket = socket;
    this.path = path;
    this.query = query;
    this.onmessage = () => {};
    this.onclose = () => {};
    this.closed = false;
    this.buffer = Buffer.alloc(0);
    this.fragments = [];
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
  }

  finish() {
    if (this.closed) return;
    this.closed = true;
    this.onclose();
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const frame = readFrame(this.buffer);
      if (!frame) return;
      const { fin, opcode, payload } = frame;
      this.buffer = this.buffer.subarray(frame.size);
      if (opcode === 0x8) {
        this.writeFrame(0x8, payload.subarray(0, 2));
        this.socket.end();
        this.finish();
        return;
      }
      if (opcode === 0x9) {
        this.writeFrame(0xa, payload);
        continue;
      }
      if (opcode === 0xa) continue;
      this.fragments.push(payload);
      if (fin) {
        const data = Buffer.concat(this.fragments).toString('utf8');
        this.fragments = [];
        this.onmessage(data);
      }
    }
  }

  writeFrame(opcode, payload) {
    if (this.closed || this.socket.destroyed) return;
    let header;
    if (payload.length < 126) {
      header = Buffer.from([0x80 | opcode, payload.length]);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    this.socket.write(Buffer.concat([header, payload]));
  }

  send(text) {
    this.writeFrame(0x1, Buffer.from(typeof text === 'string' ? text : JSON.stringify(text), 'utf8'));
  }

  close(code = 1000) {
    if (this.closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code, 0);
    this.writeFrame(0x8, payload);
    this.socket.end();
    this.finish();
  }

  // Drops the TCP connection without a closing handshake (a crashed server).
  kill() {
    this.socket.destroy();
    this.finish();
  }
}

// root: folder served at '/'. upgrade(path, query): 'accept' | 'refuse' | 'hang', decided per
// request; onConnection(conn) gets accepted WebSockets.
export function startServer({ root, upgrade = () => 'refuse', onConnection = () => {} }) {
  const rootDir = path.resolve(root);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = path.normalize(path.join(rootDir, decodeURIComponent(url.pathname)));
    if (!file.startsWith(rootDir)) {
      res.writeHead(403).end();
      return;
    }
    if (url.pathname.endsWith('/')) file = path.join(file, 'index.html');
    fs.readFile(file, (error, data) => {
      if (error) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      }).end(data);
    });
  });
  const hanging = new Set();
  server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    const decision = upgrade(url.pathname, url.searchParams);
    if (decision === 'hang') {
      hanging.add(socket);
      socket.on('close', () => hanging.delete(socket));
      return;
    }
    const key = req.headers['sec-websocket-key'];
    if (decision !== 'accept' || !key) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    onConnection(new WsConnection(socket, url.pathname, url.searchParams));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        origin: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => {
          for (const socket of hanging) socket.destroy();
          server.closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
  });
}
