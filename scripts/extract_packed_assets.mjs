#!/usr/bin/env node
// Cuts files out of an Emscripten "packed assets" bundle, as shipped in MediaPipe's npm packages.
//
//   node scripts/extract_packed_assets.mjs LOADER_JS DATA_FILE OUT_DIR NAME...
//
// LOADER_JS (e.g. face_mesh_solution_packed_assets_loader.js) ends with a call
//   loadPackage({"files": [{"filename": "/a/b/name.tflite", "start": S, "end": E}, ...],
//                "remote_package_size": N, ...});
// that says where each file lies in DATA_FILE (the concatenation). This script reads that object as
// JSON, checks it against DATA_FILE, and writes every requested NAME (a base name such as
// face_landmark.tflite) to OUT_DIR/NAME. Offsets are never hard-coded here: they come from the loader.
// Exit status: 0 on success, 1 on any error (message on stderr), 2 on a usage error.

import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

function fail(message) {
  process.stderr.write(`extract_packed_assets: ${message}\n`);
  process.exit(1);
}

// Returns the text of the balanced {...} object that starts at text[open] (which must be '{'),
// skipping braces inside JSON strings.
function balancedObject(text, open) {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return text.slice(open, i + 1);
    }
  }
  return null;
}

// Parses the file table out of the loader's source text; throws on bad input.
function parseLoader(source) {
  const marker = 'loadPackage(';
  // The function is defined as "var loadPackage = function(metadata)"; the call with the table
  // is the occurrence whose argument starts with '{'.
  let table = null;
  for (let at = source.indexOf(marker); at !== -1; at = source.indexOf(marker, at + 1)) {
    let open = at + marker.length;
    while (open < source.length && /\s/.test(source[open])) open++;
    if (source[open] !== '{') continue;
    const objectText = balancedObject(source, open);
    if (objectText === null) throw new Error('unterminated loadPackage({...}) argument');
    let parsed;
    try {
      parsed = JSON.parse(objectText);
    } catch (e) {
      throw new Error(`loadPackage argument is not JSON: ${e.message}`);
    }
    if (table !== null) throw new Error('more than one loadPackage({...}) call');
    table = parsed;
  }
  if (table === null) throw new Error('no loadPackage({...}) call found');
  if (!Array.isArray(table.files) || table.files.length === 0) {
    throw new Error('loadPackage argument has no "files" list');
  }
  for (const f of table.files) {
    if (typeof f.filename !== 'string' || !Number.isSafeInteger(f.start) ||
        !Number.isSafeInteger(f.end) || f.start < 0 || f.end < f.start) {
      throw new Error(`bad file entry ${JSON.stringify(f)}`);
    }
  }
  return table;
}

function main(argv) {
  if (argv.length < 4) {
    process.stderr.write(
      'usage: node extract_packed_assets.mjs LOADER_JS DATA_FILE OUT_DIR NAME...\n');
    process.exit(2);
  }
  const [loaderPath, dataPath, outDir, ...names] = argv;
  let table;
  try {
    table = parseLoader(readFileSync(loaderPath, 'utf8'));
  } catch (e) {
    fail(`${loaderPath}: ${e.message}`);
  }
  const data = readFileSync(dataPath);
  if (table.remote_package_size !== undefined && table.remote_package_size !== data.length) {
    fail(`${dataPath} has ${data.length} bytes but the loader says ${table.remote_package_size}`);
  }
  for (const name of names) {
    const matches = table.files.filter((f) => basename(f.filename) === name);
    if (matches.length !== 1) {
      fail(`${loaderPath} lists ${matches.length} entries named ${name} (expected exactly 1)`);
    }
    const { filename, start, end } = matches[0];
    if (end > data.length) {
      fail(`${filename}: range ${start}..${end} runs past the end of ${dataPath} (${data.length} bytes)`);
    }
    writeFileSync(join(outDir, name), data.subarray(start, end));
    process.stdout.write(`models:   cut ${name}: bytes ${start}..${end} of ${basename(dataPath)}\n`);
  }
}

main(process.argv.slice(2));
