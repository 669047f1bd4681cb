// End to end in a real browser: `speakup serve` (real models, real GStreamer webrtcbin) and Debian's
// headless Chromium with a fake camera playing a video of a real face (tests/data/video, turned into
// MJPEG here). Checks that the page connects, results arrive for most frames, the face is found where
// it is, the stats fill, options change what comes back, bad signaling is answered without hurting
// the session, a full server says so, and closing the tab frees the session.
//   node tests/e2e/browser_e2e.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { avatarParams } from '../../web/avatar_mapping.js';
import { metrics, sessionCount, sleep, startServer, stopServer, waitForPage, waitForSessions } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-e2e-'));
const outDir = process.env.SPEAKUP_E2E_OUT ?? work;
const { check, finish } = checker('browser_e2e', 240000);

// The fake camera: the face video as MJPEG, repeated to last a minute (Chromium 156 does not loop
// its fake capture file; MJPEG keeps a minute at 640x480 to ~60 MB where y4m would need 800).
const mjpeg = path.join(work, 'face.mjpeg');
const once = path.join(work, 'once.mjpeg');
execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
  'videoconvert', '!', 'jpegenc', 'quality=85', '!', 'filesink', `location=${once}`]);
const frames = fs.readFileSync(once);
fs.writeFileSync(mjpeg, Buffer.concat(Array(15).fill(frames)));

