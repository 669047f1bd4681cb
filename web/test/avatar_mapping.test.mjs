// The avatar's mapping from blendshape scores to its parameters, and the panel's grouping
// (avatar_mapping.js). Run: node --test test/avatar_mapping.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';

import { avatarParams, groupBlendshapes, NEUTRAL_PARAMS, BLENDSHAPE_GROUPS } from '../avatar_mapping.js';
import { BLENDSHAPE_NAMES } from '../lib/protocol.js';

// 52 scores, all zero but the named ones.
function scores(values = {}) {
  const out = new Float32Array(BLENDSHAPE_NAMES.length);
  for (const [name, v] of Object.entries(values)) {
    const i = BLENDSHAPE_NAMES.indexOf(name);
    assert.ok(i >= 0, `no blendshape ${name}`);
    out[i] = v;
  }
  return out;
}

test('no scores (the mesh model) or too few give the neutral face', () => {
  assert.deepEqual(avatarParams(new Float32Array(0)), { ...NEUTRAL_PARAMS });
  assert.deepEqual(avatarParams(undefined), { ...NEUTRAL_PARAMS });
  assert.deepEqual(avatarParams(null), { ...NEUTRAL_PARAMS });
  assert.deepEqual(avatarParams(new Array(51).fill(1)), { ...NEUTRAL_PARAMS });
});

test('all-zero scores give the neutral face', () => {
  assert.deepEqual(avatarParams(scores()), { ...NEUTRAL_PARAMS });
});

test('jawOpen opens the mouth, monotonically, within [0, 1]', () => {
  let last = -1;
  for (const v of [0, 0.1, 0.3, 0.6, 1]) {
    const p = avatarParams(scores({ jawOpen: v }));
    assert.ok(p.jawOpen > last || (v === 0 && p.jawOpen === 0), `jawOpen ${v} -> ${p.jawOpen}`);
    assert.ok(p.jawOpen >= 0 && p.jawOpen <= 1);
    last = p.jawOpen;
  }
  assert.equal(avatarParams(scores({ jawOpen: 1 })).jawOpen, 1);
  assert.equal(avatarParams(scores({ jawOpen: 0.4 })).jawOpen, Math.fround(0.4));
  // mouthClose (lips together with the jaw open) closes it again.
  assert.ok(avatarParams(scores({ jawOpen: 0.4, mouthClose: 0.4 })).jawOpen < 0.4);
});

test('each eye blinks on its own side', () => {
  const left = avatarParams(scores({ eyeBlinkLeft: 1 }));
  assert.equal(left.blinkLeft, 1);
  assert.equal(left.blinkRight, 0);
  const right = avatarParams(scores({ eyeBlinkRight: 0.5 }));
  assert.equal(right.blinkLeft, 0);
  assert.equal(right.blinkRight, 0.5);
  // A wide eye stays open; a squint half-closes a little.
  assert.equal(avatarParams(scores({ eyeWideLeft: 1 })).blinkLeft, 0);
  assert.ok(avatarParams(scores({ eyeSquintLeft: 1 })).blinkLeft > 0);
});

test('brows rise with browInnerUp and browOuterUp*, fall with browDown*', () => {
  const inner = avatarParams(scores({ browInnerUp: 1 }));
  assert.ok(inner.browLeft > 0 && inner.browRight > 0);
  assert.equal(inner.browLeft, inner.browRight);
  const outerLeft = avatarParams(scores({ browOuterUpLeft: 1 }));
  assert.ok(outerLeft.browLeft > 0);
  assert.equal(outerLeft.browRight, 0);
  const down = avatarParams(scores({ browDownRight: 1 }));
  assert.equal(down.browRight, -1);
  assert.equal(down.browLeft, 0);
  const all = avatarParams(scores({ browInnerUp: 1, browOuterUpLeft: 1, browOuterUpRight: 1 }));
  assert.equal(all.browLeft, 1); // clamped
});

