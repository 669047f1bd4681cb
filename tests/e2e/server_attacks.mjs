// Denial-of-service attacks on a real `speakup serve` by a hostile, unauthenticated client, and
// after each group of them: the server still runs, still answers /healthz, and a normal client
// (`speakup loadgen`, one client for 3 s) still gets face results. What is attacked:
//   0. HTTP keep-alive: 2,000 keep-alive requests on connections the client then closes must not
//      leave descriptors (or CLOSE-WAIT sockets) behind; responses say Connection: close.
//   1. Offers whose SDP GStreamer's parser cuts inside a UTF-8 sequence (used to abort the server).
//   2. Offers with 100 and 300 m-lines (one ICE transport each, without BUNDLE); a server under a
//      128-descriptor limit flooded with 300 TCP connections must hear again once they go.
//   3. Bodies: a 100 MiB Content-Length, a chunked body, a negative length, 24 KiB of headers; a
//      64 MiB WebSocket message in fragments, a 100 KiB frame, permessage-deflate; refused
//      WebSockets that keep sending.
//   4. Slots: slow and silent HTTP connections (closed within --request-timeout-ms), WebSockets that
//      never offer (must not lock a real client out of --max-sessions).
//   5. Security headers on every response, /metrics behind --token / --metrics-token, at most 32
//      remote ICE candidates per session.
//   6. ICE restarts: before any offer, garbage SDP, other media sections, two at once, more than
//      6 a minute: each refused with an error, the session kept.
//   7. The server's log: no "terminate called", GLib criticals, or invalid Content-Length warnings.
// A hand-written HTTP and WebSocket client on raw sockets (node 20 has no WebSocket client, and an
// attacker sends what no library would: endless fragments, lying lengths, close frames never answered).
//   node tests/e2e/server_attacks.mjs   (env SPEAKUP_BIN = the speakup program)
//   SPEAKUP_ATTACK_GROUPS=keep-alive,utf-8,m-lines,restart,fd-limit,bodies,slots,headers: only those groups.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { checker } from '../../web/test/checks.mjs';
import { readFrame } from '../../web/test/http_ws.mjs';
import { health, rssMiB, sessionCount, sleep, startServer, stopServer, waitFor } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('server_attacks', 270000);

const MiB = 1024 * 1024;
const KiB = 1024;

// ---------------------------------------------------------------------------------------------
// The server process: descriptors, threads, sockets, metrics.

const fdCount = (pid) => { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; } };
const threadCount = (pid) => {
  try { return Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return -1; }
};
const rss = (pid) => { try { return rssMiB(pid); } catch { return NaN; } };

// Sockets on the server's port in state CLOSE-WAIT (the client closed, the server did not).
function closeWaitCount(port) {
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const localPort = parseInt(fields[1].split(':').pop(), 16);
      if (localPort === port && fields[3] === '08') count++;
    }
  }
  return count;
}

// Samples a process's resident memory, threads and descriptors every 50 ms until stop(), which
// returns the levels at the start, the peaks, and the growth (peak - start) of each.
function sampler(pid) {
  const base = { rss: rss(pid), threads: threadCount(pid), fds: fdCount(pid) };
  const peak = { ...base };
  const sample = () => {
    peak.rss = Math.max(peak.rss, rss(pid) || 0);
    peak.threads = Math.max(peak.threads, threadCount(pid));
    peak.fds = Math.max(peak.fds, fdCount(pid));
  };
  const timer = setInterval(sample, 50);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { base, peak, rss: peak.rss - base.rss, threads: peak.threads - base.threads, fds: peak.fds - base.fds };
    },
  };
}

// All /metrics samples without labels (process_* too), as numbers by name; {} when it does not answer.
async function allMetrics(server, headers = {}) {
  try {
    const response = await fetch(server.url + 'metrics', { headers, signal: AbortSignal.timeout(3000) });
    const values = {};
    for (const match of (await response.text()).matchAll(/^([a-z_:][\w:]*) (\S+)$/gm)) values[match[1]] = Number(match[2]);
    return values;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Servers: every one started is kept, for the log checks and the cleanup at the end.

const servers = [];
// The watchdog (and any other exit) must not leave a server or load generator running.
process.on('exit', () => {
  for (const server of servers) if (!server.exit()) server.process.kill('SIGKILL');
  for (const child of loadgens) child.kill('SIGKILL');
});
async function start(args, { limitFds = 0 } = {}) {
  const server = limitFds ? await startLimited(['--threads', '1', ...args], limitFds)
    : await startServer(bin, ['--threads', '1', ...args]);
  server.args = limitFds ? [`(nofile ${limitFds})`, ...args] : args;
  servers.push(server);
  return server;
}

// Tries to start a server; on failure (e.g. an option this build does not know) a failed check
// says why and the result is null, so the group is skipped.
async function tryStart(what, args, options) {
  try {
    return await start(args, options);
  } catch (error) {
    check(`${what}: the server starts with ${args.join(' ')}`, false, error.message.slice(0, 400));
    return null;
  }
}

// `speakup serve` under `prlimit --nofile=N:N` (what startServer does, with the limit in front:
// prlimit execs the server, so the child's pid is the server's).
async function startLimited(args, nofile) {
  const child = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, '--', bin, 'serve', '--port', '0', '--drain-seconds', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exit = null;
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => child.on('exit', (code, signal) => { exit = { code, signal }; r(exit); }));
  const listening = () => /listening on \S+:(\d+)\//.exec(output)?.[1];
  await waitFor(() => Boolean(listening() || exit), 20000);
  if (!listening()) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start (${JSON.stringify(exit)}): ${output}`);
  }
  const port = Number(listening());
  const server = { process: child, pid: child.pid, host: '127.0.0.1', port, url: `http://127.0.0.1:${port}/`, exited, output: () => output,
    exit: () => exit };
  await waitFor(async () => exit || (await health(server, 1000)) !== null, 5000);
  return server;
}

// The main server: restarted (and the crash reported by the checks that saw it) if an attack killed it.
const mainArgs = ['--max-sessions', '20', '--max-sessions-per-ip', '0'];
let main = null;
async function mainServer() {
  if (!main || main.exit()) main = await start(mainArgs);
  return main;
}

// ---------------------------------------------------------------------------------------------
// A normal client: `speakup loadgen`, one client for 3 s.

const loadgens = new Set();
function runLoadgen(server, ms = 30000) {
  return new Promise((resolve) => {
    const child = spawn(bin, ['loadgen', '--server', server.url, '--clients', '1', '--duration', '3', '--json', '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    loadgens.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      loadgens.delete(child);
      let report = null;
      try { report = JSON.parse(stdout); } catch { /* killed or failed: no report */ }
      resolve({ code, signal, report, stderr });
    });
  });
}

const describeClient = (c) => c && JSON.stringify({ streamed: c.streamed, frames: c.frames_sent, results: c.results,
  errors: c.errors, bye: c.bye });

