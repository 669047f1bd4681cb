// End-to-end check of the client against a fake SpeakUp server (test/fake/: a second browser page
// that answers offers and sends synthetic results with a fixed delay; this script relays the
// signaling WebSocket to it and can also speak to the client itself). Real WebRTC on 127.0.0.1,
// the fake camera, headless Chromium. Covers: connection, results decoded and drawn, per-result
// latency (both encoded-frame APIs, and the fallback), stats, options on the data channel and the
// WebSocket, refine/max_faces/annotated video, token forwarding, sendonly, and the error paths
// (final: unauthorized, forbidden_origin, too_many_sessions, bye; a server error that is not fatal; the page reconnects
// after server_full, a lost WebSocket, a peer gone).
// Run: node test/fake_server_e2e.mjs   (exit code 0 = passed; bounded by a 150 s watchdog)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './http_ws.mjs';
import { launch } from './chromium.mjs';
import { checker } from './checks.mjs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DELAY_MS = 40;
const { check, finish } = checker('fake_server_e2e', 150000);

// ---------------------------------------------------------------------------------------------
// Relay: client WebSockets at /ws <-> the fake server page at /fake-server.

let fakePage = null; // WsConnection of the fake server page
const clients = new Map(); // id -> {conn, query, received: []}
let nextId = 1;
let onClientConnect = () => 'relay'; // 'relay' | 'small' (welcome limits 320x240) | 'full' | 'unauthorized'

function welcome(conn, id, small = false) {
  conn.send({
    type: 'welcome',
    session: `fake-${id}`,
    protocol: 2,
    limits: small
      ? { max_message_bytes: 65536, max_width: 320, max_height: 240 }
      : { max_message_bytes: 65536, max_width: 1920, max_height: 1080 },
  });
}

function onConnection(conn) {
  if (conn.path === '/fake-server') {
    fakePage = conn;
    conn.onmessage = (text) => {
      const { to, msg } = JSON.parse(text);
      const client = clients.get(to);
      if (client && !client.conn.closed) client.conn.send(msg);
    };
    return;
  }
  const id = nextId++;
  const client = { id, conn, query: Object.fromEntries(conn.query), received: [] };
  clients.set(id, client);
  const decision = onClientConnect(client);
  if (decision === 'full') {
    conn.send({ type: 'error', code: 'server_full', message: 'all 4 sessions are in use' });
    setTimeout(() => conn.close(1013), 50);
    return;
  }
  if (decision === 'unauthorized') {
    conn.send({ type: 'error', code: 'unauthorized', message: 'bad token' });
    setTimeout(() => conn.close(1008), 50);
    return;
  }
  if (decision.startsWith?.('refuse:')) {  // another refusal before welcome, e.g. 'refuse:forbidden_origin'
    const code = decision.slice('refuse:'.length);
    conn.send({ type: 'error', code, message: `refused (${code})` });
    setTimeout(() => conn.close(1008), 50);
    return;
  }
  welcome(conn, id, decision === 'small');
  fakePage.send({ event: 'client-open', id });
  conn.onmessage = (text) => {
    const msg = JSON.parse(text);
    client.received.push(msg);
    fakePage.send({ event: 'client-message', id, msg });
  };
  conn.onclose = () => {
    if (fakePage && !fakePage.closed) fakePage.send({ event: 'client-close', id });
  };
}

const lastClient = () => [...clients.values()].at(-1);

const server = await startServer({
  root: WEB,
  upgrade: (p) => (p === '/ws' || p === '/fake-server' ? 'accept' : 'refuse'),
  onConnection,
});

// ---------------------------------------------------------------------------------------------

const problems = [];
let browser = null;

async function openClient(query) {
  const page = await browser.newPage(`client ${query}`);
  await page.goto(`${server.origin}/?${query}`);
  return page;
}