const browser = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${mjpeg}`] });
const server = await startServer(bin, ['--threads', '2']);
try {
  const page = await browser.newPage('main');
  await page.goto(server.url + '?autostart=1');
  const connected = await waitForPage(page, () => window.speakup?.state === 'connected', null, 25000);
  check('the page connects', connected, await page.evaluate(() => `${window.speakup.state} ${JSON.stringify(window.speakup.lastError)}`));
  check('the server has one session', (await sessionCount(server)) === 1);

  // Results for most frames, measured over 6 s after a short settling time.
  await sleep(2000);
  const before = await page.evaluate(() => ({ sent: window.speakup.framesSent, results: window.speakup.resultsReceived }));
  await sleep(6000);
  const after = await page.evaluate(() => ({ sent: window.speakup.framesSent, results: window.speakup.resultsReceived }));
  const sent = after.sent - before.sent, results = after.results - before.results;
  check('frames are sent (~30 fps)', sent >= 120, `${sent} frames in 6 s`);
  check('results arrive for most frames', results >= 0.9 * sent, `${results} results for ${sent} frames`);

  const face = await page.evaluate(() => {
    const r = window.speakup.lastResultPlain();
    return { width: r.width, height: r.height, faces: r.faces.map((f) => ({ box: f.box, n: f.landmarks.length / 3, yaw: f.yaw })) };
  });
  const box = face.faces[0]?.box ?? { x: 0, y: 0, width: 0, height: 0 };
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  check('one face, 468 landmarks', face.faces.length === 1 && face.faces[0].n === 468, JSON.stringify(face.faces.map((f) => f.n)));
  check('the face is where the video has it (middle of the frame)', cx > 0.25 * face.width && cx < 0.75 * face.width &&
    cy > 0.15 * face.height && cy < 0.85 * face.height && box.width > 80, `box ${JSON.stringify(box)}`);

  const stats = await page.evaluate(() => window.speakup.stats);
  check('stats: results per second', stats.resultsPerSecond > 20, String(stats.resultsPerSecond));
  check('stats: server stage times', stats.serverMs && stats.serverMs.total > 0 && stats.serverMs.landmarks > 0, JSON.stringify(stats.serverMs));
  check('stats: round-trip latency per result', stats.latency && stats.latency.count > 50 && stats.latency.p50 > 0,
    JSON.stringify(stats.latency));
  const panel = await page.evaluate(() => document.body.innerText);
  check('the stats panel shows latency and server times on the page', /latency/i.test(panel) && /landmarks/i.test(panel));
  await page.screenshot({ path: path.join(outDir, 'browser_e2e.png') });

  // Options change what comes back.
  await page.evaluate(() => window.speakup.setOptions({ refine: true }));
  const refined = await waitForPage(page, () => window.speakup.lastResult?.faces?.[0]?.landmarks?.length === 478 * 3, null, 5000);
  check('refine: 478 landmarks come back', refined);
  await page.evaluate(() => window.speakup.setOptions({ refine: false, detector: 'full', max_faces: 2 }));
  const back = await waitForPage(page, () => window.speakup.lastResult?.faces?.[0]?.landmarks?.length === 468 * 3, null, 5000);
  check('back to 468 with the full-range detector, still one face', back &&
    (await page.evaluate(() => window.speakup.lastResult.faces.length)) === 1);
  // The Face Landmarker: 478 points and 52 blendshapes per face, through the real server.
  const model = await page.evaluate(() => window.speakup.setOptions({ model: 'landmarker', max_faces: 1 })
    .then((o) => o.model, (error) => `refused: ${error.message}`));
  check('model landmarker is confirmed by the server', model === 'landmarker', model);
  const shapes = await waitForPage(page, () => {
    const f = window.speakup.lastResult?.faces?.[0];
    return f?.blendshapes?.length === 52 && f.landmarks.length === 478 * 3;
  }, null, 10000);
  const scores = await page.evaluate(() => Array.from(window.speakup.lastResult?.faces?.[0]?.blendshapes ?? []));
  check('landmarker: 52 blendshapes and 478 landmarks come back', shapes &&
    scores.every((s) => Number.isFinite(s) && s >= 0 && s <= 1), JSON.stringify(scores.slice(0, 8)));
  // Every result carries the scores; the Blendshapes panel shows them as 52 bars that move; the
  // avatar applies each result's scores (its params are avatarParams() of them) and follows along.
  // Sampled every 100 ms for 4 s (the whole face video is 4 s).
  const sample = () => page.evaluate(() => {
    const a = window.speakup.avatar;
    return {
      results: window.speakup.resultsReceived,
      withShapes: window.speakup.resultsWithBlendshapes,
      shown: window.speakup.blendshapesShown,
      rows: [...document.querySelectorAll('#blendshapes .bs-row')].map((r) => [r.dataset.name, r.dataset.value]),
      panelHidden: document.getElementById('blendshapes').hidden,
      avatar: { frames: a.frames, rendered: a.rendered, hasBlendshapes: a.hasBlendshapes, jawOpen: a.jawOpen,
        blinkLeft: a.blinkLeft, blinkRight: a.blinkRight, params: a.params, scores: a.scores },
      raw: Array.from(window.speakup.lastResult?.faces?.[0]?.blendshapes ?? []),
    };
  });
  const samples = [await sample()];
  for (let i = 0; i < 40; i++) {
    await sleep(100);
    samples.push(await sample());
  }
  const first = samples[0], last = samples[samples.length - 1];
  const got = last.results - first.results, withShapes = last.withShapes - first.withShapes;
  check('landmarker: every result carries 52 blendshapes', got > 60 && withShapes === got, `${withShapes} of ${got} in 4 s`);
  const names = await page.evaluate(() => window.speakup.lastResult && [...document.querySelectorAll('#blendshapes .bs-row')].map((r) => r.dataset.name));
  check('the Blendshapes panel shows 52 named bars', !last.panelHidden && last.rows.length === 52 &&
    new Set(names).size === 52 && names.includes('jawOpen') && names.includes('eyeBlinkLeft'), `${last.rows.length} rows`);
  const changedBars = new Set();
  for (let i = 1; i < samples.length; i++) {
    samples[i].rows.forEach(([name, v], j) => { if (v !== samples[i - 1].rows[j][1]) changedBars.add(name); });
  }
  check('the bars update (values change over time)', last.shown - first.shown > 30 && changedBars.size >= 10,
    `${last.shown - first.shown} updates, ${changedBars.size} bars changed`);
  const close = (a, b) => Object.keys(a).every((k) => Math.abs(a[k] - b[k]) < 1e-6);
  const consistent = samples.filter((x) => x.avatar.scores.length === 52 && close(avatarParams(x.avatar.scores), x.avatar.params));
  const jaws = samples.map((x) => x.avatar.jawOpen);
  const blinks = samples.map((x) => x.avatar.blinkLeft);
  check('the avatar updates every result and follows the scores', last.avatar.frames - first.avatar.frames > 30 &&
    last.avatar.rendered > first.avatar.rendered && last.avatar.hasBlendshapes && consistent.length === samples.length &&
    new Set(jaws).size > 5, `frames +${last.avatar.frames - first.avatar.frames}, rendered +${last.avatar.rendered - first.avatar.rendered}, ` +
    `${consistent.length}/${samples.length} consistent, jawOpen ${Math.min(...jaws).toFixed(3)}..${Math.max(...jaws).toFixed(3)}, ` +
    `blinkLeft ${Math.min(...blinks).toFixed(3)}..${Math.max(...blinks).toFixed(3)}`);
  // What the video gives (a talking face, mouth a little open throughout): reported, not asserted.
  const rawJaw = samples.map((x) => x.raw[25]).filter(Number.isFinite);
  console.log(`note: jawOpen score over the video ${Math.min(...rawJaw).toFixed(3)}..${Math.max(...rawJaw).toFixed(3)}, ` +
    `eyeBlinkLeft ${Math.min(...samples.map((x) => x.raw[9] ?? 0)).toFixed(3)}..${Math.max(...samples.map((x) => x.raw[9] ?? 0)).toFixed(3)}`);
  await page.evaluate(() => document.getElementById('avatar').scrollIntoView());
  await page.screenshot({ path: path.join(outDir, 'browser_e2e_avatar.png'), fullPage: true });
  const refused = await page.evaluate(() => window.speakup.setOptions({ refine: true })
    .then(() => 'applied', (error) => error.message));
  check('the page refuses refine with the landmarker', /refine/.test(refused), refused);
  // The server's own check, on a socket of its own (options may come before any offer).
  const raw = await page.evaluate(async (wsUrl) => {
    const ws = new WebSocket(wsUrl);
    const got = [];
    ws.onmessage = (e) => got.push(JSON.parse(e.data));
    await new Promise((r) => { ws.onopen = r; });
    const wait = async (n) => { for (let i = 0; i < 50 && got.length < n; i++) await new Promise((r) => setTimeout(r, 100)); };
    await wait(1);  // welcome
    ws.send(JSON.stringify({ type: 'options', options: { model: 'landmarker' } }));
    await wait(2);
    ws.send(JSON.stringify({ type: 'options', options: { refine: true } }));
    await wait(3);
    ws.send(JSON.stringify({ type: 'options', options: { model: 'face' } }));
    await wait(4);
    ws.close();
    return got;
  }, server.url.replace('http', 'ws') + 'ws');
  check('the server: welcome with protocol 2, model landmarker confirmed, refine refused, a bad model refused',
    raw[0]?.protocol === 2 && raw[1]?.options?.model === 'landmarker' && raw[1]?.options?.refine === false &&
    raw[2]?.code === 'bad_message' && /refine/.test(raw[2]?.message) && raw[3]?.code === 'bad_message' &&
    /model/.test(raw[3]?.message), JSON.stringify(raw));
  await page.evaluate(() => window.speakup.setOptions({ model: 'mesh' }));
  const mesh = await waitForPage(page, () => {
    const f = window.speakup.lastResult?.faces?.[0];
    return f?.blendshapes?.length === 0 && f.landmarks.length === 468 * 3;
  }, null, 5000);
  check('back to the mesh: 468 landmarks, no blendshapes', mesh);
  const hint = await waitForPage(page, () => document.getElementById('blendshapes').hidden &&
    /landmarker/.test(document.getElementById('blendshapes-hint').textContent) &&
    document.getElementById('opt-model').value === 'mesh', null, 3000);
  check('with the mesh model the Blendshapes panel gives way to a hint', hint);
  await page.evaluate(() => window.speakup.setOptions({ annotated_video: true }));
  // The server's VP8 track with the mesh drawn: decoded (inbound-rtp) and painted in the page's <video>.
  const annotated = await waitForPage(page, () => (window.speakup.annotated?.framesShown ?? 0) > 30 &&
    window.speakup.annotated.width === 640, null, 10000);
  check('annotated video arrives and is shown when asked for', annotated,
    JSON.stringify(await page.evaluate(() => ({ ...window.speakup.annotated, decoded: window.speakup.stats.annotatedFramesDecoded }))));
  await page.screenshot({ path: path.join(outDir, 'browser_e2e_annotated.png') });
  await page.evaluate(() => window.speakup.setOptions({ annotated_video: false }));

  // Bad signaling on a second socket: each answered with an error, the first session unaffected.
  // An oversized message on a third: refused (an error, or libsoup closing that socket as too big).
  const probe = await page.evaluate(async (wsUrl) => {
    const open = async () => {
      const ws = new WebSocket(wsUrl);
      const got = [];
      ws.onmessage = (e) => got.push(JSON.parse(e.data));
      await new Promise((r) => { ws.onopen = r; });
      return { ws, got };
    };
    const bad = await open();
    for (const m of ['not json', '[1]', '{"type":"launch"}', '{"type":"offer","sdp":"v=0 nonsense"}',
      JSON.stringify({ type: 'options', options: { max_faces: 99 } })]) bad.ws.send(m);
    const wanted = ['bad_json', 'bad_message', 'unknown_type', 'bad_sdp'];
    for (let i = 0; i < 100; i++) {
      const codes = bad.got.filter((m) => m.type === 'error').map((m) => m.code);
      if (wanted.every((c) => codes.includes(c))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    bad.ws.close();
    const big = await open();
    const closed = new Promise((r) => { big.ws.onclose = (e) => r(e.code); });
    big.ws.send('x'.repeat(70000));
    const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('open'), 3000))]);
    if (code === 'open') big.ws.close();
    return { codes: bad.got.filter((m) => m.type === 'error').map((m) => m.code),
      big: { code, errors: big.got.filter((m) => m.type === 'error').map((m) => m.code) } };
  }, server.url.replace('http', 'ws') + 'ws');
  check('bad signaling gets error replies with codes', ['bad_json', 'bad_message', 'unknown_type', 'bad_sdp'].every((c) => probe.codes.includes(c)),
    probe.codes.join(','));
  check('an oversized message is refused', probe.big.errors.includes('too_large') || probe.big.code === 1009,
    JSON.stringify(probe.big));
  const stillGoing = await page.evaluate(async () => {
    const n = window.speakup.resultsReceived;
    await new Promise((r) => setTimeout(r, 1000));
    return window.speakup.resultsReceived - n;
  });
  check('the first session keeps getting results', stillGoing > 15, `${stillGoing} in 1 s`);

  // /metrics (Prometheus text format) counts what happened.
  const counters = await metrics(server);
  const value = (name) => counters[name] ?? NaN;
  check('/metrics counts frames, results and sessions', value('speakup_frames_in_total') > 200 &&
    value('speakup_results_sent_total') > 200 && value('speakup_sessions_active') >= 1 &&
    value('speakup_frame_seconds_count') > 200, ['speakup_frames_in_total', 'speakup_results_sent_total',
      'speakup_sessions_active', 'speakup_frame_seconds_count'].map((n) => `${n}=${value(n)}`).join(' '));

  // Closing the tab frees the session.
  await page.close();
  const left = await waitForSessions(server, 0, 5000);
  check('closing the tab frees the session within 5 s', left === 0, `${left} left`);
} finally {
  if (server.exit()) console.log(`the server had exited: ${JSON.stringify(server.exit())}\n${server.output()}`);
  await stopServer(server);
}

// A full server says so, and its one session is unaffected.
const small = await startServer(bin, ['--max-sessions', '1', '--threads', '1']);
try {
  const first = await browser.newPage('first');
  await first.goto(small.url + '?autostart=1');
  check('first client connects to a one-session server', await waitForPage(first, () => window.speakup?.state === 'connected', null, 25000));
  const second = await browser.newPage('second');
  await second.goto(small.url + '?autostart=1');
  const refused = await waitForPage(second, () => window.speakup?.lastError?.code === 'server_full', null, 10000);
  check('second client is told the server is full', refused, JSON.stringify(await second.evaluate(() => window.speakup.lastError)));
  const refusedCount = (await metrics(small)).speakup_sessions_refused_total;
  check('/metrics counts the refused client', refusedCount >= 1, `refused ${refusedCount}`);
  const shown = await second.evaluate(() => document.body.innerText);
  check('the page shows the full-server message', /full/i.test(shown));
  const n = await first.evaluate(() => window.speakup.resultsReceived);
  await sleep(1000);
  check('the first client is unaffected', (await first.evaluate(() => window.speakup.resultsReceived)) - n > 15);
} finally {
  if (small.exit()) console.log(`the one-session server had exited: ${JSON.stringify(small.exit())}\n${small.output()}`);
  const exited = await stopServer(small, 5000);
  check('SIGTERM stops the server cleanly', exited?.code === 0, JSON.stringify(exited));
}

// An access token: a page without it is refused with a clear message, a page with it connects.
const guarded = await startServer(bin, ['--token', 's3cret', '--threads', '1']);
try {
  const without = await browser.newPage('without-token');
  await without.goto(guarded.url + '?autostart=1');
  const refused = await waitForPage(without, () => window.speakup?.lastError?.code === 'unauthorized', null, 10000);
  check('without the token the page is refused and says why', refused &&
    /token/i.test(await without.evaluate(() => document.body.innerText)));
  await without.close();
  const withToken = await browser.newPage('with-token');
  await withToken.goto(guarded.url + '?autostart=1&token=s3cret');
  check('with the token the page connects', await waitForPage(withToken, () => window.speakup?.state === 'connected', null, 25000));
  await withToken.close();
} finally {
  await stopServer(guarded);
}

await browser.close();
fs.rmSync(work, { recursive: true, force: true });
finish();
