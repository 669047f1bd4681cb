// SpeakUp result messages (docs/protocol.md, "Result messages"): one binary message per processed
// frame on the `results` data channel, little-endian, every field 4-byte aligned.
//
// decodeResult() turns one message into a plain object; encodeResultForTest() builds a message from
// the same shape (tests and fake servers use it). Works in browsers and in Node (no DOM needed).

// Version 2 added the blendshape scores to each face record; only version 2 is decoded.
export const PROTOCOL_VERSION = 2;
export const HEADER_BYTES = 36;
// Fixed part of a face record: id, score, box (4), landmark and blendshape counts, pose (16),
// yaw/pitch/roll.
export const FACE_FIXED_BYTES = 104;
export const LANDMARK_COUNTS = Object.freeze([468, 478]);
// 0 for the mesh model, 52 for the Face Landmarker (option `model: "landmarker"`).
export const BLENDSHAPE_COUNTS = Object.freeze([0, 52]);
// The landmarker's blendshapes in message order (MediaPipe's); index 0 is "_neutral".
export const BLENDSHAPE_NAMES = Object.freeze([
  '_neutral', 'browDownLeft', 'browDownRight', 'browInnerUp', 'browOuterUpLeft', 'browOuterUpRight', 'cheekPuff',
  'cheekSquintLeft', 'cheekSquintRight', 'eyeBlinkLeft', 'eyeBlinkRight', 'eyeLookDownLeft', 'eyeLookDownRight',
  'eyeLookInLeft', 'eyeLookInRight', 'eyeLookOutLeft', 'eyeLookOutRight', 'eyeLookUpLeft', 'eyeLookUpRight',
  'eyeSquintLeft', 'eyeSquintRight', 'eyeWideLeft', 'eyeWideRight', 'jawForward', 'jawLeft', 'jawOpen', 'jawRight',
  'mouthClose', 'mouthDimpleLeft', 'mouthDimpleRight', 'mouthFrownLeft', 'mouthFrownRight', 'mouthFunnel',
  'mouthLeft', 'mouthLowerDownLeft', 'mouthLowerDownRight', 'mouthPressLeft', 'mouthPressRight', 'mouthPucker',
  'mouthRight', 'mouthRollLower', 'mouthRollUpper', 'mouthShrugLower', 'mouthShrugUpper', 'mouthSmileLeft',
  'mouthSmileRight', 'mouthStretchLeft', 'mouthStretchRight', 'mouthUpperUpLeft', 'mouthUpperUpRight',
  'noseSneerLeft', 'noseSneerRight']);
export const FLAG_DETECTED = 1;

export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function faceRecordBytes(landmarkCount, blendshapeCount = 0) {
  return FACE_FIXED_BYTES + 12 * landmarkCount + 4 * blendshapeCount;
}

// Float32Array views straight onto the message need a little-endian machine (every browser today);
// elsewhere the floats are read one by one with a DataView.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Accepts an ArrayBuffer or any ArrayBufferView (Uint8Array, Node Buffer, DataView).
function asBytes(message) {
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  throw new ProtocolError(
    `result message must be binary (ArrayBuffer or typed array), got ${message === null ? 'null' : typeof message}`);
}

function readFloats(view, bytes, offset, count) {
  const absolute = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN_HOST && absolute % 4 === 0) {
    // A copy keeps the result independent of the message buffer and of its alignment.
    return new Float32Array(bytes.buffer.slice(absolute, absolute + 4 * count));
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; ++i) out[i] = view.getFloat32(offset + 4 * i, true);
  return out;
}

