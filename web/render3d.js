// 3D view (three.js): each face's landmarks as a point cloud with the contours as line segments,
// placed where the face is in the frame, plus axes turned by the received pose matrix. The landmarks
// already carry the head's rotation, so the cloud turns with the head; the axes show the pose.
// Drag to turn the view, double-click to reset.
//
// Frames: landmarks are pixels (x right, y down, z smaller = nearer the camera); the view uses
// x right, y up, z toward the viewer, as MediaPipe's pose camera frame does, so the pose's rotation
// applies unchanged.

import * as THREE from 'three';
import { CONTOUR_GROUPS } from '../lib/mesh_contours.js';
import { ThreeCanvas, webglAvailable } from './three_canvas.js';

export { webglAvailable };
export const THREE_REVISION = THREE.REVISION;

const MAX_POINTS = 478;

function contourIndex(count) {
  const index = [];
  for (const group of CONTOUR_GROUPS) {
    for (const [a, b] of group.edges) {
      if (a < count && b < count) index.push(a, b);
    }
  }
  return index;
}

class FaceObject {
  constructor(parent) {
    this.group = new THREE.Group();
    this.positions = new Float32Array(MAX_POINTS * 3);
    this.geometry = new THREE.BufferGeometry();
    this.attribute = new THREE.BufferAttribute(this.positions, 3);
    this.attribute.setUsage(THREE.DynamicDrawUsage);
    this.geometry.setAttribute('position', this.attribute);
    this.points = new THREE.Points(this.geometry, new THREE.PointsMaterial({ color: 0x7cfc9a, size: 0.012 }));
    this.lineGeometry = new THREE.BufferGeometry();
    this.lineGeometry.setAttribute('position', this.attribute);
    this.lines = new THREE.LineSegments(this.lineGeometry,
      new THREE.LineBasicMaterial({ color: 0xb8c4d6, transparent: true, opacity: 0.7 }));
    this.axes = new THREE.AxesHelper(1);
    this.axes.matrixAutoUpdate = false;
    this.indexCount = -1;
    this.group.add(this.points, this.lines, this.axes);
    parent.add(this.group);
  }

  update(face, width, height) {
    const count = Math.min(face.landmarkCount ?? face.landmarks.length / 3, MAX_POINTS);
    const src = face.landmarks;
    const scale = 2 / height; // the frame's height spans 2 units
    let meanZ = 0;
    for (let i = 0; i < count; ++i) meanZ += src[3 * i + 2];
    meanZ /= count;
    let cx = 0;
    let cy = 0;
    for (let i = 0; i < count; ++i) {
      const x = (src[3 * i] - width / 2) * scale;
      const y = -(src[3 * i + 1] - height / 2) * scale;
      this.positions[3 * i] = x;
      this.positions[3 * i + 1] = y;
      this.positions[3 * i + 2] = -(src[3 * i + 2] - meanZ) * scale;
      cx += x;
      cy += y;
    }
    cx /= count;
    cy /= count;
    this.attribute.needsUpdate = true;
    this.geometry.setDrawRange(0, count);
    this.geometry.computeBoundingSphere();
    if (this.indexCount !== count) {
      this.lineGeometry.setIndex(contourIndex(count));
      this.indexCount = count;
    }

    // Axes at the face's centre, turned by the pose's rotation (row-major, canonical -> camera).
    const m = new THREE.Matrix4().set(...face.pose);
    const rotation = new THREE.Matrix4().extractRotation(m);
    const size = Math.max(0.05, face.box.width * scale * 0.6);
    const placed = new THREE.Matrix4().makeTranslation(cx, cy, 0)
      .multiply(rotation)
      .multiply(new THREE.Matrix4().makeScale(size, size, size));
    this.axes.matrix.copy(placed);
    this.axes.matrixWorldNeedsUpdate = true;
    this.group.visible = true;
  }

  dispose() {
    this.geometry.dispose();
    this.lineGeometry.dispose();
    this.points.material.dispose();
    this.lines.material.dispose();
    this.axes.dispose();
  }
}

export class View3D extends ThreeCanvas {
  constructor(container) {
    super(container, {
      camera: { fov: 40, near: 0.01, far: 100, distance: 3.2 },
      unavailableNote: '3D view unavailable: this browser has no WebGL 2.',
    });
    this.revision = THREE.REVISION;
    this.faces = [];
    if (!this.available) return;
    this.view = new THREE.Group(); // turned by dragging
    this.view.add(this.root);
    this.scene.add(this.view);
    this.frameOutline = new THREE.LineLoop(new THREE.BufferGeometry(),
      new THREE.LineBasicMaterial({ color: 0x3a4a63 }));
    this.root.add(this.frameOutline);
    this.setFrameSize(640, 480);
    this.bindPointer();
  }

  setFrameSize(width, height) {
    if (!this.available || (this.frameWidth === width && this.frameHeight === height)) return;
    this.frameWidth = width;
    this.frameHeight = height;
    const w = width / height;
    this.frameOutline.geometry.setAttribute('position', new THREE.Float32BufferAttribute(
      [-w, -1, 0, w, -1, 0, w, 1, 0, -w, 1, 0], 3));
    this.dirty = true;
  }

  bindPointer() {
    const el = this.renderer.domElement;
    let drag = null;
    el.addEventListener('pointerdown', (event) => {
      drag = { x: event.clientX, y: event.clientY, ry: this.view.rotation.y, rx: this.view.rotation.x };
      el.setPointerCapture(event.pointerId);
    });
    el.addEventListener('pointermove', (event) => {
      if (!drag) return;
      this.view.rotation.y = drag.ry + (event.clientX - drag.x) * 0.01;
      this.view.rotation.x = Math.max(-1.5, Math.min(1.5, drag.rx + (event.clientY - drag.y) * 0.01));
      this.dirty = true;
    });
    const end = () => {
      drag = null;
    };
    el.addEventListener('pointerup', end);
    el.addEventListener('pointercancel', end);
    el.addEventListener('dblclick', () => {
      this.view.rotation.set(0, 0, 0);
      this.dirty = true;
    });
  }

  update(result) {
    if (!this.available || !result) return;
    if (result.width && result.height) this.setFrameSize(result.width, result.height);
    while (this.faces.length < result.faces.length) this.faces.push(new FaceObject(this.root));
    this.faces.forEach((obj, i) => {
      if (i < result.faces.length) obj.update(result.faces[i], result.width, result.height);
      else obj.group.visible = false;
    });
    this.dirty = true;
  }

  clear() {
    if (!this.available) return;
    for (const obj of this.faces) obj.group.visible = false;
    this.dirty = true;
  }

  dispose() {
    if (!this.available) return;
    for (const obj of this.faces) obj.dispose();
    super.dispose();
  }
}
