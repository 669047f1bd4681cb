// Round-trip latency per result: every result carries the RTP timestamp of the frame it was computed
// from (as the client sent it), so the client remembers, per encoded frame, its RTP timestamp and
// the local time it left the encoder; latency = result arrival time - that time.
//
// Ways to see encoded frames, best first:
//   'script-transform'    RTCRtpScriptTransform on the sender, in a worker (Chromium, Firefox, Safari)
//   'insertable-streams'  RTCRtpSender.createEncodedStreams() with the peer connection created with
//                         {encodedInsertableStreams: true} (older Chromium)
//   'none'                neither: no per-result latency; the stats panel says so.

// Milliseconds since the epoch with sub-millisecond resolution; the same clock in a worker.
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

export function chooseLatencyMethod(wanted = 'auto') {
  const script = typeof globalThis.RTCRtpScriptTransform === 'function' && typeof globalThis.Worker === 'function';
  const streams = typeof globalThis.RTCRtpSender === 'function' &&
    typeof globalThis.RTCRtpSender.prototype.createEncodedStreams === 'function';
  if (wanted === 'none') return 'none';
  if ((wanted === 'auto' || wanted === 'script') && script) return 'script-transform';
  if ((wanted === 'auto' || wanted === 'streams') && streams) return 'insertable-streams';
  return 'none';
}

const MAX_REMEMBERED = 900; // frames (30 s at 30 fps): results older than this are not matched

export class FrameClock {
  constructor(method) {
    this.method = method;
    this.sendTimes = new Map(); // RTP timestamp -> ms since the epoch
    this.worker = null;
    this.framesSeen = 0;
    this.matched = 0;
    this.unmatched = 0;
    this.error = null;
  }

  // Extra RTCPeerConnection configuration the method needs.
  peerConfig() {
    return this.method === 'insertable-streams' ? { encodedInsertableStreams: true } : {};
  }

  record(rtp, time) {
    this.framesSeen += 1;
    if (this.sendTimes.has(rtp)) return;
    this.sendTimes.set(rtp, time);
    if (this.sendTimes.size > MAX_REMEMBERED) {
      const oldest = this.sendTimes.keys().next().value;
      this.sendTimes.delete(oldest);
    }
  }

  // Hooks the sender; safe to call once per sender.
  attachSender(sender) {
    if (this.method === 'script-transform') {
      try {
        this.worker = new Worker(new URL('./latency_worker.js', import.meta.url));
        this.worker.onmessage = (event) => {
          const data = event.data;
          if (data.error) this.error = data.error;
          else this.record(data.rtp, data.time);
        };
        sender.transform = new RTCRtpScriptTransform(this.worker, { side: 'send' });
      } catch (error) {
        this.error = `RTCRtpScriptTransform failed: ${error.message}`;
        this.method = 'none';
      }
    } else if (this.method === 'insertable-streams') {
      try {
        const { readable, writable } = sender.createEncodedStreams();
        const clock = this;
        readable.pipeThrough(new TransformStream({
          transform(frame, controller) {
            let rtp;
            try {
              rtp = frame.getMetadata().rtpTimestamp;
            } catch {
              rtp = undefined;
            }
            if (typeof rtp !== 'number') rtp = frame.timestamp;
            if (typeof rtp === 'number') clock.record(rtp >>> 0, nowMs());
            controller.enqueue(frame);
          },
        })).pipeTo(writable).catch((error) => {
          this.error = String(error.message ?? error);
        });
      } catch (error) {
        this.error = `createEncodedStreams failed: ${error.message}`;
        this.method = 'none';
      }
    }
  }

  // With {encodedInsertableStreams: true} Chromium delivers received frames only through the
  // receiver's encoded streams: pass them straight through.
  attachReceiver(receiver) {
    if (this.method !== 'insertable-streams') return;
    try {
      const { readable, writable } = receiver.createEncodedStreams();
      readable.pipeTo(writable).catch(() => {});
    } catch {
      // already attached
    }
  }

  // Latency in ms for a result of this RTP timestamp arriving at `arrival`, or undefined.
  latencyFor(rtp, arrival = nowMs()) {
    if (this.method === 'none') return undefined;
    const sent = this.sendTimes.get(rtp >>> 0);
    if (sent === undefined) {
      this.unmatched += 1;
      return undefined;
    }
    this.matched += 1;
    return arrival - sent;
  }

  close() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.sendTimes.clear();
  }
}
