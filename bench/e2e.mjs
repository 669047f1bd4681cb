// `speakup bench e2e`: headless Chromium streams a 640x480 30 fps face video through `speakup serve`
// for a fixed time; prints results per second, round-trip latency (frame leaving the browser's
// encoder -> its landmarks received) median and p95, and the server's stage times.
// The page shows the 2D overlay only (views=2d) unless --views 3d: without a GPU, the 3D view and the
// avatar are drawn in software on the same cores as the browser's encoder and the server.
// Also: the camera's bitrate (outbound-rtp bytes, payload only) and the longest time without a result.
//   node bench/e2e.mjs --bin build/release/apps/speakup/speakup [--duration 20] [--model mesh|landmarker]
//                      [--views 2d|3d] [--warmup 3] [--udp-ports MIN-MAX] [--json]
// (`speakup bench network` runs it in a network namespace whose uplink it caps, with --udp-ports.)
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../web/test/chromium.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const bin = option('--bin', process.env.SPEAKUP_BIN);
const duration = Number(option('--duration', '20'));
const json = args.includes('--json');
const model = option('--model', 'mesh');
const views = option('--views', '2d');
const warmup = Number(option('--warmup', '3'));
const udpPorts = option('--udp-ports', null);
if (!bin) throw new Error('give --bin PATH_TO_SPEAKUP');
if (model !== 'mesh' && model !== 'landmarker') throw new Error(`--model is mesh or landmarker, not ${model}`);
if (views !== '2d' && views !== '3d') throw new Error(`--views is 2d or 3d, not ${views}`);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...m) => { if (!json) console.log(...m); };

// The fake camera: the face video as MJPEG, long enough for the run (Chromium does not loop it).
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-bench-'));
const once = path.join(work, 'once.mjpeg'), mjpeg = path.join(work, 'face.mjpeg');
execFileSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path.join(root, 'tests/data/video/face_motion.mp4')}`, '!',
  'decodebin', '!', 'videoconvert', '!', 'jpegenc', 'quality=85', '!', 'filesink', `location=${once}`]);
const clip = fs.readFileSync(once);
fs.writeFileSync(mjpeg, Buffer.concat(Array(Math.ceil((duration + warmup + 12) / 4)).fill(clip)));

const serveArgs = ['serve', '--port', '0', '--drain-seconds', '0', ...(udpPorts ? ['--udp-ports', udpPorts] : [])];
const server = spawn(bin, serveArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
let output = '';
server.stdout.on('data', (d) => { output += d; });
for (let i = 0; i < 100 && !/localhost:(\d+)/.test(output); i++) await sleep(100);
const port = /localhost:(\d+)/.exec(output)?.[1];
if (!port) throw new Error(`the server did not start: ${output}`);
const browser = await launch({ loopback: true, extra: [`--use-file-for-fake-video-capture=${mjpeg}`] });
try {
  const page = await browser.newPage('bench');
  await page.goto(`http://127.0.0.1:${port}/?autostart=1&model=${model}&views=${views}`);
  await page.waitForFunction(() => window.speakup?.state === 'connected', null, { timeout: 25000 });
  // The page sends its options (model included) with the offer; the server's answer confirms them.
  await page.waitForFunction((m) => window.speakup.serverOptions?.model === m, model, { timeout: 10000 });
  await sleep(warmup * 1000);  // first detection, the bitrate's ramp (or settling under a cap)
  const read = () => page.evaluate(() => ({
    sent: window.speakup.framesSent, results: window.speakup.resultsReceived, bytes: window.speakup.stats.bytesSent ?? 0,
    latency: window.speakup.latencyMs.slice(), server: window.speakup.stats.serverMs, at: performance.now(),
  }));
  const start = await read();
  const latencies = [], server_ms = { queue: [], detect: [], landmarks: [], geometry: [], total: [] };
  let last = start;
  // Results counted every 100 ms for the longest gap; everything else every 2 s.
  let lastCount = start.results, lastChange = start.at, maxGap = 0;
  const watchGap = async () => {
    const { results, at } = await page.evaluate(() => ({ results: window.speakup.resultsReceived, at: performance.now() }));
    if (results !== lastCount) {
      maxGap = Math.max(maxGap, at - lastChange);
      lastCount = results;
      lastChange = at;
    }
    return at;
  };
  for (let t = 0; t < duration; t += 2) {
    for (let tick = 0; tick < 20; tick++) {
      await sleep(100);
      await watchGap();
    }
    const now = await read();
    const fresh = Math.min(now.latency.length, now.results - last.results);
    latencies.push(...now.latency.slice(now.latency.length - fresh));
    for (const k of Object.keys(server_ms)) if (now.server?.[k] !== undefined) server_ms[k].push(now.server[k]);
    last = now;
  }
  const sorted = latencies.filter(Number.isFinite).sort((a, b) => a - b);
  const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))] : null);
  const mean = (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null);
  const blendshapes = await page.evaluate(() => window.speakup.lastResult?.faces?.[0]?.blendshapes?.length ?? null);
  maxGap = Math.max(maxGap, (await watchGap()) - lastChange);
  const result = {
    model,
    views,
    blendshapes_per_face: blendshapes,
    duration_s: duration,
    frames_sent: last.sent - start.sent,
    results: last.results - start.results,
    results_per_second: (last.results - start.results) / duration,
    // (frames sent comes from getStats once a second, so it can lag the results by a frame or two)
    answered_pct: Math.min(100, (100 * (last.results - start.results)) / Math.max(1, last.sent - start.sent)),
    max_gap_ms: maxGap,
    sent_kbps: ((last.bytes - start.bytes) * 8) / ((last.at - start.at) / 1000) / 1000,
    latency_ms: { p50: pct(0.5), p95: pct(0.95), samples: sorted.length },
    server_ms: Object.fromEntries(Object.entries(server_ms).map(([k, v]) => [k, mean(v)])),
  };
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    log(`640x480 30 fps from headless Chromium for ${duration} s through speakup serve (loopback), model ${model}, views ${views}` +
      `${model === 'landmarker' ? ` (${blendshapes} blendshapes per face)` : ''}:`);
    log(`  frames sent ${result.frames_sent}, results ${result.results} (${(100 * result.results / Math.max(1, result.frames_sent)).toFixed(1)}%), ${result.results_per_second.toFixed(1)} results/s`);
    log(`  camera bitrate ${result.sent_kbps.toFixed(0)} kbit/s, longest time without a result ${result.max_gap_ms.toFixed(0)} ms`);
    log(`  round-trip latency: median ${result.latency_ms.p50?.toFixed(1)} ms, p95 ${result.latency_ms.p95?.toFixed(1)} ms (${sorted.length} results)`);
    log(`  server stages (mean of the client's rolling means, ms): ${Object.entries(result.server_ms).map(([k, v]) => `${k} ${v?.toFixed(2)}`).join(', ')}`);
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
