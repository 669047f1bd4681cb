// The client library (lib/speakup.js) in Node, against a scripted server: WebSocket and
// RTCPeerConnection are small fakes installed on globalThis, so what the client sends, the events it
// emits and how it ends can be checked message by message. Run: node --test test/client.test.mjs
// (Real WebRTC is covered by test/fake_server_e2e.mjs and tests/e2e/*.mjs.)
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import {
  connect,
  signalingUrl,
  redactedUrl,
  validateOptions,
  DEFAULT_OPTIONS,
  SpeakUpError,
  SERVER_ERROR_CODES,
  isFatalServerError,
  encodeResultForTest,
  EVENTS,
  iceServersFromWelcome,
} from '../lib/speakup.js';

// ---------------------------------------------------------------------------------------------
// Fakes

class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;
  static last = null;

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.listeners = { open: [], message: [], close: [], error: [] };
    FakeWebSocket.last = this;
  }

  addEventListener(type, fn) {
    this.listeners[type].push(fn);
  }

  fire(type, event = {}) {
    for (const fn of this.listeners[type]) fn(event);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code = 1000) {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.closedWith = code;
    this.fire('close', { code, reason: '' });
  }

  // The server's side.
  serverOpen() {
    this.readyState = FakeWebSocket.OPEN;
    this.fire('open');
  }

  serverSend(msg) {
    this.fire('message', { data: JSON.stringify(msg) });
  }

  serverClose(code) {
    this.readyState = FakeWebSocket.CLOSED;
    this.fire('close', { code, reason: '' });
  }

  types() {
    return this.sent.map((m) => m.type);
  }
}

class FakeChannel {
  constructor(label, init) {
    this.label = label;
    this.init = init;
    this.readyState = 'connecting';
    this.sent = [];
  }

  send(data) {
    this.sent.push(data);
  }

  close() {
    this.readyState = 'closed';
  }
}

class FakePeerConnection {
  static last = null;

  constructor(config) {
    this.config = config;
    this.transceivers = [];
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.remoteDescription = null;
    this.candidates = [];
    this.closed = false;
    FakePeerConnection.last = this;
  }

  addTransceiver(trackOrKind, init) {
    const t = {
      kind: typeof trackOrKind === 'string' ? trackOrKind : 'video',
      init,
      sender: { track: typeof trackOrKind === 'string' ? null : trackOrKind, replaceTrack: async (track) => { t.sender.track = track; } },
    };
    this.transceivers.push(t);
    return t;
  }

  createDataChannel(label, init) {
    this.channel = new FakeChannel(label, init);
    return this.channel;
  }

  async createOffer(options = {}) {
    return { type: 'offer', sdp: options.iceRestart ? `v=0 fake restart offer ${this.restarts}` : 'v=0 fake offer' };
  }

  restartIce() {
    this.restarts = (this.restarts ?? 0) + 1;
  }

  // ICE's own state changes (the network's side).
  iceState(state) {
    this.iceConnectionState = state;
    this.oniceconnectionstatechange?.();
  }

  async setLocalDescription(desc) {
    this.localDescription = desc;
  }

  async setRemoteDescription(desc) {
    this.remoteDescription = desc;
  }

  async addIceCandidate(c) {
    this.candidates.push(c);
  }

  async getStats() {
    return new Map();
  }

  close() {
    this.closed = true;
  }

  // The network's side.
  becomeConnected() {
    this.connectionState = 'connected';
    this.iceConnectionState = 'connected';
    this.onconnectionstatechange?.();
    this.channel.readyState = 'open';
    this.channel.onopen?.();
  }

  channelMessage(data) {
    this.channel.onmessage({ data });
  }
}

globalThis.WebSocket = FakeWebSocket;
globalThis.RTCPeerConnection = FakePeerConnection;

