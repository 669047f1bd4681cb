// Starting and watching a real `speakup serve` from the node end-to-end tests: one place for
// "spawn it on a free port, wait until it answers, read its counters and sessions, stop it", and
// for the browser tests, "wait until a page gets somewhere".
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { readFrame } from '../../web/test/http_ws.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `speakup serve --port 0 ...args` and waits until /healthz answers on its address (throws,
// with what it printed, if it does not start or exits first). The result's output() is everything
// the server printed; exited is a promise of {code, signal}, exit() that or null while it runs.
// echo: also copy the server's stderr to this process's stderr as it comes.
// Env SPEAKUP_WEB_ROOT=DIR: the server serves the web client from DIR (`--web-root DIR` appended),
// e.g. a worktree's web/ with a prebuilt server whose compiled-in default is another checkout's.
// Unless args name --drain-seconds, SIGTERM ends the server at once (--drain-seconds 0): tests stop
// their servers with it; the drain has its own test (serve_drain.mjs).
// port: listen there instead of a free port the server picks (a restarted server at the same address).
export async function startServer(bin, args = [], { echo = false, port: wantedPort = 0 } = {}) {
  const webRoot = process.env.SPEAKUP_WEB_ROOT ? ['--web-root', process.env.SPEAKUP_WEB_ROOT] : [];
  const drain = args.includes('--drain-seconds') ? [] : ['--drain-seconds', '0'];
  const child = spawn(bin, ['serve', '--port', String(wantedPort), ...drain, ...args, ...webRoot], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exit = null;
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => {
    output += d;
    if (echo) process.stderr.write(d);
  });
  const exited = new Promise((r) => child.on('exit', (code, signal) => { exit = { code, signal }; r(exit); }));
  // A test that ends early (its watchdog, an exception) must not leave its server running.
  const killOnExit = () => { if (!exit) child.kill('SIGKILL'); };
  process.on('exit', killOnExit);
  child.on('exit', () => process.off('exit', killOnExit));
  for (let i = 0; i < 200 && !/listening on \S+:(\d+)\//.test(output) && !exit; i++) await sleep(100);
  const port = /listening on \S+:(\d+)\//.exec(output)?.[1];
  if (!port) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start (${JSON.stringify(exit)}): ${output}`);
  }
  // The address it listens on: as printed (an IPv6 one in brackets), localhost being 127.0.0.1.
  const printed = /listening on \w+:\/\/(\S+):\d+\//.exec(output)?.[1];
  const host = !printed || printed === 'localhost' ? '127.0.0.1' : printed.replace(/^\[(.*)\]$/, '$1');
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  for (let i = 0; i < 50; i++) {
    if (exit) throw new Error(`the server exited (${JSON.stringify(exit)}): ${output}`);
    try {
      if ((await fetch(url + 'healthz')).ok) break;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  return { process: child, pid: child.pid, host, port: Number(port), url, exited, output: () => output, exit: () => exit };
}

// SIGTERM, then SIGKILL if it has not stopped within `ms`; resolves with {code, signal}.
// A TCP port free on 127.0.0.1 now (the OS picks it), for a server that must come back on the same one.
export async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function stopServer(server, ms = 10000) {
  if (server.exit()) return server.exit();
  server.process.kill('SIGTERM');
  const result = await Promise.race([server.exited, sleep(ms).then(() => null)]);
  if (result) return result;
  server.process.kill('SIGKILL');
  return { code: null, signal: 'SIGKILL', timedOut: true };
}

// What /healthz answers ({status, sessions, ...}); null when the server does not answer (within
// `ms`, if given).
export async function health(server, ms = 0) {
  try {
    const response = await fetch(server.url + 'healthz', ms ? { signal: AbortSignal.timeout(ms) } : {});
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

// Open sessions as /healthz reports them; -1 when the server does not answer (within `ms`, if given).
export async function sessionCount(server, ms = 0) {
  return (await health(server, ms))?.sessions ?? -1;
}

// Polls /healthz until the session count is `wanted` (a number, or a test of the count) or `ms`
// pass; returns the last count seen (-1: no answer).
export async function waitForSessions(server, wanted, ms) {
  const ok = typeof wanted === 'function' ? wanted : (n) => n === wanted;
  let count = -1;
  await waitFor(async () => ok(count = await sessionCount(server, 3000)), ms);
  return count;
}

// The /metrics samples without labels, as numbers by name.
export async function metrics(server) {
  const text = await (await fetch(server.url + 'metrics')).text();
  const values = {};
  for (const match of text.matchAll(/^(speakup_\w+) (\S+)$/gm)) values[match[1]] = Number(match[2]);
  return values;
}

// Polls `condition` (async) every 100 ms until it is true or `ms` pass; returns whether it held.
export async function waitFor(condition, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await condition()) return true;
    await sleep(100);
  }
  return Boolean(await condition());
}

// Waits until `predicate(arg)` holds in the browser page (polled every 100 ms) or `ms` pass;
// returns whether it held.
export async function waitForPage(page, predicate, arg, ms) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: ms, polling: 100 });
    return true;
  } catch {
    return false;
  }
}

// Resident memory of a process in MiB (Linux /proc).
export function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) / 1024;
}

// Opens /ws with the given headers (Origin, Host) and resolves with { message, socket, close() }:
// the server's first message, parsed (welcome or error), and the still open socket.
export function openSignaling(server, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port: server.port,
      path: '/ws',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    const timer = setTimeout(() => { request.destroy(); reject(new Error('no first message within 5 s')); }, 5000);
    request.on('error', (e) => { clearTimeout(timer); reject(e); });
    request.on('response', (response) => {
      clearTimeout(timer);
      reject(new Error(`no WebSocket upgrade: HTTP ${response.statusCode}`));
      response.resume();
    });
    request.on('upgrade', (_response, socket, head) => {
      let buffered = head;
      const onData = (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        const frame = readFrame(buffered);
        if (!frame) return;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.on('data', () => {});  // later frames (keepalive pings, bye) are not looked at
        socket.on('error', () => {});
        resolve({ message: JSON.parse(frame.payload.toString('utf8')), socket, close: () => closeSignaling(socket) });
      };
      socket.on('data', onData);
      onData(Buffer.alloc(0));
    });
    request.end();
  });
}

// A normal close (1000), masked as client frames must be, then the TCP connection ends.
function closeSignaling(socket) {
  const mask = crypto.randomBytes(4);
  const payload = Buffer.from([0x03, 0xe8]).map((b, i) => b ^ mask[i % 4]);
  socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | 2]), mask, payload]));
  socket.end();
}
