// Faults against a real `speakup serve`, driven by `speakup loadgen` (native webrtcbin clients
// sending tests/data/video/face_motion_vp8.webm; first, H.264 clients as a baseline): a peer that never completes ICE, one that never
// sends media, one whose stream is corrupt, one that freezes mid-stream, a full server refusing a
// peer while the others keep their results, SIGTERM with peers connected, and waves of peers that
// vanish abruptly (the load generator SIGKILLed mid-stream). After each fault the server must still
// answer and serve the well-behaved clients; after the vanishing waves its sessions are reaped
// within seconds and its memory is back within 10% of its baseline.
//   node tests/e2e/server_faults.mjs   (env SPEAKUP_BIN = the speakup program)
//   SPEAKUP_VANISH_PEERS=200 (make soak): the full count of vanishing peers; CI runs 40.
//   SPEAKUP_LOADGEN_BIN: another speakup program for the clients (make soak: release clients
//   against a sanitizer-built server). SPEAKUP_SANITIZED=1: the server is a sanitizer build, whose
//   allocator holds freed memory in quarantine, so the memory check is reported as skipped.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { checker } from '../../web/test/checks.mjs';
import { metrics, rssMiB, sessionCount, sleep, startServer, stopServer, waitFor } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const loadgenBin = process.env.SPEAKUP_LOADGEN_BIN ?? bin;
const sanitized = process.env.SPEAKUP_SANITIZED === '1';
const vanishPeers = Number(process.env.SPEAKUP_VANISH_PEERS ?? 40);
// Peers per wave: a sanitizer build handshakes several times slower.
const wave = Math.min(sanitized ? 20 : 40, vanishPeers);
const { check, finish } = checker('server_faults', 60000 + 2000 * vanishPeers);

// Short timeouts so the faults resolve quickly: 3 s to connect, 2 s of silence, and no grace for an
// ICE restart after the silence (these clients never restart; the grace has its own tests:
// browser_ice_restart.mjs, WebRtcPeer.AVanishedClientGetsTheRestartGraceFirst).
const serverArgs = ['--max-sessions', '300', '--max-sessions-per-ip', '0', '--connect-timeout-ms', '3000',
  '--silence-timeout-ms', '2000', '--restart-grace-ms', '0'];