function fakeStream(width = 640, height = 480) {
  const track = {
    kind: 'video',
    settings: { width, height },
    constraints: [],
    getSettings() { return { ...this.settings }; },
    async applyConstraints(c) {
      this.constraints.push(c);
      this.settings = { width: Math.min(this.settings.width, c.width.max), height: Math.min(this.settings.height, c.height.max) };
    },
  };
  return { track, getVideoTracks: () => [track], getTracks: () => [track] };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const WELCOME = { type: 'welcome', session: 's1', protocol: 2, limits: { max_message_bytes: 65536, max_width: 1920, max_height: 1080 } };

// Records every event of a client, in order, as [name, payload].
function record(client) {
  const events = [];
  for (const name of EVENTS) client.on(name, (payload) => events.push([name, payload]));
  return {
    events,
    names: () => events.filter(([n]) => n !== 'log' && n !== 'connection').map(([n, p]) => (n === 'state' ? `state:${p.state}` : n)),
    of: (name) => events.filter(([n]) => n === name).map(([, p]) => p),
  };
}

// Connects up to the point where the offer and the first options are sent.
async function negotiated(config = {}) {
  const client = connect('ws://server.test/ws', { stream: fakeStream(), latency: 'none', ...config });
  const rec = record(client);
  await tick();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend(WELCOME);
  await tick();
  return { client, rec, ws, pc: FakePeerConnection.last };
}

// ---------------------------------------------------------------------------------------------
// Pure parts

test('signalingUrl: page, http(s) and ws(s) URLs, paths, the token', () => {
  assert.equal(signalingUrl('http://host:8080'), 'ws://host:8080/ws');
  assert.equal(signalingUrl('https://host/'), 'wss://host/ws');
  assert.equal(signalingUrl('wss://host/speakup/ws'), 'wss://host/speakup/ws');
  assert.equal(signalingUrl('http://host/examples/minimal.html?autostart=1&token=abc'), 'ws://host/ws?token=abc');
  assert.equal(signalingUrl('ws://host'), 'ws://host/ws');
  assert.equal(signalingUrl('ws://host:1/ws', 's3cr t&x'), 'ws://host:1/ws?token=s3cr%20t%26x');
  assert.equal(signalingUrl('ws://host/ws?token=old', 'new'), 'ws://host/ws?token=new');
  assert.throws(() => signalingUrl('ftp://host/'), /http\(s\) or ws\(s\)/);
  assert.equal(redactedUrl('ws://host/ws?token=secret'), 'ws://host/ws?token=…');
});

test('signalingUrl without a URL: this page\'s server at /ws', () => {
  globalThis.location = new URL('https://example.test:8443/examples/minimal.html?token=t');
  try {
    assert.equal(signalingUrl(), 'wss://example.test:8443/ws');
    assert.equal(signalingUrl(undefined, 't'), 'wss://example.test:8443/ws?token=t');
  } finally {
    delete globalThis.location;
  }
  assert.throws(() => signalingUrl(), /no server URL/);
});

test('options: defaults, partial sets, bad names and values', () => {
  assert.deepEqual(DEFAULT_OPTIONS,
    { max_faces: 1, refine: false, smoothing: true, detector: 'short', annotated_video: false, model: 'mesh' });
  assert.doesNotThrow(() => validateOptions({ model: 'landmarker' }));
  assert.throws(() => validateOptions({ model: 'blendshapes' }), /bad value for option 'model'/);
  assert.throws(() => validateOptions({ model: 'landmarker', refine: true }), /'refine' is for the mesh model/);
  assert.throws(() => validateOptions({ refine: true }, { ...DEFAULT_OPTIONS, model: 'landmarker' }), /refine/);
  assert.doesNotThrow(() => validateOptions({ model: 'landmarker', refine: false }, { ...DEFAULT_OPTIONS, refine: true }));
  assert.doesNotThrow(() => validateOptions({ max_faces: 8, detector: 'full' }));
  assert.throws(() => validateOptions({ nonsense: 1 }), /unknown option 'nonsense'/);
  assert.throws(() => validateOptions({ max_faces: 9 }), /bad value for option 'max_faces': 9/);
  assert.throws(() => validateOptions({ refine: 'yes' }), TypeError);
  assert.throws(() => validateOptions([]), /must be an object/);
  assert.throws(() => validateOptions({ toString: 1 }), /unknown option 'toString'/);
});

test('error codes: the protocol\'s, and which end a session', () => {
  assert.equal(SERVER_ERROR_CODES.length, 15);
  for (const code of ['server_full', 'unauthorized', 'bad_sdp', 'forbidden_origin', 'too_many_sessions', 'flooding', 'too_large']) {
    assert.ok(isFatalServerError(code), code);
  }
  for (const code of ['bad_json', 'bad_message', 'unknown_type', 'bad_state', 'too_many_candidates', 'internal',
    'bad_restart', 'too_many_restarts']) {
    assert.ok(!isFatalServerError(code), code);
  }
});

test('connect() checks its arguments at once', () => {
  assert.throws(() => connect('ws://h/ws', {}), /`stream` must be a MediaStream/);
  assert.throws(() => connect('ws://h/ws', { stream: { getVideoTracks: () => [] } }), /video track/);
  assert.throws(() => connect('ws://h/ws', { stream: fakeStream(), options: { max_faces: 0 } }), /max_faces/);
  const client = connect('ws://h/ws', { stream: fakeStream() });
  assert.throws(() => client.on('resutl', () => {}), /unknown SpeakUp client event 'resutl'/);
  client.close();
});

// ---------------------------------------------------------------------------------------------
// Sessions

test('a session: welcome, offer, options, connected, results, options changes, close', async () => {
  const { client, rec, ws, pc } = await negotiated({ options: { refine: true }, token: 'tok en' });
  assert.equal(ws.url, 'ws://server.test/ws?token=tok%20en');
  assert.deepEqual(rec.of('welcome')[0], { session: 's1', protocol: 2, limits: WELCOME.limits, iceServers: [] });
  assert.deepEqual(pc.config.iceServers, []); // a welcome without ice_servers: none
  assert.equal(pc.config.iceTransportPolicy, 'all');
  assert.deepEqual(ws.types(), ['offer', 'options']);
  assert.equal(ws.sent[0].sdp, 'v=0 fake offer');
  assert.deepEqual(ws.sent[1].options, { ...DEFAULT_OPTIONS, refine: true });
  assert.equal(pc.transceivers[0].init.direction, 'sendonly');
  assert.equal(pc.transceivers[1].init.direction, 'recvonly');
  assert.equal(pc.channel.label, 'results');
  assert.deepEqual(pc.channel.init, { ordered: false, maxRetransmits: 0 });
  assert.equal(client.state, 'ice');

  // Trickle ICE both ways.
  pc.onicecandidate({ candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMLineIndex: 0 } });
  pc.onicecandidate({ candidate: null });
  assert.deepEqual(ws.sent.slice(2).map((m) => m.candidate), ['candidate:1 1 udp 1 127.0.0.1 5000 typ host', '']);
  ws.serverSend({ type: 'answer', sdp: 'v=0 answer' });
  ws.serverSend({ type: 'candidate', candidate: 'candidate:2 1 udp 1 127.0.0.1 6000 typ host', sdpMLineIndex: 0 });
  await tick();
  assert.equal(pc.remoteDescription.sdp, 'v=0 answer');
  assert.equal(pc.candidates.length, 1);

  pc.becomeConnected();
  assert.equal(client.state, 'connected');
  assert.equal(await client.ready, client);
  assert.deepEqual(rec.names(), ['state:signaling', 'welcome', 'state:negotiating', 'state:ice', 'state:connected']);

  // Results are decoded; unreadable ones are non-fatal errors.
  const landmarks = new Float32Array(468 * 3).map((_, i) => i);
  pc.channelMessage(encodeResultForTest({ sequence: 5, width: 640, height: 480, faces: [{ id: 3, landmarks }] }));
  pc.channelMessage(new ArrayBuffer(10));
  const [result] = rec.of('result');
  assert.equal(result.sequence, 5);
  assert.equal(result.faces[0].landmarkCount, 468);
  assert.equal(result.faces[0].landmarks[7], 7);
  assert.equal(result.latencyMs, undefined); // latency: 'none'
  const [bad] = rec.of('error');
  assert.ok(bad instanceof SpeakUpError);
  assert.equal(bad.code, 'bad_result');
  assert.equal(bad.fatal, false);
  assert.equal(client.state, 'connected');
  assert.equal(client.resultsReceived, 1);

  // Options go on the open data channel; the server's `options` confirms them.
  const confirmed = client.setOptions({ max_faces: 2 });
  assert.deepEqual(JSON.parse(pc.channel.sent.at(-1)), { type: 'options', options: { max_faces: 2 } });
  pc.channelMessage(JSON.stringify({ type: 'options', options: { ...DEFAULT_OPTIONS, refine: true, max_faces: 2 } }));
  assert.deepEqual(await confirmed, { ...DEFAULT_OPTIONS, refine: true, max_faces: 2 });
  assert.deepEqual(client.serverOptions, { ...DEFAULT_OPTIONS, refine: true, max_faces: 2 });
  await assert.rejects(client.setOptions({ max_faces: 9 }), /bad value for option 'max_faces'/);

  // A server error that does not end the session: an error event, a pending setOptions rejects.
  const refused = client.setOptions({ detector: 'full' });
  ws.serverSend({ type: 'error', code: 'bad_message', message: 'options: nope' });
  await assert.rejects(refused, /refused the options \(bad_message: options: nope\)/);
  const serverError = rec.of('error').at(-1);
  assert.deepEqual([serverError.code, serverError.fatal, serverError.fromServer, serverError.message],
    ['bad_message', false, true, 'options: nope']);
  assert.equal(client.state, 'connected');

  // close(): bye, everything closed, state closed without an error; the camera is the caller's.
  client.close();
  assert.equal(ws.sent.at(-1).type, 'bye');
  assert.equal(ws.readyState, FakeWebSocket.CLOSED);
  assert.ok(pc.closed);
  assert.deepEqual(rec.of('state').at(-1), { state: 'closed', previous: 'connected', error: null });
  await assert.rejects(client.setOptions({ refine: false }), (e) => e.code === 'closed');
  client.close(); // twice is fine
});

