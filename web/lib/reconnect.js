// When and how soon a client connects again after its session ended (docs/client.md, "Reconnecting").
// Pure functions and a small counter with the time and the randomness passed in, so that the policy
// is tested in Node without timers (test/reconnect.test.mjs); client.js does the waiting.

export const RECONNECT_DEFAULTS = Object.freeze({
  initialDelayMs: 500, // the first retry
  maxDelayMs: 8000, // the doubling stops here
  jitter: 0.3, // +-30%: clients dropped together (a server restart) do not come back together
  stableMs: 10000, // a connection that lasted this long starts the count again
  drainDelayMs: 1000, // bye with reconnect: true: at once, but spread over 0..1 s
});

// Codes after which the server will refuse again whatever we do: a retry loop would only hammer it.
const FINAL_SERVER_CODES = new Set(['unauthorized', 'forbidden_origin', 'too_many_sessions', 'bad_sdp', 'too_large',
  'flooding']);

// Refusals that pass: the server is busy or restarting.
const BUSY_SERVER_CODES = new Set(['server_full', 'draining']);

// The network between us and the server failed. Before the first connection this more likely means
// a wrong address or a blocked network than a drop, and the error is worth more than a loop.
const NETWORK_CODES = new Set(['connection_failed', 'timeout', 'closed', 'connection_lost', 'connect_timeout',
  'ice_failed', 'turn_failed']);

// What to do after the error that ended a session: {retry: false} (final: show it), or
// {retry: true, soon: true} (a draining server asked us back: a short random delay) or
// {retry: true, soon: false} (backoff). `error`: {code, fromServer, reconnect} where reconnect is
// the `bye` message's flag; everConnected: this client has had a working session.
export function reconnectDecision(error, everConnected) {
  const code = error?.code;
  if (code === 'server_bye') return error.reconnect === true ? { retry: true, soon: true } : { retry: false };
  if (error?.fromServer) {
    if (BUSY_SERVER_CODES.has(code)) return { retry: true, soon: false };
    if (FINAL_SERVER_CODES.has(code)) return { retry: false };
    return { retry: false }; // a code this client does not know: do not guess
  }
  if (NETWORK_CODES.has(code)) return { retry: everConnected === true, soon: false };
  return { retry: false }; // bad_answer, client_error: a retry would fail the same way
}

// The wait before retry number `attempt` (1, 2, ...): initialDelayMs doubling up to maxDelayMs, then
// +-jitter. random() is in [0, 1) (Math.random).
export function backoffDelay(attempt, random, options = RECONNECT_DEFAULTS) {
  const o = { ...RECONNECT_DEFAULTS, ...options };
  const n = Math.max(1, Math.floor(attempt));
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(n - 1, 30));
  return Math.round(base * (1 + o.jitter * (2 * random() - 1)));
}

// Counts the attempts of one client: dropped() when a session ends (with the decision), connected()
// when one comes up. Times are milliseconds on any one clock (Date.now()).
export class ReconnectCounter {
  constructor(options = {}) {
    this.options = { ...RECONNECT_DEFAULTS, ...options };
    this.attempt = 0; // retries since the last connection that lasted
    this.connectedAt = null;
  }

  connected(now) {
    this.connectedAt = now;
  }

  // {attempt, delayMs} for the next retry. A connection that lasted stableMs starts the count again;
  // a shorter one does not, so a server that accepts and drops at once is not hammered.
  dropped(now, decision, random) {
    if (this.connectedAt !== null && now - this.connectedAt >= this.options.stableMs) this.attempt = 0;
    this.connectedAt = null;
    this.attempt += 1;
    const delayMs = decision.soon
      ? Math.round(random() * this.options.drainDelayMs)
      : backoffDelay(this.attempt, random, this.options);
    return { attempt: this.attempt, delayMs };
  }
}