async function waitConnected(page, results = 30) {
  await page.waitForFunction((n) => {
    const s = window.speakup;
    return s && (s.state === 'error' || (s.state === 'connected' && s.resultsReceived >= n));
  }, results, { timeout: 20000 });
  return page.evaluate(() => ({ state: window.speakup.state, lastError: window.speakup.lastError }));
}

const snapshot = (page) => page.evaluate(() => {
  const s = window.speakup;
  const r = s.lastResultPlain();
  return {
    state: s.state,
    lastError: s.lastError,
    warnings: s.warnings,
    resultsReceived: s.resultsReceived,
    resultsBad: s.resultsBad,
    framesSent: s.framesSent,
    latencyMs: s.latencyMs,
    latencyMethod: s.latencyMethod,
    stats: s.stats,
    serverOptions: s.serverOptions,
    session: s.session,
    overlayDrawn: s.overlayDrawn,
    three: s.three,
    annotated: s.annotated,
    faces: r ? r.faces.length : -1,
    points: r && r.faces[0] ? r.faces[0].landmarkCount : 0,
    width: r ? r.width : 0,
    timings: r ? r.timings : null,
    yawText: document.getElementById('pose-yaw').textContent,
    statsText: document.getElementById('stats').textContent,
    latencyNote: document.getElementById('latency-note').textContent,
    annotatedHidden: document.getElementById('annotated-panel').hidden,
  };
});

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