test('options asked for before the offer go with it and resolve on confirmation', async () => {
  const client = connect('ws://server.test/ws', { stream: fakeStream(), latency: 'none' });
  const early = client.setOptions({ annotated_video: true });
  await tick();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend(WELCOME);
  await tick();
  assert.deepEqual(ws.sent.find((m) => m.type === 'options').options, { ...DEFAULT_OPTIONS, annotated_video: true });
  ws.serverSend({ type: 'options', options: { ...DEFAULT_OPTIONS, annotated_video: true } });
  assert.equal((await early).annotated_video, true);
  client.close();
});

test('refused before welcome (server_full): a fatal server error, then closed', async () => {
  const client = connect('ws://server.test/ws', { stream: fakeStream() });
  const rec = record(client);
  await tick();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend({ type: 'error', code: 'server_full', message: 'the server is serving its maximum of 1 sessions' });
  await assert.rejects(client.ready, (e) => e.code === 'server_full' && e.fromServer && e.fatal);
  assert.deepEqual(rec.names(), ['state:signaling', 'error', 'state:closed']);
  assert.equal(rec.of('state').at(-1).error.code, 'server_full');
  assert.equal(client.error.message, 'the server is serving its maximum of 1 sessions');
  assert.deepEqual(ws.types(), []); // no offer
});

