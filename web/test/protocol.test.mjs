// Result message decoding (docs/protocol.md, "Result messages"). Run: node --test test/
import test from 'node:test';
import assert from 'node:assert/strict';

import {
  decodeResult,
  encodeResultForTest,
  resultMessageBytes,
  faceRecordBytes,
  resultToPlain,
  ProtocolError,
  BLENDSHAPE_NAMES,
} from '../lib/protocol.js';

const f32 = (x) => Math.fround(x);

// A message written byte by byte with a DataView, following the table in docs/protocol.md and
// independent of encodeResultForTest. A face is {n: landmarks, b: blendshapes (0 when absent)}.
function handBuilt({ faces }) {
  const size = 36 + faces.reduce((sum, face) => sum + 104 + 12 * face.n + 4 * (face.b ?? 0), 0);
  const buffer = new ArrayBuffer(size);
  const v = new DataView(buffer);
  v.setUint8(0, 2); // version
  v.setUint8(1, 1); // flags: detection ran
  v.setUint16(2, faces.length, true);
  v.setUint32(4, 0xfedcba98, true); // RTP timestamp (above 2^31: must stay unsigned)
  v.setUint32(8, 4242, true); // sequence
  v.setUint16(12, 1280, true);
  v.setUint16(14, 720, true);
  [0.5, 3.25, 7.125, 0.75, 12.5].forEach((ms, i) => v.setFloat32(16 + 4 * i, ms, true));
  let o = 36;
  faces.forEach((face, f) => {
    v.setUint32(o, 7 + f, true); // id
    v.setFloat32(o + 4, 0.875, true); // score
    v.setFloat32(o + 8, 100.5, true);
    v.setFloat32(o + 12, 200.25, true);
    v.setFloat32(o + 16, 300, true);
    v.setFloat32(o + 20, 310, true);
    v.setUint16(o + 24, face.n, true);
    v.setUint16(o + 26, face.b ?? 0, true); // blendshape count
    for (let i = 0; i < face.n; ++i) {
      v.setFloat32(o + 28 + 12 * i, i + 0.5, true);
      v.setFloat32(o + 28 + 12 * i + 4, 1000 - i, true);
      v.setFloat32(o + 28 + 12 * i + 8, -i / 10, true);
    }
    const p = o + 28 + 12 * face.n;
    for (let i = 0; i < 16; ++i) v.setFloat32(p + 4 * i, i * 1.5 - f, true);
    v.setFloat32(p + 64, 10.5 + f, true); // yaw
    v.setFloat32(p + 68, -5.25, true); // pitch
    v.setFloat32(p + 72, 2.125, true); // roll
    for (let i = 0; i < (face.b ?? 0); ++i) v.setFloat32(p + 76 + 4 * i, i / 64, true);
    o += 104 + 12 * face.n + 4 * (face.b ?? 0);
  });
  assert.equal(o, size);
  return buffer;
}

test('record sizes match the protocol table', () => {
  assert.equal(faceRecordBytes(468), 5720);
  assert.equal(faceRecordBytes(478), 5840);
  assert.equal(resultMessageBytes([]), 36);
  assert.equal(resultMessageBytes([468, 478]), 36 + 5720 + 5840);
  assert.equal(faceRecordBytes(478, 52), 5840 + 208);
  assert.equal(resultMessageBytes([478, 478], [52, 52]), 36 + 2 * (5840 + 208));
  assert.equal(BLENDSHAPE_NAMES.length, 52);
  assert.equal(BLENDSHAPE_NAMES[0], '_neutral');
  assert.equal(BLENDSHAPE_NAMES[25], 'jawOpen');
});

test('decodes a hand-built landmarker message: 478 points and 52 blendshapes after the pose', () => {
  const r = decodeResult(handBuilt({ faces: [{ n: 478, b: 52 }, { n: 478, b: 52 }] }));
  assert.equal(r.faces.length, 2);
  r.faces.forEach((face, f) => {
    assert.equal(face.landmarkCount, 478);
    assert.ok(face.blendshapes instanceof Float32Array);
    assert.deepEqual(Array.from(face.blendshapes), Array.from({ length: 52 }, (_, i) => i / 64));
    assert.equal(face.roll, 2.125);
    assert.equal(face.yaw, 10.5 + f);
  });
  const plain = JSON.parse(JSON.stringify(resultToPlain(r)));
  assert.equal(plain.faces[1].blendshapes[51], 51 / 64);
  // encodeResultForTest writes the same bytes.
  const encoded = encodeResultForTest({ ...r, detected: true, faces: r.faces.map((face) => ({ ...face })) });
  assert.deepEqual(new Uint8Array(encoded), new Uint8Array(handBuilt({ faces: [{ n: 478, b: 52 }, { n: 478, b: 52 }] })));
});

