// Faults against a real `speakup serve`, driven from Debian's headless Chromium with fake cameras
// playing a real face (tests/data/video):
//  1. a page reloaded 10 times at random moments: results come back, the old sessions are reaped;
//  2. a 2560x1440 camera from a client that ignores the server's size limits: the server
//     downscales (results say <= 1920x1080) and still finds the face;
//  3. garbage on the results data channel: answered with errors, results keep flowing;
//  4. a signaling flood (5000 messages on one WebSocket): that session is closed with `flooding`,
//     a page streaming meanwhile is unaffected;
//  5. a data-channel flood (2000 messages): that session is closed with `flooding`, shown in the page.
// After each, the server process must still run and answer /healthz.
//   node tests/e2e/browser_faults.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root;
//   SPEAKUP_FAULTS_SEED = a number to replay the reload timings of an earlier run)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { health, sessionCount, sleep, startServer, stopServer, waitForPage, waitForSessions } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-faults-'));
const { check, finish } = checker('browser_faults', 200000);

// Reload moments are random, from a printed seed so a failing run can be replayed.
const seed = Number(process.env.SPEAKUP_FAULTS_SEED ?? Date.now() % 1000000);
console.log(`seed ${seed} (SPEAKUP_FAULTS_SEED)`);
let state = seed >>> 0;
const random = () => { // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

// Fake cameras: the face video as MJPEG (Chromium plays the file at its own size and does not loop
// it, hence the repeats). 640x480 for 100 s; 2560x1440 (the face pillarboxed, not stretched) for 24 s.
function mjpeg(name, scale, repeats, quality) {
  const once = path.join(work, `${name}.once.mjpeg`);
  execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
    'videoconvert', '!', ...scale, 'jpegenc', `quality=${quality}`, '!', 'filesink', `location=${once}`]);
  const file = path.join(work, `${name}.mjpeg`);
  fs.writeFileSync(file, Buffer.concat(Array(repeats).fill(fs.readFileSync(once))));
  fs.rmSync(once);
  return file;
}
const camera = mjpeg('face', [], 25, 80);
const bigCamera = mjpeg('face2560', ['videoscale', 'add-borders=true', '!',
  'video/x-raw,width=2560,height=1440,pixel-aspect-ratio=1/1', '!'], 6, 70);

// In every page before its scripts: keep hold of the page's own data channel and peer connection
// (window.speakup exposes neither) and record every WebSocket's traffic.
function hooks() {
  const faults = { channels: [], pcs: [], sockets: [] };
  window.__faults = faults;
  const createDataChannel = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = createDataChannel.apply(this, args);
    faults.channels.push(channel);
    faults.pcs.push(this);
    return channel;
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      const record = { sent: 0, received: [], closed: null };
      this.faults = record;
      faults.sockets.push(record);
      this.addEventListener('message', (e) => {
        let m = {};
        try { m = JSON.parse(e.data); } catch { /* recorded as a message without a type */ }
        record.received.push({ type: m.type, code: m.code, message: m.message, reason: m.reason, time: Date.now() });
      });
      this.addEventListener('close', (e) => { record.closed = { code: e.code, time: Date.now() }; });
    }

    send(data) {
      this.faults.sent += 1;
      super.send(data);
    }
  };
}

// A client that ignores the welcome's limits (an old page, another client): the camera keeps its
// size, and the encoder keeps the resolution rather than scaling down when short of CPU or bits.
function ignoreLimits() {
  MediaStreamTrack.prototype.applyConstraints = function () { return Promise.resolve(); };
  const getUserMedia = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (...args) {
    const stream = await getUserMedia.apply(this, args);
    for (const track of stream.getVideoTracks()) track.contentHint = 'detail';
    return stream;
  };
}

const help = execFileSync(bin, ['serve', '--help'], { encoding: 'utf8' });
// Checks 3 and 4 hold two sessions and reloads may overlap a closing one: no per-address limit.
const perIp = /--max-sessions-per-ip/.test(help) ? ['--max-sessions-per-ip', '0'] : [];
const server = await startServer(bin, ['--host', '127.0.0.1', '--threads', '2', '--max-sessions', '8', ...perIp]);
const wsUrl = server.url.replace('http', 'ws') + 'ws';

async function serverFine(what) {
  const answer = await health(server, 3000);
  check(`${what}: the server still runs and /healthz answers`, !server.exit() && answer?.status === 'ok',
    server.exit() ? `exited ${JSON.stringify(server.exit())}` : JSON.stringify(answer));
}