test('no server: connection_failed', async () => {
  const client = connect('ws://server.test/ws', { stream: fakeStream() });
  await tick();
  FakeWebSocket.last.serverClose(1006);
  await assert.rejects(client.ready, (e) => e.code === 'connection_failed' && /Cannot connect to the server at ws:\/\/server\.test\/ws/.test(e.message));
  assert.equal(client.state, 'closed');
});

test('bye, a fatal server error, a lost WebSocket, ICE failing: each ends the session with its code', async () => {
  const cases = [
    [(ws) => ws.serverSend({ type: 'bye', reason: 'shutdown' }), 'server_bye', /ended the session \(shutdown\)/],
    [(ws) => ws.serverSend({ type: 'error', code: 'flooding', message: 'more than 200 messages' }), 'flooding', /more than 200/],
    [(ws) => ws.serverClose(1006), 'connection_lost', /signaling WebSocket closed, code 1006/],
    [(ws, pc) => { pc.connectionState = 'failed'; pc.onconnectionstatechange(); }, 'ice_failed', /ICE failed/],
    [(ws) => ws.serverSend({ type: 'answer', sdp: 'v=0 answer' }) || ws.serverSend({ type: 'answer', sdp: 'again' }), null, null],
  ];
  for (const [act, code, pattern] of cases) {
    const { client, rec, ws, pc } = await negotiated();
    act(ws, pc);
    await tick();
    if (code === null) { // a second answer is ignored
      assert.equal(client.state, 'ice');
      client.close();
      continue;
    }
    const error = rec.of('error').at(-1);
    assert.equal(error?.code, code);
    assert.ok(error.fatal);
    assert.match(error.message, pattern);
    assert.equal(client.state, 'closed');
    assert.ok(pc.closed, `${code}: peer connection closed`);
    assert.equal(rec.names().at(-1), 'state:closed');
  }
});

