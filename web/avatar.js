// Avatar: a stylised head built from three.js primitives that mirrors the first face's expression
// (its blendshape scores, through avatarParams() in avatar_mapping.js) and turns with its head pose
// (the result's pose matrix). With the mesh model there are no scores: the head turns, the face
// stays neutral.
//
// Frames as in render3d.js: x right, y up, z toward the viewer; the head looks down +z, so its own
// left is +x. The pose's rotation (canonical face -> camera) applies unchanged; mirroring (like the
// video) is a scale of -1 on x around everything.

import * as THREE from 'three';
import { avatarParams, NEUTRAL_PARAMS } from './avatar_mapping.js';
import { ThreeCanvas } from './three_canvas.js';

const SKIN = 0xe0b08f;
const LID_OPEN = THREE.MathUtils.degToRad(-8); // the upper lid's tilt over the eye, open .. closed
const LID_CLOSED = THREE.MathUtils.degToRad(96);

function mouthShape(p) {
  // Upper and lower lip as curves between the corners; y up, in the mouth group's frame.
  const half = 0.2 * p.mouthWidth;
  const cornerY = (side) => 0.07 * (side === 'Left' ? p.smileLeft : p.smileRight) -
    0.05 * (side === 'Left' ? p.frownLeft : p.frownRight);
  // The person's left corner is at +x (see the header).
  const left = new THREE.Vector2(half + 0.03 * p.mouthShiftX, cornerY('Left'));
  const right = new THREE.Vector2(-half + 0.03 * p.mouthShiftX, cornerY('Right'));
  const mid = 0.03 * p.mouthShiftX;
  const open = 0.015 + 0.3 * p.jawOpen;
  const shape = new THREE.Shape();
  shape.moveTo(right.x, right.y);
  shape.quadraticCurveTo(mid, 0.03 + 0.1 * p.jawOpen, left.x, left.y); // upper lip
  shape.quadraticCurveTo(mid, -2 * open, right.x, right.y); // lower lip
  return shape;
}

