// SpeakUp browser client library: the one module a page imports (docs/client.md). Plain ES modules,
// no build step; everything it needs is in this folder (lib/), three.js not included.
//
//   import { connect } from './lib/speakup.js';
//   const client = connect(undefined, { stream });   // this page's server
//   client.on('result', (result) => draw(result.faces));

export {
  connect,
  SpeakUpClient,
  SpeakUpError,
  DEFAULT_OPTIONS,
  validateOptions,
  isFatalServerError,
  SERVER_ERROR_CODES,
  CLIENT_ERROR_CODES,
  EVENTS,
  SIGNALING_PROTOCOL,
  iceServersFromWelcome,
} from './client.js';
export { signalingUrl, redactedUrl } from './signaling.js';
export {
  decodeResult,
  resultToPlain,
  encodeResultForTest,
  resultMessageBytes,
  faceRecordBytes,
  ProtocolError,
  PROTOCOL_VERSION,
  FLAG_DETECTED,
  BLENDSHAPE_NAMES,
} from './protocol.js';
export { chooseLatencyMethod } from './latency.js';
export { reconnectDecision, backoffDelay, ReconnectCounter, RECONNECT_DEFAULTS } from './reconnect.js';
export { Overlay2D } from './render2d.js';
export { CONTOUR_GROUPS } from './mesh_contours.js';
