// The browser client in Firefox (Debian's firefox-esr, driven by npm puppeteer-core over WebDriver
// BiDi; never a downloaded browser) against `speakup serve`: connects, gets a result for most frames,
// measures the round trip per result, gets transport-wide congestion feedback, changes options, and
// frees its session when the tab closes.
// Firefox's fake camera is a synthetic pattern, not a face, so faces are not checked here (the
// Chromium test does that with a real face video).
//   node tests/e2e/firefox_e2e.mjs   (env SPEAKUP_BIN = the speakup program)
import fs from 'node:fs';
import { createRequire } from 'node:module';

import { checker } from '../../web/test/checks.mjs';
import { metrics, sessionCount, sleep, startServer, stopServer, waitForSessions } from './speakup_server.mjs';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const puppeteer = require('puppeteer-core');
const FIREFOX = process.env.SPEAKUP_FIREFOX ?? '/usr/bin/firefox-esr';
const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
if (!fs.existsSync(FIREFOX)) throw new Error(`no Firefox at ${FIREFOX} (apt-get install firefox-esr)`);
const { check, finish } = checker('firefox_e2e', 160000);

// What the server logs on stderr shows in this test's output as it comes.
const server = await startServer(bin, ['--threads', '2'], { echo: true });

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: FIREFOX,
  headless: true,
  extraPrefsFirefox: {
    'media.navigator.streams.fake': true,            // a synthetic camera
    'media.navigator.permission.disabled': true,     // no permission prompt
    'media.peerconnection.ice.loopback': true,       // ICE on 127.0.0.1
    'media.peerconnection.ice.obfuscate_host_addresses': false,
  },
});
try {
  const page = await browser.newPage();
  await page.goto(server.url + '?autostart=1');
  await page.waitForFunction(() => window.speakup?.state === 'connected', { timeout: 25000 }).catch(() => {});
  check('Firefox connects', await page.evaluate(() => window.speakup.state === 'connected'),
    await page.evaluate(() => JSON.stringify(window.speakup.lastError)));
  await sleep(2000);
  const before = await page.evaluate(() => ({ sent: window.speakup.framesSent, results: window.speakup.resultsReceived }));
  await sleep(5000);
  const after = await page.evaluate(() => ({ sent: window.speakup.framesSent, results: window.speakup.resultsReceived }));
  const sent = after.sent - before.sent, results = after.results - before.results;
  check('frames are sent', sent >= 75, `${sent} in 5 s`);
  check('results arrive for most frames', results >= 0.9 * sent, `${results} results for ${sent} frames`);
  // Firefox ignores x-google-start-bitrate: following the congestion feedback from its own start rate
  // (300 kbit/s) it sends 320x240, then 480x360, and 640x480 once its estimate allows (~15 s here).
  let result = null;
  const sizes = [];
  for (let i = 0; i < 40; i++) {
    result = await page.evaluate(() => window.speakup.lastResultPlain());
    if (sizes.at(-1) !== `${result.width}x${result.height}`) sizes.push(`${result.width}x${result.height}`);
    if (result.width === 640 && result.height === 480) break;
    await sleep(1000);
  }
  check('results decode at the camera\'s full size (640x480) once Firefox\'s bitrate allows it',
    result.width === 640 && result.height === 480, sizes.join(' -> '));
  check('every size seen is the camera\'s 4:3', sizes.every((size) => {
    const [w, h] = size.split('x').map(Number);
    return w * 3 === h * 4;
  }), sizes.join(' '));
  const latency = await page.evaluate(() => ({ method: window.speakup.latencyMethod, ...window.speakup.stats.latency }));
  check('round-trip latency is measured per result', latency.method !== 'none' && latency.count > 50 && latency.p50 > 0,
    JSON.stringify(latency));
  const confirmed = await page.evaluate(() => window.speakup.setOptions({ refine: true, max_faces: 2 }));
  check('options are confirmed by the server', confirmed.refine === true && confirmed.max_faces === 2, JSON.stringify(confirmed));
  check('the server has one session', (await sessionCount(server)) === 1);
  await page.close();
  const left = await waitForSessions(server, 0, 5000);
  check('closing the tab frees the session within 5 s', left === 0, `${left} left`);
} finally {
  await browser.close();
  await stopServer(server);
}
finish();