// Decodes one result message. Throws ProtocolError naming the problem (wrong version, truncated
// header or face record, bad landmark or blendshape count, trailing bytes).
export function decodeResult(message) {
  const bytes = asBytes(message);
  const size = bytes.byteLength;
  if (size < HEADER_BYTES) {
    throw new ProtocolError(`result message truncated: ${size} bytes, the header alone is ${HEADER_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(`unsupported result protocol version ${version} (this client speaks ${PROTOCOL_VERSION})`);
  }
  const flags = view.getUint8(1);
  const faceCount = view.getUint16(2, true);
  const result = {
    version,
    flags,
    detected: (flags & FLAG_DETECTED) !== 0,
    rtpTimestamp: view.getUint32(4, true),
    sequence: view.getUint32(8, true),
    width: view.getUint16(12, true),
    height: view.getUint16(14, true),
    timings: {
      queue: view.getFloat32(16, true),
      detect: view.getFloat32(20, true),
      landmarks: view.getFloat32(24, true),
      geometry: view.getFloat32(28, true),
      total: view.getFloat32(32, true),
    },
    faces: [],
  };

  let offset = HEADER_BYTES;
  for (let f = 0; f < faceCount; ++f) {
    if (size - offset < 28) {
      throw new ProtocolError(
        `result message truncated in face ${f} of ${faceCount}: ${size - offset} bytes left at offset ${offset}, ` +
        `the record needs at least ${FACE_FIXED_BYTES + 12 * LANDMARK_COUNTS[0]}`);
    }
    const count = view.getUint16(offset + 24, true);
    if (!LANDMARK_COUNTS.includes(count)) {
      throw new ProtocolError(
        `face ${f} of ${faceCount} has ${count} landmarks (expected ${LANDMARK_COUNTS.join(' or ')}) at offset ${offset}`);
    }
    const blendshapeCount = view.getUint16(offset + 26, true);
    if (!BLENDSHAPE_COUNTS.includes(blendshapeCount)) {
      throw new ProtocolError(
        `face ${f} of ${faceCount} has ${blendshapeCount} blendshapes (expected ${BLENDSHAPE_COUNTS.join(' or ')}) ` +
        `at offset ${offset}`);
    }
    const recordBytes = faceRecordBytes(count, blendshapeCount);
    if (size - offset < recordBytes) {
      throw new ProtocolError(
        `result message truncated in face ${f} of ${faceCount}: ${size - offset} bytes left at offset ${offset}, ` +
        `the record with ${count} landmarks and ${blendshapeCount} blendshapes needs ${recordBytes}`);
    }
    const poseOffset = offset + 28 + 12 * count;
    result.faces.push({
      id: view.getUint32(offset, true),
      score: view.getFloat32(offset + 4, true),
      box: {
        x: view.getFloat32(offset + 8, true),
        y: view.getFloat32(offset + 12, true),
        width: view.getFloat32(offset + 16, true),
        height: view.getFloat32(offset + 20, true),
      },
      landmarkCount: count,
      landmarks: readFloats(view, bytes, offset + 28, 3 * count),
      pose: readFloats(view, bytes, poseOffset, 16),
      yaw: view.getFloat32(poseOffset + 64, true),
      pitch: view.getFloat32(poseOffset + 68, true),
      roll: view.getFloat32(poseOffset + 72, true),
      // Empty for the mesh model; 52 scores in BLENDSHAPE_NAMES order for the landmarker.
      blendshapes: readFloats(view, bytes, poseOffset + 76, blendshapeCount),
    });
    offset += recordBytes;
  }
  if (offset !== size) {
    throw new ProtocolError(
      `result message has ${size - offset} unexpected trailing bytes after ${faceCount} face(s) (${offset} bytes expected)`);
  }
  return result;
}

// The byte size of a message with these faces' landmark counts (and blendshape counts, 0 if absent).
export function resultMessageBytes(landmarkCounts, blendshapeCounts = []) {
  return HEADER_BYTES + landmarkCounts.reduce((sum, n, i) => sum + faceRecordBytes(n, blendshapeCounts[i] ?? 0), 0);
}

const IDENTITY = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

// Builds a result message (ArrayBuffer) from the decoded shape. Missing fields default to zero
// (pose to the identity, landmarks to zeros, landmark count to landmarks.length / 3 or 468,
// blendshape count to blendshapes.length or 0).
// `version` and `flags` may be set to anything to build bad messages; `detected` sets flag bit 0.
export function encodeResultForTest(result = {}) {
  const faces = result.faces ?? [];
  const counts = faces.map((face) => face.landmarkCount ?? (face.landmarks ? face.landmarks.length / 3 : 468));
  const blendshapeCounts = faces.map((face) => face.blendshapeCount ?? face.blendshapes?.length ?? 0);
  const buffer = new ArrayBuffer(resultMessageBytes(counts, blendshapeCounts));
  const view = new DataView(buffer);
  const flags = result.flags ?? (result.detected ? FLAG_DETECTED : 0);
  view.setUint8(0, result.version ?? PROTOCOL_VERSION);
  view.setUint8(1, flags);
  view.setUint16(2, faces.length, true);
  view.setUint32(4, (result.rtpTimestamp ?? 0) >>> 0, true);
  view.setUint32(8, (result.sequence ?? 0) >>> 0, true);
  view.setUint16(12, result.width ?? 0, true);
  view.setUint16(14, result.height ?? 0, true);
  const t = result.timings ?? {};
  ['queue', 'detect', 'landmarks', 'geometry', 'total'].forEach((key, i) => {
    view.setFloat32(16 + 4 * i, t[key] ?? 0, true);
  });

  let offset = HEADER_BYTES;
  faces.forEach((face, f) => {
    const count = counts[f];
    const box = face.box ?? {};
    view.setUint32(offset, (face.id ?? 0) >>> 0, true);
    view.setFloat32(offset + 4, face.score ?? 0, true);
    view.setFloat32(offset + 8, box.x ?? 0, true);
    view.setFloat32(offset + 12, box.y ?? 0, true);
    view.setFloat32(offset + 16, box.width ?? 0, true);
    view.setFloat32(offset + 20, box.height ?? 0, true);
    view.setUint16(offset + 24, count, true);
    view.setUint16(offset + 26, blendshapeCounts[f], true);
    const landmarks = face.landmarks ?? [];
    for (let i = 0; i < 3 * count; ++i) view.setFloat32(offset + 28 + 4 * i, landmarks[i] ?? 0, true);
    const poseOffset = offset + 28 + 12 * count;
    const pose = face.pose ?? IDENTITY;
    for (let i = 0; i < 16; ++i) view.setFloat32(poseOffset + 4 * i, pose[i] ?? 0, true);
    view.setFloat32(poseOffset + 64, face.yaw ?? 0, true);
    view.setFloat32(poseOffset + 68, face.pitch ?? 0, true);
    view.setFloat32(poseOffset + 72, face.roll ?? 0, true);
    const blendshapes = face.blendshapes ?? [];
    for (let i = 0; i < blendshapeCounts[f]; ++i) view.setFloat32(poseOffset + 76 + 4 * i, blendshapes[i] ?? 0, true);
    offset += faceRecordBytes(count, blendshapeCounts[f]);
  });
  return buffer;
}

// A JSON-friendly copy of a decoded result (typed arrays as plain arrays), e.g. for tests that
// read window.speakup from outside the page.
export function resultToPlain(result) {
  if (!result) return null;
  return {
    ...result,
    timings: { ...result.timings },
    faces: result.faces.map((face) => ({
      ...face,
      box: { ...face.box },
      landmarks: Array.from(face.landmarks),
      pose: Array.from(face.pose),
      blendshapes: Array.from(face.blendshapes ?? []),
    })),
  };
}