test('blendshape counts are checked: only 0 or 52, and never beyond the message', () => {
  const full = new Uint8Array(encodeResultForTest({ faces: [{ landmarkCount: 478, blendshapeCount: 52 }] }));
  assert.equal(full.length, 36 + 5840 + 208);
  for (const cut of [36 + 5840, 36 + 5840 + 4, full.length - 1]) {
    assert.throws(() => decodeResult(full.slice(0, cut)), /truncated in face 0 of 1.*52 blendshapes needs 6048/);
  }
  for (const count of [1, 51, 53, 0xffff]) {
    const bad = full.slice();
    new DataView(bad.buffer).setUint16(36 + 26, count, true);
    assert.throws(() => decodeResult(bad), new RegExp(`${count} blendshapes \\(expected 0 or 52\\)`));
  }
  const none = full.slice();
  new DataView(none.buffer).setUint16(36 + 26, 0, true);
  assert.throws(() => decodeResult(none), /208 unexpected trailing bytes/);
});

test('decodes a hand-built message with two faces (468 and 478 points)', () => {
  const r = decodeResult(handBuilt({ faces: [{ n: 468 }, { n: 478 }] }));
  assert.equal(r.version, 2);
  assert.equal(r.detected, true);
  assert.equal(r.rtpTimestamp, 0xfedcba98);
  assert.equal(r.sequence, 4242);
  assert.equal(r.width, 1280);
  assert.equal(r.height, 720);
  assert.deepEqual(r.timings, { queue: 0.5, detect: 3.25, landmarks: 7.125, geometry: 0.75, total: 12.5 });
  assert.equal(r.faces.length, 2);
  r.faces.forEach((face, f) => {
    const n = f === 0 ? 468 : 478;
    assert.equal(face.id, 7 + f);
    assert.equal(face.score, 0.875);
    assert.deepEqual(face.box, { x: 100.5, y: 200.25, width: 300, height: 310 });
    assert.equal(face.landmarkCount, n);
    assert.ok(face.landmarks instanceof Float32Array);
    assert.equal(face.landmarks.length, 3 * n);
    for (const i of [0, 1, 233, n - 1]) {
      assert.equal(face.landmarks[3 * i], i + 0.5);
      assert.equal(face.landmarks[3 * i + 1], 1000 - i);
      assert.equal(face.landmarks[3 * i + 2], f32(-i / 10));
    }
    assert.ok(face.pose instanceof Float32Array);
    assert.deepEqual(Array.from(face.pose), Array.from({ length: 16 }, (_, i) => i * 1.5 - f));
    assert.equal(face.yaw, 10.5 + f);
    assert.equal(face.pitch, -5.25);
    assert.equal(face.roll, 2.125);
    assert.ok(face.blendshapes instanceof Float32Array);
    assert.equal(face.blendshapes.length, 0, 'mesh faces carry no blendshapes');
  });
});

test('encodeResultForTest writes the same bytes as the hand-built message', () => {
  const faces = [468, 478].map((n, f) => ({
    id: 7 + f,
    score: 0.875,
    box: { x: 100.5, y: 200.25, width: 300, height: 310 },
    landmarks: Array.from({ length: 3 * n }, (_, k) => {
      const i = Math.floor(k / 3);
      return [i + 0.5, 1000 - i, -i / 10][k % 3];
    }),
    pose: Array.from({ length: 16 }, (_, i) => i * 1.5 - f),
    yaw: 10.5 + f,
    pitch: -5.25,
    roll: 2.125,
  }));
  const encoded = encodeResultForTest({
    detected: true,
    rtpTimestamp: 0xfedcba98,
    sequence: 4242,
    width: 1280,
    height: 720,
    timings: { queue: 0.5, detect: 3.25, landmarks: 7.125, geometry: 0.75, total: 12.5 },
    faces,
  });
  assert.deepEqual(new Uint8Array(encoded), new Uint8Array(handBuilt({ faces: [{ n: 468 }, { n: 478 }] })));
});

