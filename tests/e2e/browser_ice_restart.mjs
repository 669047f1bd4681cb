// ICE restart when the network path changes under a running session while its signaling WebSocket
// stays up: real `speakup serve`, Debian's headless Chromium, inside a network namespace of its own
// (`unshare -n`; the test re-runs itself there, as root).
//   - signaling on 127.0.0.1; the server's media (ICE host candidates) on 10.77.0.1 only
//     (`--ice-address`), an address on the namespace's loopback device, which Chromium does not gather on;
//   - Chromium's only network: a veth device with 10.77.1.1;
//   - the path change: 10.77.1.1 is removed and 10.77.2.1 added (a laptop moving from one network
//     to another). Chromium's media socket loses its address; the page sees ICE disconnected, restarts
//     ICE on the same WebSocket (`restart`), and results come back on the new address: same session
//     id, one `welcome`, no reconnection, the server's session count unchanged.
//   - then the whole path goes away (the address removed for good, no new one): the restart cannot
//     work, the server keeps the session for its grace period (--restart-grace-ms) and then ends it,
//     and the page falls back to its full reconnect.
//   node tests/e2e/browser_ice_restart.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

if (!process.env.SPEAKUP_NETNS) {
  // A private network namespace: the addresses below exist only for this test.
  const run = spawnSync('unshare', ['-n', process.execPath, fileURLToPath(import.meta.url)],
    { stdio: 'inherit', env: { ...process.env, SPEAKUP_NETNS: '1' } });
  if (run.error) console.error(`browser_ice_restart: cannot run unshare -n (${run.error.message}): it needs root`);
  process.exit(run.status ?? 1);
}

const { launch } = await import('../../web/test/chromium.mjs');
const { checker } = await import('../../web/test/checks.mjs');
const { fakeCameraFile, selectedPair, sessionState } = await import('./page_client.mjs');
const { metrics, sleep, startServer, stopServer, waitForPage } = await import('./speakup_server.mjs');

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('browser_ice_restart', 200000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-icerestart-'));

const SERVER_MEDIA = '10.77.0.1';
const CLIENT_BEFORE = '10.77.1.1';
const CLIENT_AFTER = '10.77.2.1';
const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8' });
ip('link', 'set', 'lo', 'up');
ip('addr', 'add', `${SERVER_MEDIA}/32`, 'dev', 'lo');
ip('link', 'add', 'client0', 'type', 'veth', 'peer', 'name', 'client1');
ip('link', 'set', 'client1', 'up');
ip('link', 'set', 'client0', 'up');
ip('addr', 'add', `${CLIENT_BEFORE}/24`, 'dev', 'client0');

const problems = [];
// Real host addresses (no mDNS names) and no loopback candidates: Chromium's one candidate is the
// veth address, so the path is the one the test changes.
const browser = await launch({ problems, extra: ['--disable-features=WebRtcHideLocalIpsWithMdns',
  `--use-file-for-fake-video-capture=${fakeCameraFile(work)}`] });
const server = await startServer(bin, ['--threads', '1', '--ice-address', SERVER_MEDIA, '--restart-grace-ms', '8000']);

// The page's session through the served client library, with every event the test looks at recorded
// (times in ms since the epoch, as Date.now() here, the same clock).
async function startSession(page) {
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(server.url + 'healthz');
  await page.evaluate(async () => {
    const { connect } = await import('/lib/speakup.js');
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const session = { results: 0, faces: 0, resultTimes: [], welcomes: [], states: [], restarting: [], restarted: [],
      reconnecting: [], errors: [], sent: [] };
    window.session = session;
    const client = connect(undefined, { stream, reconnect: true });
    window.client = client;
    client.on('welcome', (w) => session.welcomes.push(w.session));
    client.on('result', (r) => {
      session.results += 1;
      session.faces += r.faces.length;
      session.resultTimes.push(Date.now());
      if (session.resultTimes.length > 4000) session.resultTimes.splice(0, 1000);
    });
    client.on('state', ({ state }) => session.states.push({ state, time: Date.now() }));
    client.on('restarting', (e) => session.restarting.push({ ...e, time: Date.now() }));
    client.on('restarted', (e) => session.restarted.push({ ...e, time: Date.now() }));
    client.on('reconnecting', (e) => session.reconnecting.push({ reason: e.reason, message: e.message, time: Date.now() }));
    client.on('error', (e) => session.errors.push({ code: e.code, message: e.message }));
    // Every signaling message the page sends, by type (the WebSocket of each attempt).
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      try { session.sent.push({ type: JSON.parse(data).type, time: Date.now() }); } catch { /* not JSON */ }
      return send.call(this, data);
    };
  });
}