function startLoadgen(server, args) {
  const child = spawn(loadgenBin, ['loadgen', '--server', server.url, '--json', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => child.on('exit', (code, signal) => {
    let report = null;
    try { report = JSON.parse(stdout); } catch { /* killed, or it failed: report stays null */ }
    resolve({ code, signal, report, stderr });
  }));
  return { child, done };
}

async function runLoadgen(server, args) {
  const result = await startLoadgen(server, args).done;
  if (!result.report) throw new Error(`loadgen failed (exit ${result.code}): ${result.stderr}`);
  return result.report;
}

const describe = (client) => JSON.stringify({ results: client.results, frames: client.frames_sent, errors: client.errors, bye: client.bye });
const alive = async (server) => !server.exit() && (await sessionCount(server)) >= 0;

const server = await startServer(bin, serverArgs);
try {
  // ---- first, the load generator's other codec: H.264 (x264, no B-frames, as cameras send it) ----
  {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-faults-'));
    const h264 = path.join(work, 'face_h264.mp4');
    execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
      'videoconvert', '!', 'x264enc', 'bframes=0', 'key-int-max=60', 'speed-preset=ultrafast', '!', 'mp4mux', '!',
      'filesink', `location=${h264}`]);
    const report = await runLoadgen(server, ['--clients', '2', '--duration', '3', '--video', h264]);
    check('H.264 clients stream and get results for their frames, no errors', report.per_client.every((c) =>
      c.streamed && c.results > 0 && c.errors.length === 0 && c.bad_results === 0), JSON.stringify(report.per_client.map(describe)));
    fs.rmSync(work, { recursive: true, force: true });
  }

  // ---- a peer that never completes ICE, next to a normal one ----
  {
    const report = await runLoadgen(server, ['--clients', '2', '--fault', 'no-ice', '--faulty', '1', '--duration', '5']);
    const [stuck, normal] = report.per_client;
    check('no ICE: the server gives up on the peer with a bye that says why', !stuck.streamed &&
      /connection did not come up within 3000 ms/.test(stuck.bye), describe(stuck));
    check('no ICE: the other client streams and gets results, no errors', normal.results > 0 &&
      normal.errors.length === 0 && normal.bye === '', describe(normal));
    check('no ICE: both sessions are gone afterwards', await waitFor(async () => (await sessionCount(server)) === 0, 5000));
  }

  // ---- a peer that connects but never sends video ----
  {
    const report = await runLoadgen(server, ['--clients', '2', '--fault', 'no-media', '--faulty', '1', '--duration', '5']);
    const [silent, normal] = report.per_client;
    check('no media: the silent peer is dropped with a bye naming the silence', /no video from the client for 2000 ms/.test(silent.bye),
      describe(silent));
    check('no media: the other client gets results, no errors', normal.results > 0 && normal.errors.length === 0 &&
      normal.bye === '', describe(normal));
  }

  // ---- a corrupted stream: decoder errors on the server ----
  {
    const before = await metrics(server);
    const report = await runLoadgen(server, ['--clients', '2', '--fault', 'corrupt', '--faulty', '1', '--duration', '5']);
    const [corrupt, normal] = report.per_client;
    check('corrupt stream: the server survives it and still answers', await alive(server));
    check('corrupt stream: the server logs that frames could not be decoded', /frame\(s\) from the client could not be decoded/
      .test(server.output()), server.output().slice(-500));
    check('corrupt stream: the corrupt session goes on, answering the frames that decode', corrupt.streamed &&
      corrupt.results > 0 && corrupt.results < corrupt.frames_sent && corrupt.bye === '', describe(corrupt));
    check('corrupt stream: the other client gets results, no errors', normal.results > 0 && normal.errors.length === 0,
      describe(normal));
    const after = await metrics(server);
    check('corrupt stream: /metrics counted the frames', after.speakup_frames_in_total > before.speakup_frames_in_total);
  }

  // ---- a peer that freezes mid-stream (socket open, nothing sent) is reaped while another streams ----
  {
    const run = startLoadgen(server, ['--clients', '2', '--fault', 'freeze', '--faulty', '1', '--freeze-after', '1',
      '--duration', '8']);
    const sawTwo = await waitFor(async () => (await sessionCount(server)) === 2, 15000);
    const reaped = sawTwo && await waitFor(async () => (await sessionCount(server)) === 1, 7000);
    const report = (await run.done).report;
    check('freeze: the frozen peer is reaped within the silence timeout while the other streams', reaped);
    const normal = report?.per_client[1];
    check('freeze: the other client kept getting results, no errors', normal && normal.results > 0 &&
      normal.errors.length === 0 && normal.bye === '', normal && describe(normal));
  }
  check('the server survived every fault above', await alive(server));
} finally {
  await stopServer(server);
}

// ---- overload: a full server refuses the next peer; the others keep their results ----
{
  const full = await startServer(bin, [...serverArgs.slice(2), '--max-sessions', '3']);
  try {
    const report = await runLoadgen(full, ['--clients', '4', '--duration', '5']);
    const refused = report.per_client.filter((c) => c.errors.some((e) => e.startsWith('server_full:')));
    const served = report.per_client.filter((c) => c.streamed);
    check('overload: exactly one peer is refused with server_full and a message', refused.length === 1 &&
      /maximum of 3 sessions/.test(refused[0].errors[0]), JSON.stringify(report.per_client.map((c) => c.errors)));
    check('overload: the three admitted peers get results for most frames, no errors', served.length === 3 &&
      served.every((c) => c.errors.length === 0 && c.results >= 0.8 * c.frames_sent),
    JSON.stringify(served.map(describe)));
    check('overload: /metrics counted the refusal', (await metrics(full)).speakup_sessions_refused_total >= 1);
  } finally {
    await stopServer(full);
  }
}

