// The page outlives its server: real `speakup serve` and Debian's headless Chromium with a fake camera
// (the face video as MJPEG). A server killed (SIGKILL) and started again on the same port: the page
// says it is reconnecting, comes back by itself and its options (the landmarker) are in effect again.
// A draining server (SIGTERM, --drain-seconds) says bye with reconnect: true: the page reconnects to
// the restarted one. A final refusal (a wrong token) is shown and not retried.
//   node tests/e2e/browser_reconnect.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { freePort, sleep, startServer, stopServer, waitForPage } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-reconnect-'));
const { check, finish } = checker('browser_reconnect', 180000);

// The fake camera: Chromium does not loop its capture file, so the video is repeated to outlast the
// test (~80 s); the page keeps one camera stream across its reconnections.
const once = path.join(work, 'once.mjpeg');
const mjpeg = path.join(work, 'face.mjpeg');
execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
  'videoconvert', '!', 'jpegenc', 'quality=85', '!', 'filesink', `location=${once}`]);
fs.writeFileSync(mjpeg, Buffer.concat(Array(20).fill(fs.readFileSync(once))));

const ARGS = ['--threads', '2'];
const port = await freePort();
const browser = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${mjpeg}`] });
const servers = [];
const serve = async (args = ARGS) => {
  const server = await startServer(bin, args, { port });
  servers.push(server);
  return server;
};

// The page's counters, read together.
const status = (page) => page.evaluate(() => {
  const s = window.speakup;
  return { state: s.state, phase: s.phase, error: s.lastError, results: s.resultsReceived, blendshapes: s.resultsWithBlendshapes,
    model: s.serverOptions?.model, reconnect: s.reconnect, message: document.getElementById('message').textContent,
    badge: document.getElementById('state-badge').textContent };
});

// Results keep coming with 52 blendshapes each (the landmarker in effect), over one second.
async function landmarkerFlowing(page) {
  const before = await status(page);
  await sleep(1000);
  const after = await status(page);
  return { ok: after.state === 'connected' && after.blendshapes - before.blendshapes >= 5 && after.model === 'landmarker',
    detail: `${after.state}, ${after.blendshapes - before.blendshapes} results with blendshapes in 1 s, model ${after.model}` };
}

try {
  // ---- Killed and restarted on the same port ----
  let server = await serve();
  check(`the server listens on the port chosen (${port})`, server.port === port, String(server.port));
  const page = await browser.newPage('main');
  await page.goto(`${server.url}?autostart=1&views=2d`);
  check('the page connects', await waitForPage(page, () => window.speakup?.state === 'connected', null, 25000),
    JSON.stringify(await status(page)));
  const model = await page.evaluate(() => window.speakup.setOptions({ model: 'landmarker' })
    .then((o) => o.model, (error) => `refused: ${error.message}`));
  check('the landmarker is confirmed', model === 'landmarker', model);
  await waitForPage(page, () => window.speakup.resultsWithBlendshapes > 10, null, 10000); // the model warms up
  let flow = await landmarkerFlowing(page);
  check('results with blendshapes flow', flow.ok, flow.detail);

  server.process.kill('SIGKILL');
  await server.exited;
  const down = await waitForPage(page, () => window.speakup.state === 'reconnecting', null, 5000);
  let s = await status(page);
  check('the server killed: the page says it is reconnecting', down && s.badge === 'reconnecting' &&
    /reconnecting (in \d+ s|now) \(attempt \d+\)/i.test(s.message), JSON.stringify(s));
  await sleep(2500); // a few attempts against no server
  s = await status(page);
  check('while the server is down the page keeps trying, counting attempts', s.state === 'reconnecting' &&
    s.reconnect.retries >= 2 && s.reconnect.last.attempt >= 2, JSON.stringify(s.reconnect));

  server = await serve();
  const restartedAt = Date.now();
  const back = await waitForPage(page, () => window.speakup.state === 'connected', null, 12000);
  s = await status(page);
  check('the page is back on the restarted server', back && s.reconnect.reconnected === 1 && s.message === '',
    `${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart; ${JSON.stringify(s)}`);
  // The restarted server knows nothing of the old session: blendshapes mean the page asked again.
  const again = await waitForPage(page, () => window.speakup.resultsWithBlendshapes > 0 &&
    window.speakup.serverOptions?.model === 'landmarker', null, 8000);
  flow = await landmarkerFlowing(page);
  check('results flow again, the landmarker in effect again', again && flow.ok, flow.detail);

  // ---- A draining server: bye with reconnect: true, then the restarted one ----
  // (Killed again to come back with a drain: a plain SIGTERM without one says a final bye.)
  server.process.kill('SIGKILL');
  await server.exited;
  server = await serve([...ARGS, '--drain-seconds', '2']);
  const drainStart = await waitForPage(page, () => window.speakup.state === 'connected' &&
    window.speakup.reconnect.reconnected === 2, null, 15000);
  check('the page is back on a server that drains', drainStart, JSON.stringify(await status(page)));
  await page.evaluate(() => { window.speakup.log.length = 0; });
  server.process.kill('SIGTERM');
  const byeSeen = await waitForPage(page, () => window.speakup.state === 'reconnecting' &&
    window.speakup.reconnect.last?.reason === 'server_bye', null, 8000);
  const log = await page.evaluate(() => window.speakup.log.join('\n'));
  s = await status(page);
  check('the drain ends with bye (reconnect: true): the page reconnects at once (within 1 s)', byeSeen &&
    s.reconnect.last.delayMs <= 1000, `${JSON.stringify(s.reconnect.last)}\n${log.slice(-600)}`);
  const exited = await Promise.race([server.exited, sleep(8000).then(() => null)]);
  check('the drained server exits 0', exited?.code === 0, JSON.stringify(exited));
  server = await serve();
  const drainedBack = await waitForPage(page, () => window.speakup.state === 'connected' &&
    window.speakup.reconnect.reconnected === 3, null, 15000);
  flow = await landmarkerFlowing(page);
  check('the page is back on the server restarted after the drain, the landmarker in effect', drainedBack && flow.ok,
    `${flow.detail}; ${JSON.stringify((await status(page)).reconnect)}`);
  await page.close();
  await stopServer(server);

  // ---- A final refusal is shown, not retried ----
  server = await serve([...ARGS, '--token', 'x']);
  const refused = await browser.newPage('no-token');
  // Counts every WebSocket the page opens: one, and no more, is what "no reconnect loop" means.
  await refused.addInitScript(() => {
    const Native = window.WebSocket;
    window.socketsOpened = 0;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.socketsOpened += 1;
      }
    };
  });
  await refused.goto(`${server.url}?autostart=1&views=2d`);
  const shown = await waitForPage(refused, () => window.speakup?.state === 'error', null, 10000);
  await sleep(4000);
  s = await status(refused);
  const sockets = await refused.evaluate(() => window.socketsOpened);
  check('without the token: the reason is shown, nothing retried after 4 s', shown && s.state === 'error' &&
    s.error?.code === 'unauthorized' && /token/.test(s.message) && s.reconnect.retries === 0 && sockets === 1,
    `${sockets} WebSocket(s); ${JSON.stringify(s)}`);
  await refused.close();
} catch (error) {
  check('reconnect run', false, error.stack ?? String(error));
} finally {
  await browser.close().catch(() => {});
  for (const server of servers) await stopServer(server, 3000);
  fs.rmSync(work, { recursive: true, force: true });
}
const unexpected = browser.problems.filter((p) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(p.text));
check('no exceptions or unexpected console errors in the pages', unexpected.length === 0,
  unexpected.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();
