// Signaling: one WebSocket per session at ws(s)://HOST/ws carrying JSON text messages
// (docs/protocol.md, "Signaling messages").

export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'SignalingError';
    this.code = code;
  }
}

// The WebSocket URL of a SpeakUp server (docs/client.md, "Server URL"). `server`: nothing (the
// server of the page running this: ws(s)://its host/ws), an http(s) URL of the server (any page of
// it, e.g. its address: ws(s)://that host/ws), or a ws(s) URL used as it is (a server behind a proxy
// at /speakup/ws; a path of '/' becomes '/ws'). `token`: sent as ?token=... (percent-encoded);
// without one, a token in the given URL's query is kept; nothing else from the query is.
export function signalingUrl(server, token) {
  const page = globalThis.location;
  let url;
  if (server === undefined || server === null || server === '') {
    if (!page) throw new TypeError('no server URL given, and no page location to take it from');
    url = new URL('/ws', page.href);
  } else {
    url = new URL(String(server), page ? page.href : undefined);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = '/ws';
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`a SpeakUp server URL is http(s) or ws(s), not ${url.protocol}`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  url.hash = '';
  // A server URL given as a page's address (http...) carries the page's query: only the token counts.
  const given = url.searchParams.get('token');
  const wanted = token === undefined || token === null || token === '' ? given : String(token);
  url.search = wanted ? `?token=${encodeURIComponent(wanted)}` : '';
  return url.href;
}

// The URL for messages shown to people: without the token.
export function redactedUrl(url) {
  return url.replace(/([?&]token=)[^&]*/, '$1…');
}

export class Signaling {
  // handlers: onMessage(msg) for every message after `welcome`; onClose({code, reason}) when the
  // socket closes after `welcome` and close() was not called.
  constructor(url, handlers = {}) {
    this.url = url;
    this.onMessage = handlers.onMessage ?? (() => {});
    this.onClose = handlers.onClose ?? (() => {});
    this.onLog = handlers.onLog ?? (() => {});
    this.ws = null;
    this.welcome = null;
    this.closedByUs = false;
    this.sent = 0;
    this.received = 0;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // Opens the socket and waits for `welcome`. Rejects with a SignalingError whose code is
  // 'connection_failed' (no WebSocket to the server), 'closed' (closed before welcome), 'timeout',
  // or the code of a server `error` received before welcome (e.g. 'server_full', 'unauthorized').
  connect(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let settled = false;
      let opened = false;
      const shown = redactedUrl(this.url);
      const fail = (code, message, extra = {}) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.closedByUs = true;
        try {
          this.ws.close();
        } catch {
          // already closed
        }
        reject(Object.assign(new SignalingError(code, message), extra));
      };
      const timer = setTimeout(
        () => fail('timeout', `No answer from the server at ${shown} within ${Math.round(timeoutMs / 1000)} s.`),
        timeoutMs);
      try {
        this.ws = new WebSocket(this.url);
      } catch (error) {
        fail('connection_failed', `Cannot open a WebSocket to ${shown}: ${error.message}`);
        return;
      }
      this.ws.addEventListener('open', () => {
        opened = true;
        this.onLog(`signaling: connected to ${shown}`);
      });
      this.ws.addEventListener('message', (event) => {
        const msg = this.parse(event.data);
        if (!msg) return;
        if (!settled) {
          if (msg.type === 'welcome') {
            settled = true;
            clearTimeout(timer);
            this.welcome = msg;
            resolve(msg);
          } else if (msg.type === 'error') {
            fail(String(msg.code ?? 'error'), String(msg.message ?? 'the server refused the connection'));
          } else if (msg.type === 'bye') {
            // reconnect: true is a draining server asking to be tried again (docs/protocol.md).
            fail('bye', `The server closed the session${msg.reason ? `: ${msg.reason}` : ''}.`, { reconnect: msg.reconnect === true });
          } else {
            this.onLog(`signaling: '${msg.type}' before 'welcome' ignored`);
          }
          return;
        }
        this.onMessage(msg);
      });
      this.ws.addEventListener('close', (event) => {
        if (!settled) {
          if (opened) {
            fail('closed', `The server closed the connection before the session started (code ${event.code}).`);
          } else {
            fail('connection_failed', `Cannot connect to the server at ${shown}: is it running?`);
          }
          return;
        }
        if (!this.closedByUs) this.onClose({ code: event.code, reason: event.reason });
      });
      // 'error' is always followed by 'close', which reports it.
    });
  }

  parse(data) {
    this.received += 1;
    if (typeof data !== 'string') {
      this.onLog('signaling: binary message ignored');
      return null;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      this.onLog(`signaling: message that is not JSON ignored: ${data.slice(0, 80)}`);
      return null;
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
      this.onLog('signaling: message without a string type ignored');
      return null;
    }
    return msg;
  }

  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    this.sent += 1;
    return true;
  }

  // Says `bye` (when still open) and closes without reporting onClose.
  close(sayBye = true) {
    this.closedByUs = true;
    if (!this.ws) return;
    if (sayBye && this.open) {
      try {
        this.ws.send(JSON.stringify({ type: 'bye' }));
      } catch {
        // closing anyway
      }
    }
    try {
      this.ws.close(1000, 'bye');
    } catch {
      // already closed
    }
  }
}