// After a group of attacks: the server runs, /healthz answers, a normal client gets results.
async function stillServes(server, label) {
  const exit = server.exit();
  check(`${label}: the server is still running`, !exit, exit ? `${JSON.stringify(exit)} ${server.output().slice(-600)}` : '');
  if (exit) return;
  const healthy = await waitFor(async () => (await health(server, 2000)) !== null, 5000);
  check(`${label}: /healthz still answers`, healthy);
  if (!healthy) {
    check(`${label}: a normal client still gets face results`, false, 'not tried: /healthz does not answer');
    return;
  }
  const run = await runLoadgen(server);
  const client = run.report?.per_client?.[0];
  check(`${label}: a normal client still gets face results`, client && client.results > 0 && client.errors.length === 0,
    client ? describeClient(client) : `no report (exit ${run.code} ${run.signal}): ${run.stderr.slice(-400)}`);
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: one TCP connection, what was received, and when the server closed it.

// Something a test waits on: until(predicate, ms) resolves true as soon as `predicate()` holds
// (checked now and at every notify(): data, close), or with its value once `ms` pass.
class Watched {
  constructor() { this.listeners = new Set(); }
  notify() { for (const listener of [...this.listeners]) listener(); }
  until(predicate, ms) {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        resolve(Boolean(predicate()));
      }, ms);
      this.listeners.add(listener);
    });
  }
}

class RawConnection extends Watched {
  constructor(port) {
    super();
    this.socket = net.connect(port, '127.0.0.1');
    this.received = Buffer.alloc(0);
    this.response = null;    // { status, headers, at } once the response head arrived
    this.closedByServer = false;  // FIN or reset from the server
    this.closedAt = 0;
    this.error = null;
    this.connected = new Promise((resolve) => {
      this.socket.once('connect', () => resolve(true));
      this.socket.once('error', () => resolve(false));
    });
    this.socket.on('data', (chunk) => {
      this.received = Buffer.concat([this.received, chunk]);
      if (!this.response) this.parseHead();
      this.notify();
    });
    this.socket.on('end', () => this.markClosed());
    this.socket.on('error', (error) => { this.error = error.code ?? error.message; this.markClosed(); });
    this.socket.on('close', () => this.markClosed());
  }

  markClosed() {
    if (this.closedAt) return;
    if (!this.destroyedByUs) this.closedByServer = true;
    this.closedAt = Date.now();
    this.notify();
  }

  parseHead() {
    const end = this.received.indexOf('\r\n\r\n');
    if (end < 0) return;
    this.response = { ...parseHead(this.received.subarray(0, end).toString('latin1')), at: Date.now(), bodyStart: end + 4 };
  }

  get closed() { return this.closedAt !== 0; }
  write(data) {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(data);
  }

  // The response head ({status, headers, at}), or null if none came within `ms`.
  async waitResponse(ms) {
    await this.until(() => this.response !== null || this.closed, ms);
    return this.response;
  }

  // The whole response (head and Content-Length body) is in, or the connection closed.
  waitComplete(ms) {
    return this.until(() => this.closed || (this.response !== null &&
      this.received.length >= this.response.bodyStart + Number(this.response.headers['content-length'] ?? 0)), ms);
  }

  waitClosed(ms) { return this.until(() => this.closed, ms); }

  // Writes as fast as the socket drains; `next()` gives the next piece (null: done); stops when
  // the connection closes, `stop()` holds, or `ms` pass. Returns the bytes written.
  async pump(next, stop, ms) {
    const end = Date.now() + ms;
    let sent = 0;
    while (!this.closed && !stop() && Date.now() < end) {
      if (this.socket.writableNeedDrain) {
        await Promise.race([new Promise((r) => this.socket.once('drain', r)), sleep(100)]);
        continue;
      }
      const piece = next();
      if (!piece) break;
      this.write(piece);
      sent += piece.length;
    }
    return sent;
  }

  destroy() {
    this.destroyedByUs = true;
    this.socket.destroy();
  }
}

function parseHead(text) {
  const [statusLine, ...lines] = text.split('\r\n');
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), statusLine, headers };
}

// GET /healthz with more header lines (each ending in CRLF).
const getHealthz = (server, headerLines = '') =>
  `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n${headerLines}\r\n`;

// One complete request on its own connection: the response head or null, and whether the server
// closed the connection within `closeMs` after answering (the client never closes first).
async function rawRequest(server, text, { ms = 5000, closeMs = 2000 } = {}) {
  const connection = new RawConnection(server.port);
  await connection.connected;
  connection.write(text);
  const response = await connection.waitResponse(ms);
  const closed = await connection.waitClosed(closeMs);
  connection.destroy();
  return { response, closed, connection };
}

// ---------------------------------------------------------------------------------------------
// A WebSocket client that can send anything: frames of any opcode, FIN or not, fragments.

class WsClient extends Watched {
  // Opens /ws with the given headers; resolves with { status, headers, ws } (ws only on a 101).
  static open(server, { path = '/ws', headers = {}, ms = 5000, hostile = false } = {}) {
    return new Promise((resolve) => {
      const socket = net.connect(server.port, server.host);
      const lines = [`GET ${path} HTTP/1.1`, `Host: ${new URL(server.url).host}`, 'Connection: Upgrade', 'Upgrade: websocket',
        'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      let buffered = Buffer.alloc(0);
      let done = false;
      const finish = (result) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(result);
      };
      const timer = setTimeout(() => {
        socket.destroy();
        finish({ status: 0, headers: {}, error: `no answer within ${ms} ms` });
      }, ms);
      const onData = (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = parseHead(buffered.subarray(0, end).toString('latin1'));
        if (head.status !== 101) {
          socket.destroy();
          finish(head);
          return;
        }
        finish({ ...head, ws: new WsClient(socket, buffered.subarray(end + 4), { hostile }) });
      };
      socket.on('data', onData);
      socket.on('error', (error) => finish({ status: 0, headers: {}, error: error.message }));
      socket.on('close', () => finish({ status: 0, headers: {}, error: 'closed before answering' }));
      socket.on('connect', () => socket.write(lines.join('\r\n') + '\r\n\r\n'));
    });
  }

  constructor(socket, head, { hostile = false } = {}) {
    super();
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.fragments = [];
    this.messages = [];        // text messages, parsed (non-JSON as { raw })
    this.closeFrame = null;    // { code, reason, at } of the server's close frame
    this.closedAt = 0;         // TCP closed (FIN, reset or error)
    this.closedByUs = false;
    this.answerClose = !hostile;  // a normal client answers the server's close frame and pings
    this.answerPings = !hostile;
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('end', () => this.markClosed());
    socket.on('close', () => this.markClosed());
    socket.on('error', () => this.markClosed());
    if (head.length) this.receive(head);
  }

  get closed() { return this.closedAt !== 0; }
  markClosed() {
    if (this.closedAt) return;
    this.closedAt = Date.now();
    this.notify();
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.takeFrames();
    this.notify();
  }

