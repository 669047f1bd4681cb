// Worker side of the send-time recorder (RTCRtpScriptTransform: Chromium, Firefox, Safari).
// For every encoded video frame leaving the encoder it posts the frame's RTP timestamp and the time
// (ms since the epoch, high resolution, comparable with the page's performance.timeOrigin +
// performance.now()), then passes the frame on untouched.

function rtpTimestampOf(frame) {
  try {
    const metadata = frame.getMetadata();
    if (metadata && typeof metadata.rtpTimestamp === 'number') return metadata.rtpTimestamp;
  } catch {
    // getMetadata() missing: fall back to the frame's timestamp (the RTP timestamp in older APIs)
  }
  return typeof frame.timestamp === 'number' ? frame.timestamp : undefined;
}

self.onrtctransform = (event) => {
  const transformer = event.transformer;
  const recorder = new TransformStream({
    transform(frame, controller) {
      const rtp = rtpTimestampOf(frame);
      if (rtp !== undefined) {
        self.postMessage({ rtp: rtp >>> 0, time: performance.timeOrigin + performance.now() });
      }
      controller.enqueue(frame);
    },
  });
  transformer.readable.pipeThrough(recorder).pipeTo(transformer.writable).catch((error) => {
    self.postMessage({ error: String(error && error.message ? error.message : error) });
  });
};