const started = (await metrics(server)).speakup_sessions_started_total;
try {
  const page = await browser.newPage('restart');
  await startSession(page);
  const flowing = await waitForPage(page, () => window.session.results >= 30 && window.session.faces > 0, null, 40000);
  const before = await sessionState(page);
  check('the page connects over the first network and gets landmarks', flowing,
    `${before.results} results, states ${before.states.map((s) => s.state).join(' ')}`);
  const pairBefore = await selectedPair(page);
  check(`media runs between ${CLIENT_BEFORE} and ${SERVER_MEDIA}`,
    pairBefore?.local.address === CLIENT_BEFORE && pairBefore?.remote.address === SERVER_MEDIA, JSON.stringify(pairBefore));

  // ---- The network changes under the session ----
  const changedAt = Date.now();
  ip('addr', 'del', `${CLIENT_BEFORE}/24`, 'dev', 'client0');
  ip('addr', 'add', `${CLIENT_AFTER}/24`, 'dev', 'client0');
  const back = await waitForPage(page, (t) => window.session.restarted.length >= 1 &&
    window.session.resultTimes.filter((x) => x > window.session.restarted[0].time).length >= 30, changedAt, 40000);
  const after = await sessionState(page);
  const restartsSent = after.sent.filter((m) => m.type === 'restart');
  check('the page restarts ICE and results come back', back,
    `restarting ${JSON.stringify(after.restarting)}, restarted ${JSON.stringify(after.restarted)}, ` +
    `reconnecting ${JSON.stringify(after.reconnecting)}, errors ${JSON.stringify(after.errors)}`);
  check('it said so: state restarting, then connected', after.states.some((s) => s.state === 'restarting' && s.time > changedAt) &&
    after.states.at(-1).state === 'connected', after.states.map((s) => s.state).join(' '));
  check('a `restart` message went out on the same WebSocket, and no new `offer`',
    restartsSent.length >= 1 && after.sent.filter((m) => m.type === 'offer').length === 1,
    after.sent.map((m) => m.type).join(' '));
  check('the same session: one welcome, the same id, no reconnection',
    after.welcomes.length === 1 && after.welcomes[0] === before.welcomes[0] && after.reconnecting.length === 0,
    `welcomes ${after.welcomes.join(' ')}, reconnecting ${after.reconnecting.length}`);
  const m = await metrics(server);
  check('the server started no other session', m.speakup_sessions_started_total === started + 1 && m.speakup_sessions_active === 1,
    `started ${m.speakup_sessions_started_total - started}, active ${m.speakup_sessions_active}`);
  const pairAfter = await selectedPair(page);
  check(`media now runs from ${CLIENT_AFTER}`, pairAfter?.local.address === CLIENT_AFTER, JSON.stringify(pairAfter));
  check('the server answered the restart', new RegExp(`session ${before.welcomes[0]}: ICE restart answered`).test(server.output()),
    server.output().split('\n').filter((l) => /restart|interrupted|media/.test(l)).slice(-6).join(' | '));
  // Results resume: the first result after the gap the path change made.
  const times = after.resultTimes.filter((t) => t > changedAt);
  let resumedAt = null;
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > 1000) { resumedAt = times[i]; break; }
  const lastBefore = after.resultTimes.filter((t) => t <= (resumedAt ?? changedAt)).at(-2);
  const restartOffer = restartsSent[0]?.time;
  console.log(`measured: path change -> restart offer ${restartOffer ? restartOffer - changedAt : '?'} ms, ` +
    `-> results resume ${resumedAt ? resumedAt - changedAt : '?'} ms (restart -> ICE connected ` +
    `${after.restarted[0]?.ms ?? '?'} ms; last result before the gap ${lastBefore ? lastBefore - changedAt : '?'} ms after the change)`);
  check('results resume within 10 s of the path change', resumedAt !== null && resumedAt - changedAt < 10000,
    `${resumedAt ? resumedAt - changedAt : 'no gap found'} ms`);
  await page.close();
} finally {
  await stopServer(server);
  await browser.close();
  fs.rmSync(work, { recursive: true, force: true });
}
check('no page errors', problems.length === 0, JSON.stringify(problems.slice(0, 5)));
finish();
