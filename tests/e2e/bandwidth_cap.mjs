// A browser on a thin uplink: its camera's bitrate follows the congestion feedback the server sends.
// In a private network namespace (`unshare -n`, as root) the browser-to-server UDP traffic on
// loopback is capped at 600 kbit/s (tc: htb root, a u32 filter on the server's --udp-ports range as
// destination, a tbf leaf with a 400 ms queue). Only that direction is shaped: the results the
// server sends back on the data channel and the signaling over TCP are not (they are the downlink;
// capping them too would measure the result stream, not the camera's adaptation).
//   - with transport-wide congestion feedback (the default), headless Chromium sending a 640x480
//     face video at 30 fps brings its sent video bitrate (getStats outbound-rtp bytesSent +
//     headerBytesSent, 3 s averages) under the cap within 10 s and keeps it there, results keep
//     arriving every second, and the server counts the feedback it sends
//     (speakup_rtcp_congestion_feedback_total);
//   - the control: the same cap against `--congestion-feedback off` (no feedback, bitrate pinned to
//     600-2000 kbit/s) never settles under it: its 3 s averages stay above the cap.
//   node tests/e2e/bandwidth_cap.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root, as root)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');

// ---- into a network namespace of our own: the cap must touch nothing else on this machine ----
if (process.env.SPEAKUP_BANDWIDTH_NETNS !== '1') {
  const run = spawnSync('unshare', ['-n', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, SPEAKUP_BANDWIDTH_NETNS: '1' },
  });
  if (run.error || run.status === null) console.error(`bandwidth_cap: unshare -n failed (root needed): ${run.error ?? run.signal}`);
  process.exit(run.status ?? 1);
}

const { launch } = await import('../../web/test/chromium.mjs');
const { checker } = await import('../../web/test/checks.mjs');
const { fakeCameraFile, sessionState, startPageSession } = await import('./page_client.mjs');
const { metrics, sleep, startServer, stopServer, waitForPage } = await import('./speakup_server.mjs');

const { check, finish } = checker('bandwidth_cap', 170000);
const CAP_KBPS = 600;
const WINDOW_S = 3;           // averages over this many seconds
const SETTLE_BY_S = 10;       // the feedback run must be under the cap from here on
const FEEDBACK_RUN_S = 30;
const CONTROL_RUN_S = 20;
// Two servers' port ranges inside one 32-port block the filter matches (u32 takes a mask, not a range).
const BLOCK = 40960 + 32 * Math.floor(Math.random() * 64);

const tc = (...args) => execFileSync('tc', args, { encoding: 'utf8' });
execFileSync('ip', ['link', 'set', 'lo', 'up']);
tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '1gbit', 'quantum', '60000');
tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '1gbit', 'quantum', '60000');
tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:10', 'handle', '10:', 'tbf', 'rate', `${CAP_KBPS}kbit`, 'burst', '32kbit',
  'latency', '400ms');
tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'protocol', '17',
  '0xff', 'match', 'ip', 'dport', String(BLOCK), '0xffe0', 'flowid', '1:10');
const shapedBytes = () => Number(/Sent (\d+) bytes/.exec(tc('-s', 'qdisc', 'show', 'dev', 'lo', 'parent', '1:10'))?.[1] ?? 0);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-bandwidth-'));
const problems = [];
// The face video (640x480, 30 fps, moving) repeated past both runs: a camera that stopped would send
// little for reasons of its own.
// Only loopback exists here: Chromium gathers on it only when allowed to.
const browser = await launch({ loopback: true, problems, extra: [`--use-file-for-fake-video-capture=${fakeCameraFile(work, 24)}`] });

// Once a second: the camera's sent bytes (payload + RTP headers), the browser's estimate and the
// results received, from the page's RTCPeerConnection and its session.
const sample = (page) => page.evaluate(async () => {
  const out = { at: performance.now(), bytes: 0, estimate: null, width: 0, fps: 0, limitation: '', results: window.session.results };
  const connection = window.client.peerConnection;  // null until the server's welcome
  if (!connection) return out;
  const stats = await connection.getStats();
  stats.forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      out.bytes += (r.bytesSent ?? 0) + (r.headerBytesSent ?? 0);
      out.width = r.frameWidth ?? 0;
      out.fps = r.framesPerSecond ?? 0;
      out.limitation = r.qualityLimitationReason ?? '';
    }
    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate !== undefined) {
      out.estimate = Math.round(r.availableOutgoingBitrate / 1000);
    }
  });
  return out;
});

// Streams for `seconds` from connect(): per-second samples, each with the kbit/s of the WINDOW_S
// seconds before it (t = seconds since connect()), and the time of the first result.
async function stream(server, seconds, name) {
  const page = await startPageSession(browser, server, {}, name);
  const samples = [await sample(page)];
  for (let s = 1; s <= seconds; s++) {
    await sleep(Math.max(0, samples[0].at + s * 1000 - (await page.evaluate(() => performance.now()))));
    samples.push(await sample(page));
  }
  const state = await sessionState(page);
  await page.close();
  for (let i = 0; i < samples.length; i++) {
    const from = samples[Math.max(0, i - WINDOW_S)];
    const span = (samples[i].at - from.at) / 1000;
    samples[i].t = Math.round((samples[i].at - samples[0].at) / 100) / 10;
    samples[i].kbps = span > 0 ? Math.round(((samples[i].bytes - from.bytes) * 8) / span / 1000) : 0;
  }
  console.log(`${name}: t(s) kbps(${WINDOW_S}s avg) estimate(kbps) width fps limitation results`);
  for (const s of samples) console.log(`  ${s.t} ${s.kbps} ${s.estimate} ${s.width} ${s.fps} ${s.limitation} ${s.results}`);
  const first = samples.find((s) => s.results > 0);
  if (!first) console.log(`${name}: no result: ${JSON.stringify(state)}`);
  return { samples: samples.slice(WINDOW_S), firstResult: first?.t ?? null, state };  // from the first full window on
}

