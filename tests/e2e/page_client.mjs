// A SpeakUp session driven from inside a Chromium page of the server under test, through the
// client library the server serves (/lib/speakup.js), so a test can give connect() any config
// (iceServers, iceTransportPolicy) and read the RTCPeerConnection's statistics.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// The fake camera: the face video as MJPEG, repeated `repeats` times (8: ~30 s; Chromium does not loop it).
export function fakeCameraFile(dir, repeats = 8) {
  const once = path.join(dir, 'once.mjpeg');
  const file = path.join(dir, 'face.mjpeg');
  execFileSync('gst-launch-1.0', ['-q', 'filesrc', 'location=tests/data/video/face_motion.mp4', '!', 'decodebin', '!',
    'videoconvert', '!', 'jpegenc', 'quality=85', '!', 'filesink', `location=${once}`]);
  fs.writeFileSync(file, Buffer.concat(Array(repeats).fill(fs.readFileSync(once))));
  return file;
}

// Opens a page of `server` and starts connect(undefined, {stream, ...config}) in it; the page's
// window.session collects {results, faces, error, welcome, states}.
export async function startPageSession(browser, server, config = {}, name = 'session') {
  const page = await browser.newPage(name);
  // The page is the server's /healthz (JSON): the browser's favicon request would be a 404 error.
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(server.url + 'healthz'); // any page of the server's origin (a secure context: loopback)
  await page.evaluate(async (config) => {
    const { connect } = await import('/lib/speakup.js');
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const session = { results: 0, faces: 0, error: null, welcome: null, states: [] };
    window.session = session;
    const client = connect(undefined, { stream, ...config });
    window.client = client;
    client.on('welcome', (welcome) => { session.welcome = welcome; });
    client.on('result', (result) => {
      session.results += 1;
      session.faces += result.faces.length;
    });
    client.on('state', ({ state, error }) => {
      session.states.push(state);
      if (error) session.error = { code: error.code, message: error.message };
    });
  }, config);
  return page;
}

export const sessionState = (page) => page.evaluate(() => ({ ...window.session, states: [...window.session.states] }));

// The selected candidate pair: both candidates' type and address (getStats).
export function selectedPair(page) {
  return page.evaluate(async () => {
    const stats = await window.client.peerConnection.getStats();
    let pair = null;
    stats.forEach((report) => {
      if (report.type === 'transport' && report.selectedCandidatePairId) pair = stats.get(report.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return {
      local: { type: local.candidateType, address: local.address, port: local.port, url: local.url ?? '' },
      remote: { type: remote.candidateType, address: remote.address, port: remote.port },
    };
  });
}
