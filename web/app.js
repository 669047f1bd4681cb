// SpeakUp page: camera -> WebRTC -> server; results -> 2D overlay, 3D view, pose, stats. The page is
// UI only: connecting, options and decoding are the client library's (lib/speakup.js, docs/client.md).
// Everything tests need is on window.speakup (see README.md in this folder) and the page's state is
// mirrored on <body data-state data-phase data-error>.
//
// URL parameters: autostart=1, token=..., res=WIDTHxHEIGHT, max_faces=N, refine=0|1, smoothing=0|1,
// detector=short|full, annotated_video=0|1, model=mesh|landmarker, codec=vp8|h264, recv_video=0|1,
// latency=auto|script|streams|none, mirror=0|1, reconnect=0|1 (default 1).

import {
  connect,
  decodeResult,
  resultToPlain,
  validateOptions,
  signalingUrl,
  redactedUrl,
  chooseLatencyMethod,
  DEFAULT_OPTIONS,
  Overlay2D,
} from './lib/speakup.js';
import { View3D, THREE_REVISION } from './render3d.js';
import { Avatar } from './avatar.js';
import { BlendshapesPanel } from './blendshapes_panel.js';
import { SessionStats } from './stats.js';

const params = new URLSearchParams(window.location.search);
const $ = (id) => document.getElementById(id);

const CONNECT_TIMEOUT_MS = 20000; // offer sent -> ICE connected and data channel open

// How the page words the server's errors that end a session (the server's own text follows).
const SERVER_ERROR_TEXT = {
  server_full: 'The server is full: it is serving as many people as it can. Try again in a while.',
  unauthorized: 'The server refused this page: the access token is missing or wrong (add ?token=… to the address).',
  bad_sdp: 'The server could not use this browser\'s connection offer (bad_sdp).',
  forbidden_origin: 'The server does not accept pages from this site (its operator can allow it with --allow-origin).',
  too_many_sessions: 'This computer already has as many sessions open on the server as it allows: close another tab and try again.',
  flooding: 'The server closed the session: this page sent it too many messages.',
  draining: 'The server is restarting.',
};

function flag(name, fallback) {
  const v = params.get(name);
  if (v === null) return fallback;
  return v === '1' || v === 'true' || v === 'on' || v === '';
}

const validOption = (key, value) => {
  try {
    validateOptions({ [key]: value });
    return true;
  } catch {
    return false;
  }
};

function initialOptions() {
  const options = { ...DEFAULT_OPTIONS };
  const maxFaces = Number.parseInt(params.get('max_faces') ?? '', 10);
  if (validOption('max_faces', maxFaces)) options.max_faces = maxFaces;
  options.refine = flag('refine', options.refine);
  options.smoothing = flag('smoothing', options.smoothing);
  if (validOption('detector', params.get('detector'))) options.detector = params.get('detector');
  options.annotated_video = flag('annotated_video', options.annotated_video);
  if (validOption('model', params.get('model'))) options.model = params.get('model');
  return options;
}

