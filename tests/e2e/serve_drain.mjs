// Readiness and graceful drain, against a real `speakup serve` and real WebRTC clients (`speakup
// loadgen`): /readyz says whether the node admits a session (200 ready, 503 full or draining, with the
// reason), /metrics shows capacity and state; SIGTERM stops admitting at once while the running
// sessions keep getting results for --drain-seconds, then each client is told `bye` with
// `reconnect: true` and the server exits 0; a second SIGTERM ends the drain at once; a server with
// no session exits at once.
//   node tests/e2e/serve_drain.mjs   (env SPEAKUP_BIN = the speakup program)
import { spawn } from 'node:child_process';

import { checker } from '../../web/test/checks.mjs';
import { metrics, openSignaling, sleep, startServer, stopServer, waitFor } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('serve_drain', 150000);

async function readyz(server) {
  const response = await fetch(server.url + 'readyz');
  return { status: response.status, body: await response.json() };
}

// `speakup loadgen` with n clients for `seconds` against the server; resolves with its JSON report.
function loadgen(server, n, seconds) {
  const child = spawn(bin, ['loadgen', '--server', server.url, '--clients', String(n), '--duration', String(seconds),
    '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => child.on('exit', (code) => {
    try {
      resolve({ code, report: JSON.parse(out) });
    } catch {
      resolve({ code, report: null, output: out + err });
    }
  }));
  return { child, done };
}

const activeSessions = async (server) => (await metrics(server)).speakup_sessions_active;

// ---- Ready, full, draining, then reconnect ----
{
  const server = await startServer(bin, ['--threads', '1', '--max-sessions', '1', '--drain-seconds', '4']);
  try {
    const idle = await readyz(server);
    check('/readyz: 200 "ready" with room, capacity 1', idle.status === 200 && idle.body.status === 'ready' &&
      idle.body.capacity === 1 && idle.body.sessions === 0, JSON.stringify(idle));
    const before = await metrics(server);
    check('/metrics: capacity 1, ready, not draining', before.speakup_sessions_capacity === 1 &&
      before.speakup_ready === 1 && before.speakup_draining === 0, JSON.stringify(before).slice(0, 200));

    const client = loadgen(server, 1, 20);
    check('a client streams', await waitFor(async () => (await activeSessions(server)) === 1, 20000));
    const full = await readyz(server);
    check('/readyz: 503 "full" at --max-sessions', full.status === 503 && full.body.status === 'full',
      JSON.stringify(full));
    await sleep(1000);

    const signalled = Date.now();
    server.process.kill('SIGTERM');
    await sleep(300);
    const draining = await readyz(server);
    check('SIGTERM: /readyz turns 503 "draining" at once', draining.status === 503 && draining.body.status === 'draining',
      JSON.stringify(draining));
    const healthz = await fetch(server.url + 'healthz');
    check('SIGTERM: /healthz still answers 200 (the process is alive)', healthz.status === 200);
    const state = await metrics(server);
    check('SIGTERM: /metrics shows draining and not ready', state.speakup_draining === 1 && state.speakup_ready === 0);
    const refused = await openSignaling(server);
    check('SIGTERM: a new client is refused with "draining"', refused.message.type === 'error' &&
      refused.message.code === 'draining' && /connect again/.test(refused.message.message), JSON.stringify(refused.message));
    refused.close();
    await sleep(1000);
    const mid = await metrics(server);
    check('SIGTERM: the running session keeps getting frames answered during the drain',
      mid.speakup_sessions_active === 1 && mid.speakup_results_sent_total > state.speakup_results_sent_total,
      `results ${state.speakup_results_sent_total} -> ${mid.speakup_results_sent_total}`);

    const exited = await Promise.race([server.exited, sleep(15000).then(() => null)]);
    const drained = (Date.now() - signalled) / 1000;
    check('the server exits 0 when the drain ends (about 4 s after SIGTERM)', exited?.code === 0 && drained >= 3.5 &&
      drained < 10, `${JSON.stringify(exited)} after ${drained.toFixed(1)} s`);
    check('the server said it drained', /draining: no new sessions; 1 running go on for 4 s/.test(server.output()),
      server.output().slice(-400));
    const { report } = await client.done;
    const c = report?.per_client?.[0];
    check('the client was told bye with reconnect: true', c?.bye_reconnect === true && /connect again/.test(c?.bye ?? ''),
      JSON.stringify(c && { bye: c.bye, reconnect: c.bye_reconnect }));
    check('the client had its frames answered until then', c?.results >= 90, `${c?.results} results`);
  } finally {
    await stopServer(server);
  }
}

// ---- A second SIGTERM ends the drain at once ----
{
  const server = await startServer(bin, ['--threads', '1', '--drain-seconds', '60']);
  try {
    const client = loadgen(server, 1, 20);
    check('second server: a client streams', await waitFor(async () => (await activeSessions(server)) === 1, 20000));
    server.process.kill('SIGTERM');
    await sleep(500);
    check('second server: still running after the first SIGTERM', server.exit() === null);
    const second = Date.now();
    server.process.kill('SIGTERM');
    const exited = await Promise.race([server.exited, sleep(5000).then(() => null)]);
    check('the second SIGTERM ends the drain: exit 0 within 3 s', exited?.code === 0 && Date.now() - second < 3000,
      `${JSON.stringify(exited)} after ${Date.now() - second} ms`);
    const { report } = await client.done;
    check('second server: its client was told to reconnect', report?.per_client?.[0]?.bye_reconnect === true);
  } finally {
    await stopServer(server);
  }
}

// ---- Nothing to drain: SIGTERM exits at once ----
{
  const server = await startServer(bin, ['--threads', '1', '--drain-seconds', '60']);
  const signalled = Date.now();
  server.process.kill('SIGTERM');
  const exited = await Promise.race([server.exited, sleep(5000).then(() => null)]);
  check('with no session, SIGTERM exits 0 at once', exited?.code === 0 && Date.now() - signalled < 3000,
    `${JSON.stringify(exited)} after ${Date.now() - signalled} ms`);
  await stopServer(server);
}

finish();