export class Avatar extends ThreeCanvas {
  constructor(container) {
    super(container, {
      camera: { fov: 35, near: 0.1, far: 50, distance: 5 },
      unavailableNote: 'Avatar unavailable: this browser has no WebGL 2.',
    });
    // Read by tests through window.speakup.avatar: what was last applied, and how often.
    this.state = {
      frames: 0, // results applied
      rendered: 0, // frames drawn
      hasBlendshapes: false,
      visible: false,
      params: { ...NEUTRAL_PARAMS },
      scores: [],
      jawOpen: 0,
      blinkLeft: 0,
      blinkRight: 0,
      smile: 0,
      yaw: 0,
      pitch: 0,
      roll: 0,
    };
    if (!this.available) return;
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 1.6));
    const sun = new THREE.DirectionalLight(0xffffff, 1.8);
    sun.position.set(1.5, 2, 4);
    this.scene.add(sun);
    this.scene.add(this.root);
    this.buildHead();
    this.applyParams(NEUTRAL_PARAMS);
  }

  onRendered() {
    this.state.rendered += 1;
  }

  buildHead() {
    const skin = new THREE.MeshStandardMaterial({ color: SKIN, roughness: 0.8 });
    const dark = new THREE.MeshStandardMaterial({ color: 0x2a1410, roughness: 0.6 });
    const white = new THREE.MeshStandardMaterial({ color: 0xf4f4f0, roughness: 0.3 });
    const iris = new THREE.MeshStandardMaterial({ color: 0x3d6f9e, roughness: 0.3 });
    const lidSkin = new THREE.MeshStandardMaterial({ color: 0xd49f80, roughness: 0.8, side: THREE.DoubleSide });
    const hair = new THREE.MeshStandardMaterial({ color: 0x5b3a24, roughness: 0.9 });
    this.materials = [skin, dark, white, iris, lidSkin, hair];

    this.head = new THREE.Group();
    this.root.add(this.head);
    const skull = new THREE.Mesh(new THREE.SphereGeometry(1, 48, 32), skin);
    skull.scale.set(0.82, 1.05, 0.9);
    this.head.add(skull);
    const hairCap = new THREE.Mesh(new THREE.SphereGeometry(1.03, 48, 16, 0, Math.PI * 2, 0, Math.PI * 0.36), hair);
    hairCap.scale.set(0.82, 1.05, 0.9);
    hairCap.rotation.x = -0.25;
    this.head.add(hairCap);
    for (const side of [1, -1]) {
      const ear = new THREE.Mesh(new THREE.SphereGeometry(0.16, 16, 12), skin);
      ear.scale.set(0.5, 1, 0.7);
      ear.position.set(side * 0.8, 0.05, -0.05);
      this.head.add(ear);
    }
    const nose = new THREE.Mesh(new THREE.ConeGeometry(0.1, 0.3, 16), skin);
    nose.rotation.x = Math.PI / 2 - 0.5;
    nose.position.set(0, -0.08, 0.92);
    this.head.add(nose);

    // Eyes (+x is the head's left): eyeball, iris, pupil and an upper lid that turns down to close.
    this.eyes = {};
    for (const [name, side] of [['Left', 1], ['Right', -1]]) {
      const eye = new THREE.Group();
      eye.position.set(side * 0.3, 0.18, 0.76);
      const ball = new THREE.Mesh(new THREE.SphereGeometry(0.15, 24, 16), white);
      const irisMesh = new THREE.Mesh(new THREE.CircleGeometry(0.07, 24), iris);
      irisMesh.position.z = 0.151;
      const pupil = new THREE.Mesh(new THREE.CircleGeometry(0.032, 16), dark);
      pupil.position.z = 0.152;
      // Upper hemisphere (y > 0) of a shell just outside the ball, turned about x toward +z to close.
      const lid = new THREE.Mesh(new THREE.SphereGeometry(0.162, 24, 12, 0, Math.PI * 2, 0, Math.PI / 2), lidSkin);
      const lower = new THREE.Mesh(new THREE.SphereGeometry(0.16, 24, 12, 0, Math.PI * 2, 0, Math.PI / 2), lidSkin);
      lower.rotation.x = Math.PI - THREE.MathUtils.degToRad(70); // a lower lid, fixed
      eye.add(ball, irisMesh, pupil, lid, lower);
      this.head.add(eye);
      const brow = new THREE.Mesh(new THREE.BoxGeometry(0.28, 0.05, 0.06), hair);
      brow.position.set(side * 0.3, 0.42, 0.84);
      this.head.add(brow);
      const cheek = new THREE.Mesh(new THREE.SphereGeometry(0.2, 16, 12), skin);
      cheek.position.set(side * 0.42, -0.28, 0.6);
      this.head.add(cheek);
      this.eyes[name] = { lid, brow, cheek, side };
    }

    // Mouth: a dark shape rebuilt from the lips' curves on each update.
    this.mouth = new THREE.Mesh(new THREE.BufferGeometry(), new THREE.MeshBasicMaterial({ color: 0x5a1a1e, side: THREE.DoubleSide }));
    this.mouth.position.set(0, -0.5, 0.83);
    this.mouth.rotation.x = -0.25;
    this.head.add(this.mouth);
    this.chin = new THREE.Mesh(new THREE.SphereGeometry(0.22, 20, 14), skin);
    this.chin.scale.set(1.3, 0.8, 0.8);
    this.chin.position.set(0, -0.8, 0.55);
    this.head.add(this.chin);
  }

  applyParams(p) {
    if (!this.available) return;
    for (const [name, eye] of Object.entries(this.eyes)) {
      eye.lid.rotation.x = LID_OPEN + (LID_CLOSED - LID_OPEN) * p[`blink${name}`];
      eye.brow.position.y = 0.42 + 0.09 * p[`brow${name}`];
      // The inner end (toward x = 0) lower than the outer one when the brow is down.
      eye.brow.rotation.z = eye.side * 0.25 * p[`brow${name}`];
      const puff = 1 + 0.5 * p.cheekPuff + 0.15 * p[`smile${name}`];
      eye.cheek.scale.setScalar(puff);
    }
    this.mouth.geometry.dispose();
    this.mouth.geometry = new THREE.ShapeGeometry(mouthShape(p), 16);
    this.chin.position.y = -0.8 - 0.22 * p.jawOpen;
    this.dirty = true;
  }

  // The first face of a decoded result (or none: the head goes back to neutral, facing forward).
  update(result) {
    const face = result?.faces?.[0];
    const st = this.state;
    const params = avatarParams(face?.blendshapes);
    st.frames += 1;
    st.visible = Boolean(face);
    st.hasBlendshapes = Boolean(face && face.blendshapes?.length > 0);
    st.params = params;
    st.scores = Array.from(face?.blendshapes ?? []); // the scores the params came from
    st.jawOpen = params.jawOpen;
    st.blinkLeft = params.blinkLeft;
    st.blinkRight = params.blinkRight;
    st.smile = (params.smileLeft + params.smileRight) / 2;
    st.yaw = face?.yaw ?? 0;
    st.pitch = face?.pitch ?? 0;
    st.roll = face?.roll ?? 0;
    if (!this.available) return;
    this.applyParams(params);
    if (face && face.pose?.length === 16 && face.pose.every(Number.isFinite)) {
      const m = new THREE.Matrix4().set(...face.pose); // row-major, canonical face -> camera
      this.head.quaternion.setFromRotationMatrix(new THREE.Matrix4().extractRotation(m));
    } else {
      this.head.quaternion.identity();
    }
  }

  clear() {
    this.update(null);
    this.state.frames = 0;
  }

  dispose() {
    if (!this.available) return;
    this.head.traverse((o) => o.geometry?.dispose());
    for (const m of this.materials) m.dispose();
    this.mouth.material.dispose();
    super.dispose();
  }
}
