// A fake SpeakUp server in a browser page, for the client's end-to-end tests without the C++ server.
// The Node test relays each client's signaling WebSocket to this page; this page answers the offer,
// receives the camera, and for every received frame (seen through a receive-side
// RTCRtpScriptTransform, so with the RTP timestamp on the wire) sends a synthetic result message
// after `delay` ms on the client's data channel. Like speakup serve, it takes the first video
// m-line the client sends on as the camera and answers a second one the client receives on as
// send-only, with a canvas as the "annotated video" while the option is on; without that m-line it
// reports an `internal` error and goes on.
//
// Page URL parameters: delay=MS (default 40).

import { encodeResultForTest } from '../../lib/protocol.js';

const params = new URLSearchParams(location.search);
const DELAY_MS = Number(params.get('delay') ?? 40);
const DEFAULTS = {
  max_faces: 1, refine: false, smoothing: true, detector: 'short', annotated_video: false, model: 'mesh',
};
const SPEC = {
  max_faces: (v) => Number.isInteger(v) && v >= 1 && v <= 8,
  refine: (v) => typeof v === 'boolean',
  smoothing: (v) => typeof v === 'boolean',
  detector: (v) => v === 'short' || v === 'full',
  annotated_video: (v) => typeof v === 'boolean',
  model: (v) => v === 'mesh' || v === 'landmarker',
};
const TIMINGS = { queue: 0.5, detect: 4.25, landmarks: 6.5, geometry: 0.75, total: 12 };

const state = { sessions: new Map(), log: [] };
window.fakeServer = state;

function log(text) {
  state.log.push(text);
}

const relay = new WebSocket(`ws://${location.host}/fake-server`);
relay.onopen = () => {
  document.body.dataset.ready = '1';
};
relay.onmessage = (event) => {
  const { event: kind, id, msg } = JSON.parse(event.data);
  if (kind === 'client-open') openSession(id);
  else if (kind === 'client-close') closeSession(id);
  else if (kind === 'client-message') onClientMessage(id, msg).catch((error) => log(`session ${id}: ${error.stack}`));
  else if (kind === 'drop-peer') dropPeer(id);
};

function send(id, msg) {
  relay.send(JSON.stringify({ to: id, msg }));
}

// The annotated video: a canvas with a moving bar and a frame counter.
const canvas = document.getElementById('annotated');
const ctx = canvas.getContext('2d');
let tick = 0;
setInterval(() => {
  tick += 1;
  ctx.fillStyle = '#203040';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#7cfc9a';
  ctx.fillRect((tick * 7) % canvas.width, 200, 40, 80);
  ctx.font = '32px sans-serif';
  ctx.fillText(`annotated ${tick}`, 20, 50);
}, 33);
const annotatedStream = canvas.captureStream(30);

function openSession(id) {
  state.sessions.set(id, {
    id,
    pc: null,
    channel: null,
    options: { ...DEFAULTS },
    sequence: 0,
    framesSeen: 0,
    resultsSent: 0,
    rtpSeen: [],
    optionsVia: [],
    width: 0,
    height: 0,
  });
}

function closeSession(id) {
  const s = state.sessions.get(id);
  if (!s) return;
  if (s.pc) s.pc.close();
  if (s.worker) s.worker.terminate();
  s.closed = true;
}

function dropPeer(id) {
  const s = state.sessions.get(id);
  if (s && s.pc) {
    s.pc.close();
    s.pc = null;
  }
}

function applyOptions(s, options, via) {
  s.optionsVia.push(via);
  if (!options || typeof options !== 'object' || Array.isArray(options)) {
    send(s.id, { type: 'error', code: 'bad_message', message: 'options must be an object' });
    return;
  }
  for (const [key, value] of Object.entries(options)) {
    if (!(key in SPEC)) {
      send(s.id, { type: 'error', code: 'bad_message', message: `unknown option '${key}'` });
      return;
    }
    if (!SPEC[key](value)) {
      send(s.id, { type: 'error', code: 'bad_message', message: `bad value for '${key}'` });
      return;
    }
  }
  const after = { ...s.options, ...options };
  if (after.model === 'landmarker' && after.refine) {
    send(s.id, { type: 'error', code: 'bad_message', message: "'refine' is for the mesh model" });
    return;
  }
  Object.assign(s.options, options);
  send(s.id, { type: 'options', options: { ...s.options } });
  updateAnnotated(s);
}

async function onClientMessage(id, msg) {
  const s = state.sessions.get(id);
  if (!s) return;
  if (msg.type === 'offer') await answer(s, msg.sdp);
  else if (msg.type === 'candidate') {
    if (!s.pc) return;
    try {
      await s.pc.addIceCandidate({ candidate: msg.candidate, sdpMLineIndex: msg.sdpMLineIndex });
    } catch (error) {
      log(`candidate refused: ${error.message}`);
    }
  } else if (msg.type === 'options') applyOptions(s, msg.options, 'websocket');
  else if (msg.type === 'bye') closeSession(id);
  else send(id, { type: 'error', code: 'unknown_type', message: `unknown type '${msg.type}'` });
}

