// One SpeakUp session's WebRTC side (docs/protocol.md): the camera goes to the server on the first
// video m-line (sendonly), results come back on the `results` data channel the client creates
// before its offer, ICE trickles both ways over the signaling WebSocket.
//
// The offer also has a second video m-line the client only receives on: the server (speakup
// serve: src/media/webrtc_sdp.cc, InspectOffer) answers it send-only and puts the annotated video
// there once the option `annotated_video` is on, so turning it on needs no new negotiation.
// `receiveVideo: false` leaves that m-line out (the server then reports an `internal` error that
// it has nowhere to send annotated video; the session goes on).

import { nowMs } from './latency.js';

export class PeerSession {
  // signaling: a connected Signaling; stream: the camera's MediaStream; clock: a FrameClock.
  // handlers: onResult(data, arrivalMs), onText(text), onRemoteTrack(track, streams),
  // onState({connection, ice, channel}), onFatal(code, message), onPathLost(code, message) (ICE failed:
// restartIce() may mend it), onWarning(code, message), onLog(text).
  // iceServers, iceTransportPolicy: for RTCPeerConnection ('relay': media only through TURN).
  constructor({ signaling, stream, clock, codec = '', receiveVideo = true, iceServers = [], iceTransportPolicy = 'all',
    handlers = {} }) {
    this.signaling = signaling;
    this.stream = stream;
    this.clock = clock;
    this.codec = codec;
    this.receiveVideo = receiveVideo;
    this.iceServers = iceServers;
    this.iceTransportPolicy = iceTransportPolicy;
    this.candidateErrors = []; // icecandidateerror events: {url, code, text}, the first few
    this.relayCandidates = 0;
    this.handlers = handlers;
    this.pc = null;
    this.channel = null;
    this.sender = null;
    this.transceiver = null;
    this.returnTransceiver = null;
    this.offerSent = false;
    this.pendingLocalCandidates = [];
    this.pendingRemoteCandidates = [];
    this.endOfCandidatesSent = false;
    this.closed = false;
    this.answered = false;
    this.restarts = 0; // ICE restarts offered
    this.remoteTracks = [];
  }

  emit(name, ...args) {
    const handler = this.handlers[name];
    if (handler) handler(...args);
  }

  log(text) {
    this.emit('onLog', text);
  }

  state() {
    return {
      connection: this.pc ? this.pc.connectionState : 'new',
      ice: this.pc ? this.pc.iceConnectionState : 'new',
      channel: this.channel ? this.channel.readyState : 'none',
    };
  }

  get connected() {
    const s = this.state();
    return s.connection === 'connected' && s.channel === 'open';
  }

