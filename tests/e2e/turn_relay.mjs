// Reaching the server through a real TURN server: Debian's coturn on loopback, run from
// deploy/coturn/turnserver.conf with a shared secret (tests/e2e/coturn.mjs), and `speakup serve
// --ice-server turn:... --turn-secret S`:
//   - the welcome hands each page time-limited credentials coturn's REST scheme accepts (checked
//     against an HMAC computed here), the secret read from --turn-secret-file (not in `ps`);
//   - headless Chromium with iceTransportPolicy "relay" gets its landmarks through the relay
//     (getStats: the selected pair's local candidate is a relay one; coturn logs the allocation
//     under the session's user name);
//   - `speakup loadgen --relay` streams through it too;
//   - a server whose own agent relays only (--ice-transport-policy relay) still serves a plain page
//     (the selected pair's remote candidate is the server's relay);
//   - wrong credentials (a server with the wrong secret) and expired ones end the page's session at
//     once with turn_failed naming the TURN credentials, not a hang; coturn logs the 401s.
//   node tests/e2e/turn_relay.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { restCredentials, startCoturn } from './coturn.mjs';
import { fakeCameraFile, selectedPair, sessionState, startPageSession } from './page_client.mjs';
import { startServer, stopServer, waitForPage } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('turn_relay', 240000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-turn-'));
const SECRET = `test-secret-${process.pid}`;

const coturn = await startCoturn({ secret: SECRET });
const turnUrl = `turn:127.0.0.1:${coturn.port}?transport=udp`;
const problems = [];
const browser = await launch({ loopback: true, problems, extra: [`--use-file-for-fake-video-capture=${fakeCameraFile(work)}`] });

function runLoadgen(server, args) {
  return new Promise((resolve) => {
    const child = spawn(bin, ['loadgen', '--server', server.url, '--json', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => {
      let report = null;
      try {
        report = JSON.parse(stdout);
      } catch { /* reported below */ }
      resolve({ code, report, stderr });
    });
  });
}

const resultsArrive = (page, ms) => waitForPage(page, () => window.session.results >= 30 && window.session.faces > 0, null, ms);

try {
  // ---- relayed sessions, credentials per session from the shared secret (read from a file) ----
  const secretFile = path.join(work, 'turn-secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const server = await startServer(bin, ['--threads', '1', '--ice-server', turnUrl, '--turn-secret-file', secretFile,
    '--turn-ttl', '600']);
  try {
    check('--turn-secret-file keeps the secret out of the process list',
      !fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').includes(SECRET));
    const before = Math.floor(Date.now() / 1000);
    const page = await startPageSession(browser, server, { iceTransportPolicy: 'relay' }, 'relay');
    const arrived = await resultsArrive(page, 40000);
    const state = await sessionState(page);
    check('Chromium relaying only (iceTransportPolicy relay) gets its landmarks through coturn', arrived, JSON.stringify(state));
    const welcome = state.welcome ?? { iceServers: [] };
    const turn = welcome.iceServers.find((s) => s.urls.includes(turnUrl));
    const expiry = Number(turn?.username.split(':')[0]);
    check('the welcome names the TURN server, with a user name "expiry:session"',
      turn && turn.username === `${expiry}:${welcome.session}`, JSON.stringify(welcome.iceServers));
    check('expiring --turn-ttl seconds from now', expiry >= before + 600 && expiry <= Math.floor(Date.now() / 1000) + 600,
      `${expiry - before} s`);
    check('the password is base64(HMAC-SHA1(secret, user name))',
      turn && turn.credential === restCredentials(SECRET, expiry, welcome.session).credential, turn?.credential);
    const pair = await selectedPair(page);
    check('the selected candidate pair is a relayed one (local candidate: relay, on coturn)',
      pair?.local.type === 'relay' && pair.local.address === '127.0.0.1' && pair.local.port >= coturn.relayMin &&
      pair.local.port <= coturn.relayMax, JSON.stringify(pair));
    const allocated = new RegExp(`username=<${expiry}:${welcome.session}>[\\s\\S]*?user <${expiry}:${welcome.session}>: incoming packet ALLOCATE processed, success`);
    check('coturn logged the allocation under the session\'s user name', allocated.test(coturn.output()));
    await page.close();

    const load = await runLoadgen(server, ['--clients', '1', '--duration', '3', '--relay']);
    const client = load.report?.per_client?.[0];
    check('speakup loadgen --relay streams through coturn and gets results',
      load.code === 0 && client?.streamed && client.results > 30, `${load.code} ${JSON.stringify(client)} ${load.stderr}`);
    const sessions = new Set([...coturn.output().matchAll(/username=<\d+:(\w+)>/g)].map((m) => m[1]));
    check('coturn saw a second session\'s user name (the load generator\'s)', sessions.size >= 2, [...sessions].join(' '));

    // Expired credentials, well signed: coturn refuses them (401) and the page says so at once.
    const expired = restCredentials(SECRET, Math.floor(Date.now() / 1000) - 60, 'expired');
    const started = Date.now();
    const stale = await startPageSession(browser, server,
      { iceTransportPolicy: 'relay', iceServers: [{ urls: [turnUrl], ...expired }] }, 'expired');
    const ended = await waitForPage(stale, () => window.session.error !== null, null, 15000);
    const staleState = await sessionState(stale);
    check('expired TURN credentials: the page ends with turn_failed naming the credentials, within 15 s',
      ended && staleState.error.code === 'turn_failed' && /TURN credentials/.test(staleState.error.message),
      `${Date.now() - started} ms ${JSON.stringify(staleState.error)}`);
    check('coturn refused them (401)', new RegExp(`user <${expired.username}>: [^\\n]*401`).test(coturn.output()));
    await stale.close();
  } finally {
    if (server.exit()) console.log(`the server had exited: ${JSON.stringify(server.exit())}\n${server.output()}`);
    await stopServer(server);
  }

  // ---- the server's own agent relays only ----
  const relayed = await startServer(bin, ['--threads', '1', '--ice-server', turnUrl, '--turn-secret', SECRET,
    '--ice-transport-policy', 'relay']);
  try {
    // The page uses no TURN server of its own: whatever reaches the server goes through its relay.
    const page = await startPageSession(browser, relayed, { iceServers: [] }, 'server relays');
    const arrived = await resultsArrive(page, 40000);
    check('a server with --ice-transport-policy relay serves a page without TURN', arrived,
      JSON.stringify(await sessionState(page)));
    const pair = await selectedPair(page);
    check('its selected pair ends at the server\'s relay candidate', pair?.remote.type === 'relay' &&
      pair.remote.port >= coturn.relayMin && pair.remote.port <= coturn.relayMax, JSON.stringify(pair));
    await page.close();
  } finally {
    await stopServer(relayed);
  }

  // ---- a server with the wrong secret ----
  const wrong = await startServer(bin, ['--threads', '1', '--ice-server', turnUrl, '--turn-secret', 'not-the-secret']);
  try {
    const started = Date.now();
    const page = await startPageSession(browser, wrong, { iceTransportPolicy: 'relay' }, 'wrong secret');
    const ended = await waitForPage(page, () => window.session.error !== null, null, 15000);
    const state = await sessionState(page);
    check('a server with the wrong --turn-secret: the relaying page ends with turn_failed, not a hang',
      ended && state.error.code === 'turn_failed', `${Date.now() - started} ms ${JSON.stringify(state.error)}`);
    check('the message names the TURN credentials and the secret to check',
      /refused the TURN credentials \(401/.test(state.error?.message) && /--turn-secret/.test(state.error?.message),
      state.error?.message);
    check('no result arrived', state.results === 0);
    await page.close();
    const load = await runLoadgen(wrong, ['--clients', '1', '--duration', '1', '--relay', '--connect-timeout', '20']);
    const refused = load.report?.per_client?.[0];
    check('loadgen --relay against it streams nothing, exits 1 and says the TURN credentials were refused',
      load.code === 1 && !refused?.streamed && refused?.errors.some((e) => /TURN credentials/.test(e)),
      `${load.code} ${JSON.stringify(refused)}`);
  } finally {
    await stopServer(wrong);
  }
} finally {
  await browser.close();
  await coturn.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
check('no console errors or exceptions in the pages', problems.length === 0,
  problems.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();
