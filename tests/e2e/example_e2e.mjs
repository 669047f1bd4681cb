// The client library's minimal example (web/examples/minimal.html, docs/client.md) against a real
// `speakup serve`, in Debian's headless Chromium with a fake camera playing a real face
// (tests/data/video): served with the server's Content-Security-Policy, it loads without console
// errors (a CSP violation is one), landmarks arrive and are drawn, closing it frees the session,
// and a server with a token refuses it without the page's ?token= and takes it with it.
//   node tests/e2e/example_e2e.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { sessionCount, startServer, stopServer, waitForPage, waitForSessions } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-example-'));
const { check, finish } = checker('example_e2e', 150000);

// The fake camera: the face video as MJPEG, repeated to last ~30 s (Chromium does not loop it).
const once = path.join(work, 'once.mjpeg');
const mjpeg = path.join(work, 'face.mjpeg');
execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
  'videoconvert', '!', 'jpegenc', 'quality=85', '!', 'filesink', `location=${once}`]);
fs.writeFileSync(mjpeg, Buffer.concat(Array(8).fill(fs.readFileSync(once))));

const problems = [];
const browser = await launch({ loopback: true, problems, extra: [`--use-file-for-fake-video-capture=${mjpeg}`] });
const server = await startServer(bin, ['--threads', '1']);
try {
  // What the server sends with the example: its own scripts only, no inline script needed.
  const response = await fetch(server.url + 'examples/minimal.html');
  const csp = response.headers.get('content-security-policy') ?? '';
  check('the example is served', response.ok && /src="\.\/minimal\.js"/.test(await response.text()), String(response.status));
  check('with a Content-Security-Policy allowing only the server\'s own scripts',
    /script-src 'self'/.test(csp) && !/unsafe-inline/.test(/script-src[^;]*/.exec(csp)?.[0] ?? ''), csp);
  for (const file of ['examples/minimal.js', 'lib/speakup.js', 'lib/client.js', 'lib/latency_worker.js']) {
    const r = await fetch(server.url + file);
    check(`${file} is served as JavaScript`, r.ok && /^text\/javascript/.test(r.headers.get('content-type') ?? ''),
      `${r.status} ${r.headers.get('content-type')}`);
  }

  const page = await browser.newPage('example');
  await page.goto(server.url + 'examples/minimal.html');
  const arrived = await waitForPage(page, () => document.body.dataset.landmarks === '468', null, 30000);
  const shown = await page.evaluate(() => document.getElementById('status').textContent);
  check('landmarks arrive (one face, 468 points)', arrived, shown);
  check('the status line counts faces and frames', /^1 face\(s\), frame \d+$/.test(shown), shown);
  check('the server has the example\'s session', (await sessionCount(server)) === 1);
  // The points are drawn: many lime pixels on the canvas, in the middle of the frame (the face).
  const drawn = await page.evaluate(() => {
    const canvas = document.getElementById('mesh');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    let sumX = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 1] > 200 && data[i] < 50 && data[i + 3] > 200) {
        count += 1;
        sumX += (i / 4) % canvas.width;
      }
    }
    return { count, meanX: count ? sumX / count : 0, width: canvas.width, height: canvas.height };
  });
  check('the landmarks are drawn on the canvas, around the face', drawn.count > 300 && drawn.width === 640 &&
    drawn.meanX > 0.2 * drawn.width && drawn.meanX < 0.8 * drawn.width, JSON.stringify(drawn));
  await page.close();
  const left = await waitForSessions(server, 0, 5000);
  check('closing the example frees its session within 5 s', left === 0, `${left} left`);
} finally {
  if (server.exit()) console.log(`the server had exited: ${JSON.stringify(server.exit())}\n${server.output()}`);
  await stopServer(server);
}

// The token: the example passes its page's ?token= to connect().
const guarded = await startServer(bin, ['--token', 's3cret', '--threads', '1']);
try {
  const without = await browser.newPage('example without token');
  await without.goto(guarded.url + 'examples/minimal.html');
  const refused = await waitForPage(without, () => /^unauthorized: /.test(document.getElementById('status').textContent), null, 15000);
  check('without the token: unauthorized, shown', refused, await without.evaluate(() => document.getElementById('status').textContent));
  await without.close();
  const withToken = await browser.newPage('example with token');
  await withToken.goto(guarded.url + 'examples/minimal.html?token=s3cret');
  check('with the token: landmarks arrive', await waitForPage(withToken, () => document.body.dataset.landmarks === '468', null, 30000),
    await withToken.evaluate(() => document.getElementById('status').textContent));
  await withToken.close();
} finally {
  await stopServer(guarded);
}

await browser.close();
fs.rmSync(work, { recursive: true, force: true });
check('no console errors or exceptions in the example (a CSP violation would be one)', problems.length === 0,
  problems.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();