async function answer(s, sdp) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  s.pc = pc;
  pc.onicecandidate = (event) => {
    const c = event.candidate;
    send(s.id, { type: 'candidate', candidate: c ? c.candidate : '', sdpMLineIndex: c ? c.sdpMLineIndex ?? 0 : 0 });
  };
  pc.ondatachannel = (event) => {
    s.channel = event.channel;
    s.channel.binaryType = 'arraybuffer';
    s.channelLabel = event.channel.label;
    s.channelOrdered = event.channel.ordered;
    s.channelMaxRetransmits = event.channel.maxRetransmits;
    s.channel.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      const msg = JSON.parse(e.data);
      if (msg.type === 'options') applyOptions(s, msg.options, 'datachannel');
    };
  };
  pc.ontrack = (event) => {
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = new MediaStream([event.track]);
    video.play().catch(() => {});
    video.onresize = () => {
      s.width = video.videoWidth;
      s.height = video.videoHeight;
    };
    s.video = video;
    s.worker = new Worker('../../lib/latency_worker.js');
    s.worker.onmessage = (e) => {
      if (e.data.rtp !== undefined) onFrame(s, e.data.rtp);
    };
    event.receiver.transform = new RTCRtpScriptTransform(s.worker, { side: 'receive' });
  };
  await pc.setRemoteDescription({ type: 'offer', sdp });
  const video = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
  // The camera: the first; where the annotated video can go: the next one the client receives on.
  s.returnTransceiver = video.length > 1 ? video[1] : null;
  if (s.returnTransceiver) {
    s.returnTransceiver.direction = 'sendonly';
    s.returnTransceiver.sender.setStreams?.(annotatedStream);
    updateAnnotated(s);
  } else {
    send(s.id, { type: 'error', code: 'internal', message: 'annotated video is on but the client\'s offer has no video m-line to receive it' });
  }
  const desc = await pc.createAnswer();
  await pc.setLocalDescription(desc);
  send(s.id, { type: 'answer', sdp: pc.localDescription.sdp });
}

function updateAnnotated(s) {
  if (!s.returnTransceiver) return;
  const track = s.options.annotated_video ? annotatedStream.getVideoTracks()[0] : null;
  s.returnTransceiver.sender.replaceTrack(track).catch((error) => log(`replaceTrack: ${error.message}`));
}

// A synthetic face: an ellipse of rings, turned by `yaw`, placed at (cx, cy).
function syntheticFace(id, count, cx, cy, radius, yawDeg) {
  const yaw = (yawDeg * Math.PI) / 180;
  const landmarks = new Float32Array(count * 3);
  for (let i = 0; i < count; ++i) {
    const ring = (i % 12) / 12;
    const angle = (i / count) * Math.PI * 2 * 7;
    const x0 = Math.cos(angle) * radius * (0.3 + 0.7 * ring) * 0.8;
    const y0 = Math.sin(angle) * radius * (0.3 + 0.7 * ring);
    const z0 = -Math.sqrt(Math.max(0, 1 - ring * ring)) * radius * 0.5;
    landmarks[3 * i] = cx + x0 * Math.cos(yaw) + z0 * Math.sin(yaw);
    landmarks[3 * i + 1] = cy + y0;
    landmarks[3 * i + 2] = -x0 * Math.sin(yaw) + z0 * Math.cos(yaw);
  }
  const c = Math.cos(yaw);
  const sn = Math.sin(yaw);
  return {
    id,
    score: 0.97,
    box: { x: cx - radius, y: cy - radius, width: 2 * radius, height: 2 * radius },
    landmarkCount: count,
    landmarks,
    pose: [c, 0, sn, 0, 0, 1, 0, 0, -sn, 0, c, -50, 0, 0, 0, 1],
    yaw: yawDeg,
    pitch: 2.5,
    roll: -1.25,
  };
}

function onFrame(s, rtp) {
  s.framesSeen += 1;
  s.rtpSeen.push(rtp);
  if (s.rtpSeen.length > 2000) s.rtpSeen.shift();
  const sequence = s.sequence++;
  const width = s.width || 640;
  const height = s.height || 480;
  const landmarker = s.options.model === 'landmarker';
  const count = s.options.refine || landmarker ? 478 : 468;
  const yaw = 30 * Math.sin(sequence / 15);
  const faces = [];
  for (let f = 0; f < Math.min(2, s.options.max_faces); ++f) {
    const face = syntheticFace(f + 1, count, width * (f === 0 ? 0.5 : 0.2), height * 0.5, height * 0.3, yaw);
    // The landmarker's 52 blendshape scores: slow waves in [0, 1].
    if (landmarker) face.blendshapes = Array.from({ length: 52 }, (_, i) => 0.5 + 0.5 * Math.sin(sequence / 20 + i));
    faces.push(face);
  }
  const message = encodeResultForTest({
    detected: sequence % 10 === 0,
    rtpTimestamp: rtp,
    sequence,
    width,
    height,
    timings: TIMINGS,
    faces,
  });
  setTimeout(() => {
    if (s.channel && s.channel.readyState === 'open') {
      s.channel.send(message);
      s.resultsSent += 1;
    }
  }, DELAY_MS);
}
