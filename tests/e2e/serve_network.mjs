// A server behind a 1:1 NAT and a firewall: `speakup serve --public-ip ADDR --udp-ports MIN-MAX`.
//   - every host candidate the page receives (answer and trickled, as Chromium's remote
//     description holds them) carries ADDR, never the interface's own address;
//   - the session still connects on loopback (the server's checks reach the page, which learns the
//     real address as a peer-reflexive candidate) and results arrive;
//   - while a page and three loadgen clients stream, every UDP socket of the server process
//     (its /proc/PID/fd sockets looked up in /proc/net/udp and udp6) is bound to a port in MIN-MAX;
//   - bad values are refused at start-up with a message naming the flag.
//   node tests/e2e/serve_network.mjs   (env SPEAKUP_BIN = the speakup program; run from the repo root)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from '../../web/test/chromium.mjs';
import { checker } from '../../web/test/checks.mjs';
import { fakeCameraFile, selectedPair, sessionState, startPageSession } from './page_client.mjs';
import { sleep, startServer, stopServer, waitForPage } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('serve_network', 180000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-network-'));
const PUBLIC_IP = '198.51.100.77'; // TEST-NET-2: documentation only, never this machine's
const MIN_PORT = 41000 + Math.floor(Math.random() * 200) * 20;
const MAX_PORT = MIN_PORT + 19;

// The local ports of the UDP sockets process `pid` holds.
function udpPorts(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = [];
  for (const table of ['udp', 'udp6']) {
    const lines = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (inodes.has(fields[9])) ports.push(parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports;
}

// ---- refused at start-up, naming the flag ----
for (const [args, pattern] of [
  [['--udp-ports', '50000-40000'], /--udp-ports must be MIN-MAX/],
  [['--udp-ports', '40000'], /--udp-ports: expected MIN-MAX/],
  [['--public-ip', 'my.host.example'], /--public-ip must be the IP address/],
  [['--public-ip', '0.0.0.0'], /--public-ip must be the IP address/],
  [['--ice-server', 'stun://stun.example.com'], /--ice-server: .*no '\/\/'/],
  [['--ice-server', 'turn:127.0.0.1:3478'], /a TURN server needs credentials/],
  [['--ice-transport-policy', 'relay'], /needs a TURN server/],
]) {
  const run = spawnSync(bin, ['serve', '--port', '0', ...args], { encoding: 'utf8', timeout: 20000 });
  check(`serve ${args.join(' ')} is refused: ${pattern}`, run.status !== 0 && pattern.test(run.stderr + run.stdout),
    `${run.status} ${run.stderr.trim()}`);
}

const problems = [];
// Chromium with its real (non-mDNS) address but no loopback candidate: one local candidate, so
// the pair it nominates through the peer-reflexive address is the one the server's checks found.
// (With two local candidates here, Chromium and libnice settled on different pairs and results
// stopped after a few: an artefact of an announced address that does not route to the server.)
const browser = await launch({ problems, extra: ['--disable-features=WebRtcHideLocalIpsWithMdns',
  `--use-file-for-fake-video-capture=${fakeCameraFile(work)}`] });
const server = await startServer(bin, ['--threads', '1', '--max-sessions-per-ip', '0', '--public-ip', PUBLIC_IP,
  '--udp-ports', `${MIN_PORT}-${MAX_PORT}`]);
try {
  check('before any session the server holds no UDP socket out of range',
    udpPorts(server.pid).every((p) => p >= MIN_PORT && p <= MAX_PORT), udpPorts(server.pid).join(' '));
  const page = await startPageSession(browser, server, {}, 'behind NAT');
  const arrived = await waitForPage(page, () => window.session.results >= 30 && window.session.faces > 0, null, 40000);
  check('a page connects and gets its landmarks', arrived, JSON.stringify(await sessionState(page)));
  const candidates = await page.evaluate(() => window.client.peerConnection.remoteDescription.sdp
    .split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')));
  const hosts = candidates.filter((l) => / typ host/.test(l));
  check('the server\'s host candidates all carry --public-ip', hosts.length > 0 &&
    hosts.every((l) => l.split(' ')[4] === PUBLIC_IP), candidates.join(' | '));
  check('and ports in --udp-ports', hosts.every((l) => Number(l.split(' ')[5]) >= MIN_PORT && Number(l.split(' ')[5]) <= MAX_PORT),
    candidates.join(' | '));
  check('no candidate names the interface\'s own address', !candidates.some((l) => / 127\.0\.0\.1 /.test(l)),
    candidates.join(' | '));
  const pair = await selectedPair(page);
  check('media flows to the server\'s real socket, learnt from its checks (peer-reflexive, in range)',
    pair?.remote.type === 'prflx' && pair.remote.port >= MIN_PORT && pair.remote.port <= MAX_PORT, JSON.stringify(pair));

  // Three more sessions at once, from loadgen; the sockets are looked at while all stream.
  const load = spawn(bin, ['loadgen', '--server', server.url, '--clients', '3', '--duration', '4', '--json', '--quiet'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  load.stdout.on('data', (d) => { stdout += d; });
  const done = new Promise((r) => load.on('exit', r));
  let most = [];
  for (let i = 0; i < 40; i++) {
    await sleep(200);
    const ports = udpPorts(server.pid);
    if (ports.length > most.length) most = ports;
    if (ports.some((p) => p < MIN_PORT || p > MAX_PORT)) {
      most = ports;
      break;
    }
  }
  const code = await done;
  let report = null;
  try {
    report = JSON.parse(stdout);
  } catch { /* checked below */ }
  check('three loadgen clients stream beside the page', code === 0 && report?.clients_streamed === 3,
    `${code} ${stdout.slice(0, 300)}`);
  check('with four sessions streaming, the server held four or more UDP sockets', most.length >= 4, most.join(' '));
  check(`every UDP socket of the server is bound in ${MIN_PORT}-${MAX_PORT}`,
    most.every((p) => p >= MIN_PORT && p <= MAX_PORT), most.join(' '));
  await page.close();
} finally {
  if (server.exit()) console.log(`the server had exited: ${JSON.stringify(server.exit())}\n${server.output()}`);
  await stopServer(server);
  await browser.close();
  fs.rmSync(work, { recursive: true, force: true });
}
check('no console errors or exceptions in the page', problems.length === 0,
  problems.map((p) => `[${p.page}] ${p.kind}: ${p.text}`).join('\n'));
finish();