  // Builds the peer connection and sends the offer; the answer arrives through handleSignal().
  async start() {
    this.pc = new RTCPeerConnection({
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      ...this.clock.peerConfig(),
    });
    const pc = this.pc;
    const track = this.stream.getVideoTracks()[0];
    this.transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream] });
    this.sender = this.transceiver.sender;
    this.clock.attachSender(this.sender);
    this.preferCodec();
    if (this.receiveVideo) this.returnTransceiver = pc.addTransceiver('video', { direction: 'recvonly' });

    this.channel = pc.createDataChannel('results', { ordered: false, maxRetransmits: 0 });
    this.channel.binaryType = 'arraybuffer';
    this.channel.onopen = () => {
      this.log('data channel open');
      this.emit('onState', this.state());
    };
    this.channel.onclose = () => {
      this.emit('onState', this.state());
      if (!this.closed) this.emit('onFatal', 'connection_lost', 'The results channel to the server closed.');
    };
    this.channel.onmessage = (event) => {
      const arrival = nowMs();
      if (typeof event.data === 'string') this.emit('onText', event.data);
      else this.emit('onResult', event.data, arrival);
    };

    // A STUN/TURN server that fails (unreachable, wrong or expired credentials) shows up only here.
    pc.onicecandidateerror = (event) => {
      const error = { url: String(event.url ?? ''), code: Number(event.errorCode ?? 0), text: String(event.errorText ?? '') };
      this.log(`ICE server error ${error.code} ${error.text} (${error.url})`);
      if (this.candidateErrors.length < 8) this.candidateErrors.push(error);
    };
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState !== 'complete' || this.closed) return;
      // Relay only and no relay candidate: nothing can ever connect, so say why now.
      if (this.iceTransportPolicy === 'relay' && this.relayCandidates === 0) {
        this.emit('onFatal', 'turn_failed', this.turnProblem());
      }
    };
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (c && / typ relay( |$)/.test(c.candidate)) this.relayCandidates += 1;
      const msg = c && c.candidate
        ? { type: 'candidate', candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex ?? 0 }
        : { type: 'candidate', candidate: '', sdpMLineIndex: 0 };
      if (msg.candidate === '') {
        if (this.endOfCandidatesSent) return;
        this.endOfCandidatesSent = true;
      }
      if (this.offerSent) this.signaling.send(msg);
      else this.pendingLocalCandidates.push(msg);
    };
    pc.ontrack = (event) => {
      if (event.track.kind !== 'video') return;
      this.clock.attachReceiver(event.receiver);
      this.remoteTracks.push(event.track);
      this.emit('onRemoteTrack', event.track, event.streams);
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      this.log(`connection ${state}`);
      this.emit('onState', this.state());
      if (this.closed) return;
      if (state === 'failed') {
        const turn = this.turnProblem();
        if (turn) this.emit('onFatal', 'turn_failed', turn);
        // The network path failed: the client may restart ICE before it gives the session up.
        else this.emit(this.handlers.onPathLost ? 'onPathLost' : 'onFatal', 'ice_failed', 'The media connection to the server failed (ICE failed): a firewall or NAT may block UDP.');
      } else if (state === 'disconnected') {
        this.emit('onWarning', 'ice_disconnected', 'The media connection to the server is interrupted; waiting for it to recover…');
      }
    };
    pc.oniceconnectionstatechange = () => {
      this.log(`ice ${pc.iceConnectionState}`);
      this.emit('onState', this.state());
    };

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (this.closed) return;
    this.signaling.send({ type: 'offer', sdp: pc.localDescription.sdp });
    this.offerSent = true;
    for (const msg of this.pendingLocalCandidates) this.signaling.send(msg);
    this.pendingLocalCandidates = [];
  }

  // ICE restart (docs/protocol.md, `restart`): new ICE credentials and candidates for the same peer
  // connection, offered to the server over the same WebSocket; its `answer` arrives through
  // handleSignal(). The data channel, the camera's sender and the session stay.
  async restartIce() {
    const pc = this.pc;
    if (this.closed || !pc) return;
    this.answered = false;
    this.offerSent = false;
    this.endOfCandidatesSent = false;
    this.pendingRemoteCandidates = [];
    pc.restartIce();
    const offer = await pc.createOffer({ iceRestart: true });
    await pc.setLocalDescription(offer);
    if (this.closed) return;
    this.signaling.send({ type: 'restart', sdp: pc.localDescription.sdp });
    this.offerSent = true;
    this.restarts += 1;
    for (const msg of this.pendingLocalCandidates) this.signaling.send(msg);
    this.pendingLocalCandidates = [];
  }

  // Why TURN did not help, for the error shown: '' when no TURN server failed and relaying was not
  // required. 401/403/437/441 are STUN's answers to credentials (RFC 8489, RFC 8656).
  turnProblem() {
    const turn = this.candidateErrors.filter((e) => /^turns?:/.test(e.url));
    const refused = turn.find((e) => [401, 403, 437, 441].includes(e.code));
    if (refused) {
      return `The TURN server ${refused.url} refused the TURN credentials (${refused.code} ${refused.text}): ` +
        'they are wrong or have expired (the server\'s --turn-secret must be coturn\'s static-auth-secret, and the clocks must agree).';
    }
    if (turn.length > 0) {
      return `The TURN server ${turn[0].url} could not be used (${turn[0].code} ${turn[0].text}): ` +
        'is it running, and do the firewall rules let this network reach it?';
    }
    if (this.iceTransportPolicy === 'relay' && this.relayCandidates === 0) {
      const named = this.iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)));
      return named
        ? 'Media must go through a TURN relay (iceTransportPolicy "relay"), but no TURN server gave one.'
        : 'Media must go through a TURN relay (iceTransportPolicy "relay"), but there is no TURN server: start the server with --ice-server turn:... and TURN credentials.';
    }
    return '';
  }

  // Moves the wanted codec ('vp8', 'h264', ...) to the front of the offer; the rest stay offered.
  preferCodec() {
    if (!this.codec || typeof this.transceiver.setCodecPreferences !== 'function') return;
    const caps = RTCRtpReceiver.getCapabilities ? RTCRtpReceiver.getCapabilities('video') : null;
    if (!caps) return;
    const wanted = `video/${this.codec.toLowerCase()}`;
    const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
    if (first.length === 0) {
      this.emit('onWarning', 'codec_unavailable', `This browser cannot send ${this.codec}; using its default codec.`);
      return;
    }
    const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted);
    try {
      this.transceiver.setCodecPreferences([...first, ...rest]);
    } catch (error) {
      this.emit('onWarning', 'codec_unavailable', `Codec preference ignored: ${error.message}`);
    }
  }

  // Handles `answer` and `candidate`; returns false for any other message.
  async handleSignal(msg) {
    if (this.closed || !this.pc) return true;
    if (msg.type === 'answer') {
      if (this.answered) {
        this.log('second answer ignored');
        return true;
      }
      this.answered = true;
      await this.pc.setRemoteDescription({ type: 'answer', sdp: String(msg.sdp) });
      for (const c of this.pendingRemoteCandidates) await this.addRemoteCandidate(c);
      this.pendingRemoteCandidates = [];
      return true;
    }
    if (msg.type === 'candidate') {
      // During an ICE restart the server's candidates wait for its answer (the new credentials).
      if (!this.pc.remoteDescription || !this.answered) this.pendingRemoteCandidates.push(msg);
      else await this.addRemoteCandidate(msg);
      return true;
    }
    return false;
  }

  async addRemoteCandidate(msg) {
    const candidate = typeof msg.candidate === 'string' ? msg.candidate : '';
    const sdpMLineIndex = Number.isInteger(msg.sdpMLineIndex) ? msg.sdpMLineIndex : 0;
    try {
      await this.pc.addIceCandidate({ candidate, sdpMLineIndex });
    } catch (error) {
      this.log(`server candidate refused (${error.message}): ${candidate}`);
    }
  }

  channelOpen() {
    return this.channel !== null && this.channel.readyState === 'open';
  }

  // Sends {"type":"options","options":{...}} on the data channel; false when it is not open.
  sendOptionsOnChannel(options) {
    if (!this.channelOpen()) return false;
    this.channel.send(JSON.stringify({ type: 'options', options }));
    return true;
  }

  async replaceTrack(track) {
    if (this.sender) await this.sender.replaceTrack(track);
  }

  async getStats() {
    return this.pc ? this.pc.getStats() : null;
  }

  close() {
    this.closed = true;
    if (this.channel) {
      try {
        this.channel.close();
      } catch {
        // already closed
      }
    }
    if (this.pc) this.pc.close();
    for (const track of this.remoteTracks) track.stop();
    this.remoteTracks = [];
  }
}
