// A real TURN server for the end-to-end tests: Debian's coturn (`turnserver`) started on loopback
// from the deployment's own config (deploy/coturn/turnserver.conf), with the test's overrides on the
// command line (coturn applies those after the file): its port, secret, relay ports, a log on
// stdout, and loopback peers allowed (coturn refuses them otherwise; never in production).
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './speakup_server.mjs';

export const CONFIG = 'deploy/coturn/turnserver.conf';

// A TCP port nobody listens on now (coturn takes the same number for UDP).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// coturn's REST-API credentials, computed here independently of the server's code.
export function restCredentials(secret, expiryUnixS, name) {
  const username = `${expiryUnixS}:${name}`;
  return { username, credential: crypto.createHmac('sha1', secret).update(username).digest('base64') };
}

// Starts turnserver; resolves once it listens. Its log (verbose: each allocation is a line) is
// output(). stop() ends it. Throws, with its output, when it does not start.
export async function startCoturn({ secret, relayPorts = 100 }) {
  try {
    execFileSync('turnserver', ['--help'], { stdio: 'ignore' });
  } catch (error) {
    if (error.code === 'ENOENT') throw new Error('turnserver not found: apt-get install coturn (scripts/setup.sh does)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-coturn-'));
  const port = await freePort();
  const relayMin = 50000 + Math.floor(Math.random() * 100) * 100;
  const args = ['-c', CONFIG, '-v', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    `--static-auth-secret=${secret}`, '--realm=speakup', '--no-tls', '--no-dtls', `--min-port=${relayMin}`,
    `--max-port=${relayMin + relayPorts - 1}`, '--allow-loopback-peers', '--no-cli', '--log-file=stdout',
    `--pidfile=${path.join(dir, 'turnserver.pid')}`, `--userdb=${path.join(dir, 'turndb')}`];
  // Line-buffered: coturn's stdout to a pipe would otherwise hold the log back.
  const child = spawn('stdbuf', ['-oL', 'turnserver', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exit = null;
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.on('exit', (code, signal) => { exit = { code, signal }; });
  const killOnExit = () => { if (!exit) child.kill('SIGKILL'); };
  process.on('exit', killOnExit);
  for (let i = 0; i < 100 && !exit && !/Total General servers/.test(output); i++) await sleep(100);
  if (exit || !/Total General servers/.test(output)) {
    child.kill('SIGKILL');
    throw new Error(`coturn did not start (${JSON.stringify(exit)}): ${output}`);
  }
  return {
    port,
    relayMin,
    relayMax: relayMin + relayPorts - 1,
    output: () => output,
    async stop() {
      if (!exit) {
        child.kill('SIGTERM');
        for (let i = 0; i < 50 && !exit; i++) await sleep(100);
        if (!exit) child.kill('SIGKILL');
      }
      process.off('exit', killOnExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