const PORTS = (offset) => ['--udp-ports', `${BLOCK + offset}-${BLOCK + offset + 15}`];
try {
  // ---- with transport-wide congestion feedback ----
  const server = await startServer(bin, ['--threads', '1', ...PORTS(0)]);
  let feedback;
  try {
    const shapedBefore = shapedBytes();
    const before = await metrics(server);
    feedback = await stream(server, FEEDBACK_RUN_S, 'with feedback');
    const after = await metrics(server);
    check('with feedback: results arrive', feedback.firstResult !== null, `first at ${feedback.firstResult} s`);
    if (feedback.firstResult !== null) {
      const { samples } = feedback;
      const over = samples.filter((s) => s.kbps > CAP_KBPS);
      const lastOver = over.length ? over.at(-1).t : 0;
      const settled = samples.find((s) => s.t > lastOver && s.kbps <= CAP_KBPS)?.t ?? samples[0].t;
      console.log(`with feedback: first result at ${feedback.firstResult} s; every ${WINDOW_S} s average under ` +
        `${CAP_KBPS} kbit/s from ${settled} s after connect() on; steady (from ${SETTLE_BY_S} s) ` +
        `median ${median(samples.filter((s) => s.t >= SETTLE_BY_S).map((s) => s.kbps))} kbit/s`);
      check(`with feedback: the camera's ${WINDOW_S} s average is under ${CAP_KBPS} kbit/s from ${SETTLE_BY_S} s on`,
        lastOver < SETTLE_BY_S, `over at ${over.map((s) => `${s.t}s:${s.kbps}`).join(' ')}`);
      const steady = samples.filter((s) => s.t >= SETTLE_BY_S);
      check('with feedback: and it still sends video (not starved: > 100 kbit/s)', steady.every((s) => s.kbps > 100),
        steady.map((s) => s.kbps).join(' '));
      const gaps = samples.filter((s, i) => i > 0 && s.t > feedback.firstResult + 1 && s.results <= samples[i - 1].results);
      check('with feedback: results arrive every second', gaps.length === 0, `no new result by ${gaps.map((s) => s.t).join(' ')} s`);
      // Chromium's send-side estimate: it starts at x-google-start-bitrate (1500) and follows the feedback.
      check('with feedback: the browser\'s estimate (availableOutgoingBitrate) follows the cap once settled (<= 1.25 x)',
        steady.every((s) => s.estimate !== null && s.estimate <= CAP_KBPS * 1.25), steady.map((s) => s.estimate).join(' '));
      const sent = after.speakup_rtcp_congestion_feedback_total - before.speakup_rtcp_congestion_feedback_total;
      check('the server sent transport-wide feedback (speakup_rtcp_congestion_feedback_total, >= 5 a second)',
        sent >= 5 * FEEDBACK_RUN_S, `${sent} in ${FEEDBACK_RUN_S} s`);
      const shaped = shapedBytes() - shapedBefore;
      check('the cap saw the camera\'s packets (tc counted them)', shaped > 100000, `${shaped} bytes`);
    }
  } finally {
    await stopServer(server);
  }

  // ---- control: the same cap, no feedback ----
  const control = await startServer(bin, ['--threads', '1', '--congestion-feedback', 'off', ...PORTS(16)]);
  try {
    const before = await metrics(control);
    const run = await stream(control, CONTROL_RUN_S, 'without feedback');
    const after = await metrics(control);
    check('without feedback: the session starts', run.firstResult !== null, `first result at ${run.firstResult} s`);
    if (run.firstResult !== null) {
      const over = run.samples.filter((s) => s.t >= SETTLE_BY_S && s.kbps > CAP_KBPS);
      const last = run.samples.at(-1);
      console.log(`without feedback: median ${median(run.samples.map((s) => s.kbps))} kbit/s, estimate ${last.estimate} ` +
        `kbit/s at the end, ${last.results} results in ${CONTROL_RUN_S} s (with feedback: ` +
        `${feedback?.samples.at(-1)?.results} in ${FEEDBACK_RUN_S} s)`);
      // The feedback run's criterion must fail here, or it would prove nothing. (Without feedback
      // Chromium still lowers its rate on reported losses now and then, but does not settle.)
      check(`without feedback: the camera does not settle under ${CAP_KBPS} kbit/s (the test can fail)`,
        over.length > 0, run.samples.map((s) => `${s.t}s:${s.kbps}`).join(' '));
      check('without feedback: no feedback sent', after.speakup_rtcp_congestion_feedback_total ===
        before.speakup_rtcp_congestion_feedback_total, `${after.speakup_rtcp_congestion_feedback_total}`);
    }
  } finally {
    await stopServer(control);
  }
} finally {
  await browser.close();
  fs.rmSync(work, { recursive: true, force: true });
}
check('no console errors or exceptions in the page', problems.length === 0,
  problems.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