test('a camera above the server\'s limits is constrained, with a warning', async () => {
  const stream = fakeStream(1280, 720);
  const client = connect('ws://server.test/ws', { stream, latency: 'none' });
  const rec = record(client);
  await tick();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend({ ...WELCOME, limits: { max_width: 320, max_height: 240 } });
  await tick();
  assert.deepEqual(stream.track.constraints, [{ width: { max: 320 }, height: { max: 240 } }]);
  const [warning] = rec.of('warning');
  assert.equal(warning.code, 'limits');
  assert.match(warning.message, /at most 320×240; the camera now sends 320×240/);
  assert.equal(ws.types()[0], 'offer'); // constrained before the offer
  client.close();
});

test('off() removes a handler; a connect timeout ends a session that never connects', async () => {
  const { client, rec, pc } = await negotiated({ connectTimeoutMs: 50 });
  const seen = [];
  const handler = (r) => seen.push(r);
  client.on('result', handler).off('result', handler);
  await tick(80);
  assert.equal(client.error?.code, 'connect_timeout');
  assert.match(client.error.message, /did not come up within 0.05 s/);
  pc.channel.onmessage?.({ data: encodeResultForTest({}) });
  assert.equal(seen.length, 0);
  assert.equal(rec.of('result').length, 0); // nothing after closing
});

test('docs/client.md shows the example files as they are', () => {
  const docs = fs.readFileSync(new URL('../../docs/client.md', import.meta.url), 'utf8');
  for (const file of ['minimal.html', 'minimal.js']) {
    const text = fs.readFileSync(new URL(`../examples/${file}`, import.meta.url), 'utf8');
    assert.ok(docs.includes(text), `docs/client.md does not show web/examples/${file} as it is`);
  }
});

// ---------------------------------------------------------------------------------------------
// ICE servers and TURN

const TURN = { urls: ['turn:turn.test:3478?transport=udp'], username: '1700000000:s1', credential: 'c2VjcmV0' };

test('iceServersFromWelcome keeps well-formed RTCIceServers and counts the rest', () => {
  assert.deepEqual(iceServersFromWelcome({}), { servers: [], dropped: 0 });
  assert.deepEqual(iceServersFromWelcome({ ice_servers: 'stun:x' }), { servers: [], dropped: 1 });
  const { servers, dropped } = iceServersFromWelcome({ ice_servers: [
    { urls: 'stun:stun.test:3478' }, TURN,
    { urls: ['http://evil.test/'] }, { urls: [] }, { urls: ['turn:a b'] }, { urls: ['turn:x'], username: 5 }, null, 7,
  ] });
  assert.deepEqual(servers, [{ urls: ['stun:stun.test:3478'] }, TURN]);
  assert.equal(dropped, 6);
  const many = iceServersFromWelcome({ ice_servers: Array(12).fill({ urls: 'stun:s' }) });
  assert.equal(many.servers.length, 8);
  assert.equal(many.dropped, 4);
});

test('the welcome\'s ICE servers reach RTCPeerConnection; bad ones are dropped with a warning', async () => {
  const client = connect('ws://server.test/ws', { stream: fakeStream(), latency: 'none' });
  const rec = record(client);
  await tick();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend({ ...WELCOME, ice_servers: [TURN, { urls: 'ftp:nope' }] });
  await tick();
  assert.deepEqual(FakePeerConnection.last.config.iceServers, [TURN]);
  assert.deepEqual(client.welcome.iceServers, [TURN]);
  assert.equal(rec.of('warning')[0].code, 'ice_servers');
  client.close();
});

test('iceServers and iceTransportPolicy given to connect() win, and are checked', async () => {
  const own = [{ urls: 'stun:mine.test' }];
  const { client, pc } = await negotiated({ iceServers: own, iceTransportPolicy: 'relay' });
  assert.deepEqual(pc.config.iceServers, own);
  assert.equal(pc.config.iceTransportPolicy, 'relay');
  client.close();
  assert.throws(() => connect('ws://h/ws', { stream: fakeStream(), iceTransportPolicy: 'none' }), /'all' or 'relay'/);
  assert.throws(() => connect('ws://h/ws', { stream: fakeStream(), iceServers: 'stun:x' }), /must be an array/);
});

test('relay only and the TURN server refuses the credentials: turn_failed at once, naming them', async () => {
  const { client, rec, pc } = await negotiated({ iceServers: [TURN], iceTransportPolicy: 'relay' });
  pc.onicecandidateerror({ url: 'turn:turn.test:3478?transport=udp', errorCode: 401, errorText: 'Unauthorized' });
  pc.iceGatheringState = 'complete';
  pc.onicegatheringstatechange();
  await tick();
  const error = rec.of('error').at(-1);
  assert.equal(error.code, 'turn_failed');
  assert.match(error.message, /refused the TURN credentials \(401 Unauthorized\).*wrong or have expired/);
  assert.equal(client.state, 'closed');
});

