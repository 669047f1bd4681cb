// What a browser and the server agree on for surviving a lossy path, with headless Chromium and a
// real `speakup serve`: the server's answer keeps, for the video codec it picked, NACK and PLI
// feedback and an RTX payload type (apt=) that Chromium offered, and Chromium receives the server's
// key-frame requests (its outbound-rtp stats count the PLIs and FIRs received). The repair itself under loss is
// tests/e2e/loadgen_network.mjs (Chromium's own path cannot be made lossy here: no netem qdisc).
//   node tests/e2e/browser_recovery.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { fakeCameraFile, startPageSession } from './page_client.mjs';
import { startServer, stopServer, waitForPage } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('browser_recovery', 120000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-recovery-'));
const problems = [];
const browser = await launch({ loopback: true, problems, extra: [`--use-file-for-fake-video-capture=${fakeCameraFile(work)}`] });

// The first video m-line's payload types: the first one (the codec in use), its rtcp-fb lines and its RTX.
function videoFeedback(sdp) {
  const section = sdp.split(/\r\n(?=m=)/).find((s) => s.startsWith('m=video'));
  if (!section) return null;
  const codec = section.split('\r\n')[0].split(' ')[3];
  const feedback = [...section.matchAll(new RegExp(`^a=rtcp-fb:${codec} (.+)$`, 'gm'))].map((m) => m[1].trim());
  const rtx = [...section.matchAll(/^a=fmtp:(\d+) apt=(\d+)$/gm)].find((m) => m[2] === codec)?.[1] ?? null;
  const name = new RegExp(`^a=rtpmap:${codec} ([^/]+)/`, 'm').exec(section)?.[1] ?? '?';
  return { codec, name, feedback, rtx };
}

const server = await startServer(bin, ['--threads', '1']);
try {
  const page = await startPageSession(browser, server);
  check('the page gets results', await waitForPage(page, () => window.session.results >= 30, null, 30000));
  const sdp = await page.evaluate(() => ({
    offer: window.client.peerConnection.localDescription?.sdp ?? '',
    answer: window.client.peerConnection.remoteDescription?.sdp ?? '',
  }));
  const offered = videoFeedback(sdp.offer);
  const answered = videoFeedback(sdp.answer);
  console.log(`offer: ${JSON.stringify(offered)}\nanswer: ${JSON.stringify(answered)}`);
  check('Chromium offers NACK, PLI and RTX for its first codec', Boolean(offered?.feedback.includes('nack') &&
    offered.feedback.includes('nack pli') && offered.rtx));
  check('the answer keeps NACK for the codec in use', Boolean(answered?.feedback.includes('nack')),
    JSON.stringify(answered));
  check('the answer keeps PLI for the codec in use', Boolean(answered?.feedback.includes('nack pli')),
    JSON.stringify(answered));
  check('the answer keeps an RTX payload type for the codec in use', Boolean(answered?.rtx), JSON.stringify(answered));
  // The server asks for a key frame when the video starts (and the decoder when it misses one).
  const outbound = await page.evaluate(async () => {
    const stats = await window.client.peerConnection.getStats();
    let found = null;
    stats.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') found = r; });
    return found && { pliCount: found.pliCount, firCount: found.firCount, nackCount: found.nackCount,
      keyFramesEncoded: found.keyFramesEncoded };
  });
  console.log(`Chromium outbound-rtp: ${JSON.stringify(outbound)}`);
  // GStreamer's RTP session sends a FIR instead of a PLI when the request asks for all headers (ours
  // do) and the browser offered "ccm fir", as Chromium does.
  check('Chromium received the server\'s key-frame requests (PLI or FIR)',
    (outbound?.pliCount ?? 0) + (outbound?.firCount ?? 0) >= 1, JSON.stringify(outbound));
  check('no page errors', problems.length === 0, JSON.stringify(problems));
} finally {
  await stopServer(server);
  await browser.close();
  fs.rmSync(work, { recursive: true, force: true });
}
finish();
