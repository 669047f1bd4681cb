// Proves that the layering is enforced by the compiler: for each layer, a file compiled exactly as
// that layer's own sources are (flags from the build's compile_commands.json) may include the
// headers of the layers below it and fails to compile when it includes anything else: a layer
// above or beside it, or another layer's private headers. Also checks that only tests link the
// *_internal targets. Usage: node check_layers.mjs BUILD_DIR
import { execSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const buildDir = process.argv[2];
const sourceDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const commands = JSON.parse(fs.readFileSync(path.join(buildDir, 'compile_commands.json'), 'utf8'));

// Folder -> headers its code may include / must not be able to include.
const layers = {
  'src/engine': {
    may: ['speakup/engine.h', 'speakup/status.h'],
    not: ['speakup/face.h', 'speakup/face_types.h', 'speakup/media.h', 'speakup/signaling.h', 'speakup/server.h'],
  },
  'src/face': {
    may: ['speakup/face.h', 'speakup/face_types.h', 'speakup/engine.h'],
    not: ['speakup/media.h', 'speakup/webrtc.h', 'speakup/media/gst_handles.h', 'speakup/signaling.h',
      'speakup/annotate.h', 'speakup/server.h', 'graph.h'],
  },
  'src/media': {
    may: ['speakup/media.h', 'speakup/webrtc.h', 'speakup/media/gst_handles.h', 'speakup/status.h'],
    not: ['speakup/face.h', 'speakup/face_types.h', 'speakup/engine.h', 'speakup/signaling.h', 'speakup/server.h'],
  },
  'src/protocol': {
    may: ['speakup/signaling.h', 'speakup/result_message.h', 'speakup/face_types.h'],
    not: ['speakup/face.h', 'speakup/engine.h', 'speakup/media.h', 'speakup/server.h', 'session.h'],
  },
  'src/annotate': {
    may: ['speakup/annotate.h', 'speakup/face.h', 'speakup/media.h'],
    not: ['speakup/signaling.h', 'speakup/server.h', 'speakup/loadgen.h', 'roi.h', 'convert.h'],
  },
  'src/server': {
    may: ['speakup/server.h', 'speakup/face.h', 'speakup/media.h', 'speakup/media/gst_handles.h',
      'speakup/signaling.h', 'speakup/annotate.h'],
    not: ['speakup/loadgen.h', 'convert.h', 'jpeg_decoder.h', 'roi.h', 'graph.h', 'client.h'],
  },
  'src/loadgen': {
    may: ['speakup/loadgen.h', 'speakup/media.h', 'speakup/media/gst_util.h', 'speakup/result_message.h'],
    not: ['speakup/server.h', 'speakup/face.h', 'speakup/annotate.h', 'speakup/engine.h', 'session.h', 'convert.h'],
  },
  'apps/speakup': {
    may: ['speakup/server.h', 'speakup/loadgen.h', 'speakup/annotate.h', 'speakup/face.h', 'speakup/engine.h'],
    not: ['session.h', 'graph.h', 'roi.h', 'convert.h', 'client.h', 'speakup/signaling.h'],
  },
};

// A header that exists nowhere would fail to compile anyway and prove nothing.
const headers = ['include', 'src'].flatMap((top) => fs.readdirSync(path.join(sourceDir, top), { recursive: true })
  .filter((f) => f.endsWith('.h')).map((f) => path.join(top, f)));
const existing = new Set(headers.flatMap((f) => [f.replace(/^include\/\w+\//, ''), path.basename(f)]));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layering-'));
let failures = 0;
let checks = 0;
for (const [folder, { may, not }] of Object.entries(layers)) {
  const entry = commands.find((c) => path.relative(sourceDir, c.file).startsWith(folder + '/') && c.file.endsWith('.cc'));
  if (!entry) {
    console.error(`FAIL ${folder}: no source of this layer in compile_commands.json`);
    failures++;
    continue;
  }
  for (const [header, allowed] of [...may.map((h) => [h, true]), ...not.map((h) => [h, false])]) {
    if (!existing.has(header)) {
      console.error(`FAIL ${folder}: ${header} is not a header of this project; the check would prove nothing`);
      failures++;
      continue;
    }
    const probe = path.join(work, `${folder.replace(/\W/g, '_')}_${header.replace(/\W/g, '_')}.cc`);
    fs.writeFileSync(probe, `#include "${header}"\n`);
    // The layer's own command, with the probe in place of its source and no object written.
    const command = entry.command.replace(/\s-o\s+\S+/, ' ').replace(/\s-c\s+\S+/, ` -fsyntax-only -c ${probe}`);
    const run = spawnSync('sh', ['-c', command], { cwd: entry.directory, encoding: 'utf8' });
    const missing = new RegExp(`${header.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: No such file or directory`).test(run.stderr);
    checks++;
    if (allowed && run.status !== 0) {
      console.error(`FAIL ${folder} should be able to include ${header}:\n${run.stderr}`);
      failures++;
    } else if (!allowed && (run.status === 0 || !missing)) {
      console.error(`FAIL ${folder} must not see ${header}: ${run.status === 0 ? 'it compiled' : run.stderr}`);
      failures++;
    }
  }
}

// The *_internal targets (a layer's private headers) are for that layer's tests only.
const cmakeFiles = execSync('git ls-files "*CMakeLists.txt"', { cwd: sourceDir, encoding: 'utf8' }).split('\n')
  .filter((f) => f && !f.startsWith('tests/'));
for (const file of cmakeFiles) {
  const text = fs.readFileSync(path.join(sourceDir, file), 'utf8');
  for (const line of text.split('\n')) {
    if (/target_link_libraries\([^)]*_internal\b/.test(line) && !/^target_link_libraries\((\w+)_internal\s+INTERFACE\s+\1\b/.test(line)) {
      console.error(`FAIL ${file}: links a private *_internal target outside the tests: ${line.trim()}`);
      failures++;
    }
  }
}
fs.rmSync(work, { recursive: true, force: true });
console.log(`layering: ${checks - failures} of ${checks} checks passed`);
process.exit(failures ? 1 : 0);
