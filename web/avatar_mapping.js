// Blendshape scores -> the avatar's parameters, and the blendshape panel's grouping. Pure functions
// (no DOM, no three.js) so that node can test them: node --test test/avatar_mapping.test.mjs.
//
// Scores come in BLENDSHAPE_NAMES order (lib/protocol.js: MediaPipe's 52, index 0 "_neutral").
// Left/Right in the names are the person's own sides (ARKit's convention), as are the avatar's.

import { BLENDSHAPE_NAMES } from './lib/protocol.js';

const INDEX = Object.freeze(Object.fromEntries(BLENDSHAPE_NAMES.map((name, i) => [name, i])));

const clamp01 = (v) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);

// The avatar's parameters when there are no scores (the mesh model, or no face): a neutral face.
export const NEUTRAL_PARAMS = Object.freeze({
  blinkLeft: 0, blinkRight: 0, // 0 open .. 1 closed
  browLeft: 0, browRight: 0, // -1 down .. 1 up
  jawOpen: 0, // 0 closed .. 1 wide open
  smileLeft: 0, smileRight: 0, // 0 .. 1: mouth corners up and out
  frownLeft: 0, frownRight: 0, // 0 .. 1: mouth corners down
  mouthWidth: 1, // scale of the mouth's width: < 1 puckered, > 1 stretched or smiling
  mouthShiftX: 0, // -1 .. 1 toward the person's left (+) or right (-)
  cheekPuff: 0, // 0 .. 1
});

// The avatar's parameters from one face's 52 scores (any array-like; missing or non-finite values
// count as 0). An empty or short array gives NEUTRAL_PARAMS.
export function avatarParams(scores) {
  if (!scores || scores.length < BLENDSHAPE_NAMES.length) return { ...NEUTRAL_PARAMS };
  const s = (name) => clamp01(scores[INDEX[name]]);
  const browInner = s('browInnerUp');
  const brow = (side) => Math.max(-1, Math.min(1,
    0.6 * s(`browOuterUp${side}`) + 0.5 * browInner - s(`browDown${side}`)));
  // A blink also shows in a squint a little; a wide eye opens the lid past neutral (clamped at 0).
  const blink = (side) => clamp01(s(`eyeBlink${side}`) + 0.3 * s(`eyeSquint${side}`) - 0.3 * s(`eyeWide${side}`));
  const smileLeft = s('mouthSmileLeft');
  const smileRight = s('mouthSmileRight');
  const stretch = 0.5 * (s('mouthStretchLeft') + s('mouthStretchRight'));
  const pucker = Math.max(s('mouthPucker'), s('mouthFunnel'));
  // The lips part with the jaw, and a little more with the lower lip pulled down.
  const lowerDown = 0.5 * (s('mouthLowerDownLeft') + s('mouthLowerDownRight'));
  return {
    blinkLeft: blink('Left'),
    blinkRight: blink('Right'),
    browLeft: brow('Left'),
    browRight: brow('Right'),
    jawOpen: clamp01(s('jawOpen') + 0.25 * lowerDown - 0.5 * s('mouthClose')),
    smileLeft,
    smileRight,
    frownLeft: s('mouthFrownLeft'),
    frownRight: s('mouthFrownRight'),
    mouthWidth: 1 + 0.35 * (smileLeft + smileRight) / 2 + 0.3 * stretch - 0.45 * pucker,
    mouthShiftX: Math.max(-1, Math.min(1, s('mouthLeft') - s('mouthRight') + s('jawLeft') - s('jawRight'))),
    cheekPuff: s('cheekPuff'),
  };
}

// The panel's groups, in display order; every name falls in exactly one (the first that matches).
export const BLENDSHAPE_GROUPS = Object.freeze([
  { title: 'Eyes', test: (name) => name.startsWith('eye') },
  { title: 'Brows', test: (name) => name.startsWith('brow') },
  { title: 'Jaw', test: (name) => name.startsWith('jaw') },
  { title: 'Mouth', test: (name) => name.startsWith('mouth') },
  { title: 'Cheeks and nose', test: (name) => name.startsWith('cheek') || name.startsWith('nose') },
  { title: 'Other', test: () => true },
]);

// [{title, entries: [{name, index}]}] for the names given (default BLENDSHAPE_NAMES), groups in
// BLENDSHAPE_GROUPS order, names in message order within a group; empty groups left out.
export function groupBlendshapes(names = BLENDSHAPE_NAMES) {
  const groups = BLENDSHAPE_GROUPS.map((g) => ({ title: g.title, entries: [] }));
  names.forEach((name, index) => {
    const g = BLENDSHAPE_GROUPS.findIndex((group) => group.test(name));
    groups[g].entries.push({ name, index });
  });
  return groups.filter((g) => g.entries.length > 0);
}
