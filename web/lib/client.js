// The SpeakUp client: one session with `speakup serve` (docs/protocol.md) behind a small event API
// (docs/client.md). connect() opens the signaling WebSocket, waits for `welcome`, fits the camera to
// the server's limits, offers the camera, the `results` data channel and the receive-only video
// m-line of the annotated video, sends the options, and then reports results, state changes and
// errors as events until close() or a fatal error. With `reconnect`, a session that drops is started
// again (same client, same handlers, the options in effect sent again) unless the error was final.

import { Signaling, SignalingError, signalingUrl, redactedUrl } from './signaling.js';
import { PeerSession } from './peer.js';
import { decodeResult } from './protocol.js';
import { FrameClock, chooseLatencyMethod } from './latency.js';
import { ReconnectCounter, reconnectDecision } from './reconnect.js';

export const SIGNALING_PROTOCOL = 2;

// ---------------------------------------------------------------------------------------------
// Options (docs/protocol.md, "Options")

export const DEFAULT_OPTIONS = Object.freeze({
  max_faces: 1,
  refine: false,
  smoothing: true,
  detector: 'short',
  annotated_video: false,
  model: 'mesh',
});

const OPTION_CHECKS = {
  max_faces: (v) => Number.isInteger(v) && v >= 1 && v <= 8,
  refine: (v) => typeof v === 'boolean',
  smoothing: (v) => typeof v === 'boolean',
  detector: (v) => v === 'short' || v === 'full',
  annotated_video: (v) => typeof v === 'boolean',
  model: (v) => v === 'mesh' || v === 'landmarker',
};