// ---- SIGTERM with peers connected: the server closes them and exits cleanly ----
{
  const doomed = await startServer(bin, serverArgs);
  const run = startLoadgen(doomed, ['--clients', '3', '--duration', '30']);
  const streaming = await waitFor(async () => (await sessionCount(doomed)) === 3 &&
    (await metrics(doomed)).speakup_results_sent_total > 30, 20000);
  check('SIGTERM: three peers were streaming', streaming);
  const exit = await stopServer(doomed, 10000);
  check('SIGTERM: the server exits with status 0 within 10 s', exit.code === 0 && !exit.timedOut, JSON.stringify(exit));
  check('SIGTERM: the server said it stopped', /speakup serve: stopped/.test(doomed.output()));
  const result = await Promise.race([run.done, sleep(15000).then(() => null)]);
  const byes = result?.report?.per_client.map((c) => c.bye) ?? [];
  check('SIGTERM: every peer was told the server is shutting down', byes.length === 3 &&
    byes.every((b) => /shutting down/.test(b)), JSON.stringify(byes));
  if (!result) run.child.kill('SIGKILL');
}

// ---- peers that vanish abruptly: the load generator SIGKILLed mid-stream, in waves ----
{
  // The default connect timeout: a wave's DTLS handshakes queue up on two cores.
  const target = await startServer(bin, ['--max-sessions', '300', '--max-sessions-per-ip', '0', '--silence-timeout-ms', '2000']);
  try {
    let baseline = 0;
    let vanished = 0;
    let allReaped = true;
    let reapSeconds = 0;
    for (let round = 0; vanished < vanishPeers; round++) {
      const count = Math.min(wave, vanishPeers - vanished);
      const run = startLoadgen(target, ['--clients', String(count), '--fps', '10', '--duration', '120',
        '--stagger-ms', '20', '--connect-timeout', '60']);
      const up = await waitFor(async () => (await sessionCount(target)) === count, 60000);
      const processedBefore = (await metrics(target)).speakup_frames_processed_total;
      // Mid-stream: frames from (on average) every peer have been processed.
      const streaming = up && await waitFor(async () =>
        (await metrics(target)).speakup_frames_processed_total >= processedBefore + 2 * count, 30000);
      run.child.kill('SIGKILL');
      await run.done;
      const killedAt = Date.now();
      const reaped = await waitFor(async () => (await sessionCount(target)) === 0, 10000);
      const reapedIn = (Date.now() - killedAt) / 1000;
      reapSeconds = Math.max(reapSeconds, reapedIn);
      if (!up || !streaming || !reaped) {
        allReaped = false;
        check(`vanish: wave ${round + 1} (${count} peers) streamed and was reaped`, false,
          JSON.stringify({ up, streaming, reaped, sessions: await sessionCount(target) }));
        break;
      }
      vanished += count;
      await sleep(1000);
      console.log(`      wave ${round + 1}: ${count} peers vanished, reaped in ${reapedIn.toFixed(1)} s, ` +
        `server RSS ${rssMiB(target.pid).toFixed(0)} MiB`);
      // The first wave warms the server up (GStreamer plugins loaded, codec tables): the level it
      // settles at afterwards (the lowest of 3 s of samples, once freed memory is trimmed) is the baseline.
      if (round === 0) {
        baseline = Infinity;
        for (let i = 0; i < 15; i++, await sleep(200)) baseline = Math.min(baseline, rssMiB(target.pid));
      }
    }
    check(`vanish: ${vanishPeers} peers killed mid-stream, each wave reaped within 10 s (slowest ${reapSeconds.toFixed(1)} s)`,
      allReaped && vanished === vanishPeers);
    // "Back": freed memory is returned within seconds of the last peer going.
    let rss = rssMiB(target.pid);
    if (!sanitized) await waitFor(async () => (rss = rssMiB(target.pid)) <= baseline * 1.1, 15000);
    if (sanitized) {
      console.log(`SKIP: vanish: memory check (sanitizer build: ${rss.toFixed(0)} MiB, baseline ${baseline.toFixed(0)} MiB)`);
    } else {
      check(`vanish: memory back within 10% of its baseline (${rss.toFixed(0)} MiB vs ${baseline.toFixed(0)} MiB)`,
        rss <= baseline * 1.1);
    }
    check('vanish: the server still answers', await alive(target));
  } finally {
    const exit = await stopServer(target);
    check('vanish: the server then stops cleanly', exit.code === 0,
      `${JSON.stringify(exit)} ${target.output().split('\n').filter((l) => !/could not be decoded/.test(l)).slice(-60).join('\n')}`);
  }
}

finish();