function parseResolution(text) {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(text ?? '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}

function fmt(value, digits = 1, unit = '') {
  return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : '–';
}

// ---------------------------------------------------------------------------------------------
// State shared with tests

const latencyWanted = params.get('latency') ?? 'auto';
const pageToken = params.get('token') ?? undefined; // forwarded to the server as /ws?token=

const speakup = {
  protocol: 2,
  state: 'idle', // 'idle' | 'connecting' | 'connected' | 'restarting' | 'reconnecting' | 'error'
  phase: '', // while (re)connecting: 'camera' | 'signaling' | 'negotiating' | 'ice'; 'waiting' before a retry
  // Since Start: retries (`reconnecting` events), sessions back (`reconnected`), and the last retry:
  // {attempt, delayMs, reason, message, retryAt} (retryAt: Date.now() time of the retry).
  reconnect: { retries: 0, reconnected: 0, last: null },
  // ICE restarts on the running session (the network changed under it): {started, succeeded,
  // failed, lastMs} as the client counts them.
  restarts: { started: 0, succeeded: 0, failed: 0, lastMs: null },
  stateHistory: [], // every change: {state, phase, time}
  lastError: null, // {code, message, time}
  warnings: [], // recent non-fatal problems (strings)
  serverErrors: [], // every `error` message from the server: {code, message, time}
  session: null, // the server's `welcome`: {session, protocol, limits}
  options: initialOptions(), // what this page asks for
  serverOptions: null, // the options in effect, from the server's last `options` message
  resultsReceived: 0,
  resultsBad: 0,
  resultsWithBlendshapes: 0, // results whose first face has blendshape scores
  framesSent: 0, // getStats outbound-rtp framesSent
  framesEncoded: 0,
  lastResult: null, // decoded (typed arrays); lastResultPlain() gives plain arrays
  latencyMs: [], // recent round-trip latencies, ms, oldest first
  latencyMethod: chooseLatencyMethod(latencyWanted),
  stats: {},
  camera: { deviceId: '', label: '', width: 0, height: 0, framesShown: 0 },
  annotated: { track: false, receiving: false, width: 0, height: 0, framesShown: 0 },
  three: { revision: THREE_REVISION, webgl: false, rendered: 0 },
  overlayDrawn: 0,
  avatar: null, // the avatar's state (avatar.js): frames applied, last jawOpen/blink/smile, pose
  blendshapesShown: 0, // results whose scores the Blendshapes panel showed
  signalingUrl: redactedUrl(signalingUrl(undefined, pageToken)),
  log: [],
  start: () => start(),
  stop: () => stop(),
  setOptions: (options) => setOptions(options),
  lastResultPlain: () => resultToPlain(speakup.lastResult),
  // Decodes one result message and draws it as if it had arrived (no session needed).
  renderResultForTest: (message) => {
    speakup.lastResult = decodeResult(message);
    drawLatest();
    return resultToPlain(speakup.lastResult);
  },
};
window.speakup = speakup;

// ---------------------------------------------------------------------------------------------
// Page elements and views

const ui = {
  camera: $('camera'),
  resolution: $('resolution'),
  start: $('start'),
  stop: $('stop'),
  maxFaces: $('opt-max-faces'),
  refine: $('opt-refine'),
  smoothing: $('opt-smoothing'),
  detector: $('opt-detector'),
  model: $('opt-model'),
  annotated: $('opt-annotated'),
  mirror: $('view-mirror'),
  points: $('view-points'),
  contours: $('view-contours'),
  local: $('local'),
  stage: $('stage'),
  annotatedPanel: $('annotated-panel'),
  annotatedStage: $('annotated-stage'),
  annotatedVideo: $('annotated'),
  annotatedStatus: $('annotated-status'),
  message: $('message'),
  warning: $('warning'),
  badge: $('state-badge'),
  phase: $('phase'),
  statsBody: document.querySelector('#stats tbody'),
  latencyNote: $('latency-note'),
  log: $('log'),
  avatarNote: $('avatar-note'),
};

const overlay = new Overlay2D($('overlay'));
// views=2d: no three.js panels. Without a GPU (a headless browser, a thin client) drawing the 3D view
// and the avatar at 30 fps takes the CPU the camera's encoder needs.
const threeDViews = params.get('views') !== '2d';
for (const id of ['view3d', 'avatar']) $(id).closest('figure').hidden = !threeDViews;
let view3d = null;
try {
  if (!threeDViews) throw new Error('off (views=2d)');
  view3d = new View3D($('view3d'));
  speakup.three.webgl = view3d.available;
} catch (error) {
  view3d = null;
  $('view3d').textContent = `3D view unavailable: ${error.message}`;
}

let avatar = null;
try {
  if (!threeDViews) throw new Error('off (views=2d)');
  avatar = new Avatar($('avatar'));
  speakup.avatar = avatar.state;
} catch (error) {
  avatar = null;
  $('avatar').textContent = `Avatar unavailable: ${error.message}`;
}
const blendshapesPanel = new BlendshapesPanel($('blendshapes'), $('blendshapes-hint'));

const resParam = parseResolution(params.get('res'));
if (resParam) {
  const value = `${resParam.width}x${resParam.height}`;
  if (![...ui.resolution.options].some((o) => o.value === value)) {
    ui.resolution.add(new Option(`${resParam.width} × ${resParam.height}`, value));
  }
  ui.resolution.value = value;
}
ui.mirror.checked = flag('mirror', true);

function log(text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
  speakup.log.push(line);
  if (speakup.log.length > 300) speakup.log.shift();
  ui.log.textContent = speakup.log.slice(-120).join('\n');
}

function setState(state, phase = '') {
  speakup.state = state;
  speakup.phase = phase;
  speakup.stateHistory.push({ state, phase, time: Date.now() });
  if (speakup.stateHistory.length > 100) speakup.stateHistory.shift();
  document.body.dataset.state = state;
  document.body.dataset.phase = phase;
  ui.badge.dataset.state = state;
  ui.badge.textContent = state;
  const phaseText = {
    camera: 'opening the camera…',
    signaling: 'reaching the server…',
    negotiating: 'negotiating…',
    ice: 'connecting media…',
    restarting: 'restarting the connection…',
  };
  ui.phase.textContent = phaseText[phase] ?? '';
  const busy = ['connecting', 'connected', 'restarting', 'reconnecting'].includes(state);
  ui.start.disabled = busy;
  ui.stop.disabled = !busy;
  log(`state ${state}${phase ? ` (${phase})` : ''}`);
}

function showError(code, message) {
  speakup.lastError = { code, message, time: Date.now() };
  document.body.dataset.error = code;
  ui.message.textContent = message;
  ui.message.hidden = false;
}

function clearMessages() {
  speakup.lastError = null;
  delete document.body.dataset.error;
  ui.message.hidden = true;
  ui.message.textContent = '';
  ui.warning.hidden = true;
  ui.warning.textContent = '';
}

function warn(message) {
  speakup.warnings.push(message);
  if (speakup.warnings.length > 50) speakup.warnings.shift();
  ui.warning.textContent = message;
  ui.warning.hidden = false;
  log(`warning: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Camera

function cameraErrorText(error) {
  switch (error.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return ['camera_denied', 'Camera access was denied. Allow the camera for this page (the icon in the address bar) and press Start again.'];
    case 'NotFoundError':
    case 'OverconstrainedError':
      return ['no_camera', 'No camera found. Connect a camera (or pick another one) and press Start again.'];
    case 'NotReadableError':
    case 'AbortError':
      return ['camera_busy', 'The camera could not be started: another application may be using it.'];
    default:
      return ['camera_error', `The camera could not be opened: ${error.message || error.name}`];
  }
}

function cameraConstraints() {
  const res = parseResolution(ui.resolution.value) ?? { width: 640, height: 480 };
  const limits = speakup.session?.limits;
  const video = {
    width: { ideal: res.width },
    height: { ideal: res.height },
    frameRate: { ideal: 30 },
  };
  if (limits?.max_width) video.width.max = limits.max_width;
  if (limits?.max_height) video.height.max = limits.max_height;
  if (ui.camera.value) video.deviceId = { exact: ui.camera.value };
  return { audio: false, video };
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error(window.isSecureContext
      ? 'This browser has no camera API (navigator.mediaDevices).'
      : 'The camera needs a secure page: open it over HTTPS, or as http://localhost.');
    err.name = 'Unsupported';
    throw err;
  }
  return navigator.mediaDevices.getUserMedia(cameraConstraints());
}

function describeTrack(stream) {
  const track = stream.getVideoTracks()[0];
  const settings = track.getSettings();
  speakup.camera.deviceId = settings.deviceId ?? '';
  speakup.camera.label = track.label;
  speakup.camera.width = settings.width ?? 0;
  speakup.camera.height = settings.height ?? 0;
  log(`camera "${track.label}" ${settings.width}x${settings.height} @ ${fmt(settings.frameRate, 0)} fps`);
}

async function listCameras() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  let devices;
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const cameras = devices.filter((d) => d.kind === 'videoinput');
  const current = ui.camera.value || speakup.camera.deviceId;
  ui.camera.replaceChildren(new Option('Default camera', ''));
  cameras.forEach((d, i) => ui.camera.add(new Option(d.label || `Camera ${i + 1}`, d.deviceId)));
  if (current && cameras.some((d) => d.deviceId === current)) ui.camera.value = current;
}

function watchPreview(video, counter) {
  if (typeof video.requestVideoFrameCallback !== 'function') return;
  const onFrame = () => {
    counter.framesShown += 1;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

function fitStage(stage, width, height) {
  if (width > 0 && height > 0) stage.style.aspectRatio = `${width} / ${height}`;
}

// ---------------------------------------------------------------------------------------------
// Session: the library's client (lib/speakup.js) does signaling, WebRTC, options and decoding;
// this page opens the camera, shows what the client reports and keeps window.speakup.

let session = null; // {generation, stream, client, stats, timers}
let generation = 0;

async function start() {
  if (['connecting', 'connected', 'restarting', 'reconnecting'].includes(speakup.state)) return;
  const gen = ++generation;
  clearMessages();
  resetResults();
  speakup.reconnect = { retries: 0, reconnected: 0, last: null };
  const s = { generation: gen, stream: null, client: null, stats: new SessionStats(), timers: [], countdown: null };
  session = s;
  setState('connecting', 'camera');
  try {
    // 1. Camera
    try {
      s.stream = await openCamera();
    } catch (error) {
      const [code, message] = cameraErrorText(error);
      fail(code, message, gen);
      return;
    }
    if (gen !== generation) {
      s.stream.getTracks().forEach((t) => t.stop()); // stopped while the camera was opening
      return;
    }
    describeTrack(s.stream);
    ui.local.srcObject = s.stream;
    fitStage(ui.stage, speakup.camera.width, speakup.camera.height);
    ui.local.play().catch(() => {});
    listCameras();

    // 2. The server: signaling, then WebRTC (phases from the client's `state` events).
    setState('connecting', 'signaling');
    const current = (handler) => (payload) => {
      if (gen === generation && session === s) handler(payload);
    };
    s.client = connect(undefined, {
      stream: s.stream,
      token: pageToken,
      options: { ...speakup.options },
      codec: params.get('codec') ?? '',
      receiveVideo: flag('recv_video', true),
      latency: latencyWanted,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      // A page left open outlives server restarts and network changes: it comes back by itself
      // (docs/client.md, "Reconnecting"); final refusals still end it with their reason shown.
      reconnect: flag('reconnect', true),
      // ?ice=relay: media only through the server's TURN server (docs/deploy.md).
      iceTransportPolicy: params.get('ice') === 'relay' ? 'relay' : 'all',
    })
      .on('log', current(log))
      .on('state', current(({ state }) => onClientState(state)))
      .on('welcome', current((welcome) => {
        speakup.session = { session: welcome.session, protocol: welcome.protocol, limits: welcome.limits };
      }))
      .on('warning', current(({ code, message }) => {
        warn(message);
        if (code === 'limits') {
          describeTrack(s.stream);
          fitStage(ui.stage, speakup.camera.width, speakup.camera.height);
        }
      }))
      .on('error', current((error) => onClientError(error, gen)))
      .on('options', current(onServerOptions))
      .on('result', current(onResult))
      .on('track', current(({ track, streams }) => onRemoteTrack(track, streams)))
      .on('connection', current(onConnection))
      .on('reconnecting', current((info) => onReconnecting(info, s)))
      .on('reconnected', current(() => onReconnected(s)));
    s.timers.push(setInterval(() => pollStats(gen), 1000));
  } catch (error) {
    fail('client_error', `Could not start the session: ${error.message}`, gen);
  }
}

function onClientState(state) {
  speakup.latencyMethod = session.client.latencyMethod;
  if (state === 'signaling' || state === 'negotiating' || state === 'ice') {
    const again = speakup.state === 'reconnecting';
    if ((again || speakup.state === 'connecting') && speakup.phase !== state) setState(speakup.state, state);
    if (again) showReconnecting();
  } else if (state === 'connected') {
    setState('connected');
    ui.warning.hidden = true;
  } else if (state === 'restarting') {
    // The media path broke under a running session: the same session restarts ICE (the client).
    setState('restarting', 'restarting');
  }
  // 'closed': after an `error` event (handled there) or our own close().
  speakup.restarts = { ...session.client.restarts };
}

// ---------------------------------------------------------------------------------------------
// Reconnecting: the client retries by itself; the page says why and when, every half second.

function onReconnecting(info, s) {
  const { attempt, delayMs, reason, message } = info;
  speakup.reconnect.retries += 1;
  speakup.reconnect.last = { attempt, delayMs, reason, message, retryAt: Date.now() + delayMs };
  // The reason stays readable (lastError, data-error) while retrying; it clears once back.
  // The client's own messages say what dropped; a server's refusal gets the page's wording.
  const text = info.error?.fromServer ? SERVER_ERROR_TEXT[reason] ?? message : message;
  speakup.lastError = { code: reason, message: text.includes(message) ? text : `${text} (${message})`, time: Date.now() };
  document.body.dataset.error = reason;
  speakup.annotated.track = false;
  speakup.annotated.receiving = false;
  setState('reconnecting', 'waiting');
  if (!s.countdown) {
    s.countdown = setInterval(showReconnecting, 500);
    s.timers.push(s.countdown);
  }
  showReconnecting();
}

function showReconnecting() {
  const last = speakup.reconnect.last;
  if (!last || speakup.state !== 'reconnecting') return;
  const left = Math.max(0, last.retryAt - Date.now());
  const when = left > 0 && speakup.phase === 'waiting' ? `reconnecting in ${Math.ceil(left / 1000)} s` : 'reconnecting now';
  ui.message.textContent = `${speakup.lastError.message} ${when[0].toUpperCase()}${when.slice(1)} (attempt ${last.attempt})…`;
  ui.message.hidden = false;
  ui.phase.textContent = `${when} (attempt ${last.attempt})`;
}

function onReconnected(s) {
  speakup.reconnect.reconnected += 1;
  clearInterval(s.countdown);
  s.countdown = null;
  s.stats = new SessionStats(); // a new peer connection: its counters start at zero
  clearMessages();
  log(`reconnected (attempt ${speakup.reconnect.last?.attempt})`);
}

function onConnection({ connection }) {
  // Back from an interruption (the client warned about it).
  if (speakup.state === 'connected' && connection === 'connected') ui.warning.hidden = true;
}

function teardown() {
  const s = session;
  session = null;
  if (!s) return;
  for (const t of s.timers) {
    clearTimeout(t);
    clearInterval(t);
  }
  if (s.client) s.client.close(); // says bye; rejects setOptions() promises still waiting
  if (s.stream) for (const track of s.stream.getTracks()) track.stop();
  ui.local.srcObject = null;
  ui.annotatedVideo.srcObject = null;
  speakup.annotated.track = false;
  speakup.annotated.receiving = false;
  updateAnnotatedPanel();
}

function fail(code, message, gen) {
  if (gen !== generation) return; // a later start() or stop() already took over
  generation += 1;
  log(`error ${code}: ${message}`);
  teardown();
  showError(code, message);
  setState('error');
}

async function stop() {
  generation += 1;
  teardown();
  ui.warning.hidden = true;
  setState('idle');
}

function resetResults() {
  speakup.resultsReceived = 0;
  speakup.resultsBad = 0;
  speakup.resultsWithBlendshapes = 0;
  speakup.framesSent = 0;
  speakup.framesEncoded = 0;
  speakup.lastResult = null;
  speakup.latencyMs = [];
  speakup.stats = {};
  speakup.serverOptions = null;
  speakup.session = null;
  speakup.latencyMethod = chooseLatencyMethod(latencyWanted);
  overlay.clear();
  if (view3d) view3d.clear();
  if (avatar) avatar.clear();
  speakup.blendshapesShown = 0;
  renderBlendshapes(null);
  renderPose(null);
}

// ---------------------------------------------------------------------------------------------
// Errors and options from the client

function onClientError(error, gen) {
  const { code, message } = error;
  if (error.fromServer) {
    speakup.serverErrors.push({ code, message, time: Date.now() });
    if (speakup.serverErrors.length > 50) speakup.serverErrors.shift();
  }
  if (error.fatal) {
    const text = error.fromServer ? SERVER_ERROR_TEXT[code] : undefined;
    if (!text) fail(code, error.fromServer ? `The server reported an error (${code}): ${message}` : message, gen);
    else fail(code, text.includes(message) ? text : `${text} (${message})`, gen);
  } else if (code === 'bad_result') {
    speakup.resultsBad += 1;
    session.stats.onBadResult();
    if (speakup.resultsBad <= 5) warn(`A result message could not be read: ${message}`);
  } else {
    warn(`The server reported an error (${code})${message ? `: ${message}` : ''}`);
  }
}

function onServerOptions(options) {
  speakup.serverOptions = { ...options };
  updateAnnotatedPanel();
}

// Asks the server for these options (a partial set). Resolves with the options in effect once the
// server confirms them; without a session, resolves at once with the options to be sent.
function setOptions(options) {
  try {
    validateOptions(options, speakup.options);
  } catch (error) {
    return Promise.reject(error);
  }
  Object.assign(speakup.options, options);
  syncOptionControls();
  updateAnnotatedPanel();
  const client = session?.client;
  if (!client || client.closed) return Promise.resolve({ ...speakup.options });
  return client.setOptions(options);
}

function syncOptionControls() {
  const o = speakup.options;
  ui.maxFaces.value = String(o.max_faces);
  ui.refine.checked = o.refine;
  ui.smoothing.checked = o.smoothing;
  ui.detector.value = o.detector;
  ui.annotated.checked = o.annotated_video;
  ui.model.value = o.model;
  ui.refine.disabled = o.model === 'landmarker'; // the landmarker always gives 478 points
  renderBlendshapes(speakup.lastResult);
}

function optionFromControls(key, value) {
  setOptions({ [key]: value }).catch((error) => warn(`Options not applied: ${error.message}`));
}

// ---------------------------------------------------------------------------------------------
// Results

let pendingDraw = null;

function onResult(result) {
  const latency = result.latencyMs;
  session.stats.onResult(result, latency);
  speakup.resultsReceived += 1;
  if (result.faces[0]?.blendshapes.length > 0) speakup.resultsWithBlendshapes += 1;
  speakup.lastResult = result;
  if (latency !== undefined) {
    speakup.latencyMs.push(latency);
    if (speakup.latencyMs.length > 300) speakup.latencyMs.shift();
  }
  if (pendingDraw === null) {
    pendingDraw = requestAnimationFrame(() => {
      pendingDraw = null;
      drawLatest();
    });
  }
}

function drawLatest() {
  const result = speakup.lastResult;
  if (!result) return;
  overlay.draw(result, {
    points: ui.points.checked,
    contours: ui.contours.checked,
    mirrored: ui.mirror.checked,
  });
  speakup.overlayDrawn = overlay.drawn;
  if (view3d) {
    view3d.update(result);
    speakup.three.rendered = view3d.rendered;
  }
  if (avatar) avatar.update(result);
  renderBlendshapes(result);
  renderPose(result);
}

// The model in effect: the server's word once it has confirmed, else what the page asks for.
const currentModel = () => speakup.serverOptions?.model ?? speakup.options.model;

function renderBlendshapes(result) {
  const scores = result?.faces[0]?.blendshapes;
  blendshapesPanel.show(scores, currentModel());
  speakup.blendshapesShown = blendshapesPanel.updates;
  ui.avatarNote.textContent = scores?.length ? '' : '(expression needs the landmarker model; the head follows the pose)';
}

function renderPose(result) {
  const face = result?.faces[0];
  $('pose-yaw').textContent = face ? fmt(face.yaw, 1, '°') : '–';
  $('pose-pitch').textContent = face ? fmt(face.pitch, 1, '°') : '–';
  $('pose-roll').textContent = face ? fmt(face.roll, 1, '°') : '–';
  $('pose-faces').textContent = result
    ? `${result.faces.length}${face ? ` (#${face.id}, ${face.landmarkCount} points)` : ''}`
    : '–';
}

// ---------------------------------------------------------------------------------------------
// Annotated video

function onRemoteTrack(track, streams) {
  log(`server video track (${track.id})`);
  speakup.annotated.track = true;
  ui.annotatedVideo.srcObject = streams && streams[0] ? streams[0] : new MediaStream([track]);
  ui.annotatedVideo.play().catch(() => {});
  track.onunmute = () => {
    speakup.annotated.receiving = true;
    updateAnnotatedPanel();
  };
  track.onmute = () => {
    speakup.annotated.receiving = false;
    updateAnnotatedPanel();
  };
  updateAnnotatedPanel();
}

function updateAnnotatedPanel() {
  const wanted = speakup.options.annotated_video;
  ui.annotatedPanel.hidden = !wanted;
  if (!wanted) return;
  // A video that started while its panel was hidden may not be playing yet.
  if (ui.annotatedVideo.srcObject && ui.annotatedVideo.paused) ui.annotatedVideo.play().catch(() => {});
  let status;
  if (!session) status = '(starts with the session)';
  else if (!speakup.annotated.track) status = '(the server has not sent a video track)';
  else if (!speakup.annotated.receiving) status = '(waiting for video…)';
  else status = '';
  ui.annotatedStatus.textContent = status;
}

ui.annotatedVideo.addEventListener('resize', () => {
  speakup.annotated.width = ui.annotatedVideo.videoWidth;
  speakup.annotated.height = ui.annotatedVideo.videoHeight;
  fitStage(ui.annotatedStage, ui.annotatedVideo.videoWidth, ui.annotatedVideo.videoHeight);
});

// ---------------------------------------------------------------------------------------------
// Stats panel

const LATENCY_NOTES = {
  'script-transform': 'Latency: per result, from the RTP timestamp of the frame it answers to the local time that frame left the encoder (RTCRtpScriptTransform).',
  'insertable-streams': 'Latency: per result, from the RTP timestamp of the frame it answers to the local time that frame left the encoder (encoded insertable streams).',
  none: 'Latency per result is unavailable in this browser (no access to encoded frames: RTCRtpScriptTransform or encoded insertable streams); the estimate shown is network RTT + server total time.',
};

async function pollStats(gen) {
  if (gen !== generation || !session?.client?.peerConnection) return;
  const s = session;
  await s.stats.poll(s.client.peerConnection);
  if (gen !== generation) return;
  const snap = s.stats.snapshot();
  const latency = s.client.latency;
  snap.latencyMethod = latency.method;
  snap.latencyUnmatched = latency.unmatched;
  snap.latencyError = latency.error;
  snap.connection = s.client.connection;
  speakup.stats = snap;
  speakup.framesSent = snap.framesSent;
  speakup.framesEncoded = snap.framesEncoded;
  document.body.dataset.results = String(speakup.resultsReceived);
  renderStats(snap);
}

function renderStats(snap) {
  const lat = snap.latency;
  const server = snap.serverMs;
  let latencyText;
  if (snap.latencyMethod === 'none') {
    const estimate = (snap.rttMs ?? NaN) + (server.total ?? NaN);
    latencyText = `≈ ${fmt(estimate, 0, ' ms')} (estimate)`;
  } else if (lat.count > 0) {
    latencyText = `${fmt(lat.last, 0)} ms (p50 ${fmt(lat.p50, 0)}, p95 ${fmt(lat.p95, 0)})`;
  } else {
    latencyText = '–';
  }
  const rows = [
    ['Frames sent', `${fmt(snap.sendFps, 1)} /s (${snap.framesSent} total)`],
    ['Frames encoded', `${fmt(snap.encodeFps, 1)} /s`],
    ['Sent video', snap.sendWidth ? `${snap.sendWidth}×${snap.sendHeight} ${snap.codec ?? ''} ${fmt(snap.bitrateKbps, 0)} kbit/s` : '–'],
    ['Results', `${fmt(snap.resultsPerSecond, 1)} /s (${snap.resultsReceived} total${snap.resultsBad ? `, ${snap.resultsBad} unreadable` : ''})`],
    ['Round trip', latencyText],
    ['Network RTT', fmt(snap.rttMs, 1, ' ms')],
    ['Server queue', fmt(server.queue, 1, ' ms')],
    ['Server detect', fmt(server.detect, 1, ' ms')],
    ['Server landmarks', fmt(server.landmarks, 1, ' ms')],
    ['Server geometry', fmt(server.geometry, 1, ' ms')],
    ['Server total', fmt(server.total, 1, ' ms')],
  ];
  if (snap.sequenceGaps) rows.push(['Sequence gaps', String(snap.sequenceGaps)]);
  if (speakup.options.annotated_video) {
    rows.push(['Annotated video', snap.annotatedFramesDecoded ? `${fmt(snap.annotatedFps, 1)} /s` : '–']);
  }
  ui.statsBody.replaceChildren(...rows.map(([name, value]) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    const td = document.createElement('td');
    th.textContent = name;
    td.textContent = value;
    tr.append(th, td);
    return tr;
  }));
  ui.latencyNote.textContent = LATENCY_NOTES[snap.latencyMethod] + (snap.latencyError ? ` (${snap.latencyError})` : '');
}

// ---------------------------------------------------------------------------------------------
// Controls

// A new resolution on the same camera: constraints on the running track.
async function changeResolution() {
  const s = session;
  if (!s || !s.stream) return;
  const res = parseResolution(ui.resolution.value);
  const track = s.stream.getVideoTracks()[0];
  const limits = speakup.session?.limits ?? {};
  try {
    await track.applyConstraints({
      width: { ideal: res.width, ...(limits.max_width ? { max: limits.max_width } : {}) },
      height: { ideal: res.height, ...(limits.max_height ? { max: limits.max_height } : {}) },
      frameRate: { ideal: 30 },
    });
    describeTrack(s.stream);
    fitStage(ui.stage, speakup.camera.width, speakup.camera.height);
  } catch (error) {
    log(`resolution by constraints failed (${error.message}); reopening the camera`);
    await switchCamera();
  }
}

// Another camera (or a resolution the running track refused): a new track for the same sender.
async function switchCamera() {
  const s = session;
  if (!s || !s.stream) return;
  let stream;
  try {
    stream = await openCamera();
  } catch (first) {
    // Some cameras open only once: free the running one and try again.
    if (first.name !== 'NotReadableError' && first.name !== 'AbortError') {
      warn(cameraErrorText(first)[1]);
      return;
    }
    s.stream.getTracks().forEach((t) => t.stop());
    try {
      stream = await openCamera();
    } catch (error) {
      const [code, message] = cameraErrorText(error);
      fail(code, message, s.generation);
      return;
    }
  }
  if (session !== s) {
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  const old = s.stream;
  s.stream = stream;
  ui.local.srcObject = stream;
  describeTrack(stream);
  fitStage(ui.stage, speakup.camera.width, speakup.camera.height);
  if (s.client) await s.client.replaceTrack(stream.getVideoTracks()[0]);
  old.getTracks().forEach((t) => t.stop());
}

function applyMirror() {
  const mirrored = ui.mirror.checked;
  ui.stage.classList.toggle('mirrored', mirrored); // the server's annotated video is shown as sent
  if (view3d) view3d.setMirrored(mirrored);
  if (avatar) avatar.setMirrored(mirrored);
  drawLatest();
}

ui.start.addEventListener('click', () => start());
ui.stop.addEventListener('click', () => stop());
ui.camera.addEventListener('change', () => switchCamera());
ui.resolution.addEventListener('change', () => changeResolution());
ui.maxFaces.addEventListener('change', () => optionFromControls('max_faces', Number(ui.maxFaces.value)));
ui.refine.addEventListener('change', () => optionFromControls('refine', ui.refine.checked));
ui.smoothing.addEventListener('change', () => optionFromControls('smoothing', ui.smoothing.checked));
ui.detector.addEventListener('change', () => optionFromControls('detector', ui.detector.value));
ui.annotated.addEventListener('change', () => optionFromControls('annotated_video', ui.annotated.checked));
// The landmarker refuses refine (it always gives 478 points): switching to it turns refine off.
ui.model.addEventListener('change', () => {
  const model = ui.model.value;
  setOptions(model === 'landmarker' ? { model, refine: false } : { model })
    .catch((error) => {
      warn(`Options not applied: ${error.message}`);
      syncOptionControls();
    });
});
ui.mirror.addEventListener('change', applyMirror);
ui.points.addEventListener('change', drawLatest);
ui.contours.addEventListener('change', drawLatest);
ui.local.addEventListener('resize', () => {
  speakup.camera.width = ui.local.videoWidth;
  speakup.camera.height = ui.local.videoHeight;
  fitStage(ui.stage, ui.local.videoWidth, ui.local.videoHeight);
});
watchPreview(ui.local, speakup.camera);
watchPreview(ui.annotatedVideo, speakup.annotated);
if (navigator.mediaDevices?.addEventListener) {
  navigator.mediaDevices.addEventListener('devicechange', listCameras);
}
window.addEventListener('pagehide', () => {
  if (session) teardown();
});

// ---------------------------------------------------------------------------------------------
// Boot

syncOptionControls();
applyMirror();
updateAnnotatedPanel();
setState('idle');
ui.latencyNote.textContent = LATENCY_NOTES[speakup.latencyMethod];
if (!window.isSecureContext) {
  warn('This page is not a secure context: browsers give the camera only to HTTPS pages or http://localhost.');
}
listCameras();
document.body.dataset.ready = '1';
if (flag('autostart', false)) start();