test('a smile lifts its corner and widens the mouth; a pucker narrows it', () => {
  const smile = avatarParams(scores({ mouthSmileLeft: 0.8, mouthSmileRight: 0.8 }));
  assert.equal(smile.smileLeft, Math.fround(0.8));
  assert.equal(smile.smileRight, Math.fround(0.8));
  assert.ok(smile.mouthWidth > 1);
  const half = avatarParams(scores({ mouthSmileRight: 1 }));
  assert.equal(half.smileLeft, 0);
  assert.equal(half.smileRight, 1);
  assert.ok(half.mouthWidth > 1 && half.mouthWidth < smile.mouthWidth + 0.2);
  assert.ok(avatarParams(scores({ mouthPucker: 1 })).mouthWidth < 1);
  assert.ok(avatarParams(scores({ mouthFunnel: 1 })).mouthWidth < 1);
});

test('frowns, mouth shift and cheek puff', () => {
  const p = avatarParams(scores({ mouthFrownLeft: 0.7, mouthLeft: 0.5, cheekPuff: 0.9 }));
  assert.equal(p.frownLeft, Math.fround(0.7));
  assert.equal(p.frownRight, 0);
  assert.equal(p.mouthShiftX, 0.5);
  assert.equal(p.cheekPuff, Math.fround(0.9));
  assert.equal(avatarParams(scores({ mouthRight: 1, jawRight: 1 })).mouthShiftX, -1);
});

test('out-of-range and non-finite scores are clamped or zeroed; the output is always in range', () => {
  const bad = new Array(52).fill(0);
  bad[BLENDSHAPE_NAMES.indexOf('jawOpen')] = 7;
  bad[BLENDSHAPE_NAMES.indexOf('eyeBlinkLeft')] = NaN;
  bad[BLENDSHAPE_NAMES.indexOf('eyeBlinkRight')] = -3;
  bad[BLENDSHAPE_NAMES.indexOf('mouthSmileLeft')] = Infinity;
  const p = avatarParams(bad);
  assert.equal(p.jawOpen, 1);
  assert.equal(p.blinkLeft, 0);
  assert.equal(p.blinkRight, 0);
  assert.equal(p.smileLeft, 0);
  // Random scores: every parameter finite and within its documented range.
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let n = 0; n < 200; ++n) {
    const q = avatarParams(Array.from({ length: 52 }, () => rand() * 1.4 - 0.2));
    for (const [key, v] of Object.entries(q)) assert.ok(Number.isFinite(v), `${key} ${v}`);
    for (const key of ['blinkLeft', 'blinkRight', 'jawOpen', 'smileLeft', 'smileRight', 'frownLeft', 'frownRight', 'cheekPuff']) {
      assert.ok(q[key] >= 0 && q[key] <= 1, `${key} ${q[key]}`);
    }
    for (const key of ['browLeft', 'browRight', 'mouthShiftX']) assert.ok(q[key] >= -1 && q[key] <= 1, `${key} ${q[key]}`);
    assert.ok(q.mouthWidth > 0.4 && q.mouthWidth < 1.8, `mouthWidth ${q.mouthWidth}`);
  }
});

test('the panel groups hold every name once, in message order within a group', () => {
  const groups = groupBlendshapes();
  assert.deepEqual(groups.map((g) => g.title), ['Eyes', 'Brows', 'Jaw', 'Mouth', 'Cheeks and nose', 'Other']);
  const indices = groups.flatMap((g) => g.entries.map((e) => e.index));
  assert.equal(indices.length, 52);
  assert.deepEqual([...indices].sort((a, b) => a - b), BLENDSHAPE_NAMES.map((_, i) => i));
  for (const g of groups) {
    for (const e of g.entries) assert.equal(e.name, BLENDSHAPE_NAMES[e.index]);
    const order = g.entries.map((e) => e.index);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  }
  const find = (name) => groups.find((g) => g.entries.some((e) => e.name === name)).title;
  assert.equal(find('eyeBlinkLeft'), 'Eyes');
  assert.equal(find('browInnerUp'), 'Brows');
  assert.equal(find('jawOpen'), 'Jaw');
  assert.equal(find('mouthSmileRight'), 'Mouth');
  assert.equal(find('cheekPuff'), 'Cheeks and nose');
  assert.equal(find('noseSneerLeft'), 'Cheeks and nose');
  assert.equal(find('_neutral'), 'Other');
  assert.equal(groups.find((g) => g.title === 'Other').entries.length, 1);
  assert.equal(BLENDSHAPE_GROUPS.length, 6);
  assert.deepEqual(groupBlendshapes(['eyeX', 'zzz']).map((g) => g.title), ['Eyes', 'Other']);
});
