// Surviving a lossy path, against a real `speakup serve` and real WebRTC clients (`speakup loadgen
// --loss`, whose seeded loss sits between its RTP session and its transport, so retransmissions cross
// it too):
//   0% loss:  every frame's packets arrive: no packet lost, results without gaps.
//   5% loss:  the server asks for lost packets again (NACK), the client retransmits them (RTX), and
//             >= 90% of frames are answered with no gap over 1 s; with every loss repaired, no key
//             frame is asked for beyond the sessions' first ones (+ a few).
//   25% loss: results keep coming (no gap over 2 s); key frames are asked for only as often as
//             packets are lost for good or frames are undecodable, not per packet (see below).
//   1% loss, retransmissions lost too (--rtx-loss 100): every loss is for good: the server asks for
//             key frames (PLI/FIR), the client sends them, and results keep coming.
// Counters come from the server's /metrics (taken once the run's sessions have ended) and loadgen's
// JSON report. About 60 s.
//   node tests/e2e/loadgen_network.mjs   (env SPEAKUP_BIN = the speakup program)
import { spawn } from 'node:child_process';

import { checker } from '../../web/test/checks.mjs';
import { metrics, startServer, stopServer, waitFor } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('loadgen_network', 170000);

// `speakup loadgen --json` with `args`; resolves with its report (null, and the output, if none).
function loadgen(server, args) {
  const child = spawn(bin, ['loadgen', '--server', server.url, '--json', '--quiet', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60000);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(killer);
    try {
      resolve({ code, report: JSON.parse(out) });
    } catch {
      resolve({ code, report: null, output: out + err });
    }
  }));
}

const kCounters = ['speakup_rtp_packets_lost_total', 'speakup_rtp_nacks_sent_total',
  'speakup_rtp_retransmitted_packets_received_total', 'speakup_keyframe_requests_total',
  'speakup_keyframe_requests_held_total', 'speakup_frames_undecoded_total'];

// Key-frame requests beyond each session's first one need a reason: a packet lost for good, or a
// frame that could not be decoded (a request is held while one is pending, and asked again at most
// every 300 ms while frames keep failing). The depayloader alone asks once per packet of a broken
// frame and per frame dropped while it waits: 40-75 requests at 5% loss with nothing lost, before.
function requestsFollowLosses(label, grew, sessions) {
  const reasons = grew.speakup_rtp_packets_lost_total + grew.speakup_frames_undecoded_total;
  check(`${label}: key-frame requests only for losses (<= sessions + lost + undecoded + 3)`,
    grew.speakup_keyframe_requests_total <= sessions + reasons + 3,
    `${grew.speakup_keyframe_requests_total} requests, ${sessions} sessions, ${reasons} lost or undecoded, ` +
    `${grew.speakup_keyframe_requests_held_total} held`);
}

// One loadgen run; returns its report and how much each recovery counter grew over it (read once
// the run's sessions have closed, so their final counts are in).
async function run(server, label, args) {
  const before = await metrics(server);
  const { code, report, output } = await loadgen(server, args);
  check(`${label}: loadgen ran and reported`, code === 0 && report !== null, output ?? '');
  await waitFor(async () => (await metrics(server)).speakup_sessions_active === 0, 10000);
  const after = await metrics(server);
  const grew = {};
  for (const name of kCounters) grew[name] = (after[name] ?? NaN) - (before[name] ?? NaN);
  const summary = report ? `answered ${(100 * report.answered).toFixed(1)}%, p50 ${report.latency.p50_ms.toFixed(1)} ms, ` +
    `p95 ${report.latency.p95_ms.toFixed(1)} ms, longest gap ${report.max_gap_ms.toFixed(0)} ms, ` +
    `path ${report.path_dropped}/${report.path_packets} dropped, ${report.keyframes_on_request} key frames on request` : '';
  console.log(`${label}: ${summary}; server: ${JSON.stringify(grew)}`);
  return { report: report ?? { answered: 0, max_gap_ms: Infinity, per_client: [] }, grew };
}