test('relay only without any TURN server: turn_failed saying so', async () => {
  const { rec, pc } = await negotiated({ iceServers: [], iceTransportPolicy: 'relay' });
  pc.iceGatheringState = 'complete';
  pc.onicegatheringstatechange();
  await tick();
  assert.equal(rec.of('error').at(-1).code, 'turn_failed');
  assert.match(rec.of('error').at(-1).message, /there is no TURN server/);
});

test('a relay candidate gathered: no error at gathering end; ICE failing after a TURN error names TURN', async () => {
  const { client, rec, pc } = await negotiated({ iceServers: [TURN], iceTransportPolicy: 'relay' });
  pc.onicecandidate({ candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ relay raddr 0.0.0.0 rport 0', sdpMLineIndex: 0 } });
  pc.iceGatheringState = 'complete';
  pc.onicegatheringstatechange();
  await tick();
  assert.equal(rec.of('error').length, 0);
  assert.equal(client.state, 'ice');
  pc.onicecandidateerror({ url: 'turn:turn.test:3478?transport=tcp', errorCode: 701, errorText: 'unreachable' });
  pc.connectionState = 'failed';
  pc.onconnectionstatechange();
  await tick();
  assert.equal(rec.of('error').at(-1).code, 'turn_failed');
  assert.match(rec.of('error').at(-1).message, /could not be used \(701 unreachable\)/);
});

// ---------------------------------------------------------------------------------------------
// Reconnecting (lib/reconnect.js decides; these check that the client acts on it)

// Short, jitter-free delays so the tests wait a few milliseconds.
const FAST = { initialDelayMs: 5, maxDelayMs: 20, jitter: 0, drainDelayMs: 0 };

// Opens the socket a retry made and welcomes it; returns that attempt's socket and peer connection.
async function welcomeAgain(session = 's2') {
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend({ ...WELCOME, session });
  await tick();
  return { ws, pc: FakePeerConnection.last };
}

test('reconnect: a lost WebSocket retries with backoff; the options in effect go with the new offer', async () => {
  const { client, rec, ws, pc } = await negotiated({ reconnect: FAST, options: { max_faces: 2 } });
  pc.becomeConnected();
  await client.setOptions({ model: 'landmarker' }).catch(() => {}); // sent; no confirmation needed here
  ws.serverClose(1006);
  assert.equal(client.state, 'reconnecting');
  assert.ok(pc.closed);
  assert.deepEqual(rec.of('reconnecting')[0], { attempt: 1, delayMs: 5, reason: 'connection_lost',
    message: rec.of('reconnecting')[0].message, error: rec.of('reconnecting')[0].error });
  assert.match(rec.of('reconnecting')[0].message, /signaling WebSocket closed/);
  assert.equal(rec.of('error').length, 0); // not an error the page has to end on
  // The server is still down: the next wait doubles.
  await tick(10);
  assert.notEqual(FakeWebSocket.last, ws);
  FakeWebSocket.last.serverClose(1006);
  await tick();
  assert.deepEqual(rec.of('reconnecting').map((r) => [r.attempt, r.delayMs, r.reason]),
    [[1, 5, 'connection_lost'], [2, 10, 'connection_failed']]);
  await tick(15);
  const again = await welcomeAgain();
  assert.deepEqual(again.ws.types(), ['offer', 'options']);
  assert.deepEqual(again.ws.sent[1].options, { ...DEFAULT_OPTIONS, max_faces: 2, model: 'landmarker' });
  again.pc.becomeConnected();
  assert.equal(client.state, 'connected');
  assert.deepEqual(rec.of('reconnected'), [{ attempt: 2, session: 's2' }]);
  // Results flow through the same client and handlers.
  again.pc.channelMessage(encodeResultForTest({ sequence: 1, faces: [] }));
  assert.equal(client.resultsReceived, 1);
  client.close();
  assert.equal(client.state, 'closed');
});

test('reconnect: a draining server\'s bye (reconnect: true) retries at once; a plain bye is final', async () => {
  const drained = await negotiated({ reconnect: { ...FAST, initialDelayMs: 10000 } });
  drained.pc.becomeConnected();
  drained.ws.serverSend({ type: 'bye', reason: 'draining', reconnect: true });
  assert.equal(drained.client.state, 'reconnecting');
  assert.equal(drained.rec.of('reconnecting')[0].delayMs, 0); // drainDelayMs 0 here, not the 10 s backoff
  await tick(5);
  const again = await welcomeAgain();
  again.pc.becomeConnected();
  assert.equal(drained.client.state, 'connected');
  drained.client.close();

  const ended = await negotiated({ reconnect: FAST });
  ended.pc.becomeConnected();
  ended.ws.serverSend({ type: 'bye', reason: 'shutdown' });
  await tick(20);
  assert.equal(ended.client.state, 'closed');
  assert.equal(ended.rec.of('reconnecting').length, 0);
  assert.equal(ended.rec.of('error')[0].code, 'server_bye');
});

test('reconnect: final refusals end the client; server_full retries even before a first connection', async () => {
  for (const code of ['unauthorized', 'forbidden_origin', 'too_many_sessions']) {
    const client = connect('ws://server.test/ws', { stream: fakeStream(), reconnect: FAST });
    const rec = record(client);
    await tick();
    const ws = FakeWebSocket.last;
    ws.serverOpen();
    ws.serverSend({ type: 'error', code, message: 'no' });
    await assert.rejects(client.ready, (e) => e.code === code);
    await tick(20);
    assert.equal(FakeWebSocket.last, ws, `${code}: no second WebSocket`);
    assert.equal(rec.of('reconnecting').length, 0, code);
    assert.equal(client.state, 'closed');
  }
  const client = connect('ws://server.test/ws', { stream: fakeStream(), reconnect: FAST });
  const rec = record(client);
  await tick();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: 'error', code: 'server_full', message: 'full' });
  await tick();
  assert.deepEqual(rec.of('reconnecting').map((r) => r.reason), ['server_full']);
  await tick(10);
  const again = await welcomeAgain();
  again.pc.becomeConnected();
  assert.equal(await client.ready, client); // ready waits through the retries
  assert.equal(rec.of('reconnected').length, 1);
  client.close();
});