// Throws a TypeError naming the first unknown option or bad value; a partial set is fine. `current`
// (the options in effect) is for the one rule across fields: `refine` is for the mesh model, and the
// server refuses the landmarker with refine on.
export function validateOptions(options, current = {}) {
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw new TypeError('options must be an object');
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(OPTION_CHECKS, key)) throw new TypeError(`unknown option '${key}'`);
    if (!OPTION_CHECKS[key](value)) throw new TypeError(`bad value for option '${key}': ${JSON.stringify(value)}`);
  }
  const after = { ...current, ...options };
  if (after.model === 'landmarker' && after.refine === true) {
    throw new TypeError("option 'refine' is for the mesh model: set refine false with model 'landmarker'");
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// ICE servers

const ICE_URL = /^(stun|turns?):[^\s/@#]+$/;
const MAX_ICE_SERVERS = 8;

// The `ice_servers` of a server's welcome (docs/protocol.md) as RTCIceServer objects. They come
// from the network: entries that are not {urls: string | string[], username?, credential?} with
// stun:/turn:/turns: URLs are left out (RTCPeerConnection would throw on them) and reported in
// `dropped`.
export function iceServersFromWelcome(welcome) {
  const given = welcome && welcome.ice_servers;
  const servers = [];
  let dropped = 0;
  if (given === undefined) return { servers, dropped };
  if (!Array.isArray(given)) return { servers, dropped: 1 };
  for (const entry of given.slice(0, MAX_ICE_SERVERS)) {
    const urls = typeof entry?.urls === 'string' ? [entry.urls] : entry?.urls;
    const good = Array.isArray(urls) && urls.length > 0 && urls.length <= 8 &&
      urls.every((u) => typeof u === 'string' && u.length <= 512 && ICE_URL.test(u)) &&
      ['username', 'credential'].every((k) => entry[k] === undefined || typeof entry[k] === 'string');
    if (!good) {
      dropped += 1;
      continue;
    }
    const server = { urls: [...urls] };
    if (entry.username !== undefined) server.username = entry.username;
    if (entry.credential !== undefined) server.credential = entry.credential;
    servers.push(server);
  }
  return { servers, dropped: dropped + Math.max(0, given.length - MAX_ICE_SERVERS) };
}

// ---------------------------------------------------------------------------------------------
// Errors

// The server's `error` codes (docs/protocol.md, "Signaling messages").
export const SERVER_ERROR_CODES = Object.freeze(['bad_json', 'too_large', 'bad_message', 'unknown_type', 'bad_state',
  'bad_sdp', 'too_many_candidates', 'server_full', 'unauthorized', 'forbidden_origin', 'too_many_sessions',
  'internal', 'flooding', 'bad_restart', 'too_many_restarts']);

// Server codes that refuse an ICE restart (a server without restarts says unknown_type): the
// session is then started again instead.
const RESTART_REFUSALS = new Set(['bad_state', 'bad_restart', 'too_many_restarts', 'unknown_type']);

// Server codes after which the server has closed (or refused) the session.
const FATAL_SERVER_CODES = new Set(['too_large', 'bad_sdp', 'server_full', 'unauthorized', 'forbidden_origin',
  'too_many_sessions', 'flooding']);

// The client's own codes: every one but `bad_result` ends the session.
export const CLIENT_ERROR_CODES = Object.freeze(['connection_failed', 'timeout', 'closed', 'connection_lost',
  'connect_timeout', 'ice_failed', 'turn_failed', 'server_bye', 'bad_answer', 'client_error', 'bad_result']);

export class SpeakUpError extends Error {
  // fatal: the session has ended; fromServer: an `error` message of the server (message is its text).
  // reconnect: a `bye` that said reconnect: true (code server_bye).
  constructor(code, message, { fatal = true, fromServer = false, cause, reconnect = false } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SpeakUpError';
    this.code = code;
    this.fatal = fatal;
    this.fromServer = fromServer;
    this.reconnect = reconnect;
  }
}

export function isFatalServerError(code) {
  return FATAL_SERVER_CODES.has(code);
}

// ---------------------------------------------------------------------------------------------
// Client

export const EVENTS = Object.freeze(['state', 'result', 'error', 'warning', 'welcome', 'options', 'track',
  'connection', 'log', 'reconnecting', 'reconnected', 'restarting', 'restarted']);

const DEFAULTS = {
  signalingTimeoutMs: 10000, // WebSocket opening -> welcome
  connectTimeoutMs: 20000, // offer sent -> ICE/DTLS connected and the data channel open
  optionsConfirmMs: 1500, // options sent on the data channel are sent again on the WebSocket after this
  optionsTimeoutMs: 5000, // setOptions() gives up
  iceRestart: true, // a broken media path is restarted on the same session before giving it up
  restartAfterMs: 2000, // ICE 'disconnected' this long -> restart ('failed': at once)
  restartTimeoutMs: 10000, // restart offered -> ICE connected again, or the session is given up
};

export class SpeakUpClient {
  constructor(server, config = {}) {
    const stream = config.stream;
    if (!stream || typeof stream.getVideoTracks !== 'function' || stream.getVideoTracks().length === 0) {
      throw new TypeError('connect(): `stream` must be a MediaStream with a video track (the camera)');
    }
    this.options = { ...DEFAULT_OPTIONS, ...validateOptions(config.options ?? {}) };
    this.url = signalingUrl(server, config.token);
    this.stream = stream;
    // 'signaling' | 'negotiating' | 'ice' | 'connected' | 'restarting' | 'reconnecting' | 'closed'
    this.state = 'new';
    this.welcome = null; // {session, protocol, limits}
    this.serverOptions = null; // the options in effect (the server's last `options` message)
    this.error = null; // the SpeakUpError that ended the session, if one did
    this.resultsReceived = 0;
    this.resultsBad = 0;
    this.latencyMethod = chooseLatencyMethod(config.latency ?? 'auto');
    this.config = {
      ...DEFAULTS,
      codec: '',
      receiveVideo: true,
      constrainToLimits: true,
      iceServers: null, // null: the servers the server's welcome names
      iceTransportPolicy: 'all',
      ...config,
    };
    if (this.config.iceServers !== null && !Array.isArray(this.config.iceServers)) {
      throw new TypeError('connect(): `iceServers` must be an array of RTCIceServer objects (or null: the server\'s)');
    }
    if (!['all', 'relay'].includes(this.config.iceTransportPolicy)) {
      throw new TypeError(`connect(): \`iceTransportPolicy\` must be 'all' or 'relay', not ${JSON.stringify(this.config.iceTransportPolicy)}`);
    }
    const again = this.config.reconnect;
    if (again !== undefined && typeof again !== 'boolean' && (again === null || typeof again !== 'object')) {
      throw new TypeError('connect(): `reconnect` must be true, false or an object of backoff settings (docs/client.md)');
    }
    // null: a dropped session ends the client (the default, as before reconnecting existed).
    this.reconnector = again ? new ReconnectCounter(again === true ? {} : again) : null;
    this.everConnected = false;
    this.retrying = null; // {attempt, delayMs, reason} while a retry is waiting or under way
    this.retryTimer = null;
    this.generation = 0; // one per attempt: callbacks of an attempt given up on do nothing
    this.restart = null; // {reason, startedAt, timer} while an ICE restart is under way
    this.disconnectedTimer = null;
    this.restarts = { started: 0, succeeded: 0, failed: 0, lastMs: null };
    this.handlers = new Map(EVENTS.map((name) => [name, []]));
    this.signaling = null;
    this.peer = null;
    this.clock = null;
    this.timers = [];
    this.waiters = []; // setOptions() promises: {wanted, resolve, reject, timers, sent}
    this.optionsSent = false;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // nobody has to wait for it
    // Started from a task of its own, so handlers attached after connect() (even after an
    // `await connect(...)`) see every event.
    this.startTimer = setTimeout(() => this.run(), 0);
  }

  get closed() {
    return this.state === 'closed';
  }

  // The RTCPeerConnection (null before negotiating): for getStats() and the like; do not close it.
  get peerConnection() {
    return this.peer ? this.peer.pc : null;
  }

  // {connection, ice, channel}: RTCPeerConnection connectionState, iceConnectionState, data channel readyState.
  get connection() {
    return this.peer ? this.peer.state() : { connection: 'new', ice: 'new', channel: 'none' };
  }

  // How round-trip latency is measured and how it goes: {method, matched, unmatched, error}.
  get latency() {
    const c = this.clock;
    return { method: this.latencyMethod, matched: c ? c.matched : 0, unmatched: c ? c.unmatched : 0, error: c ? c.error : null };
  }

  on(event, handler) {
    this.handlersOf(event).push(handler);
    return this;
  }

  off(event, handler) {
    const list = this.handlersOf(event);
    const i = list.indexOf(handler);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  handlersOf(event) {
    const list = this.handlers.get(event);
    if (!list) throw new TypeError(`unknown SpeakUp client event '${event}' (events: ${EVENTS.join(', ')})`);
    return list;
  }

  emit(event, payload) {
    for (const handler of [...this.handlers.get(event)]) {
      try {
        handler(payload);
      } catch (error) {
        // A handler's exception is the page's, reported as uncaught; the session goes on.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  log(text) {
    this.emit('log', text);
  }

  warn(code, message) {
    this.log(`warning ${code}: ${message}`);
    this.emit('warning', { code, message });
  }

  setState(state) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.log(`state ${state}`);
    this.emit('state', { state, previous, error: state === 'closed' ? this.error : null });
    if (state !== 'connected') return;
    this.everConnected = true;
    this.reconnector?.connected(Date.now());
    this.resolveReady(this);
    if (this.retrying) {
      const { attempt } = this.retrying;
      this.retrying = null;
      this.log(`reconnected after ${attempt} attempt(s)`);
      this.emit('reconnected', { attempt, session: this.welcome?.session });
    }
  }

  async run() {
    if (this.closed) return;
    const gen = ++this.generation;
    // After an await: false when the client closed, or this attempt was given up for another.
    const current = () => !this.closed && gen === this.generation;
    const live = (fn) => (...args) => {
      if (current()) return fn(...args);
      return undefined;
    };
    try {
      this.setState('signaling');
      this.signaling = new Signaling(this.url, {
        onMessage: live((msg) => this.onSignal(msg)),
        onClose: live(({ code }) => this.fail('connection_lost',
          `Lost the connection to the server (the signaling WebSocket closed, code ${code}).`)),
        onLog: (text) => this.log(text),
      });
      let welcome;
      try {
        welcome = await this.signaling.connect(this.config.signalingTimeoutMs);
      } catch (error) {
        if (!current()) return;
        if (!(error instanceof SignalingError)) throw error;
        if (error.code === 'bye') this.fail(new SpeakUpError('server_bye', error.message, { reconnect: error.reconnect === true }));
        else if (CLIENT_ERROR_CODES.includes(error.code)) this.fail(error.code, error.message);
        else this.fail(new SpeakUpError(error.code, error.message, { fromServer: true }));
        return;
      }
      if (!current()) return;
      const ice = iceServersFromWelcome(welcome);
      this.welcome = { session: welcome.session, protocol: welcome.protocol, limits: welcome.limits ?? {}, iceServers: ice.servers };
      this.log(`welcome: session ${welcome.session}, protocol ${welcome.protocol}`);
      this.emit('welcome', this.welcome);
      if (welcome.protocol !== undefined && welcome.protocol !== SIGNALING_PROTOCOL) {
        this.warn('protocol', `The server speaks protocol ${welcome.protocol}; this client speaks ${SIGNALING_PROTOCOL}.`);
      }
      if (ice.dropped > 0) this.warn('ice_servers', `${ice.dropped} of the server's ICE servers were malformed and are not used.`);
      if (this.config.constrainToLimits) await this.constrainToLimits();
      if (!current()) return;

      this.setState('negotiating');
      this.clock = new FrameClock(this.latencyMethod);
      this.peer = new PeerSession({
        signaling: this.signaling,
        stream: this.stream,
        clock: this.clock,
        codec: this.config.codec,
        receiveVideo: this.config.receiveVideo,
        iceServers: this.config.iceServers ?? this.welcome.iceServers,
        iceTransportPolicy: this.config.iceTransportPolicy,
        handlers: {
          onResult: live((data, arrival) => this.onResult(data, arrival)),
          onText: live((text) => this.onChannelText(text)),
          onRemoteTrack: live((track, streams) => this.emit('track', { track, streams })),
          onState: live(() => this.onPeerState()),
          onFatal: live((code, message) => this.fail(code, message)),
          onPathLost: live((code, message) => {
            if (!this.restartIce(code, message)) this.fail(code, message);
          }),
          onWarning: live((code, message) => this.warn(code, message)),
          onLog: (text) => this.log(text),
        },
      });
      await this.peer.start();
      if (!current()) return;
      this.latencyMethod = this.clock.method;
      // Every field, so the session starts with exactly these options.
      this.signaling.send({ type: 'options', options: { ...this.options } });
      this.optionsSent = true;
      for (const waiter of this.waiters) this.armWaiter(waiter);
      if (this.state === 'negotiating') this.setState('ice');
      this.timers.push(setTimeout(() => {
        // A session that came up and is restarting ICE has the restart's own timeout.
        if (!this.closed && this.state !== 'connected' && this.state !== 'restarting') {
          // A TURN server that refused us is the likelier cause, and the one to name.
          const turn = this.peer?.turnProblem();
          if (turn) return this.fail('turn_failed', turn);
          this.fail('connect_timeout',
            `The media connection to the server did not come up within ${this.config.connectTimeoutMs / 1000} s.`);
        }
      }, this.config.connectTimeoutMs));
    } catch (error) {
      if (current()) this.fail('client_error', `Could not start the session: ${error.message}`);
    }
  }

  // A camera larger than the server takes (welcome.limits) is asked for less: the server would
  // downscale every frame anyway, after the network carried it.
  async constrainToLimits() {
    const limits = this.welcome.limits;
    const track = this.stream.getVideoTracks()[0];
    if (!limits || !track) return;
    const { width = 0, height = 0 } = track.getSettings();
    const tooWide = limits.max_width && width > limits.max_width;
    const tooHigh = limits.max_height && height > limits.max_height;
    if (!tooWide && !tooHigh) return;
    try {
      await track.applyConstraints({ width: { max: limits.max_width }, height: { max: limits.max_height } });
      const now = track.getSettings();
      this.warn('limits', `The server takes at most ${limits.max_width}×${limits.max_height}; the camera now sends ${now.width}×${now.height}.`);
    } catch (error) {
      this.warn('limits', `The camera sends ${width}×${height}, above the server's ${limits.max_width}×${limits.max_height}: ${error.message}`);
    }
  }

  async onSignal(msg) {
    if (this.closed) return;
    switch (msg.type) {
      case 'answer':
      case 'candidate':
        try {
          await this.peer?.handleSignal(msg);
          if (msg.type === 'answer' && this.restart) this.watchIce(); // ICE may have stayed connected
        } catch (error) {
          if (msg.type === 'answer') this.fail('bad_answer', `The server's answer could not be used: ${error.message}`);
          else this.log(`candidate failed: ${error.message}`);
        }
        break;
      case 'options':
        this.onServerOptions(msg.options);
        break;
      case 'error':
        this.onServerError(msg);
        break;
      case 'bye':
        // The server gave up waiting for the restart (its grace period): start a new session.
        if (this.restart && msg.reconnect !== true) {
          this.restartFailed('ice_failed', `The server ended the session while the media connection was restarting${msg.reason ? ` (${msg.reason})` : ''}.`);
          break;
        }
        this.fail(new SpeakUpError('server_bye', `The server ended the session${msg.reason ? ` (${msg.reason})` : ''}.`,
          { reconnect: msg.reconnect === true }));
        break;
      case 'welcome':
        break;
      default:
        this.log(`signaling: unknown message type '${msg.type}' ignored`);
    }
  }

  onChannelText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.log(`data channel: text that is not JSON ignored: ${text.slice(0, 80)}`);
      return;
    }
    if (msg && msg.type === 'options') this.onServerOptions(msg.options);
    else if (msg && msg.type === 'error') this.onServerError(msg);
    else this.log(`data channel: text message ignored: ${text.slice(0, 80)}`);
  }

  onServerError(msg) {
    const code = String(msg.code ?? 'error');
    const message = String(msg.message ?? '') || `the server reported '${code}'`;
    this.log(`server error ${code}: ${message}`);
    if (this.restart && RESTART_REFUSALS.has(code)) {
      this.restartFailed('ice_failed', `The server refused to restart the media connection (${code}: ${message}).`);
      return;
    }
    if (isFatalServerError(code)) {
      this.fail(new SpeakUpError(code, message, { fromServer: true }));
      return;
    }
    this.emit('error', new SpeakUpError(code, message, { fatal: false, fromServer: true }));
    // The server answers a refused `options` message with an error (and no `options`).
    this.rejectWaiters(new Error(`the server refused the options (${code}: ${message})`));
  }

  onServerOptions(options) {
    if (!options || typeof options !== 'object') return;
    this.serverOptions = { ...options };
    this.log(`options in effect: ${JSON.stringify(options)}`);
    for (let i = this.waiters.length - 1; i >= 0; --i) {
      const waiter = this.waiters[i];
      if (Object.entries(waiter.wanted).every(([k, v]) => options[k] === v)) {
        this.waiters.splice(i, 1);
        waiter.timers.forEach(clearTimeout);
        waiter.resolve({ ...options });
      }
    }
    this.emit('options', { ...options });
  }

  onResult(data, arrival) {
    if (this.closed) return;
    let result;
    try {
      result = decodeResult(data);
    } catch (error) {
      this.resultsBad += 1;
      this.emit('error', new SpeakUpError('bad_result', error.message, { fatal: false, cause: error }));
      return;
    }
    result.receivedAt = arrival;
    result.latencyMs = this.clock ? this.clock.latencyFor(result.rtpTimestamp, arrival) : undefined;
    this.resultsReceived += 1;
    if (this.state !== 'connected' && !this.restart && this.peer?.connected) this.setState('connected');
    this.emit('result', result);
  }

  onPeerState() {
    if (this.closed) return;
    if (this.state !== 'connected' && !this.restart && this.peer.connected && this.optionsSent) this.setState('connected');
    this.watchIce();
    this.emit('connection', this.peer.state());
  }

  // ---- ICE restart: the media path broke while the WebSocket is still up (a network change) ----

  // ICE 'disconnected' for restartAfterMs, or 'failed': restart ICE on the same session. A restart
  // under way ends when ICE is connected again with the server's new answer applied.
  watchIce() {
    const ice = this.peer?.pc?.iceConnectionState;
    if (this.restart) {
      if ((ice === 'connected' || ice === 'completed') && this.peer.answered && this.peer.connected) this.restarted();
      return;
    }
    if (this.state !== 'connected') return;
    if (ice === 'failed') {
      this.restartIce('ice_failed', 'The media connection to the server failed (ICE failed).');
    } else if (ice === 'disconnected') {
      if (this.disconnectedTimer) return;
      this.disconnectedTimer = setTimeout(() => {
        this.disconnectedTimer = null;
        if (!this.closed && this.state === 'connected' && this.peer?.pc?.iceConnectionState === 'disconnected') {
          this.restartIce('ice_disconnected',
            `The media connection to the server was interrupted for ${this.config.restartAfterMs / 1000} s.`);
        }
      }, this.config.restartAfterMs);
    } else {
      clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = null;
    }
  }

  // Starts an ICE restart; false when none can be (turned off, the WebSocket is down: the caller
  // then gives the session up). True while one is under way.
  restartIce(reason, message) {
    if (this.restart) return true;
    // Only a session that came up: before that, ICE failing is the connection not working at all.
    if (!this.config.iceRestart || this.state !== 'connected' || !this.peer || !this.signaling?.open) return false;
    clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = null;
    this.restarts.started += 1;
    this.restart = { reason, startedAt: Date.now(), timer: null };
    this.restart.timer = setTimeout(() => this.restartFailed('ice_failed',
      `${message} Restarting it did not bring it back within ${this.config.restartTimeoutMs / 1000} s.`),
    this.config.restartTimeoutMs);
    this.log(`${reason}: ${message} Restarting ICE on session ${this.welcome?.session}.`);
    this.setState('restarting');
    this.emit('restarting', { reason, message, session: this.welcome?.session });
    this.peer.restartIce().catch((error) => this.restartFailed('ice_failed', `Could not restart ICE: ${error.message}`));
    return true;
  }

  restarted() {
    const { startedAt, reason, timer } = this.restart;
    clearTimeout(timer);
    this.restart = null;
    this.restarts.succeeded += 1;
    this.restarts.lastMs = Date.now() - startedAt;
    this.log(`ICE restarted in ${this.restarts.lastMs} ms`);
    this.setState('connected');
    this.emit('restarted', { reason, ms: this.restarts.lastMs, session: this.welcome?.session });
  }

  // The restart did not work: the session is given up as any dropped one (fail: reconnecting, with
  // `reconnect`).
  restartFailed(code, message) {
    if (!this.restart || this.closed) return;
    clearTimeout(this.restart.timer);
    this.restart = null;
    this.restarts.failed += 1;
    this.fail(code, message);
  }

  // Asks for these options (a partial set). Resolves with the options in effect once the server
  // confirms them; rejects on a bad option (TypeError), a server error, no confirmation within
  // optionsTimeoutMs, or the session ending. Options asked for before the offer go with it.
  setOptions(options) {
    try {
      validateOptions(options, this.options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closed) return Promise.reject(new SpeakUpError('closed', 'the session has ended', { fatal: false }));
    Object.assign(this.options, options);
    return new Promise((resolve, reject) => {
      const waiter = { wanted: { ...options }, resolve, reject, timers: [], sent: false };
      this.waiters.push(waiter);
      if (this.optionsSent) this.sendOptions(waiter);
    });
  }

  sendOptions(waiter) {
    const msg = { type: 'options', options: waiter.wanted };
    if (this.peer && this.peer.sendOptionsOnChannel(waiter.wanted)) {
      this.log(`options sent on the data channel: ${JSON.stringify(waiter.wanted)}`);
      // The channel is unreliable by design: without a confirmation, say it again on the WebSocket.
      waiter.timers.push(setTimeout(() => {
        if (!this.closed && this.signaling?.send(msg)) this.log('options re-sent on the WebSocket');
      }, this.config.optionsConfirmMs));
    } else {
      this.signaling?.send(msg);
      this.log(`options sent on the WebSocket: ${JSON.stringify(waiter.wanted)}`);
    }
    this.armWaiter(waiter);
  }

  armWaiter(waiter) {
    if (waiter.sent) return;
    waiter.sent = true;
    waiter.timers.push(setTimeout(() => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      waiter.reject(new Error(`the server did not confirm the options within ${this.config.optionsTimeoutMs / 1000} s`));
    }, this.config.optionsTimeoutMs));
  }

  rejectWaiters(error) {
    for (const waiter of this.waiters.splice(0)) {
      waiter.timers.forEach(clearTimeout);
      waiter.reject(error);
    }
  }

  // Another camera track for the running session (same sender, no renegotiation).
  async replaceTrack(track) {
    if (this.peer) await this.peer.replaceTrack(track);
  }

  async getStats() {
    return this.peer ? this.peer.getStats() : null;
  }

  // Ends the session on an error: `error` event (fatal), then `state` closed; or, with `reconnect`
  // and an error that is not final, a retry (`reconnecting`) instead.
  fail(codeOrError, message) {
    if (this.closed) return;
    const error = codeOrError instanceof SpeakUpError ? codeOrError : new SpeakUpError(codeOrError, message);
    if (this.reconnector) {
      const decision = reconnectDecision(error, this.everConnected);
      if (decision.retry) {
        this.retry(error, decision);
        return;
      }
    }
    this.error = error;
    this.log(`error ${error.code}: ${error.message}`);
    this.teardown();
    this.emit('error', error);
    this.setState('closed');
    this.rejectReady(error);
  }

  // Says `bye`, closes the peer connection and the WebSocket. The camera stream is the caller's:
  // it keeps running.
  close() {
    if (this.closed) return;
    this.teardown();
    this.setState('closed');
    this.rejectReady(new SpeakUpError('closed', 'the client closed the session before it connected', { fatal: false }));
  }

  // Drops this attempt's session and starts another after the counter's delay. setOptions() promises
  // still waiting stay: their options are in this.options, which the next session starts with.
  retry(error, decision) {
    const { attempt, delayMs } = this.reconnector.dropped(Date.now(), decision, Math.random);
    this.log(`${error.code}: ${error.message} (reconnecting in ${delayMs} ms, attempt ${attempt})`);
    this.teardownSession();
    for (const waiter of this.waiters) {
      waiter.timers.forEach(clearTimeout);
      waiter.timers = [];
      waiter.sent = false;
    }
    this.retrying = { attempt, delayMs, reason: error.code };
    this.setState('reconnecting');
    this.emit('reconnecting', { attempt, delayMs, reason: error.code, message: error.message, error });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.run();
    }, delayMs);
  }

  teardownSession() {
    this.generation += 1;
    if (this.restart) clearTimeout(this.restart.timer);
    this.restart = null;
    clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = null;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    if (this.peer) this.peer.close();
    if (this.clock) this.clock.close();
    if (this.signaling) this.signaling.close(true);
    this.peer = null;
    this.clock = null;
    this.signaling = null;
    this.optionsSent = false;
  }

  teardown() {
    clearTimeout(this.startTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.teardownSession();
    this.rejectWaiters(new Error('the session ended'));
  }

  toString() {
    return `SpeakUpClient(${redactedUrl(this.url)}, ${this.state})`;
  }
}

// Starts a session with the SpeakUp server at `server` (see signalingUrl) and returns its client
// at once; the session comes up in the background (client.ready, or the `state` events).
export function connect(server, config = {}) {
  return new SpeakUpClient(server, config);
}
