// Session statistics: frames sent (getStats outbound-rtp), results received, server stage times
// (from the result messages) and round-trip latency per result (from latency.js).

const LATENCY_WINDOW = 300; // recent latencies kept (window.speakup.latencyMs)
const TIMING_WINDOW = 30; // recent results averaged for the server stage times

export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(values) {
  if (values.length === 0) return { count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    count: values.length,
    last: values[values.length - 1],
    mean: sum / values.length,
    min: sorted[0],
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted[sorted.length - 1],
  };
}

export class SessionStats {
  constructor() {
    this.reset();
  }

  reset() {
    this.resultsReceived = 0;
    this.resultsBad = 0;
    this.sequenceGaps = 0;
    this.lastSequence = undefined;
    this.latencyMs = [];
    this.timings = [];
    this.outbound = {};
    this.inbound = {};
    this.rttMs = undefined;
    this.sendFps = 0;
    this.encodeFps = 0;
    this.resultsPerSecond = 0;
    this.annotatedFps = 0;
    this.bitrateKbps = 0;
    this.previous = null; // {time, framesSent, framesEncoded, results, bytesSent, framesDecoded}
  }

  onResult(result, latency) {
    this.resultsReceived += 1;
    if (this.lastSequence !== undefined && result.sequence > this.lastSequence + 1) {
      this.sequenceGaps += result.sequence - this.lastSequence - 1;
    }
    this.lastSequence = result.sequence;
    this.timings.push(result.timings);
    if (this.timings.length > TIMING_WINDOW) this.timings.shift();
    if (latency !== undefined) {
      this.latencyMs.push(latency);
      if (this.latencyMs.length > LATENCY_WINDOW) this.latencyMs.shift();
    }
  }

  onBadResult() {
    this.resultsBad += 1;
  }

  serverTimes() {
    const keys = ['queue', 'detect', 'landmarks', 'geometry', 'total'];
    const out = {};
    for (const key of keys) {
      out[key] = this.timings.length === 0
        ? undefined
        : this.timings.reduce((sum, t) => sum + t[key], 0) / this.timings.length;
    }
    return out;
  }

  // Reads the peer connection's stats report and updates the per-second rates.
  async poll(pc, now = performance.now()) {
    if (!pc) return;
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    let outbound = null;
    let inbound = null;
    let pair = null;
    const codecs = new Map();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') outbound = s;
      else if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
      else if (s.type === 'codec') codecs.set(s.id, s);
      else if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
    });
    if (!pair) {
      report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
      });
    }
    if (pair && typeof pair.currentRoundTripTime === 'number') this.rttMs = pair.currentRoundTripTime * 1000;
    if (outbound) {
      const codec = codecs.get(outbound.codecId);
      this.outbound = {
        framesEncoded: outbound.framesEncoded ?? 0,
        framesSent: outbound.framesSent ?? 0,
        frameWidth: outbound.frameWidth,
        frameHeight: outbound.frameHeight,
        bytesSent: outbound.bytesSent ?? 0,
        codec: codec ? codec.mimeType : undefined,
        encoder: outbound.encoderImplementation,
        qualityLimitationReason: outbound.qualityLimitationReason,
        keyFramesEncoded: outbound.keyFramesEncoded,
        pliCount: outbound.pliCount,
        nackCount: outbound.nackCount,
      };
    }
    if (inbound) {
      const codec = codecs.get(inbound.codecId);
      this.inbound = {
        framesDecoded: inbound.framesDecoded ?? 0,
        frameWidth: inbound.frameWidth,
        frameHeight: inbound.frameHeight,
        codec: codec ? codec.mimeType : undefined,
      };
    }
    const current = {
      time: now,
      framesSent: this.outbound.framesSent ?? 0,
      framesEncoded: this.outbound.framesEncoded ?? 0,
      bytesSent: this.outbound.bytesSent ?? 0,
      framesDecoded: this.inbound.framesDecoded ?? 0,
      results: this.resultsReceived,
    };
    const prev = this.previous;
    if (prev && current.time > prev.time) {
      const seconds = (current.time - prev.time) / 1000;
      this.sendFps = (current.framesSent - prev.framesSent) / seconds;
      this.encodeFps = (current.framesEncoded - prev.framesEncoded) / seconds;
      this.bitrateKbps = (8 * (current.bytesSent - prev.bytesSent)) / seconds / 1000;
      this.resultsPerSecond = (current.results - prev.results) / seconds;
      this.annotatedFps = (current.framesDecoded - prev.framesDecoded) / seconds;
    }
    this.previous = current;
  }

  snapshot() {
    return {
      framesEncoded: this.outbound.framesEncoded ?? 0,
      framesSent: this.outbound.framesSent ?? 0,
      bytesSent: this.outbound.bytesSent ?? 0,
      sendFps: this.sendFps,
      encodeFps: this.encodeFps,
      bitrateKbps: this.bitrateKbps,
      sendWidth: this.outbound.frameWidth,
      sendHeight: this.outbound.frameHeight,
      codec: this.outbound.codec,
      encoder: this.outbound.encoder,
      qualityLimitationReason: this.outbound.qualityLimitationReason,
      resultsReceived: this.resultsReceived,
      resultsPerSecond: this.resultsPerSecond,
      resultsBad: this.resultsBad,
      sequenceGaps: this.sequenceGaps,
      serverMs: this.serverTimes(),
      latency: summarize(this.latencyMs),
      rttMs: this.rttMs,
      annotatedFramesDecoded: this.inbound.framesDecoded ?? 0,
      annotatedFps: this.annotatedFps,
    };
  }
}
