// Several nodes behind Debian's HAProxy, configured by deploy/haproxy.cfg itself (its addresses from the
// environment): signaling through the balancer, media straight to the nodes (loopback candidates).
// Checks that clients spread evenly (least connections), that a draining node (SIGTERM) gets no new
// client within a health check while its own sessions go on, that when its drain ends its clients
// (`loadgen --reconnect`) land on the other nodes within a second or two, and that TLS is
// terminated at the balancer. Real `speakup serve` nodes, real WebRTC clients (`speakup loadgen`),
// real HAProxy.
//   node tests/e2e/haproxy_cluster.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { checker } from '../../web/test/checks.mjs';
import { metrics, sleep, startServer, stopServer, waitFor } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('haproxy_cluster', 180000);
if (spawnSync('haproxy', ['-v']).error) {
  console.log('FAIL: haproxy is not installed (make setup installs it)');
  process.exit(1);
}

const freePort = () => new Promise((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});

// `speakup loadgen` through the balancer; resolves with its JSON report.
function loadgen(url, clients, seconds) {
  const child = spawn(bin, ['loadgen', '--server', url, '--clients', String(clients), '--duration', String(seconds),
    '--reconnect', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.on('exit', () => {
    try {
      resolve(JSON.parse(out));
    } catch {
      resolve(null);
    }
  }));
}

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (response) => {
      let body = '';
      response.on('data', (d) => { body += d; });
      response.on('end', () => resolve({ status: response.statusCode, body }));
    }).on('error', reject);
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-haproxy-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(work, 'key.pem'),
  '-out', path.join(work, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
fs.writeFileSync(path.join(work, 'speakup.pem'),
  Buffer.concat([fs.readFileSync(path.join(work, 'cert.pem')), fs.readFileSync(path.join(work, 'key.pem'))]));

const nodes = [];
let balancer = null;
try {
  for (let i = 0; i < 3; i++) {
    nodes.push(await startServer(bin, ['--threads', '1', '--max-sessions', '6', '--max-sessions-per-ip', '0',
      '--drain-seconds', '5']));
  }
  const httpPort = await freePort(), httpsPort = await freePort();
  const env = {
    ...process.env,
    SPEAKUP_HTTP_BIND: `127.0.0.1:${httpPort}`,
    SPEAKUP_HTTPS_BIND: `127.0.0.1:${httpsPort}`,
    SPEAKUP_TLS_PEM: path.join(work, 'speakup.pem'),
    SPEAKUP_NODE1: `127.0.0.1:${nodes[0].port}`,
    SPEAKUP_NODE2: `127.0.0.1:${nodes[1].port}`,
    SPEAKUP_NODE3: `127.0.0.1:${nodes[2].port}`,
  };
  let log = '';
  balancer = spawn('haproxy', ['-db', '-f', 'deploy/haproxy.cfg'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  balancer.stdout.on('data', (d) => { log += d; });
  balancer.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${httpPort}/`;
  const up = await waitFor(async () => {
    try {
      return (await fetch(url + 'readyz')).status === 200;
    } catch {
      return false;
    }
  }, 10000);
  check('HAProxy runs deploy/haproxy.cfg and answers /readyz from a node', up, log.slice(-400));
  await sleep(2500);  // every node passes its first two health checks

  const tls = await httpsGet(`https://127.0.0.1:${httpsPort}/`).catch((e) => ({ status: 0, body: String(e) }));
  check('TLS is terminated at the balancer: the page over https', tls.status === 200 && /SpeakUp/.test(tls.body),
    `HTTP ${tls.status}`);

  const sessionsOf = async () => Promise.all(nodes.map(async (n) => (await metrics(n)).speakup_sessions_active));
  // Spread: six clients on three nodes.
  const first = loadgen(url, 6, 30);
  const spread = await waitFor(async () => (await sessionsOf()).reduce((a, b) => a + b, 0) === 6, 30000);
  const counts = await sessionsOf();
  check('six clients through the balancer all stream', spread, JSON.stringify(counts));
  check('least connections spreads them evenly (max/min <= 1.5)',
    Math.min(...counts) > 0 && Math.max(...counts) / Math.min(...counts) <= 1.5, JSON.stringify(counts));

  // Drain one node: the balancer stops sending it clients within a health check; its own go on.
  const drained = nodes[0];
  const before = (await sessionsOf())[0];
  const resultsBefore = (await metrics(drained)).speakup_results_sent_total;
  drained.process.kill('SIGTERM');
  await sleep(2000);
  const second = loadgen(url, 3, 20);
  const placed = await waitFor(async () => (await sessionsOf()).reduce((a, b) => a + b, 0) === 9, 30000);
  const after = await sessionsOf();
  check('three more clients stream', placed, JSON.stringify(after));
  check('the draining node got none of them; the others did', after[0] === before && after[1] + after[2] === 9 - before,
    `before ${before}, after ${JSON.stringify(after)}`);
  check('the draining node keeps answering its own clients',
    (await metrics(drained)).speakup_results_sent_total > resultsBefore + 30);

  // The drain ends: the node tells its clients to reconnect and exits; they come back through the
  // balancer to the two nodes left.
  const exited = await Promise.race([drained.exited, sleep(15000).then(() => null)]);
  check('the drained node exits 0 when its drain ends', exited?.code === 0, JSON.stringify(exited));
  const others = async () => (await Promise.all(nodes.slice(1).map(async (n) => (await metrics(n)).speakup_sessions_active)));
  const moved = await waitFor(async () => (await others()).reduce((a, b) => a + b, 0) === 9, 10000);
  check('its clients reconnect through the balancer to the other nodes', moved, JSON.stringify(await others()));

  const [one, two] = await Promise.all([first, second]);
  const all = [...(one?.per_client ?? []), ...(two?.per_client ?? [])];
  const movedClients = all.filter((c) => c.reconnects > 0);
  const longestGap = Math.max(0, ...movedClients.map((c) => c.max_gap_ms));
  console.log(`moved clients: ${movedClients.length}, longest gap without results ${longestGap.toFixed(0)} ms`);
  check('the drained node\'s two clients reconnected once each, with results again within 3 s',
    movedClients.length === 2 && movedClients.every((c) => c.reconnects === 1) && longestGap < 3000,
    JSON.stringify(movedClients.map((c) => ({ reconnects: c.reconnects, gap: Math.round(c.max_gap_ms) }))));
  const streamed = all.filter((c) => c.streamed);
  const answered = streamed.reduce((a, c) => a + c.results, 0) / Math.max(1, streamed.reduce((a, c) => a + c.frames_sent, 0));
  // Correctness, not throughput (nine streams and three servers share two cores, under ASan too):
  // every client streams and gets results for most of its frames, whichever node it landed on.
  const worst = Math.min(...streamed.map((c) => c.results / Math.max(1, c.frames_sent)));
  check('every client streamed and got its results through the balancer', all.length === 9 && streamed.length === 9 &&
    worst > 0.5, `${streamed.length} of ${all.length}, ${(100 * answered).toFixed(1)}% answered, worst client ` +
    `${(100 * worst).toFixed(1)}%`);
} finally {
  if (balancer) balancer.kill('SIGKILL');
  for (const node of nodes) await stopServer(node, 3000);
  fs.rmSync(work, { recursive: true, force: true });
}
finish();
