// The smallest SpeakUp page (docs/client.md): camera -> connect -> landmarks drawn on a canvas.
import { connect } from '../lib/speakup.js';

const status = document.getElementById('status');
const video = document.getElementById('camera');
const canvas = document.getElementById('mesh');
const ctx = canvas.getContext('2d');

const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
video.srcObject = stream;

// No URL: the server this page came from; its ?token=... is passed on when there is one.
const token = new URLSearchParams(location.search).get('token') ?? undefined;
const client = connect(undefined, { stream, token, options: { max_faces: 2 } });

client.on('state', ({ state, error }) => { status.textContent = error ? `${error.code}: ${error.message}` : state; });
client.on('error', (error) => console.warn(`SpeakUp ${error.fatal ? 'error' : 'warning'} ${error.code}: ${error.message}`));
client.on('result', (result) => {
  canvas.width = result.width; // landmarks are in the frame's pixels
  canvas.height = result.height;
  ctx.fillStyle = 'lime';
  for (const face of result.faces) {
    const p = face.landmarks; // x, y, z for each of face.landmarkCount points
    for (let i = 0; i < face.landmarkCount; i++) ctx.fillRect(p[3 * i] - 1, p[3 * i + 1] - 1, 2, 2);
  }
  status.textContent = `${result.faces.length} face(s), frame ${result.sequence}`;
  document.body.dataset.landmarks = String(result.faces[0]?.landmarkCount ?? 0); // for the tests
});
addEventListener('pagehide', () => client.close());