test('reconnect: no server at the first attempt is final; close() while waiting stops retrying', async () => {
  const first = connect('ws://server.test/ws', { stream: fakeStream(), reconnect: FAST });
  await tick();
  FakeWebSocket.last.serverClose(1006);
  await assert.rejects(first.ready, (e) => e.code === 'connection_failed');

  const { client, rec, ws, pc } = await negotiated({ reconnect: { ...FAST, initialDelayMs: 30 } });
  pc.becomeConnected();
  ws.serverClose(1006);
  assert.equal(client.state, 'reconnecting');
  client.close();
  await tick(50);
  assert.equal(FakeWebSocket.last, ws, 'no new WebSocket after close()');
  assert.equal(client.state, 'closed');
  assert.equal(rec.of('reconnecting').length, 1);
});

test('reconnect: an old attempt\'s late callbacks do nothing; ICE failing reconnects', async () => {
  const { client, rec, ws, pc } = await negotiated({ reconnect: FAST, iceRestart: false });
  pc.becomeConnected();
  pc.connectionState = 'failed';
  pc.onconnectionstatechange();
  assert.deepEqual(rec.of('reconnecting').map((r) => r.reason), ['ice_failed']);
  ws.serverClose(1006); // the old socket closing late: not a second drop
  pc.channelMessage(encodeResultForTest({ sequence: 1, faces: [] })); // nor a result
  assert.equal(rec.of('reconnecting').length, 1);
  assert.equal(client.resultsReceived, 0);
  assert.throws(() => connect('ws://server.test/ws', { stream: fakeStream(), reconnect: 'yes' }), /`reconnect` must be/);
  client.close();
});

// ---------------------------------------------------------------------------------------------
// ICE restart: the media path broke while the WebSocket is up

