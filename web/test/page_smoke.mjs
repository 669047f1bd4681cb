// Smoke check of the page without a SpeakUp server, in headless Chromium with the fake camera:
//  1. no server behind /ws: the page loads without console errors, three.js imports, the UI goes
//     idle -> connecting (camera, signaling) -> error 'connection_failed' and says so;
//  2. a /ws that never answers: the fake camera's video plays while connecting; Stop releases it;
//  3. the camera refused: error 'camera_denied' shown.
// Run: node test/page_smoke.mjs   (exit code 0 = passed; bounded by a 90 s watchdog)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './http_ws.mjs';
import { launch } from './chromium.mjs';
import { checker } from './checks.mjs';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { check, finish } = checker('page_smoke', 90000);

// The browser's own report of the refused WebSocket is expected when there is no server.
const expectedConsole = (p) => p.kind === 'console' && /WebSocket connection to .*\/ws.* failed/.test(p.text);

let wsMode = 'refuse';
const server = await startServer({ root: WEB, upgrade: () => wsMode });
const problems = [];
let browser = null;
try {
  browser = await launch({ problems });

  // 1. No server at /ws.
  {
    const page = await browser.newPage('no-server');
    await page.goto(`${server.origin}/?autostart=1`);
    await page.waitForFunction(() => window.speakup && window.speakup.state === 'error', null, { timeout: 20000 });
    const s = await page.evaluate(() => ({
      three: window.speakup.three,
      history: window.speakup.stateHistory.map((h) => `${h.state}${h.phase ? `/${h.phase}` : ''}`),
      lastError: window.speakup.lastError,
      bodyState: document.body.dataset.state,
      bodyError: document.body.dataset.error,
      message: document.getElementById('message').hidden ? '' : document.getElementById('message').textContent,
      startEnabled: !document.getElementById('start').disabled,
      cameraLabel: window.speakup.camera.label,
      tracksLeft: document.getElementById('local').srcObject,
      latencyMethod: window.speakup.latencyMethod,
    }));
    check('three.js imported (REVISION 170)', s.three.revision === '170', JSON.stringify(s.three));
    check('3D view has WebGL', s.three.webgl === true, JSON.stringify(s.three));
    check('state went idle -> connecting/camera -> connecting/signaling -> error',
      s.history.join(' ') === 'idle connecting/camera connecting/signaling error', s.history.join(' '));
    check('the fake camera was opened', /fake/i.test(s.cameraLabel), s.cameraLabel);
    check('error code connection_failed', s.lastError?.code === 'connection_failed', JSON.stringify(s.lastError));
    check('body data-state/data-error', s.bodyState === 'error' && s.bodyError === 'connection_failed',
      `${s.bodyState} ${s.bodyError}`);
    check('the message says the server cannot be reached', /Cannot connect to the server at ws:\/\/127\.0\.0\.1:\d+\/ws/.test(s.message), s.message);
    check('Start can be pressed again', s.startEnabled);
    check('camera released after the error', s.tracksLeft === null);
    check('latency method is script-transform in Chromium', s.latencyMethod === 'script-transform', s.latencyMethod);
    await page.close();
  }

  // 2. A /ws that never answers: the video plays while connecting.
  {
    wsMode = 'hang';
    const page = await browser.newPage('hanging-server');
    await page.goto(`${server.origin}/?autostart=1`);
    await page.waitForFunction(() => window.speakup?.camera.framesShown > 15, null, { timeout: 15000 });
    const s = await page.evaluate(() => {
      const video = document.getElementById('local');
      return {
        state: window.speakup.state,
        phase: window.speakup.phase,
        width: video.videoWidth,
        height: video.videoHeight,
        paused: video.paused,
        badge: document.getElementById('state-badge').textContent,
      };
    });
    check('video plays during connecting/signaling', s.state === 'connecting' && s.phase === 'signaling' && !s.paused,
      JSON.stringify(s));
    check('the camera sends 640x480 by default', s.width === 640 && s.height === 480, `${s.width}x${s.height}`);
    check('the badge shows connecting', s.badge === 'connecting', s.badge);
    await page.evaluate(() => window.speakup.stop());
    const after = await page.evaluate(() => ({
      state: window.speakup.state,
      video: document.getElementById('local').srcObject,
      stopDisabled: document.getElementById('stop').disabled,
    }));
    check('stop() -> idle, camera released', after.state === 'idle' && after.video === null && after.stopDisabled,
      JSON.stringify(after));
    // Options before a session resolve at once; bad ones are refused.
    const opts = await page.evaluate(async () => {
      const ok = await window.speakup.setOptions({ refine: true, max_faces: 2 });
      let bad = '';
      try {
        await window.speakup.setOptions({ nonsense: 1 });
      } catch (error) {
        bad = error.message;
      }
      return { ok, bad, refineBox: document.getElementById('opt-refine').checked };
    });
    check('setOptions before start', opts.ok.refine === true && opts.ok.max_faces === 2 && opts.refineBox, JSON.stringify(opts));
    check('setOptions refuses unknown options', /unknown option 'nonsense'/.test(opts.bad), opts.bad);
    await page.close();
  }
  await browser.close();
  browser = null;

  // 3. The camera refused (no fake UI: headless Chromium denies the request).
  {
    wsMode = 'refuse';
    browser = await launch({ fakeUi: false, problems });
    const page = await browser.newPage('camera-denied');
    await page.goto(`${server.origin}/?autostart=1`);
    await page.waitForFunction(() => window.speakup && window.speakup.state === 'error', null, { timeout: 20000 });
    const s = await page.evaluate(() => ({
      lastError: window.speakup.lastError,
      message: document.getElementById('message').textContent,
    }));
    check('camera denied -> camera_denied', s.lastError?.code === 'camera_denied', JSON.stringify(s.lastError));
    check('the message tells how to allow the camera', /Camera access was denied/.test(s.message), s.message);
    await browser.close();
    browser = null;
  }
} catch (error) {
  check('smoke run', false, error.stack ?? String(error));
} finally {
  if (browser) await browser.close().catch(() => {});
  await server.close();
}
const unexpected = problems.filter((p) => !expectedConsole(p));
check('no console errors or exceptions (besides the refused WebSocket)', unexpected.length === 0,
  unexpected.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
check('the refused WebSocket was reported by the browser', problems.some(expectedConsole));
finish();