test('round trip through encodeResultForTest keeps every field', () => {
  const original = {
    detected: false,
    rtpTimestamp: 123456789,
    sequence: 0,
    width: 640,
    height: 480,
    timings: { queue: 1, detect: 0, landmarks: 4.5, geometry: 0.25, total: 6 },
    faces: [{
      id: 3,
      score: 0.5,
      box: { x: 1, y: 2, width: 3, height: 4 },
      landmarks: new Float32Array(478 * 3).map((_, i) => i * 0.25),
      pose: new Float32Array([1, 0, 0, 1.5, 0, 1, 0, -2, 0, 0, 1, -40, 0, 0, 0, 1]),
      yaw: -30,
      pitch: 15,
      roll: 5,
    }],
  };
  const r = decodeResult(encodeResultForTest(original));
  assert.equal(r.detected, false);
  assert.equal(r.flags, 0);
  assert.equal(r.rtpTimestamp, 123456789);
  assert.equal(r.faces[0].landmarkCount, 478);
  assert.deepEqual(Array.from(r.faces[0].landmarks), Array.from(original.faces[0].landmarks));
  assert.deepEqual(Array.from(r.faces[0].pose), Array.from(original.faces[0].pose));
  assert.deepEqual(r.faces[0].box, original.faces[0].box);
  assert.deepEqual(r.timings, original.timings);
  const plain = resultToPlain(r);
  assert.ok(Array.isArray(plain.faces[0].landmarks));
  assert.equal(JSON.parse(JSON.stringify(plain)).faces[0].landmarks.length, 478 * 3);
});

test('zero faces: a 36-byte message', () => {
  const buffer = encodeResultForTest({ rtpTimestamp: 90000, sequence: 17, width: 640, height: 480 });
  assert.equal(buffer.byteLength, 36);
  const r = decodeResult(buffer);
  assert.deepEqual(r.faces, []);
  assert.equal(r.sequence, 17);
  assert.equal(r.detected, false);
});

test('accepts typed-array views, Node Buffers and unaligned views', () => {
  const message = new Uint8Array(encodeResultForTest({ width: 2, height: 2, faces: [{ id: 1, landmarkCount: 468 }] }));
  assert.equal(decodeResult(message).faces[0].id, 1);
  assert.equal(decodeResult(Buffer.from(message)).faces[0].landmarks.length, 468 * 3);
  const shifted = new Uint8Array(message.byteLength + 1);
  shifted.set(message, 1);
  const unaligned = shifted.subarray(1);
  const r = decodeResult(unaligned);
  assert.equal(r.faces[0].landmarks.length, 468 * 3);
  assert.deepEqual(Array.from(r.faces[0].pose), [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
});

test('decoded arrays do not alias the message buffer', () => {
  const buffer = encodeResultForTest({ faces: [{ landmarks: new Array(468 * 3).fill(2) }] });
  const r = decodeResult(buffer);
  new Uint8Array(buffer).fill(0);
  assert.equal(r.faces[0].landmarks[0], 2);
});

test('truncated messages throw a ProtocolError saying so', () => {
  const full = new Uint8Array(encodeResultForTest({ faces: [{ landmarkCount: 468 }, { landmarkCount: 478 }] }));
  // Every cut: inside the header, inside each face, at the record boundary.
  for (const cut of [0, 1, 35, 36 + 10, 36 + 27, 36 + 28, 36 + 5719, 36 + 5720, 36 + 5720 + 100, full.length - 1]) {
    assert.throws(() => decodeResult(full.slice(0, cut)), (error) => {
      assert.ok(error instanceof ProtocolError, `cut ${cut}: ${error}`);
      assert.match(error.message, /truncated/, `cut ${cut}: ${error.message}`);
      return true;
    });
  }
  assert.throws(() => decodeResult(new ArrayBuffer(20)), /truncated: 20 bytes, the header alone is 36/);
});

test('a wrong version throws a ProtocolError naming it', () => {
  for (const version of [0, 1, 3, 255]) {
    assert.throws(() => decodeResult(encodeResultForTest({ version })),
      (error) => error instanceof ProtocolError && error.message.includes(`version ${version}`));
  }
});

test('bad landmark counts, trailing bytes and non-binary input are refused', () => {
  const bad = new Uint8Array(encodeResultForTest({ faces: [{ landmarkCount: 468 }] }));
  new DataView(bad.buffer).setUint16(36 + 24, 100, true);
  assert.throws(() => decodeResult(bad), /100 landmarks \(expected 468 or 478\)/);

  const longer = new Uint8Array(encodeResultForTest({}).byteLength + 4);
  longer.set(new Uint8Array(encodeResultForTest({})));
  assert.throws(() => decodeResult(longer), /4 unexpected trailing bytes/);

  // The face count says two faces, the message holds one.
  const one = new Uint8Array(encodeResultForTest({ faces: [{}] }));
  new DataView(one.buffer).setUint16(2, 2, true);
  assert.throws(() => decodeResult(one), /truncated in face 1 of 2/);

  assert.throws(() => decodeResult('{"type":"options"}'), ProtocolError);
  assert.throws(() => decodeResult(null), ProtocolError);
});

test('flag bits other than bit 0 do not count as detection', () => {
  assert.equal(decodeResult(encodeResultForTest({ flags: 2 })).detected, false);
  assert.equal(decodeResult(encodeResultForTest({ flags: 3 })).detected, true);
});