const server = await startServer(bin);
try {
  for (const name of kCounters) check(`/metrics has ${name}`, Number.isFinite((await metrics(server))[name]));

  // No loss: nothing to recover.
  {
    const { report, grew } = await run(server, '0% loss', ['--clients', '2', '--duration', '8']);
    check('0% loss: >= 90% of frames answered', report.answered >= 0.9, `${report.answered}`);
    check('0% loss: no gap over 1 s', report.max_gap_ms <= 1000, `${report.max_gap_ms} ms`);
    check('0% loss: no lossy path in the client', report.path_packets === 0 && report.path_dropped === 0);
    check('0% loss: the server lost no packet', grew.speakup_rtp_packets_lost_total === 0,
      `${grew.speakup_rtp_packets_lost_total}`);
    // (NACKs may still go out: the jitter buffer also asks again for a packet that is merely late,
    // which happens on a loaded machine; and a late packet that arrives is not lost.)
  }

  // 5%: repaired by retransmission.
  {
    const { report, grew } = await run(server, '5% loss',
      ['--clients', '3', '--duration', '12', '--loss', '5', '--seed', '1']);
    const dropped = report.path_packets ? report.path_dropped / report.path_packets : 0;
    check('5% loss: the path dropped about 5% of the packets', dropped > 0.03 && dropped < 0.07,
      `${report.path_dropped} of ${report.path_packets}`);
    check('5% loss: >= 90% of frames answered', report.answered >= 0.9, `${report.answered}`);
    check('5% loss: no gap over 1 s', report.max_gap_ms <= 1000, `${report.max_gap_ms} ms`);
    check('5% loss: every client answered', report.per_client.every((c) => c.results > 0));
    check('5% loss: the server sent NACKs', grew.speakup_rtp_nacks_sent_total > 0, `${grew.speakup_rtp_nacks_sent_total}`);
    check('5% loss: the server received retransmissions',
      grew.speakup_rtp_retransmitted_packets_received_total > 0,
      `${grew.speakup_rtp_retransmitted_packets_received_total}`);
    // Retransmissions cross the same lossy path, so a few may be lost again: most must arrive.
    check('5% loss: most dropped packets came back by RTX',
      grew.speakup_rtp_retransmitted_packets_received_total >= 0.5 * report.path_dropped,
      `${grew.speakup_rtp_retransmitted_packets_received_total} of ${report.path_dropped}`);
    // Repaired losses need no key frame: the sessions' first requests, and a few for a packet lost
    // for good by chance (its retransmissions lost too) or before the jitter buffer's first one.
    check('5% loss: key-frame requests near the sessions\' starts (<= 3 + 3)',
      grew.speakup_keyframe_requests_total <= 3 + 3,
      `${grew.speakup_keyframe_requests_total} requests (${grew.speakup_keyframe_requests_held_total} held), ` +
      `${grew.speakup_rtp_packets_lost_total} packets lost for good`);
    requestsFollowLosses('5% loss', grew, 3);
  }

  // 25%: frames that cannot be repaired cost a key-frame round trip, not a freeze.
  {
    const clients = 2;
    const { report, grew } = await run(server, '25% loss',
      ['--clients', String(clients), '--duration', '10', '--loss', '25', '--seed', '1']);
    // Whether any frame stays unrepaired at 25% is chance (retransmissions usually repair them all),
    // so whether key frames are asked for beyond the starts is too: reported, and bounded by the
    // losses; the section below loses packets for good on purpose.
    console.log(`25% loss: ${grew.speakup_frames_undecoded_total} frames undecodable, ` +
      `${grew.speakup_rtp_packets_lost_total} packets lost for good, ` +
      `${grew.speakup_keyframe_requests_total} key-frame requests (${grew.speakup_keyframe_requests_held_total} held)`);
    requestsFollowLosses('25% loss', grew, clients);
    check('25% loss: results kept coming (no gap over 2 s)', report.max_gap_ms <= 2000, `${report.max_gap_ms} ms`);
    check('25% loss: at least half the frames answered', report.answered >= 0.5, `${report.answered}`);
    check('25% loss: no result for a frame never sent', report.bad_results === 0, `${report.bad_results}`);
  }

  // 1% loss and no retransmission arrives: frames really lost cost a key-frame round trip each.
  {
    const clients = 2;
    const { report, grew } = await run(server, '1% loss, RTX lost',
      ['--clients', String(clients), '--duration', '8', '--loss', '1', '--rtx-loss', '100', '--seed', '1']);
    check('RTX lost: the server lost packets for good', grew.speakup_rtp_packets_lost_total > 0,
      `${grew.speakup_rtp_packets_lost_total}`);
    check('RTX lost: the server asked for key frames beyond the starts', grew.speakup_keyframe_requests_total > clients,
      `${grew.speakup_keyframe_requests_total}`);
    check('RTX lost: the clients sent key frames on request beyond the first ones',
      report.keyframes_on_request > clients, `${report.keyframes_on_request}`);
    requestsFollowLosses('RTX lost', grew, clients);
    check('RTX lost: results kept coming (no gap over 2 s)', report.max_gap_ms <= 2000, `${report.max_gap_ms} ms`);
    check('RTX lost: at least 40% of the frames answered', report.answered >= 0.4, `${report.answered}`);
    check('RTX lost: no result for a frame never sent', report.bad_results === 0, `${report.bad_results}`);
  }
} finally {
  await stopServer(server);
}
finish();
