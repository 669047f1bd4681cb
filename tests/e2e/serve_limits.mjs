// The WebSocket signaling endpoint's security defaults, against a real `speakup serve`: a page from
// another site (its Origin header) is refused unless --allow-origin lists it, the server's own
// origin and clients without Origin (native ones) are welcome, and one IP address gets at most
// --max-sessions-per-ip open sessions (default 4), a closed one making room again.
// A hand-written WebSocket client (node 20 has none), so the test sets Origin and Host itself.
//   node tests/e2e/serve_limits.mjs   (env SPEAKUP_BIN = the speakup program)
import { checker } from '../../web/test/checks.mjs';
import { metrics, openSignaling, sessionCount, startServer, stopServer, waitForSessions } from './speakup_server.mjs';

const bin = process.env.SPEAKUP_BIN;
if (!bin) throw new Error('set SPEAKUP_BIN to the speakup program');
const { check, finish } = checker('serve_limits', 100000);

// Every server here runs on one thread.
const start = (args) => startServer(bin, ['--threads', '1', ...args]);

const describe = (opened) => JSON.stringify(opened.message);
const describeAll = (opened) => opened.map((o) => o.message.code ?? o.message.type).join(' ');
const servers = [];
try {
  // Defaults: the server's own origin and native clients (no Origin) only; 4 sessions per address
  // (room for 10 in all, so the per-address limit is what refuses the fifth).
  const server = await start(['--max-sessions', '10']);
  servers.push(server);
  const self = `127.0.0.1:${server.port}`;

  const evil = await openSignaling(server, { Origin: 'http://evil.example' });
  check('a page from another site is refused with forbidden_origin', evil.message.type === 'error' &&
    evil.message.code === 'forbidden_origin', describe(evil));
  check('the refusal says how to allow it', evil.message.message?.includes('--allow-origin http://evil.example'),
    evil.message.message);
  evil.close();
  check('the server still serves /healthz afterwards', (await sessionCount(server)) === 0);
  check('/metrics counts the refusal', (await metrics(server)).speakup_sessions_refused_total === 1);

  const otherPort = await openSignaling(server, { Origin: `http://127.0.0.1:${server.port + 1}` });
  check('the same host on another port is another origin: refused', otherPort.message.code === 'forbidden_origin',
    describe(otherPort));
  otherPort.close();
  const nullOrigin = await openSignaling(server, { Origin: 'null' });
  check('an opaque origin ("null", e.g. a file:// page) is refused', nullOrigin.message.code === 'forbidden_origin',
    describe(nullOrigin));
  nullOrigin.close();

  const same = await openSignaling(server, { Origin: `http://${self}`, Host: self });
  check('the server\'s own origin gets welcome', same.message.type === 'welcome', describe(same));
  same.close();
  const named = await openSignaling(server, { Origin: `http://localhost:${server.port}`, Host: `localhost:${server.port}` });
  check('its own origin by name (localhost) gets welcome', named.message.type === 'welcome', describe(named));
  named.close();
  // DNS rebinding: a page at evil.example:PORT whose name now points at 127.0.0.1 is same-origin
  // with itself, but a loopback server answers only to loopback names.
  const rebound = await openSignaling(server, { Origin: `http://evil.example:${server.port}`, Host: `evil.example:${server.port}` });
  check('a rebound name (same-origin with itself, another host) is refused on a loopback server',
    rebound.message.code === 'forbidden_origin', describe(rebound));

  const native = await openSignaling(server);
  check('a client without Origin (a native one) gets welcome', native.message.type === 'welcome', describe(native));
  native.close();
  check('the sessions close with their sockets', (await waitForSessions(server, 0, 5000)) === 0);

  // The default per-address limit is 4.
  const four = [];
  for (let i = 0; i < 4; i++) four.push(await openSignaling(server));
  check('by default one address gets 4 sessions', four.every((o) => o.message.type === 'welcome'),
    describeAll(four));
  const fifth = await openSignaling(server);
  check('and not a fifth', fifth.message.code === 'too_many_sessions', describe(fifth));
  fifth.close();
  for (const opened of four) opened.close();
  await stopServer(servers.pop(), 5000);

  // --allow-origin (repeatable) admits exactly the listed origins.
  const allowing = await start(['--allow-origin', 'http://evil.example', '--allow-origin', 'https://app.example']);
  servers.push(allowing);
  const allowedEvil = await openSignaling(allowing, { Origin: 'http://evil.example' });
  check('with --allow-origin http://evil.example that page gets welcome', allowedEvil.message.type === 'welcome',
    describe(allowedEvil));
  allowedEvil.close();
  const allowedApp = await openSignaling(allowing, { Origin: 'https://app.example' });
  check('a second --allow-origin is allowed too', allowedApp.message.type === 'welcome', describe(allowedApp));
  allowedApp.close();
  const unlisted = await openSignaling(allowing, { Origin: 'http://other.example' });
  check('an unlisted origin is still refused', unlisted.message.code === 'forbidden_origin', describe(unlisted));
  unlisted.close();
  const ownOrigin = await openSignaling(allowing, { Origin: `http://127.0.0.1:${allowing.port}` });
  check('and the server\'s own origin still gets welcome', ownOrigin.message.type === 'welcome', describe(ownOrigin));
  ownOrigin.close();
  await stopServer(servers.pop(), 5000);

  const anyOrigin = await start(['--allow-origin', '*']);
  servers.push(anyOrigin);
  const anywhere = await openSignaling(anyOrigin, { Origin: 'https://anywhere.example' });
  check('--allow-origin * admits any page', anywhere.message.type === 'welcome', describe(anywhere));
  anywhere.close();
  await stopServer(servers.pop(), 5000);

  // --max-sessions-per-ip 2: the third open socket from 127.0.0.1 is refused until one closes.
  const limited = await start(['--max-sessions-per-ip', '2', '--max-sessions', '10']);
  servers.push(limited);
  const first = await openSignaling(limited);
  const second = await openSignaling(limited);
  check('two sessions from one address get welcome', first.message.type === 'welcome' &&
    second.message.type === 'welcome', `${describe(first)} ${describe(second)}`);
  const third = await openSignaling(limited);
  check('the third gets too_many_sessions', third.message.type === 'error' && third.message.code === 'too_many_sessions',
    describe(third));
  check('the refusal names the limit and the flag', /\b2\b/.test(third.message.message ?? '') &&
    third.message.message?.includes('--max-sessions-per-ip'), third.message.message);
  third.close();
  check('/metrics counts it as refused', (await metrics(limited)).speakup_sessions_refused_total === 1);
  check('the refused one is not a session', (await sessionCount(limited)) === 2);
  first.close();
  check('closing one lowers the count', (await waitForSessions(limited, 1, 5000)) === 1);
  const again = await openSignaling(limited);
  check('then a new session from that address gets welcome', again.message.type === 'welcome', describe(again));
  again.close();
  second.close();
  check('all sessions close', (await waitForSessions(limited, 0, 5000)) === 0);
  await stopServer(servers.pop(), 5000);

  const unlimited = await start(['--max-sessions-per-ip', '0', '--max-sessions', '10']);
  servers.push(unlimited);
  const many = [];
  for (let i = 0; i < 6; i++) many.push(await openSignaling(unlimited));
  check('--max-sessions-per-ip 0: no per-address limit (6 sessions)', many.every((o) => o.message.type === 'welcome'),
    describeAll(many));
  for (const opened of many) opened.close();
  await stopServer(servers.pop(), 5000);
} catch (error) {
  check('the test ran to its end', false, `${error.stack}\n${servers.map((s) => s.output()).join('\n')}`);
} finally {
  for (const server of servers) await stopServer(server, 5000);
}
finish();
