// The reconnect policy (lib/reconnect.js) with the clock and the randomness in the test's hands.
// Run: node --test test/reconnect.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';

import { reconnectDecision, backoffDelay, ReconnectCounter, RECONNECT_DEFAULTS } from '../lib/reconnect.js';

const middle = () => 0.5; // no jitter
const low = () => 0; // -30%
const high = () => 0.999999; // just under +30%

test('backoff: 0.5 s doubling to 8 s, then 8 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20, 1000].map((n) => backoffDelay(n, middle)),
    [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000]);
});

test('backoff: jitter stays within +-30%', () => {
  assert.equal(backoffDelay(1, low), 350);
  assert.equal(backoffDelay(1, high), 650);
  assert.equal(backoffDelay(5, low), 5600);
  assert.equal(backoffDelay(5, high), 10400);
  for (let i = 0; i < 200; ++i) {
    const d = backoffDelay(3, Math.random);
    assert.ok(d >= 1400 && d <= 2600, `attempt 3 waited ${d} ms`);
  }
});

test('backoff: other bounds given', () => {
  assert.equal(backoffDelay(3, middle, { initialDelayMs: 100, maxDelayMs: 300, jitter: 0 }), 300);
  assert.equal(backoffDelay(0, middle), 500); // attempt numbers start at 1
});

test('decision: refusals that last are final', () => {
  for (const code of ['unauthorized', 'forbidden_origin', 'too_many_sessions', 'bad_sdp', 'flooding', 'some_new_code']) {
    assert.deepEqual(reconnectDecision({ code, fromServer: true }, true), { retry: false }, code);
  }
});

test('decision: a busy or draining server is tried again with backoff, even before a first connection', () => {
  for (const code of ['server_full', 'draining']) {
    for (const ever of [false, true]) {
      assert.deepEqual(reconnectDecision({ code, fromServer: true }, ever), { retry: true, soon: false }, `${code} ${ever}`);
    }
  }
});

test('decision: bye is final unless it says reconnect: true, which means soon', () => {
  assert.deepEqual(reconnectDecision({ code: 'server_bye' }, true), { retry: false });
  assert.deepEqual(reconnectDecision({ code: 'server_bye', reconnect: false }, true), { retry: false });
  assert.deepEqual(reconnectDecision({ code: 'server_bye', reconnect: 'yes' }, true), { retry: false });
  assert.deepEqual(reconnectDecision({ code: 'server_bye', reconnect: true }, false), { retry: true, soon: true });
});

test('decision: network failures retry once the client has been connected, not before', () => {
  for (const code of ['connection_failed', 'timeout', 'closed', 'connection_lost', 'connect_timeout', 'ice_failed', 'turn_failed']) {
    assert.deepEqual(reconnectDecision({ code }, true), { retry: true, soon: false }, code);
    assert.deepEqual(reconnectDecision({ code }, false), { retry: false, soon: false }, code);
  }
  for (const code of ['bad_answer', 'client_error']) assert.deepEqual(reconnectDecision({ code }, true), { retry: false });
});

test('counter: attempts grow while connections are short, start again after one that lasted', () => {
  const c = new ReconnectCounter();
  const backoff = { retry: true, soon: false };
  let now = 1000;
  c.connected(now);
  now += 60000;
  assert.deepEqual(c.dropped(now, backoff, middle), { attempt: 1, delayMs: 500 });
  assert.deepEqual(c.dropped(now += 500, backoff, middle), { attempt: 2, delayMs: 1000 }); // failed to connect
  c.connected(now += 1000);
  // Up for less than stableMs: the count goes on (a server that accepts and drops at once).
  assert.deepEqual(c.dropped(now += RECONNECT_DEFAULTS.stableMs - 1, backoff, middle), { attempt: 3, delayMs: 2000 });
  c.connected(now += 2000);
  assert.deepEqual(c.dropped(now += RECONNECT_DEFAULTS.stableMs, backoff, middle), { attempt: 1, delayMs: 500 });
});

test('counter: a draining server\'s bye waits 0..1 s, whatever the attempt', () => {
  const c = new ReconnectCounter();
  const soon = { retry: true, soon: true };
  assert.deepEqual(c.dropped(0, soon, low), { attempt: 1, delayMs: 0 });
  for (let i = 0; i < 6; ++i) c.dropped(0, { retry: true, soon: false }, middle);
  assert.deepEqual(c.dropped(0, soon, high), { attempt: 8, delayMs: 1000 });
  assert.deepEqual(c.dropped(0, soon, middle), { attempt: 9, delayMs: 500 });
});