try {
  browser = await launch({ loopback: true, problems });
  const fake = await browser.newPage('fake server');
  await fake.goto(`${server.origin}/test/fake/index.html?delay=${DELAY_MS}`);
  await fake.waitForFunction(() => document.body.dataset.ready === '1');

  // 1. The normal path, RTCRtpScriptTransform latency, token forwarding.
  {
    const page = await openClient('autostart=1&token=s3cr%20t');
    const c = await waitConnected(page, 60);
    check('connected and results flowing', c.state === 'connected', JSON.stringify(c));
    const client = lastClient();
    check('token forwarded to the WebSocket URL', client.query.token === 's3cr t', JSON.stringify(client.query));
    check('offer first, then options with every field', client.received[0]?.type === 'offer' &&
      client.received.some((m) => m.type === 'options' && Object.keys(m.options).length === 6),
    client.received.map((m) => m.type).join(','));
    const offerSdp = client.received[0]?.sdp ?? '';
    const sections = offerSdp.split(/^(?=m=)/m).slice(1);
    check('offer: video sendonly (camera), video recvonly (annotated), data channel',
      sections.length === 3 && /^m=video/.test(sections[0]) && /a=sendonly/.test(sections[0]) &&
      /^m=video/.test(sections[1]) && /a=recvonly/.test(sections[1]) && /^m=application .*SCTP/.test(sections[2]),
    sections.map((m) => m.split('\r\n')[0]).join(' | '));
    check('client trickled its candidates, then end of candidates',
      client.received.some((m) => m.type === 'candidate' && m.candidate.startsWith('candidate:')) &&
      client.received.some((m) => m.type === 'candidate' && m.candidate === ''));
    const channel = await fake.evaluate(() => {
      const s = [...window.fakeServer.sessions.values()].at(-1);
      return { label: s.channelLabel, ordered: s.channelOrdered, maxRetransmits: s.channelMaxRetransmits };
    });
    check('data channel results/unordered/maxRetransmits 0',
      channel.label === 'results' && channel.ordered === false && channel.maxRetransmits === 0, JSON.stringify(channel));

    await page.waitForTimeout(2500); // two stats polls
    const s = await snapshot(page);
    check('welcome kept', s.session?.session === `fake-${client.id}` && s.session.limits.max_width === 1920,
      JSON.stringify(s.session));
    check('468 points by default', s.points === 468 && s.faces === 1, `${s.faces} faces, ${s.points} points`);
    check('no unreadable results', s.resultsBad === 0, String(s.resultsBad));
    check('latency method script-transform', s.latencyMethod === 'script-transform', s.latencyMethod);
    const med = median(s.latencyMs);
    check(`latency samples for the results (${s.latencyMs.length})`, s.latencyMs.length >= 50, String(s.latencyMs.length));
    check(`median latency ${med?.toFixed(1)} ms within [${DELAY_MS}, ${DELAY_MS + 100}] (fake server delay ${DELAY_MS} ms)`,
      med >= DELAY_MS && med <= DELAY_MS + 100, JSON.stringify(s.latencyMs.slice(-10)));
    check('every result matched a sent frame (RTP timestamps agree)', s.stats.latencyUnmatched === 0,
      String(s.stats.latencyUnmatched));
    check('frames sent counted (getStats)', s.framesSent > 30 && s.stats.sendFps > 10,
      `${s.framesSent} sent, ${s.stats.sendFps} fps`);
    check('results per second', s.stats.resultsPerSecond > 10, String(s.stats.resultsPerSecond));
    check('server stage times from the messages', s.stats.serverMs.total === 12 && s.stats.serverMs.detect === 4.25,
      JSON.stringify(s.stats.serverMs));
    check('stats panel shows round trip', /Round trip\d+ ms \(p50 \d+, p95 \d+\)/.test(s.statsText), s.statsText);
    check('overlay drawn', s.overlayDrawn > 10, String(s.overlayDrawn));
    check('3D view rendered', s.three.rendered > 10, JSON.stringify(s.three));
    check('pose readout', /^-?\d+\.\d°$/.test(s.yawText), s.yawText);
    check('stats.rttMs from the candidate pair', typeof s.stats.rttMs === 'number', String(s.stats.rttMs));

    // Options on the data channel, confirmed on the WebSocket.
    const refined = await page.evaluate(() => window.speakup.setOptions({ refine: true, max_faces: 2 }));
    check('setOptions resolves with the options in effect', refined.refine === true && refined.max_faces === 2,
      JSON.stringify(refined));
    const via = await fake.evaluate(() => [...window.fakeServer.sessions.values()].at(-1).optionsVia);
    check('options went on the data channel once open', via.at(-1) === 'datachannel', via.join(','));
    await page.waitForFunction(() => window.speakup.lastResult?.faces.length === 2 &&
      window.speakup.lastResult.faces[0].landmarkCount === 478, null, { timeout: 5000 });
    check('refine -> 478 points, max_faces 2 -> two faces', true);
    const controls = await page.evaluate(() => ({
      refine: document.getElementById('opt-refine').checked,
      maxFaces: document.getElementById('opt-max-faces').value,
    }));
    check('option controls follow setOptions', controls.refine && controls.maxFaces === '2', JSON.stringify(controls));

    // The landmarker: 52 blendshapes per face, decoded by the page; refine must go off with it.
    const model = await page.evaluate(() => window.speakup.setOptions({ model: 'landmarker', refine: false })
      .then((o) => o.model, (e) => e.message));
    check('model landmarker confirmed', model === 'landmarker', model);
    const shapes = await page.waitForFunction(() => window.speakup.lastResult?.faces[0]?.blendshapes.length === 52 &&
      window.speakup.lastResult.faces[0].landmarkCount === 478, null, { timeout: 5000 }).then(() => true, () => false);
    check('landmarker -> 478 points and 52 blendshapes per face', shapes);
    const plain = await page.evaluate(() => window.speakup.lastResultPlain().faces[0].blendshapes.length);
    check('lastResultPlain keeps the blendshapes', plain === 52, String(plain));
    // The Blendshapes panel shows the 52 scores as bars; the avatar applies them.
    const shown = async () => page.evaluate(() => ({
      hidden: document.getElementById('blendshapes').hidden,
      rows: [...document.querySelectorAll('#blendshapes .bs-row')].map((r) => r.dataset.value),
      model: document.getElementById('opt-model').value,
      avatar: { ...window.speakup.avatar, params: undefined },
    }));
    await new Promise((r) => setTimeout(r, 300));
    const p1 = await shown();
    await new Promise((r) => setTimeout(r, 700));
    const p2 = await shown();
    check('the Blendshapes panel shows 52 bars that change; the model control follows', !p1.hidden &&
      p1.rows.length === 52 && p1.rows.every((v) => v !== undefined) && p1.rows.some((v, i) => v !== p2.rows[i]) &&
      p1.model === 'landmarker', JSON.stringify({ p1: p1.rows.slice(0, 4), p2: p2.rows.slice(0, 4), model: p1.model }));
    check('the avatar applies the scores', p2.avatar.hasBlendshapes && p2.avatar.frames > p1.avatar.frames &&
      p1.avatar.jawOpen !== p2.avatar.jawOpen, JSON.stringify([p1.avatar, p2.avatar]));
    await page.evaluate(() => window.speakup.setOptions({ model: 'mesh', refine: true }));
    const hint = await page.waitForFunction(() => document.getElementById('blendshapes').hidden &&
      !document.getElementById('blendshapes-hint').hidden, null, { timeout: 5000 }).then(() => true, () => false);
    check('with the mesh model the panel gives way to a hint', hint,
      await page.evaluate(() => document.getElementById('blendshapes-hint').textContent));

    // Annotated video on the same m-line.
    await page.evaluate(() => window.speakup.setOptions({ annotated_video: true }));
    await page.waitForFunction(() => window.speakup.annotated.receiving && window.speakup.annotated.framesShown > 5,
      null, { timeout: 10000 }).catch(() => {});
    const a = await snapshot(page);
    check('annotated video shown', a.annotated.track && a.annotated.framesShown > 5 && !a.annotatedHidden,
      JSON.stringify(a.annotated));

    // A refused option: the promise rejects and a warning shows; the session goes on.
    const refused = await page.evaluate(() => window.speakup.setOptions({ max_faces: 9 }).then(() => 'resolved', (e) => e.message));
    check('an invalid option value is refused locally', /bad value for option 'max_faces'/.test(refused), refused);

    // A server error that is not fatal.
    client.conn.send({ type: 'error', code: 'bad_message', message: 'options: unknown field' });
    await page.waitForTimeout(300);
    const w = await snapshot(page);
    check('bad_message from the server: warning, still connected',
      w.state === 'connected' && w.warnings.some((t) => /bad_message/.test(t)), JSON.stringify(w.warnings));

    if (process.env.SPEAKUP_SCREENSHOT) await page.screenshot({ path: process.env.SPEAKUP_SCREENSHOT, fullPage: true });

    // The server says bye.
    client.conn.send({ type: 'bye', reason: 'shutdown' });
    await page.waitForFunction(() => window.speakup.state === 'error', null, { timeout: 5000 });
    const b = await snapshot(page);
    check('bye -> error server_bye, message shown', b.lastError?.code === 'server_bye' && /shutdown/.test(b.lastError.message),
      JSON.stringify(b.lastError));
    await page.close();
  }

  // 2. Encoded insertable streams (createEncodedStreams), annotated video through them too.
  {
    const page = await openClient('autostart=1&latency=streams&annotated_video=1');
    const c = await waitConnected(page, 40);
    check('insertable streams: connected', c.state === 'connected', JSON.stringify(c));
    await page.waitForFunction(() => window.speakup.annotated.framesShown > 5, null, { timeout: 10000 }).catch(() => {});
    await page.waitForTimeout(1200);
    const s = await snapshot(page);
    const med = median(s.latencyMs);
    check('insertable streams: latency method', s.latencyMethod === 'insertable-streams', s.latencyMethod);
    check(`insertable streams: median latency ${med?.toFixed(1)} ms plausible`, med >= DELAY_MS && med <= DELAY_MS + 100,
      JSON.stringify(s.latencyMs.slice(-10)));
    check('insertable streams: every result matched', s.stats.latencyUnmatched === 0, String(s.stats.latencyUnmatched));
    check('insertable streams: annotated video plays', s.annotated.framesShown > 5, JSON.stringify(s.annotated));
    await page.evaluate(() => window.speakup.stop());
    check('stop -> idle', (await snapshot(page)).state === 'idle');
    await page.close();
  }

  // 3. No encoded-frame access: no latency, the panel says so.
  {
    const page = await openClient('autostart=1&latency=none');
    const c = await waitConnected(page, 20);
    await page.waitForTimeout(1200);
    const s = await snapshot(page);
    check('latency none: connected, no samples', c.state === 'connected' && s.latencyMs.length === 0 && s.latencyMethod === 'none',
      JSON.stringify({ c, n: s.latencyMs.length, m: s.latencyMethod }));
    check('latency none: the panel says why', /unavailable in this browser/.test(s.latencyNote) && /estimate/.test(s.statsText),
      s.latencyNote);
    // A new resolution while connected: the same sender, the server sees the new size.
    await page.selectOption('#resolution', '320x240');
    await page.waitForFunction(() => window.speakup.lastResult?.width === 320, null, { timeout: 10000 }).catch(() => {});
    const r = await snapshot(page);
    check('resolution change while connected -> 320x240 results', r.state === 'connected' && r.width === 320,
      `${r.state} ${r.width}`);
    await page.close();
  }

  // 3b. The server's limits (welcome) are below the camera's size: the camera is constrained.
  {
    onClientConnect = () => 'small';
    const page = await openClient('autostart=1&res=1280x720');
    const c = await waitConnected(page, 10);
    await page.waitForFunction(() => window.speakup.lastResult?.width <= 320, null, { timeout: 10000 }).catch(() => {});
    const s = await snapshot(page);
    const camera = await page.evaluate(() => window.speakup.camera);
    check('limits 320x240: camera constrained, warning shown', c.state === 'connected' && camera.width <= 320 &&
      camera.height <= 240 && s.width <= 320 && s.warnings.some((t) => /at most 320×240/.test(t)),
    JSON.stringify({ camera, width: s.width, warnings: s.warnings }));
    onClientConnect = () => 'relay';
    await page.close();
  }

  // 4. No receiving m-line (recv_video=0): results flow, no video back, the server's internal
  //    error (as speakup serve reports it) is a warning.
  {
    const page = await openClient('autostart=1&recv_video=0&annotated_video=1');
    const c = await waitConnected(page, 20);
    const s = await snapshot(page);
    check('recv_video=0: connected, no server track', c.state === 'connected' && s.annotated.track === false,
      JSON.stringify({ c, a: s.annotated }));
    check('recv_video=0: the internal error is a warning', s.warnings.some((t) => /internal.*no video m-line/.test(t)),
      JSON.stringify(s.warnings));
    const offer = lastClient().received.find((m) => m.type === 'offer').sdp;
    check('recv_video=0: one video m-line, sendonly', (offer.match(/^m=video/gm) ?? []).length === 1 && /a=sendonly/.test(offer));
    await page.close();
  }

  // 5. H.264 preferred (when this Chromium can encode it).
  {
    const page = await openClient('autostart=1&codec=h264');
    const canH264 = await page.evaluate(() => RTCRtpSender.getCapabilities('video').codecs.some((c) => /h264/i.test(c.mimeType)));
    const c = await waitConnected(page, 20);
    await page.waitForTimeout(1200);
    const s = await snapshot(page);
    if (canH264) {
      check('codec=h264: sends H.264', c.state === 'connected' && s.stats.codec === 'video/H264', `${c.state} ${s.stats.codec}`);
    } else {
      check('codec=h264 unavailable: falls back, connected, warns',
        c.state === 'connected' && s.warnings.some((t) => /cannot send h264/.test(t)), JSON.stringify(s.warnings));
    }
    await page.close();
  }

  // 6. Refusals before welcome: unauthorized, forbidden_origin, too_many_sessions are final (shown,
  // not retried); server_full is shown while the page retries, and the page gets in once there is room.
  for (const [decision, code, pattern] of [['unauthorized', 'unauthorized', /token/],
    ['refuse:forbidden_origin', 'forbidden_origin', /--allow-origin/], ['refuse:too_many_sessions', 'too_many_sessions', /close another tab/]]) {
    onClientConnect = () => decision;
    const first = nextId;
    const page = await openClient('autostart=1');
    await page.waitForFunction(() => window.speakup.state === 'error', null, { timeout: 10000 });
    await sleep(1500); // a retry would come within 0.65 s
    const s = await snapshot(page);
    check(`${code}: error shown, not retried`, s.lastError?.code === code && pattern.test(s.lastError.message) &&
      nextId - first === 1 && s.state === 'error', `${nextId - first} connections; ${JSON.stringify(s.lastError)}`);
    await page.close();
    onClientConnect = () => 'relay';
  }
  {
    onClientConnect = () => 'full';
    const page = await openClient('autostart=1');
    await page.waitForFunction(() => window.speakup.state === 'reconnecting', null, { timeout: 10000 });
    const s = await snapshot(page);
    const shown = await page.evaluate(() => document.getElementById('message').textContent);
    check('server_full: shown while retrying', s.lastError?.code === 'server_full' && /server is full/.test(shown) &&
      /attempt 1/.test(shown), shown);
    onClientConnect = () => 'relay';
    const back = await waitConnected(page, 10);
    check('server_full: connected once there is room', back.state === 'connected', JSON.stringify(back));
    await page.close();
  }

  // 7. The signaling WebSocket drops mid-session: the page says so and comes back on a new one.
  {
    const page = await openClient('autostart=1');
    await waitConnected(page, 10);
    const dropped = lastClient();
    dropped.conn.kill();
    await page.waitForFunction(() => window.speakup.state === 'reconnecting', null, { timeout: 10000 });
    const s = await snapshot(page);
    check('WebSocket lost -> reconnecting (connection_lost)', s.lastError?.code === 'connection_lost' &&
      /signaling WebSocket closed/.test(s.lastError.message), JSON.stringify(s.lastError));
    const n = await page.evaluate(() => window.speakup.resultsReceived);
    await page.waitForFunction((m) => window.speakup.state === 'connected' && window.speakup.resultsReceived > m + 10, n,
      { timeout: 15000 });
    check('WebSocket lost -> back on a new session, results again', lastClient() !== dropped);
    // Dropped again (a short connection: the next wait is longer) and Stop pressed while waiting.
    lastClient().conn.kill();
    await page.waitForFunction(() => window.speakup.state === 'reconnecting' && window.speakup.phase === 'waiting', null,
      { timeout: 10000 });
    const before = nextId;
    await page.click('#stop');
    await sleep(2500);
    const after = await snapshot(page);
    check('Stop while reconnecting: idle, no more attempts', after.state === 'idle' && nextId === before,
      `${after.state}, ${nextId - before} connection(s) after Stop`);
    await page.close();
  }

  // 8. The server's peer connection goes away (the WebSocket stays): the page reconnects too.
  {
    const page = await openClient('autostart=1');
    await waitConnected(page, 10);
    const gone = lastClient();
    await fake.evaluate((id) => window.fakeServer.sessions.get(id).pc.close(), gone.id);
    await page.waitForFunction(() => window.speakup.state === 'reconnecting', null, { timeout: 40000 });
    const s = await snapshot(page);
    check('server peer gone -> reconnecting (connection_lost or ice_failed)', ['connection_lost', 'ice_failed'].includes(s.lastError?.code),
      JSON.stringify(s.lastError));
    await page.waitForFunction(() => window.speakup.state === 'connected' && window.speakup.reconnect.reconnected === 1, null,
      { timeout: 15000 });
    check('server peer gone -> back on a new session', lastClient() !== gone);
    await page.close();
  }
} catch (error) {
  check('e2e run', false, error.stack ?? String(error));
} finally {
  if (browser) await browser.close().catch(() => {});
  await server.close();
}
const unexpected = problems.filter((p) => !/WebSocket connection to .* failed/.test(p.text));
check('no console errors or exceptions in the pages', unexpected.length === 0,
  unexpected.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();
