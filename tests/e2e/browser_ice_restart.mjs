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
//   - then the path goes away for good (nft drops the server's media address): the restart cannot
//     work, the server keeps the session for its grace period (--restart-grace-ms) and then ends it,
//     and the page falls back to its full reconnect, which gets a new session once the path is back.
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
const nft = (command) => execFileSync('nft', [command], { encoding: 'utf8' });
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
    session.ice = [];
    client.on('connection', ({ ice }) => {
      if (session.ice.at(-1)?.ice !== ice) session.ice.push({ ice, time: Date.now() });
    });
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
  // The demo page too, for what it shows: every text of its phase line is recorded.
  const demo = await browser.newPage('demo');
  await demo.addInitScript(() => {
    window.phaseTexts = [];
    document.addEventListener('DOMContentLoaded', () => {
      const phase = document.getElementById('phase');
      new MutationObserver(() => window.phaseTexts.push(phase.textContent)).observe(phase, { childList: true, characterData: true, subtree: true });
    });
  });
  await demo.goto(`${server.url}?autostart=1&views=2d`);
  const page = await browser.newPage('restart');
  await startSession(page);
  const demoUp = await waitForPage(demo, () => window.speakup.state === 'connected' && window.speakup.resultsReceived >= 30, null, 40000);
  const demoSession = await demo.evaluate(() => window.speakup.session?.session);
  check('the demo page connects too', demoUp, await demo.evaluate(() => window.speakup.state));
  const flowing = await waitForPage(page, () => window.session.results >= 30 && window.session.faces > 0, null, 40000);
  const before = await sessionState(page);
  check('the page connects over the first network and gets landmarks', flowing,
    `${before.results} results, states ${before.states.map((s) => s.state).join(' ')}`);
  const pairBefore = await selectedPair(page);
  check(`media runs between ${CLIENT_BEFORE} and ${SERVER_MEDIA}`,
    pairBefore?.local.address === CLIENT_BEFORE && pairBefore?.remote.address === SERVER_MEDIA, JSON.stringify(pairBefore));

  const ufrags = () => page.evaluate(() => {
    const ufrag = (sdp) => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
    const pc = window.client.peerConnection;
    return { local: ufrag(pc.localDescription.sdp), remote: ufrag(pc.remoteDescription.sdp) };
  });
  const ufragsBefore = await ufrags();

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
  const statesSince = after.states.filter((s) => s.time > changedAt).map((s) => s.state).join(' ');
  check('it said so: state restarting, then connected', statesSince === 'restarting connected',
    after.states.map((s) => s.state).join(' '));
  check('a `restart` message went out on the same WebSocket, and no new `offer`',
    restartsSent.length >= 1 && after.sent.filter((m) => m.type === 'offer').length === 1,
    after.sent.map((m) => m.type).join(' '));
  check('the same session: one welcome, the same id, no reconnection',
    after.welcomes.length === 1 && after.welcomes[0] === before.welcomes[0] && after.reconnecting.length === 0,
    `welcomes ${after.welcomes.join(' ')}, reconnecting ${after.reconnecting.length}`);
  const m = await metrics(server);
  check('the server started no other session', m.speakup_sessions_started_total === started + 2 && m.speakup_sessions_active === 2,
    `started ${m.speakup_sessions_started_total - started}, active ${m.speakup_sessions_active}`);
  const pairAfter = await selectedPair(page);
  check(`media now runs from ${CLIENT_AFTER}`, pairAfter?.local.address === CLIENT_AFTER, JSON.stringify(pairAfter));
  check('the server answered the restart', new RegExp(`session ${before.welcomes[0]}: ICE restart answered`).test(server.output()),
    server.output().split('\n').filter((l) => /restart|interrupted|media/.test(l)).slice(-6).join(' | '));
  const ufragsAfter = await ufrags();
  // The server keeps its own credentials (webrtcbin 1.22 answers a restart with them; see
  // webrtc_negotiation.cc): the page's are new, and its old ones are gone with its old candidates.
  check('new ICE credentials from the page (an ICE restart of the same peer connection)',
    ufragsAfter.local !== ufragsBefore.local,
    `local ${ufragsBefore.local} -> ${ufragsAfter.local}, server ${ufragsBefore.remote} -> ${ufragsAfter.remote}`);
  check('the server saw the media come back on the same session',
    new RegExp(`session ${before.welcomes[0]}: media interrupted[\\s\\S]*session ${before.welcomes[0]}: media connected`)
      .test(server.output()) || !/media interrupted/.test(server.output()),
    server.output().split('\n').filter((l) => /media (interrupted|connected)/.test(l)).join(' | '));
  // Results resume: the first result after the gap the path change made (results stop within a
  // frame or two of the change).
  const times = after.resultTimes;
  let resumedAt = null;
  for (let i = 1; i < times.length; i++) {
    if (times[i] > changedAt && times[i] - times[i - 1] > 1000) { resumedAt = times[i]; break; }
  }
  const lastBefore = times.filter((t) => t < (resumedAt ?? Infinity)).at(-1);
  const restartOffer = restartsSent[0]?.time;
  const since = (t) => (t ? `${t - changedAt} ms` : '?');
  const iceDown = after.ice.find((e) => e.time > changedAt && e.ice !== 'connected' && e.ice !== 'completed');
  console.log(`measured: after the path change: last result ${since(lastBefore)}, ICE ${iceDown?.ice ?? '?'} ` +
    `${since(iceDown?.time)}, restart offer ${since(restartOffer)}, results resume ${since(resumedAt)} ` +
    `(restart offer -> ICE connected ${after.restarted[0]?.ms ?? '?'} ms); ICE states ` +
    after.ice.map((e) => `${e.ice}@${e.time - changedAt}`).join(' '));
  check('results resume within 10 s of the path change', resumedAt !== null && resumedAt - changedAt < 10000,
    `${resumedAt ? resumedAt - changedAt : 'no gap found'} ms`);

  // The demo page: it said "restarting the connection", and is back on its session without reconnecting.
  const demoBack = await waitForPage(demo, (t) => window.speakup.state === 'connected' &&
    window.speakup.stateHistory.some((h) => h.state === 'restarting' && h.time > t), changedAt, 20000);
  const shown = await demo.evaluate(() => ({ history: window.speakup.stateHistory.map((h) => h.state), texts: window.phaseTexts,
    session: window.speakup.session?.session, retries: window.speakup.reconnect.retries, restarts: window.speakup.restarts,
    badge: document.getElementById('state-badge').textContent }));
  check('the demo page showed "restarting the connection…" and came back on the same session', demoBack &&
    shown.texts.includes('restarting the connection…') && shown.session === demoSession && shown.retries === 0 &&
    shown.restarts.succeeded >= 1 && shown.badge === 'connected', JSON.stringify(shown));
  await demo.close();

  // ---- The path goes away for good (a firewall drops the media): the restart cannot work ----
  // (Removing the client's last address is not enough: Chromium then sends from the wildcard
  // address, which the kernel routes over loopback.)
  const goneAt = Date.now();
  nft('add table inet icetest');
  nft('add chain inet icetest input { type filter hook input priority 0 ; }');
  nft(`add rule inet icetest input ip daddr ${SERVER_MEDIA} meta l4proto udp drop`);
  nft(`add rule inet icetest input ip saddr ${SERVER_MEDIA} meta l4proto udp drop`);
  const gaveUp = await waitForPage(page, () => window.session.reconnecting.length >= 1, null, 40000);
  const lost = await sessionState(page);
  check('with the path blocked, the restart fails and the page falls back to a full reconnect', gaveUp &&
    lost.restarting.length >= 2 && lost.reconnecting[0].reason === 'ice_failed',
    `restarting ${lost.restarting.length}, reconnecting ${JSON.stringify(lost.reconnecting)} after ` +
    `${lost.reconnecting[0] ? lost.reconnecting[0].time - goneAt : '?'} ms`);
  const ended = new RegExp(`session ${before.welcomes[0]}: .*did not restore the connection within 8000 ms`);
  check('the server kept the session for its grace period, then ended it', ended.test(server.output()),
    server.output().split('\n').filter((l) => l.includes(before.welcomes[0])).slice(-3).join(' | '));
  nft('delete table inet icetest');
  // The path back: the page's reconnect gets a new session.
  const renewed = await waitForPage(page, () => window.session.welcomes.length >= 2 &&
    window.session.resultTimes.filter((t) => t > window.session.reconnecting[0].time).length >= 30, null, 60000);
  const last = await sessionState(page);
  check('on a network again, the reconnect gets a new session and results', renewed &&
    last.welcomes[1] !== last.welcomes[0], `welcomes ${last.welcomes.join(' ')}, states ${last.states.slice(-4).map((x) => x.state).join(' ')}`);
  await page.close();
} finally {
  await stopServer(server);
  await browser.close();
  fs.rmSync(work, { recursive: true, force: true });
}
check('no page errors', problems.length === 0, JSON.stringify(problems.slice(0, 5)));
finish();