test('ICE restart: disconnected for restartAfterMs -> a restart offer on the same WebSocket; back on the same session', async () => {
  const { client, rec, ws, pc } = await negotiated({ reconnect: FAST, restartAfterMs: 30 });
  await ws.serverSend({ type: 'answer', sdp: 'v=0 answer' });
  pc.becomeConnected();
  assert.equal(client.state, 'connected');
  pc.iceState('disconnected');
  await tick(10);
  pc.iceState('connected'); // back by itself within the wait: nothing to do
  await tick(40);
  assert.equal(ws.types().filter((t) => t === 'restart').length, 0);
  pc.iceState('disconnected');
  await tick(50);
  assert.equal(client.state, 'restarting');
  assert.equal(pc.restarts, 1);
  const restart = ws.sent.find((m) => m.type === 'restart');
  assert.match(restart?.sdp ?? '', /fake restart offer/);
  assert.deepEqual(rec.of('restarting').map((r) => [r.reason, r.session]), [['ice_disconnected', 's1']]);
  ws.serverSend({ type: 'candidate', candidate: 'candidate:9 1 udp 1 10.0.0.9 9 typ host', sdpMLineIndex: 0 });
  await tick();
  assert.equal(pc.candidates.length, 0, "the server's candidates wait for its restart answer");
  ws.serverSend({ type: 'answer', sdp: 'v=0 restart answer' });
  await tick();
  assert.equal(pc.remoteDescription.sdp, 'v=0 restart answer');
  assert.equal(pc.candidates.length, 1);
  pc.iceState('connected');
  assert.equal(client.state, 'connected');
  assert.equal(rec.of('restarted').length, 1);
  assert.equal(rec.of('reconnecting').length, 0);
  assert.equal(FakeWebSocket.last, ws, 'no new WebSocket');
  assert.deepEqual({ ...client.restarts, lastMs: typeof client.restarts.lastMs }, { started: 1, succeeded: 1, failed: 0, lastMs: 'number' });
  client.close();
});

test('ICE restart: failed restarts at once; a refused restart falls back to a full reconnect', async () => {
  for (const refusal of ['bad_restart', 'too_many_restarts', 'unknown_type']) {
    const { client, rec, ws, pc } = await negotiated({ reconnect: FAST });
    pc.becomeConnected();
    pc.connectionState = 'failed';
    pc.onconnectionstatechange();
    pc.iceState('failed');
    await tick();
    assert.equal(ws.types().filter((t) => t === 'restart').length, 1, refusal);
    assert.equal(rec.of('reconnecting').length, 0);
    ws.serverSend({ type: 'error', code: refusal, message: 'no' });
    assert.deepEqual(rec.of('reconnecting').map((r) => r.reason), ['ice_failed'], refusal);
    assert.match(rec.of('reconnecting')[0].message, new RegExp(`refused to restart.*${refusal}`));
    assert.equal(client.restarts.failed, 1);
    client.close();
  }
});

test('ICE restart: no answer in restartTimeoutMs, or the server\'s bye meanwhile, ends the session (closed without reconnect)', async () => {
  {
    const { client, rec, pc } = await negotiated({ restartTimeoutMs: 30 });
    pc.becomeConnected();
    pc.iceState('failed');
    await tick(60);
    assert.equal(client.state, 'closed');
    assert.equal(client.error.code, 'ice_failed');
    assert.match(client.error.message, /did not bring it back within 0.03 s/);
    assert.equal(rec.of('restarting').length, 1);
  }
  {
    const { client, rec, ws, pc } = await negotiated({ reconnect: FAST });
    pc.becomeConnected();
    pc.iceState('failed');
    await tick();
    ws.serverSend({ type: 'bye', reason: 'no video for 5000 ms' });
    // A bye during a restart is the server giving up on it: a retry, not the final bye it would be.
    assert.deepEqual(rec.of('reconnecting').map((r) => r.reason), ['ice_failed']);
    client.close();
  }
});

test('ICE restart: not before the session is up, not when turned off, not without the WebSocket', async () => {
  {
    const { client, pc } = await negotiated();
    pc.connectionState = 'failed';
    pc.onconnectionstatechange();
    assert.equal(client.error?.code, 'ice_failed');
    assert.equal(pc.restarts, undefined);
  }
  {
    const { client, ws, pc } = await negotiated({ iceRestart: false });
    pc.becomeConnected();
    pc.iceState('failed');
    pc.connectionState = 'failed';
    pc.onconnectionstatechange();
    assert.equal(client.error?.code, 'ice_failed');
    assert.equal(ws.types().includes('restart'), false);
  }
  {
    const { client, ws, pc } = await negotiated({ reconnect: FAST });
    pc.becomeConnected();
    ws.readyState = FakeWebSocket.CLOSED; // gone, its close event not yet seen
    pc.connectionState = 'failed';
    pc.onconnectionstatechange();
    assert.equal(pc.restarts, undefined);
    assert.equal(client.state, 'reconnecting');
    client.close();
  }
});
