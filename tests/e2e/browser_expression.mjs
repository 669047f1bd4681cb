// The expression reaches the page: Debian's headless Chromium streams a real talking face
// (tests/data/video/talking.avi, a webcam clip of a man talking) to `speakup serve` with the Face
// Landmarker model, once showing only the frames where his mouth is closed and once only those where it
// is open. The jawOpen score that arrives, and the avatar's jaw, must be higher for the open mouth.
//   node tests/e2e/browser_expression.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { BLENDSHAPE_NAMES } from '../../web/lib/protocol.js';
import { sleep, startServer, stopServer, waitForPage } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-expression-'));
const { check, finish } = checker('browser_expression', 150000);

// The clip's frames (160x120) scaled to a camera's 640x480, one JPEG each.
execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/talking.avi', '!', 'decodebin', '!',
  'videoconvert', '!', 'videoscale', '!', 'video/x-raw,width=640,height=480', '!', 'jpegenc', 'quality=90', '!',
  'multifilesink', `location=${path.join(work, 'f%03d.jpg')}`]);
const frame = (i) => fs.readFileSync(path.join(work, `f${String(i).padStart(3, '0')}.jpg`));
// Looked at frame by frame: the mouth is closed in frames 0-5 and 62-67 and open in frames 9-17.
const closedFrames = [0, 1, 2, 3, 4, 5, 62, 63, 64, 65, 66, 67];
const openFrames = [9, 10, 11, 12, 13, 14, 15, 16, 17];
// A fake camera file per mouth (MJPEG, as the other browser tests; long enough for the whole run).
const camera = (name, frames) => {
  const file = path.join(work, `${name}.mjpeg`);
  const once = Buffer.concat(frames.map(frame));
  fs.writeFileSync(file, Buffer.concat(Array(Math.ceil(900 / frames.length)).fill(once)));
  return file;
};

const JAW_OPEN = BLENDSHAPE_NAMES.indexOf('jawOpen');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Streams one fake camera with the landmarker; returns the jawOpen scores and the avatar's jaw over ~3 s.
async function watch(server, name, file) {
  const browser = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${file}`] });
  try {
    const page = await browser.newPage(name);
    await page.goto(server.url + '?autostart=1');
    const connected = await waitForPage(page, () => window.speakup?.state === 'connected', null, 25000);
    check(`${name}: the page connects`, connected);
    const model = await page.evaluate(() => window.speakup.setOptions({ model: 'landmarker', max_faces: 1 })
      .then((o) => o.model, (error) => `refused: ${error.message}`));
    check(`${name}: the landmarker is on`, model === 'landmarker', model);
    await waitForPage(page, () => window.speakup.lastResult?.faces?.[0]?.blendshapes?.length === 52, null, 10000);
    await sleep(500); // past the switch and the first frames
    const scores = [], jaws = [];
    for (let i = 0; i < 30; i++) {
      const s = await page.evaluate((index) => ({
        score: window.speakup.lastResult?.faces?.[0]?.blendshapes?.[index],
        jaw: window.speakup.avatar?.jawOpen,
      }), JAW_OPEN);
      if (Number.isFinite(s.score)) scores.push(s.score);
      if (Number.isFinite(s.jaw)) jaws.push(s.jaw);
      await sleep(100);
    }
    check(`${name}: blendshapes arrive while the face is shown`, scores.length >= 25, `${scores.length} of 30 samples`);
    await page.screenshot({ path: path.join(work, `${name}.png`) });
    return { scores, jaws };
  } finally {
    await browser.close();
  }
}

const server = await startServer(bin, ['--threads', '2']);
try {
  const closed = await watch(server, 'closed-mouth', camera('closed', closedFrames));
  const open = await watch(server, 'open-mouth', camera('open', openFrames));
  const [c, o] = [median(closed.scores), median(open.scores)];
  console.log(`jawOpen[${JAW_OPEN}] median: closed mouth ${c.toFixed(3)}, open mouth ${o.toFixed(3)}; ` +
    `avatar jaw: closed ${median(closed.jaws).toFixed(3)}, open ${median(open.jaws).toFixed(3)}`);
  check('an open mouth scores jawOpen well above a closed one (median)', o > c + 0.05, `${o.toFixed(3)} vs ${c.toFixed(3)}`);
  check('the avatar opens its jaw further for the open mouth', median(open.jaws) > median(closed.jaws) + 0.05,
    `${median(open.jaws).toFixed(3)} vs ${median(closed.jaws).toFixed(3)}`);
} finally {
  await stopServer(server);
  fs.rmSync(work, { recursive: true, force: true });
}
finish();