const results = (page) => page.evaluate(() => window.speakup?.resultsReceived ?? 0);
async function resultsIn(page, ms) {
  const n = await results(page);
  await sleep(ms);
  return (await results(page)) - n;
}

// A streaming page: the fake camera, autostart, hooks in; resolves once results flow.
async function streamingPage(browser, name, query = '', extraInit = null) {
  const page = await browser.newPage(name);
  await page.addInitScript(hooks);
  if (extraInit) await page.addInitScript(extraInit);
  await page.goto(`${server.url}?autostart=1${query}`);
  const flowing = await waitForPage(page, () => window.speakup?.state === 'connected' && window.speakup.resultsReceived > 10, null, 30000);
  return { page, flowing };
}

// Runs one check group; an exception is one failed check, not the end of the run.
async function group(name, run) {
  try {
    await run();
  } catch (error) {
    check(`${name}: ran to the end`, false, error.stack ?? String(error));
  }
  await serverFine(name);
}

const browser = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${camera}`] });
try {
  await group('reloads', async () => {
    const page = await browser.newPage('reloads');
    await page.addInitScript(hooks);
    await page.goto(`${server.url}?autostart=1`);
    // Half the reloads soon after the load (before results: camera, signaling or ICE still going),
    // half once results flow; each at a random moment within its half.
    const moments = [];
    for (let i = 0; i < 10; i++) {
      const early = i % 2 === 0;
      if (!early) await waitForPage(page, () => window.speakup?.resultsReceived > 0, null, 20000);
      await sleep(early ? random() * 500 : random() * 2000);
      const seen = await page.evaluate(() => `${window.speakup?.state ?? 'loading'}/${window.speakup?.resultsReceived ?? 0}`)
        .catch(() => 'navigating/0');
      moments.push(seen);
      await page.reload({ waitUntil: 'commit' });
    }
    check('reloads: some came before the first result, some while results flowed',
      moments.some((m) => m.endsWith('/0')) && moments.some((m) => !m.endsWith('/0')),
      `state/results before each reload: ${moments.join(' ')}`);
    const back = await waitForPage(page, () => window.speakup?.state === 'connected' && window.speakup.resultsReceived > 10, null, 30000);
    check('reloads: after the last load the page gets results again', back,
      JSON.stringify(await page.evaluate(() => ({ state: window.speakup.state, results: window.speakup.resultsReceived, error: window.speakup.lastError }))));
    const left = await waitForSessions(server, (n) => n >= 0 && n <= 1, 5000);
    check('reloads: within 5 s /healthz shows at most 1 session (the reloaded pages\' are reaped)', left >= 0 && left <= 1, `${left} sessions`);
    await page.close();
    const none = await waitForSessions(server, 0, 10000);
    check('reloads: closing the page leaves 0 sessions within 10 s', none === 0, `${none} sessions`);
  });

  await group('huge resolution', async () => {
    const big = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${bigCamera}`] });
    try {
      const { page, flowing } = await streamingPage(big, 'huge', '&res=2560x1440', ignoreLimits);
      check('huge resolution: a 2560x1440 camera connects and results flow', flowing,
        JSON.stringify(await page.evaluate(() => ({ state: window.speakup.state, camera: window.speakup.camera, error: window.speakup.lastError }))));
      // What the page really sends, from its own peer connection's outbound-rtp, and the sizes the
      // results report, sampled together for a few seconds.
      const seen = await page.evaluate(async () => {
        const pc = window.__faults.pcs.at(-1);
        const out = { sent: [], results: [], faces: 0, samples: 0, box: null };
        for (let i = 0; i < 25; i++) {
          const report = await pc.getStats();
          report.forEach((s) => {
            if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth) out.sent.push(`${s.frameWidth}x${s.frameHeight}`);
          });
          const r = window.speakup.lastResult;
          if (r) {
            out.samples += 1;
            out.results.push(`${r.width}x${r.height}`);
            if (r.faces.length > 0) {
              out.faces += 1;
              const b = r.faces[0].box;
              out.box = { x: b.x, y: b.y, width: b.width, height: b.height, frame: [r.width, r.height] };
            }
          }
          await new Promise((r2) => setTimeout(r2, 200));
        }
        return { ...out, camera: window.speakup.camera };
      });
      const dims = (list) => [...new Set(list)];
      const widest = Math.max(0, ...seen.sent.map((s) => Number(s.split('x')[0])));
      check('huge resolution: the page really sends wider than 1920 (outbound-rtp frameWidth)', widest > 1920,
        `camera ${seen.camera.width}x${seen.camera.height}, sent ${dims(seen.sent).join(' ')}`);
      const sizes = seen.results.map((s) => s.split('x').map(Number));
      check('huge resolution: every result is for a frame of at most 1920x1080 (the server downscaled)',
        sizes.length > 0 && sizes.every(([w, h]) => w <= 1920 && h <= 1080 && w > 0 && h > 0), dims(seen.results).join(' '));
      const box = seen.box;
      check('huge resolution: the face is found in the downscaled frames', seen.faces >= 0.8 * seen.samples && box &&
        box.x + box.width / 2 > 0.25 * box.frame[0] && box.x + box.width / 2 < 0.75 * box.frame[0] && box.width > 80,
        `${seen.faces}/${seen.samples} samples with a face, last box ${JSON.stringify(box)}`);
      await page.close();
    } finally {
      await big.close();
    }
    const none = await waitForSessions(server, 0, 10000);
    check('huge resolution: its session ends with the page', none === 0, `${none} sessions`);
  });

  // Checks 3 and 4 share this page: it streams through the flood of check 4.
  const { page: streamer, flowing } = await streamingPage(browser, 'streamer');

  await group('data-channel garbage', async () => {
    check('garbage: the page connects and results flow', flowing);
    const answers = await streamer.evaluate(async () => {
      const channel = window.__faults.channels.at(-1);
      const socket = window.__faults.sockets.at(-1);
      const since = Date.now();
      const errors = () => socket.received.filter((m) => m.time >= since && m.type === 'error');
      const waitForCount = async (predicate) => {
        for (let i = 0; i < 50 && !predicate(); i++) await new Promise((r) => setTimeout(r, 100));
      };
      const junk = new Uint8Array(1000);
      crypto.getRandomValues(junk);
      channel.send(junk);
      channel.send('{"type": "options", "options": ');
      channel.send(JSON.stringify({ type: 'launch', options: { max_faces: 1 } }));
      await waitForCount(() => errors().length >= 3);
      const first = errors().map((m) => ({ code: m.code, message: m.message }));
      // A burst of 150 (under the data channel's flood limit of 200 a second): valid options (the
      // values in effect) and garbage, alternating.
      const burstFrom = Date.now();
      for (let i = 0; i < 150; i++) {
        channel.send(i % 2 === 0 ? JSON.stringify({ type: 'options', options: { max_faces: 1 } }) : `not json ${i}`);
      }
      const burst = () => socket.received.filter((m) => m.time >= burstFrom);
      await waitForCount(() => burst().length >= 150);
      return {
        first,
        burstOptions: burst().filter((m) => m.type === 'options').length,
        burstErrors: burst().filter((m) => m.type === 'error').map((m) => m.code),
        byes: socket.received.filter((m) => m.type === 'bye').length,
        closed: socket.closed,
        channel: channel.readyState,
        sent: socket.sent,
      };
    });
    const codes = answers.first.map((m) => m.code);
    check('garbage: random binary on the data channel is answered with bad_message on the signaling socket',
      answers.first.some((m) => m.code === 'bad_message' && /data channel/.test(m.message)), JSON.stringify(answers.first));
    check('garbage: invalid JSON text is answered with bad_json', codes.includes('bad_json'), codes.join(','));
    check('garbage: JSON of an unknown type is answered with unknown_type', codes.includes('unknown_type'), codes.join(','));
    // The channel is unordered with no retransmits: most of the burst must be answered, not all.
    check('garbage: a burst of 150 data-channel messages is answered (options and bad_json)',
      answers.burstOptions >= 40 && answers.burstErrors.length >= 40 && answers.burstErrors.every((c) => c === 'bad_json'),
      `${answers.burstOptions} options, ${answers.burstErrors.length} errors`);
    const after = await resultsIn(streamer, 2000);
    check('garbage: results keep flowing after it', after >= 5, `${after} results in 2 s`);
    const page = await streamer.evaluate(() => ({ state: window.speakup.state, error: window.speakup.lastError }));
    check('garbage: the session is not dropped (no bye, socket and channel open, 1 session)',
      answers.byes === 0 && !answers.closed && answers.channel === 'open' && page.state === 'connected' &&
      (await sessionCount(server, 3000)) === 1, JSON.stringify({ ...answers, first: undefined, burstErrors: undefined, page }));
    // The page's own signaling: offer, candidates, options; far from the flood limit.
    check('garbage: a normal page sends far fewer than 200 signaling messages', answers.sent < 50, `${answers.sent} sent`);
  });

  await group('signaling flood', async () => {
    const before = await results(streamer);
    const flood = await streamer.evaluate(async (url) => {
      const ws = new WebSocket(url); // hooked: records what comes back
      const record = ws.faults;
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const closed = new Promise((r) => ws.addEventListener('close', r));
      const garbage = ['not json', '[1]', '{"type":"launch"}', '{"type":"options","options":{"max_faces":99}}'];
      const valid = JSON.stringify({ type: 'options', options: { max_faces: 1 } });
      const started = Date.now();
      let sent = 0;
      for (let i = 0; i < 5000 && ws.readyState === WebSocket.OPEN; i++, sent++) {
        if (i % 7 === 6) ws.send(new Uint8Array([1, 2, 3]));
        else ws.send(i % 2 === 0 ? valid : garbage[i % garbage.length]);
      }
      const end = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 10000))]);
      if (end === 'open') ws.close();
      const flooding = record.received.find((m) => m.code === 'flooding');
      const floodingAt = record.received.indexOf(flooding);
      return {
        sent,
        end,
        ms: Date.now() - started,
        flooding,
        byeAfter: floodingAt >= 0 && record.received.slice(floodingAt + 1).some((m) => m.type === 'bye'),
        answered: record.received.filter((m) => m.type === 'options' || (m.type === 'error' && m.code !== 'flooding')).length,
        kinds: [...new Set(record.received.map((m) => m.code ?? m.type))],
        closeCode: record.closed?.code,
      };
    }, wsUrl);
    check('flood: the flooding socket gets error flooding, then bye', flood.flooding &&
      /more than 200 signaling messages in a second/.test(flood.flooding.message) && flood.byeAfter, JSON.stringify(flood));
    check('flood: the server closes the flooding socket', flood.end === 'closed', `${flood.end} (code ${flood.closeCode})`);
    // The burst takes milliseconds: exactly the first 200 are answered, none lost, none after.
    check('flood: the first 200 messages are answered, then no more', flood.answered === 200,
      `${flood.answered} replies to ${flood.sent} messages`);
    const during = (await results(streamer)) - before;
    const after = await resultsIn(streamer, 2000);
    check('flood: the page streaming meanwhile kept getting results', during > 0 && after >= 5 &&
      (await streamer.evaluate(() => window.speakup.state)) === 'connected', `${during} during, ${after} in 2 s after`);
    const left = await waitForSessions(server, 1, 5000);
    check('flood: the flooding session is gone, the streaming one stays', left === 1, `${left} sessions`);
  });

  await group('data-channel flood', async () => {
    // 2000 messages on the results channel as fast as it takes them: the session ends with
    // `flooding` (the channel's own limit), which the page shows.
    const flood = await streamer.evaluate(async () => {
      const channel = window.__faults.channels.at(-1);
      const socket = window.__faults.sockets[0];  // the page's own (the last one is check 4's flood)
      for (let i = 0; i < 2000 && channel.readyState === 'open'; i++) channel.send(`not json ${i}`);
      for (let i = 0; i < 100 && !socket.received.some((m) => m.code === 'flooding'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        flooding: socket.received.find((m) => m.code === 'flooding'),
        state: window.speakup.state,
        shown: window.speakup.lastError,
      };
    });
    // (The page closes its socket on this fatal error at once, so it may not read the bye after it.)
    check('data-channel flood: error flooding naming the data channel', flood.flooding &&
      /data channel: more than 200 messages in a second/.test(flood.flooding.message), JSON.stringify(flood));
    check('data-channel flood: the page shows the error', flood.shown?.code === 'flooding', JSON.stringify(flood.shown));
    const left = await waitForSessions(server, 0, 5000);
    check('data-channel flood: the session is gone, the server still answers', left === 0 && (await health(server)) !== null,
      `${left} sessions`);
  });

  await streamer.close();
  const none = await waitForSessions(server, 0, 10000);
  check('at the end no session is left', none === 0, `${none} sessions`);
} finally {
  await browser.close().catch(() => {});
  if (server.exit()) console.log(`the server had exited: ${JSON.stringify(server.exit())}\n${server.output().slice(-4000)}`);
  const exited = await stopServer(server, 5000);
  check('SIGTERM then stops the server cleanly', exited?.code === 0, JSON.stringify(exited));
  if (exited?.code !== 0) console.log(server.output().slice(-4000));
  fs.rmSync(work, { recursive: true, force: true });
}
finish();