  takeFrames() {
    for (;;) {
      const frame = readFrame(this.buffer);
      if (!frame) return;
      const { fin, opcode, payload } = frame;
      this.buffer = this.buffer.subarray(frame.size);
      if (opcode === 0x8) {
        this.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          reason: payload.subarray(2).toString('utf8'), at: Date.now() };
        if (this.answerClose && !this.closedByUs) this.sendClose(this.closeFrame.code === 1005 ? 1000 : this.closeFrame.code);
        continue;
      }
      if (opcode === 0x9) {
        if (this.answerPings) this.write(WsClient.frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      this.fragments.push(payload);
      if (!fin) continue;
      const text = Buffer.concat(this.fragments).toString('utf8');
      this.fragments = [];
      let message;
      try { message = JSON.parse(text); } catch { message = { raw: text }; }
      message.receivedAt = Date.now();
      this.messages.push(message);
    }
  }

  // A masked client frame.
  static frame(opcode, payload, { fin = true, mask = crypto.randomBytes(4) } = {}) {
    const length = payload.length;
    const head = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    if (length < 126) {
      head[1] = 0x80 | length;
    } else if (length < 65536) {
      head[1] = 0x80 | 126;
      head.writeUInt16BE(length, 2);
    } else {
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(length), 2);
    }
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    return Buffer.concat([head, mask, body]);
  }

  write(bytes) {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  sendText(text) { return this.write(WsClient.frame(0x1, Buffer.from(text, 'utf8'))); }
  sendJson(object) { return this.sendText(JSON.stringify(object)); }
  sendClose(code = 1000) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code, 0);
    this.write(WsClient.frame(0x8, payload));
  }

  // The first message (since the start) for which `predicate` holds, or null after `ms` or once
  // the connection closed without one.
  async waitMessage(predicate, ms) {
    await this.until(() => this.messages.some(predicate) || this.closed, ms);
    return this.messages.find(predicate) ?? null;
  }

  waitClosed(ms) { return this.until(() => this.closed, ms); }
  // The server's close frame came, or the connection closed.
  waitClosing(ms) { return this.until(() => this.closeFrame !== null || this.closed, ms); }

  // One `total`-byte text message in `fragment`-byte frames (FIN=0, continuations, the last FIN=1),
  // written as fast as the socket drains, until it is all sent, the connection closes (or the
  // server's close frame comes, unless `hostile`), or `ms` pass. Returns the bytes sent.
  async sendFragmented(total, fragment, ms, { hostile = false } = {}) {
    const payload = Buffer.alloc(fragment, 'a');
    const mask = crypto.randomBytes(4);
    const first = WsClient.frame(0x1, payload, { fin: false, mask });
    const middle = WsClient.frame(0x0, payload, { fin: false, mask });
    const last = WsClient.frame(0x0, payload, { fin: true, mask });
    const end = Date.now() + ms;
    let sent = 0;
    while (sent < total && !this.closed && (hostile || !this.closeFrame) && Date.now() < end) {
      if (this.socket.writableNeedDrain) {
        await Promise.race([new Promise((r) => this.socket.once('drain', r)), sleep(100)]);
        continue;
      }
      this.write(sent === 0 ? first : sent + fragment >= total ? last : middle);
      sent += fragment;
    }
    return sent;
  }

  // A normal close: close frame, FIN, then the socket goes.
  close() {
    if (!this.closedByUs) this.sendClose(1000);
    this.closedByUs = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy() {
    this.closedByUs = true;
    this.socket.destroy();
  }
}

const describeMessage = (m) => (m ? JSON.stringify({ type: m.type, code: m.code, message: m.message?.slice(0, 160),
  raw: m.raw?.slice(0, 80) }) : 'nothing');

// ---------------------------------------------------------------------------------------------
// SDP offers, written by hand: ICE credentials and fingerprint at session level (so a section is
// a few lines), a camera (VP8, sendonly), an optional return video (recvonly), a data channel.

const fingerprint = Array.from(crypto.randomBytes(32), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');

function offerSdp({ videos = 1, application = true, bundle = true, sessionName = '-', extraSections = [], extraLines = [],
  cameraCandidates = 0 } = {}) {
  const sections = [];
  for (let v = 0; v < videos; v++) {
    sections.push([
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', `a=mid:${sections.length}`, v === 0 ? 'a=sendonly' : 'a=recvonly',
      'a=setup:actpass', 'a=rtcp-mux', 'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack pli',
      ...(v === 0 ? Array.from({ length: cameraCandidates },
        (_, i) => `a=candidate:${i + 1} 1 udp 2122260223 10.0.1.${i + 1} 9 typ host`) : []),
    ]);
  }
  if (application) {
    sections.push(['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', `a=mid:${sections.length}`,
      'a=setup:actpass', 'a=sctp-port:5000']);
  }
  for (const extra of extraSections) sections.push(extra);
  const lines = ['v=0', `o=- ${crypto.randomInt(1, 2 ** 47)} 2 IN IP4 127.0.0.1`, `s=${sessionName}`, 't=0 0',
    ...(bundle ? [`a=group:BUNDLE ${sections.map((_, i) => i).join(' ')}`] : []),
    `a=ice-ufrag:${crypto.randomBytes(4).toString('hex')}`, `a=ice-pwd:${crypto.randomBytes(12).toString('hex')}`,
    'a=ice-options:trickle', `a=fingerprint:sha-256 ${fingerprint}`, ...extraLines, ...sections.flat()];
  return lines.join('\r\n') + '\r\n';
}

// An offer message whose bytes are not UTF-8: a valid offer with 0xC3 0x28 in its session name.
function notUtf8Offer() {
  const [before, after] = JSON.stringify({ type: 'offer', sdp: offerSdp({ sessionName: '@@' }) }).split('@@');
  return Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28]), Buffer.from(after)]);
}

// `count` m-lines without BUNDLE: the camera, then receive-only video sections.
function manyMlinesSdp(count) {
  const extra = [];
  for (let m = 2; m < count; m++) {
    extra.push(['m=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', `a=mid:${m}`, 'a=recvonly', 'a=setup:actpass',
      'a=rtcp-mux', 'a=rtpmap:96 VP8/90000']);
  }
  return offerSdp({ bundle: false, extraSections: extra });
}

// Opens a session (welcome), sends `sdp` as the offer (or, given a Buffer, those bytes as the text
// frame), and waits for the answer or an error.
async function offer(server, sdp, ms = 8000) {
  const opened = await WsClient.open(server);
  if (!opened.ws) return { ws: null, welcome: null, reply: null, why: `HTTP ${opened.status} ${opened.error ?? ''}` };
  const { ws } = opened;
  const welcome = await ws.waitMessage(() => true, 3000);
  if (Buffer.isBuffer(sdp)) ws.write(WsClient.frame(0x1, sdp));
  else ws.sendJson({ type: 'offer', sdp });
  const reply = await ws.waitMessage((m) => m.type === 'answer' || m.type === 'error', ms);
  return { ws, welcome, reply, why: describeMessage(reply) };
}

// ---------------------------------------------------------------------------------------------

// A group of attacks runs to its end or fails one check saying where it stopped.
// SPEAKUP_ATTACK_GROUPS=bodies,slots runs only those groups (while working on one).
const onlyGroups = process.env.SPEAKUP_ATTACK_GROUPS?.split(',');
async function group(name, body) {
  if (onlyGroups && !onlyGroups.includes(name)) return;
  try {
    await body();
  } catch (error) {
    check(`${name}: the attack group ran to its end`, false, error.stack);
  }
}

try {
  // ================= 0. HTTP keep-alive: one descriptor per request must not leak =================
  await group('keep-alive', async () => {
    const server = await mainServer();
    await fetch(server.url + 'healthz');  // warmed up: the listener and first accept are counted
    await sleep(300);
    const fdsBefore = fdCount(server.pid);

    const single = await rawRequest(server, getHealthz(server, 'Connection: keep-alive\r\n'));
    check('keep-alive: a plain HTTP response carries Connection: close',
      single.response?.headers.connection?.toLowerCase() === 'close', JSON.stringify(single.response?.headers));
    check('keep-alive: the server closes the connection after the response (client asked for keep-alive)',
      single.response?.status === 200 && single.closed, `status ${single.response?.status}, closed ${single.closed}`);

    // 2,000 keep-alive requests, 4 connections at a time, each connection closed by the client
    // once its response is in.
    let answered = 0;
    const lane = async (n) => {
      for (let i = 0; i < n; i++) {
        const connection = new RawConnection(server.port);
        if (!(await connection.connected)) { connection.destroy(); continue; }
        connection.write(getHealthz(server, 'Connection: keep-alive\r\n'));
        await connection.waitComplete(3000);
        if (connection.response?.status === 200) answered++;
        connection.socket.end();
        connection.destroy();
      }
    };
    const started = Date.now();
    await Promise.all([lane(500), lane(500), lane(500), lane(500)]);
    const seconds = (Date.now() - started) / 1000;
    check(`keep-alive: 2,000 keep-alive requests answered (${seconds.toFixed(1)} s)`, answered === 2000,
      `${answered} answered`);
    let fdsAfter = fdCount(server.pid);
    await waitFor(() => (fdsAfter = fdCount(server.pid)) <= fdsBefore + 20, 3000);
    check('keep-alive: the server\'s open descriptors stay within +20 after 2,000 closed keep-alive connections',
      fdsAfter >= 0 && fdsAfter <= fdsBefore + 20, `${fdsBefore} before, ${fdsAfter} after`);
    const closeWait = closeWaitCount(server.port);
    check('keep-alive: no CLOSE-WAIT sockets pile up on the server\'s port', closeWait <= 5, `${closeWait} in CLOSE-WAIT`);
    await stillServes(server, 'keep-alive');
  });

  // ================= 1. invalid UTF-8 in the SDP: refused, never an abort =================
  await group('utf-8', async () => {
    const long = 'x'.repeat(8190) + 'é';  // GStreamer's SDP parser cuts its 8 KiB tokens inside the 'é'
    // Complete sections (setup, rtcp-mux): webrtcbin takes them in, and puts the cut name into its answer.
    const section = (name, mid) => [`m=${name} 9 UDP/TLS/RTP/SAVPF 96`, 'c=IN IP4 0.0.0.0', `a=mid:${mid}`, 'a=setup:actpass',
      'a=rtcp-mux', 'a=rtpmap:96 VP8/90000'];
    const unknownMedia = section(long, '9');
    const unknownMid = section('text', long);
    const variants = [
      { name: 'an unknown m-line named 8,190 x and an é (cut inside the UTF-8 sequence)',
        sdp: offerSdp({ bundle: false, extraSections: [unknownMedia] }), refused: true },
      { name: 'an unknown m-line whose mid is 8,190 x and an é',
        sdp: offerSdp({ bundle: false, extraSections: [unknownMid] }) },
      { name: 'an attribute named 8,190 x and an é', sdp: offerSdp({ extraLines: [`a=${long}:1`] }) },
      { name: 'a mid of 40 characters', sdp: offerSdp({ bundle: false, extraSections: [section('video', 'm'.repeat(40))] }) },
      { name: 'a valid offer with é in its session name (s=)', sdp: offerSdp({ sessionName: 'caméra é' }),
        answered: true },
      { name: 'an SDP line of 5,000 bytes', sdp: offerSdp({ extraLines: [`a=x-filler:${'y'.repeat(4990)}`] }) },
      { name: 'an offer whose text frame is not UTF-8 (0xC3 0x28 in s=)', sdp: notUtf8Offer(), closedIsFine: true },
    ];
    for (const variant of variants) {
      const server = await mainServer();
      const result = await offer(server, variant.sdp);
      await sleep(300);
      const exit = server.exit();
      check(`utf-8: the server survives ${variant.name}`, !exit,
        exit ? `${JSON.stringify(exit)} ${server.output().split('\n').slice(-6).join(' | ')}` : '');
      if (variant.refused) {
        check(`utf-8: ${variant.name} is refused with bad_sdp`,
          result.reply?.type === 'error' && result.reply.code === 'bad_sdp', result.why);
        const closed = result.ws ? await result.ws.waitClosing(3000) : false;
        const bye = result.ws?.messages.find((m) => m.type === 'bye');
        check(`utf-8: the session of ${variant.name} is closed`, closed && !exit,
          result.ws ? `close frame ${JSON.stringify(result.ws.closeFrame)}, bye ${describeMessage(bye)}` : result.why);
      } else if (variant.answered) {
        check(`utf-8: ${variant.name} is answered (valid UTF-8 is fine)`, result.reply?.type === 'answer', result.why);
      } else if (variant.closedIsFine) {
        // The WebSocket layer may refuse the frame itself (close 1007) before the server reads it.
        const closing = result.reply !== null || (result.ws !== null && await result.ws.waitClosing(1000));
        check(`utf-8: ${variant.name} gets an error or its socket closed (no silence)`, closing,
          `${result.why}, close frame ${JSON.stringify(result.ws?.closeFrame)}`);
      } else {
        check(`utf-8: ${variant.name} gets an answer or an error (no silence)`, result.reply !== null, result.why);
      }
      console.log(`      ${variant.name}: ${result.why}`);
      result.ws?.close();
    }
    const server = await mainServer();
    await waitFor(async () => (await sessionCount(server, 2000)) === 0, 5000);
    await stillServes(server, 'utf-8');
  });

  // ================= 2. many m-lines; descriptor exhaustion =================
  await group('m-lines', async () => {
    const server = await mainServer();
    const accepted = [
      ['a camera and a data channel', offerSdp()],
      ['a camera, a return video and a data channel (3 media sections)', offerSdp({ videos: 2 })],
      ['3 media sections without BUNDLE', offerSdp({ videos: 2, bundle: false })],
    ];
    for (const [name, sdp] of accepted) {
      const result = await offer(server, sdp);
      check(`m-lines: an offer of ${name} is answered`, result.reply?.type === 'answer', result.why);
      result.ws?.close();
    }
    await waitFor(async () => (await sessionCount(server, 2000)) === 0, 5000);
    for (const count of [100, 300]) {
      await sleep(1000);  // the sessions above are gone: their threads and descriptors with them
      const watch = sampler(server.pid);
      const result = await offer(server, manyMlinesSdp(count));
      const afterReply = Date.now();
      if (result.ws) await result.ws.waitClosed(2000);
      await sleep(Math.max(0, afterReply + 1000 - Date.now()));
      const seen = watch.stop();
      check(`m-lines: an offer with ${count} m-lines (no BUNDLE) is refused with bad_sdp`,
        result.reply?.type === 'error' && result.reply.code === 'bad_sdp', result.why);
      check(`m-lines: the refusal of ${count} m-lines names the limit`,
        /\d/.test(result.reply?.message ?? '') && /(at most|limit|maximum)/i.test(result.reply?.message ?? ''),
        result.reply?.message);
      check(`m-lines: ${count} m-lines: the session is closed`,
        result.ws !== null && (result.ws.closeFrame !== null || result.ws.closed),
        result.ws && JSON.stringify(result.ws.closeFrame));
      check(`m-lines: ${count} m-lines: the server's threads do not jump (at most +8)`, seen.threads <= 8,
        `${seen.base.threads} before, peak ${seen.peak.threads}`);
      check(`m-lines: ${count} m-lines: the server's descriptors do not jump (at most +16)`, seen.fds <= 16,
        `${seen.base.fds} before, peak ${seen.peak.fds}`);
      result.ws?.destroy();
    }
    await waitFor(async () => (await sessionCount(server, 2000)) === 0, 5000);
    await stillServes(server, 'm-lines');
  });

  // ICE restarts (`restart`): each is refused with an error the client can act on, and the session
  // lives on (it still answers `options`): before any offer, garbage, other media sections, one
  // while another is being answered, more than 6 in a minute.
  await group('restart', async () => {
    const server = await mainServer();
    const alive = async (ws, label) => {
      const before = ws.messages.length;
      ws.sendJson({ type: 'options', options: { max_faces: 2 } });
      const reply = await ws.waitMessage((m) => ws.messages.indexOf(m) >= before && m.type === 'options', 3000);
      check(`restart: ${label}: the session lives on (it answers options)`, reply !== null && !ws.closed && !ws.closeFrame,
        describeMessage(ws.messages.at(-1)));
    };
    // Sends a restart and waits for its answer or error (only messages after it count).
    const restart = async (ws, sdp) => {
      const before = ws.messages.length;
      ws.sendJson({ type: 'restart', sdp });
      return ws.waitMessage((m) => ws.messages.indexOf(m) >= before && (m.type === 'answer' || m.type === 'error'), 8000);
    };

    const opened = await WsClient.open(server);
    const early = opened.ws;
    await early.waitMessage(() => true, 3000);
    const first = await restart(early, offerSdp());
    check('restart: before any offer: bad_state', first?.type === 'error' && first.code === 'bad_state' &&
      /offer/.test(first.message), describeMessage(first));
    await alive(early, 'before any offer');
    early.close();

    const session = await offer(server, offerSdp({ videos: 2 }));
    check('restart: the session\'s first offer is answered', session.reply?.type === 'answer', session.why);
    const ws = session.ws;
    const garbage = await restart(ws, 'v=0\r\nthis is not SDP\r\n');
    check('restart: garbage SDP: bad_restart naming the problem', garbage?.type === 'error' && garbage.code === 'bad_restart' &&
      /not valid SDP|no video/.test(garbage.message), describeMessage(garbage));
    await alive(ws, 'garbage SDP');
    const other = await restart(ws, offerSdp({ videos: 1 }));
    check('restart: other media sections than the first offer: bad_restart', other?.type === 'error' &&
      other.code === 'bad_restart' && /same media sections/.test(other.message), describeMessage(other));
    await alive(ws, 'other media sections');
    const tooMany = await restart(ws, offerSdp({ videos: 3 }));
    check('restart: an offer over the limits: bad_restart', tooMany?.type === 'error' && tooMany.code === 'bad_restart',
      describeMessage(tooMany));
    // Two at once: the second arrives while the first is being answered.
    const before = ws.messages.length;
    // (One TCP write, so the server reads both before the first one's answer is made.)
    ws.write(Buffer.concat([1, 2].map(() => WsClient.frame(0x1,
      Buffer.from(JSON.stringify({ type: 'restart', sdp: offerSdp({ videos: 2 }) }), 'utf8')))));
    await ws.until(() => ws.messages.slice(before).filter((m) => m.type === 'answer' || m.type === 'error').length >= 2, 8000);
    const replies = ws.messages.slice(before).filter((m) => m.type === 'answer' || m.type === 'error');
    check('restart: two at once: the first is answered, the second gets bad_state', replies.length === 2 &&
      replies.some((m) => m.type === 'answer') && replies.some((m) => m.code === 'bad_state'),
      replies.map(describeMessage).join(' '));
    // 3 refused and 1 answered so far count against the 6 a minute (the one refused while the
    // first was pending does not): two more are answered, the next is too many.
    for (const nth of ['5th', '6th']) {
      const reply = await restart(ws, offerSdp({ videos: 2 }));
      check(`restart: a valid restart is answered (the ${nth} in the minute)`, reply?.type === 'answer' &&
        /a=ice-ufrag:/.test(reply.sdp ?? ''), describeMessage(reply));
    }
    const seventh = await restart(ws, offerSdp({ videos: 2 }));
    check('restart: the 7th in a minute: too_many_restarts', seventh?.type === 'error' && seventh.code === 'too_many_restarts' &&
      /6 times a minute/.test(seventh.message), describeMessage(seventh));
    await alive(ws, 'too many restarts');
    const flood = Array.from({ length: 50 }, () => restart(ws, offerSdp({ videos: 2 })));
    const flooded = await Promise.all(flood);
    check('restart: 50 more at once: none answered, every one refused', flooded.every((m) => m?.type === 'error'),
      [...new Set(flooded.map((m) => m?.code))].join(' '));
    await alive(ws, 'a flood of restarts');
    const sessions = await sessionCount(server, 2000);
    check('restart: the server still has the session', sessions >= 1, `${sessions} sessions`);
    ws.close();
    await waitFor(async () => (await sessionCount(server, 2000)) === 0, 5000);
    await stillServes(server, 'restart');
  });

  // Descriptor exhaustion: 300 TCP connections against a 128-descriptor server.
  await group('fd-limit', async () => {
    const limited = await tryStart('descriptor limit', ['--max-sessions', '4', '--max-sessions-per-ip', '0'],
      { limitFds: 128 });
    if (!limited) return;
    const connections = [];
    for (let i = 0; i < 300; i++) connections.push(new RawConnection(limited.port));
    const outcomes = await Promise.all(connections.map((c) => Promise.race([c.connected, sleep(3000).then(() => false)])));
    const established = outcomes.filter(Boolean).length;
    await sleep(1000);
    const dropped = connections.filter((c) => c.closed).length;
    console.log(`      descriptor limit: ${established} of 300 connections established, ${dropped} closed by the server`);
    for (const connection of connections) connection.destroy();
    const destroyedAt = Date.now();
    const back = await waitFor(async () => (await health(limited, 1000)) !== null, 5000);
    check('descriptor limit: after 300 connections to a 128-descriptor server go, /healthz answers within 5 s', back,
      back ? `${((Date.now() - destroyedAt) / 1000).toFixed(1)} s` : 'no answer');
    const values = await allMetrics(limited);
    check('descriptor limit: /metrics has process_open_fds',
      Number.isFinite(values.process_open_fds) && values.process_open_fds > 0, String(values.process_open_fds));
    check('descriptor limit: /metrics has process_max_fds, 128 here', values.process_max_fds === 128,
      String(values.process_max_fds));
    await stillServes(limited, 'descriptor limit');
  });

  // ================= 3. bodies and messages: bounded memory =================
  await group('bodies', async () => {
    const server = await mainServer();
    const chunk = Buffer.alloc(64 * KiB, 'b');

    // A 100 MiB Content-Length on a GET: refused from the headers alone, before any body is sent.
    {
      const watch = sampler(server.pid);
      const connection = new RawConnection(server.port);
      await connection.connected;
      connection.write(getHealthz(server, `Content-Length: ${100 * MiB}\r\n`));
      const early = await connection.waitResponse(1000);  // nothing of the body sent yet
      let remaining = 100 * MiB;
      const sent = await connection.pump(() => {
        if (remaining <= 0) return null;
        remaining -= chunk.length;
        return chunk;
      }, () => false, 20000);
      const response = await connection.waitResponse(3000);
      const closed = await connection.waitClosed(3000);
      const seen = watch.stop();
      connection.destroy();
      check('bodies: GET with Content-Length 100 MiB is answered 413', response?.status === 413,
        response?.statusLine ?? 'no response');
      check('bodies: the 413 comes at once, from the headers, before any of the body is sent', early !== null,
        early ? early.statusLine : `no answer within 1 s of the headers; then ${response?.statusLine ?? 'none'} ` +
          `after ${(sent / MiB).toFixed(1)} MiB of body`);
      check('bodies: the server closes the connection after the 413', closed, `${(sent / MiB).toFixed(1)} MiB of body sent`);
      check('bodies: the server\'s memory grows less than 20 MiB with a 100 MiB body', seen.rss < 20,
        `+${seen.rss.toFixed(1)} MiB (${seen.base.rss.toFixed(0)} -> ${seen.peak.rss.toFixed(0)})`);
    }

    // A chunked POST: refused once it passes the limit, not read to its end.
    {
      const watch = sampler(server.pid);
      const connection = new RawConnection(server.port);
      await connection.connected;
      connection.write(`POST /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const piece = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      let remaining = 100 * MiB;
      let ended = false;
      const sent = await connection.pump(() => {
        if (ended) return null;
        if (remaining <= 0) {
          ended = true;
          return Buffer.from('0\r\n\r\n');
        }
        remaining -= chunk.length;
        return piece;
      }, () => false, 20000);
      const response = await connection.waitResponse(3000);
      const closed = await connection.waitClosed(3000);
      const seen = watch.stop();
      connection.destroy();
      check('bodies: a chunked POST of 100 MiB is answered 413', response?.status === 413,
        `${response?.statusLine ?? 'no response'} after ${(sent / MiB).toFixed(1)} MiB`);
      check('bodies: the server closes the connection after the chunked 413', closed);
      check('bodies: the server\'s memory grows less than 20 MiB with a 100 MiB chunked body', seen.rss < 20,
        `+${seen.rss.toFixed(1)} MiB`);
    }

    // A negative length and oversized headers.
    {
      const negative = await rawRequest(server, getHealthz(server, 'Content-Length: -5\r\n'));
      check('bodies: Content-Length -5 is answered 400', negative.response?.status === 400,
        negative.response?.statusLine ?? 'no response');
      check('bodies: the server survives Content-Length -5', !server.exit() && (await health(server, 2000)) !== null);
      const filler = Array.from({ length: 24 }, (_, i) => `X-Filler-${i}: ${'h'.repeat(1000)}`).join('\r\n');
      const big = await rawRequest(server, getHealthz(server, `${filler}\r\n`));
      check('bodies: 24 KiB of request headers are answered 431 (or the connection closed unanswered)',
        big.response?.status === 431 || (!big.response && big.closed), big.response?.statusLine ?? `closed ${big.closed}`);
    }

    // WebSocket: no permessage-deflate (a small compressed message could inflate to gigabytes).
    {
      const opened = await WsClient.open(server,
        { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } });
      check('bodies: a WebSocket asking for permessage-deflate is upgraded (101)', opened.status === 101,
        `${opened.status} ${opened.error ?? ''}`);
      check('bodies: permessage-deflate is not negotiated (no Sec-WebSocket-Extensions in the 101)',
        opened.status === 101 && !('sec-websocket-extensions' in opened.headers), JSON.stringify(opened.headers));
      opened.ws?.close();
    }

    // A 64 MiB message in 4 KiB fragments: too_large once it passes 64 KiB, then close 1009.
    {
      const opened = await WsClient.open(server);
      const ws = opened.ws;
      if (!ws) throw new Error(`no WebSocket: ${opened.status} ${opened.error ?? ''}`);
      await ws.waitMessage((m) => m.type === 'welcome', 3000);
      const watch = sampler(server.pid);
      const startedAt = Date.now();
      const sent = await ws.sendFragmented(64 * MiB, 4 * KiB, 15000);
      const tooLarge = await ws.waitMessage((m) => m.code === 'too_large', 2000);
      await ws.waitClosing(3000);
      const seen = watch.stop();
      const stoppedAt = Math.min(ws.closeFrame?.at ?? Infinity, ws.closed ? ws.closedAt : Infinity);
      check('bodies: a 64 MiB fragmented WebSocket message is answered with the error too_large', tooLarge !== null,
        `${ws.messages.map(describeMessage).join(', ')}; ${(sent / MiB).toFixed(1)} MiB sent`);
      check('bodies: then the socket is closed with code 1009 (message too big)', ws.closeFrame?.code === 1009,
        `close frame ${JSON.stringify(ws.closeFrame)}, TCP closed ${ws.closed}`);
      // The bytes sent before the close are no measure (loopback socket buffers take megabytes);
      // the time is: refused within 2 s, long before 64 MiB could be through.
      check('bodies: the server stops the 64 MiB message early (closed within 2 s, before it is all sent)',
        sent < 64 * MiB && stoppedAt - startedAt <= 2000,
        `${(sent / MiB).toFixed(1)} MiB sent; closed ` +
          (Number.isFinite(stoppedAt) ? `after ${stoppedAt - startedAt} ms` : 'never'));
      check('bodies: the server\'s memory grows less than 20 MiB with a 64 MiB fragmented message', seen.rss < 20,
        `+${seen.rss.toFixed(1)} MiB`);
      ws.destroy();
    }

    // A single 100 KiB frame: too_large, then close 1009 (not a dropped TCP connection).
    {
      const opened = await WsClient.open(server);
      const ws = opened.ws;
      if (!ws) throw new Error(`no WebSocket: ${opened.status} ${opened.error ?? ''}`);
      await ws.waitMessage((m) => m.type === 'welcome', 3000);
      ws.write(WsClient.frame(0x1, Buffer.alloc(100 * KiB, 'z')));
      const tooLarge = await ws.waitMessage((m) => m.code === 'too_large', 3000);
      await ws.waitClosing(3000);
      check('bodies: a single 100 KiB WebSocket frame is answered with the error too_large', tooLarge !== null,
        ws.messages.map(describeMessage).join(', '));
      check('bodies: then closed with code 1009', ws.closeFrame?.code === 1009,
        `close frame ${JSON.stringify(ws.closeFrame)}, TCP closed ${ws.closed}`);
      ws.destroy();
    }

    // 60 KiB messages are within the limit: an error about their content, not their size.
    {
      const opened = await WsClient.open(server);
      const ws = opened.ws;
      if (!ws) throw new Error(`no WebSocket: ${opened.status} ${opened.error ?? ''}`);
      await ws.waitMessage((m) => m.type === 'welcome', 3000);
      ws.sendText('y'.repeat(60 * KiB));
      const whole = await ws.waitMessage((m) => m.type === 'error', 3000);
      check('bodies: a 60 KiB garbage message is answered bad_json, not too_large', whole?.code === 'bad_json',
        describeMessage(whole));
      await ws.sendFragmented(60 * KiB, 4 * KiB, 3000);
      const second = await ws.until(() => ws.messages.filter((m) => m.type === 'error').length >= 2, 3000);
      const errors = ws.messages.filter((m) => m.type === 'error');
      check('bodies: the same in 4 KiB fragments is answered bad_json too', second && errors[1]?.code === 'bad_json',
        errors.map(describeMessage).join(', '));
      check('bodies: and the session stays open', !ws.closed && ws.closeFrame === null, JSON.stringify(ws.closeFrame));
      ws.close();
    }

    // Refused sockets (forbidden origin) that keep sending 64 MiB each, never reading.
    {
      const watch = sampler(server.pid);
      const opened = await Promise.all([1, 2, 3].map(() => WsClient.open(server, { headers: { Origin: 'http://evil.example' },
        hostile: true })));
      const sockets = opened.map((o) => o.ws).filter(Boolean);
      const refusedAt = Date.now();
      const refused = await Promise.all(sockets.map((ws) => ws.waitMessage((m) => m.code === 'forbidden_origin', 2000)));
      check('bodies: three pages from another origin are refused with forbidden_origin',
        refused.length === 3 && refused.every(Boolean),
        opened.map((o) => o.ws ? describeMessage(o.ws.messages[0]) : `HTTP ${o.status}`).join(', '));
      for (const ws of sockets) ws.socket.pause();  // hostile: never answers the close frame, and now never reads
      // Each sends until its socket fails (the server dropped it), its 64 MiB are through, or 8 s
      // pass; then reads again, so a close by the server (FIN or reset) is seen even with nothing
      // left to write (its time then is an upper bound).
      const sent = await Promise.all(sockets.map((ws) => ws.sendFragmented(64 * MiB, 4 * KiB, 8000, { hostile: true })));
      for (const ws of sockets) ws.socket.resume();
      await waitFor(() => sockets.every((ws) => ws.closed), Math.max(0, refusedAt + 4000 - Date.now()));
      const seen = watch.stop();
      const allClosed = sockets.length === 3 && sockets.every((ws) => ws.closed && ws.closedAt - refusedAt <= 4000);
      const times = sockets.map((ws) => ws.closed ? `${((ws.closedAt - refusedAt) / 1000).toFixed(1)} s` : 'open after 8 s');
      check('bodies: refused sockets that keep sending are dropped within ~3 s (4 s allowed)', allClosed,
        `closed after ${times.join(', ')}; ${sent.map((s) => (s / MiB).toFixed(1)).join(', ')} MiB sent`);
      // Socket buffers hold a few MiB at most: a server that stops reading lets none of the 64 MiB
      // through; one that reads and discards takes it all (cheap in memory, not in time).
      check('bodies: the server stops reading the refused sockets (none gets its 64 MiB through)',
        sockets.length === 3 && sent.every((bytes) => bytes < 64 * MiB),
        `${sent.map((bytes) => (bytes / MiB).toFixed(1)).join(', ')} MiB got through`);
      check('bodies: the server\'s memory grows less than 20 MiB with 3 refused sockets sending 64 MiB each', seen.rss < 20,
        `+${seen.rss.toFixed(1)} MiB`);
      for (const ws of sockets) ws.destroy();
    }
    await stillServes(server, 'bodies');
  });

  // ================= 4. slots: slow, silent and idle connections =================
  await group('slots', async () => {
    const slow = await tryStart('slow clients', ['--request-timeout-ms', '2000', ...mainArgs]);
    if (slow) {
      const request = Buffer.from(getHealthz(slow, `User-Agent: ${'s'.repeat(200)}\r\n`));
      const dribbling = Array.from({ length: 40 }, () => new RawConnection(slow.port));
      const silent = Array.from({ length: 10 }, () => new RawConnection(slow.port));
      const all = [...dribbling, ...silent];
      await Promise.all(all.map((c) => c.connected));
      const openedAt = Date.now();
      let index = 0;
      const dribble = setInterval(() => {  // one byte a second on each of the 40
        for (const connection of dribbling) connection.write(request.subarray(index, index + 1));
        index++;
      }, 1000);
      dribble.unref();
      for (const connection of dribbling) connection.write(request.subarray(0, 1));
      index = 1;
      await sleep(1500);
      const answering = (await health(slow, 2000)) !== null;
      check('slots: /healthz answers while 50 slow or silent connections are open', answering);
      const allClosed = await waitFor(() => all.every((c) => c.closed), Math.max(0, openedAt + 4500 - Date.now()));
      clearInterval(dribble);
      const closedDribbling = dribbling.filter((c) => c.closedByServer).length;
      const closedSilent = silent.filter((c) => c.closedByServer).length;
      check('slots: with --request-timeout-ms 2000, 40 connections sending a byte a second are closed by the server ' +
        'within ~4 s', closedDribbling === 40, `${closedDribbling} of 40 closed`);
      check('slots: and 10 silent connections too', closedSilent === 10 && allClosed, `${closedSilent} of 10 closed`);
      for (const connection of all) connection.destroy();
      await stillServes(slow, 'slots');
    }

    // WebSockets that never offer do not take the slots of --max-sessions from real clients.
    const pending = await start(['--max-sessions', '4', '--max-sessions-per-ip', '0']);
    const idle = [];
    for (let i = 0; i < 10; i++) {
      const opened = await WsClient.open(pending);
      if (opened.ws) {
        await opened.ws.waitMessage(() => true, 2000);
        idle.push(opened.ws);
      }
    }
    const firstMessages = idle.map((ws) => ws.messages[0]?.code ?? ws.messages[0]?.type ?? 'nothing');
    console.log(`      10 idle WebSockets got: ${firstMessages.join(' ')}`);
    const run = await runLoadgen(pending);
    const client = run.report?.per_client?.[0];
    check('slots: while 10 WebSockets sit without an offer (--max-sessions 4), a real client is not refused server_full',
      client !== undefined && !client.errors.some((e) => e.startsWith('server_full')),
      client ? describeClient(client) : `no report: ${run.stderr.slice(-300)}`);
    check('slots: and it gets face results', client !== undefined && client.results > 0,
      client ? describeClient(client) : 'no report');
    const closedByServer = idle.filter((ws) => ws.closed || ws.closeFrame).length;
    console.log(`      of the 10 idle WebSockets, ${closedByServer} were closed by the server meanwhile`);
    for (const ws of idle) ws.close();
    await stillServes(pending, 'idle WebSockets');
  });

  // ================= 5. headers, /metrics access, ICE candidates =================
  await group('headers', async () => {
    const server = await mainServer();
    for (const path of ['', 'index.html', 'healthz', 'metrics', 'no-such-file']) {
      let headers = null;
      let status = 0;
      try {
        const response = await fetch(server.url + path, { signal: AbortSignal.timeout(3000) });
        status = response.status;
        headers = response.headers;
        await response.arrayBuffer();
      } catch { /* headers stay null */ }
      const csp = headers?.get('content-security-policy') ?? '';
      const secured = headers?.get('x-content-type-options') === 'nosniff' &&
        headers?.get('x-frame-options')?.toUpperCase() === 'DENY' && /frame-ancestors 'none'/.test(csp);
      check(`headers: /${path} (${status}) has X-Content-Type-Options: nosniff, X-Frame-Options: DENY, ` +
        'CSP frame-ancestors \'none\'', secured,
        `${headers?.get('x-content-type-options')} / ${headers?.get('x-frame-options')} / ${csp || 'no CSP'}`);
    }

    const metricsStatus = async (target, authorization) => {
      try {
        const response = await fetch(target.url + 'metrics', { headers: authorization ? { Authorization: authorization } : {},
          signal: AbortSignal.timeout(3000) });
        await response.arrayBuffer();
        return response.status;
      } catch (error) {
        return error.message;
      }
    };
    // --token gates /metrics too; --metrics-token gives it a token of its own.
    // --token-file: the same token from a file (first line), which stays out of the process list.
    const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-token-')), 'token');
    fs.writeFileSync(tokenFile, 'SECRET\n', { mode: 0o600 });
    for (const { flag, token, other, value } of [{ flag: '--token', token: 'SECRET', other: 'WRONG' },
      { flag: '--metrics-token', token: 'M', other: 'SECRET' },
      { flag: '--token-file', token: 'SECRET', other: 'WRONG', value: tokenFile }]) {
      const gated = await tryStart('metrics token', [flag, value ?? token]);
      if (!gated) continue;
      if (value) {
        check(`headers: ${flag} keeps the token out of the process list`,
          !fs.readFileSync(`/proc/${gated.pid}/cmdline`, 'utf8').includes(token));
      }
      const without = await metricsStatus(gated);
      check(`headers: with ${flag} ${token}, /metrics without a token is 401`, without === 401, String(without));
      const wrong = await metricsStatus(gated, `Bearer ${other}`);
      check(`headers: with ${flag} ${token}, /metrics with Bearer ${other} is 401`, wrong === 401, String(wrong));
      const right = await metricsStatus(gated, `Bearer ${token}`);
      check(`headers: with ${flag} ${token}, /metrics with Authorization: Bearer ${token} is 200`, right === 200,
        String(right));
      await stopServer(gated, 5000);
    }

    // Remote ICE candidates: at most 32 a session, the offer's own included.
    for (const [inOffer, messages] of [[0, 40], [10, 30]]) {
      const result = await offer(server, offerSdp({ cameraCandidates: inOffer }));
      const label = `${inOffer} candidates in the offer and ${messages} candidate messages`;
      check(`candidates: the offer with ${inOffer} candidates is answered`, result.reply?.type === 'answer', result.why);
      if (!result.ws || result.reply?.type !== 'answer') { result.ws?.destroy(); continue; }
      const ws = result.ws;
      const errorsBefore = ws.messages.filter((m) => m.type === 'error').length;
      for (let n = 1; n <= messages; n++) {
        const candidate = `candidate:${n} 1 udp 2122260223 10.0.0.${n} 9 typ host`;
        ws.sendJson({ type: 'candidate', candidate, sdpMLineIndex: 0 });
        await sleep(10);
      }
      const expected = inOffer + messages - 32;
      await ws.until(() => ws.messages.filter((m) => m.code === 'too_many_candidates').length >= expected || ws.closed, 3000);
      await sleep(300);
      const errors = ws.messages.filter((m) => m.type === 'error').slice(errorsBefore);
      const tooMany = errors.filter((m) => m.code === 'too_many_candidates').length;
      check(`candidates: ${label}: each one past 32 is answered too_many_candidates (${expected} of them)`,
        tooMany === expected && errors.length === expected, errors.map((m) => m.code).join(' ') || 'no errors');
      check(`candidates: ${label}: the session stays open`, !ws.closed && ws.closeFrame === null &&
        !ws.messages.some((m) => m.type === 'bye') && (await sessionCount(server, 2000)) >= 1,
      describeMessage(ws.messages.find((m) => m.type === 'bye')));
      ws.close();
    }
    await waitFor(async () => (await sessionCount(server, 2000)) === 0, 5000);
    await stillServes(server, 'headers and candidates');
  });

  // ================= 6. --host ::1: a loopback server exposes no other interface =================
  await group('ipv6-loopback', async () => {
    const server = await tryStart('--host ::1', ['--host', '::1']);
    if (!server) return;
    check('--host ::1: it listens on ::1 and says so with the address in brackets',
      server.host === '::1' && /listening on http:\/\/\[::1\]:\d+\//.test(server.output()) &&
      (await health(server, 3000)) !== null, server.output().slice(0, 300));
    const { ws, reply, why } = await offer(server, offerSdp());
    check('--host ::1: an offer is answered', reply?.type === 'answer', why);
    // Candidates come in the answer and trickled after it; gathering on loopback takes well under 2 s.
    await sleep(2000);
    const trickled = ws ? ws.messages.filter((m) => m.type === 'candidate').map((m) => m.candidate) : [];
    const inAnswer = (reply?.sdp ?? '').split('\r\n').filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2));
    const addresses = [...trickled, ...inAnswer].filter(Boolean).map((c) => c.split(' ')[4]);
    check('--host ::1: the server gathers ICE candidates on ::1 only, none on the machine\'s interfaces',
      addresses.length > 0 && addresses.every((a) => a === '::1'), addresses.join(' ') || 'no candidates');
    ws?.close();
    await stopServer(server, 5000);
  });
} catch (error) {
  check('the test ran to its end', false, error.stack);
} finally {
  // ================= 7. the logs =================
  const exits = [];
  for (const server of servers) {
    const running = !server.exit();
    const exit = await stopServer(server, 5000);
    if (running) exits.push(`${server.args.join(' ')}: ${JSON.stringify(exit)}`);
    server.stoppedCleanly = !running || exit.code === 0;
  }
  const logs = [
    ['no "terminate called"', /terminate called/],
    ['no GLib-CRITICAL or GLib-GObject-CRITICAL', /GLib(-GObject)?-CRITICAL/],
    ['no warnings of an invalid Content-Length', /invalid[^\n]*content-length|content-length[^\n]*invalid/i],
  ];
  for (const [what, pattern] of logs) {
    const hits = servers.filter((server) => pattern.test(server.output()));
    check(`log: ${what} in the output of any of the ${servers.length} servers`, hits.length === 0,
      hits.map((server) => `[${server.args.join(' ')}] ${excerpt(server.output(), pattern)}`).join(' || '));
  }
  const unclean = servers.filter((server) => !server.stoppedCleanly);
  check('log: every server still running at the end stops cleanly on SIGTERM (exit 0)', unclean.length === 0,
    exits.join(', '));
  // What a server that did not stop cleanly printed last (a sanitizer's report, say).
  for (const server of unclean) {
    const output = server.output();
    const report = output.search(/ERROR: (Address|Leak)Sanitizer|runtime error/);
    console.log(`    [${server.args.join(' ')}] ended with:\n${report >= 0 ? output.slice(report, report + 20000) : output.slice(-6000)}`);
  }
}
finish();

function excerpt(text, pattern) {
  const match = pattern.exec(text);
  if (!match) return '';
  return text.slice(Math.max(0, match.index - 200), match.index + 300).replace(/\n/g, ' | ');
}
