// recstate bridge client: carries recstate's SDK commands to the app's vendor SDK, and the
// SDK's callbacks back as events. No dependency beyond the platform's WebSocket.
//
// Protocol (docs/architecture.md, "Bridge"): hello {token, sessions} -> welcome {resume} |
// refused; command {id, vendor, session, name, data} -> ack {id}, then the SDK call and its
// outcome as an event {id, vendor, session, name: "<api>:ok" | "<api>:error", data, command};
// every event is acknowledged by the bridge (ack {id}); a bad one gets error {id, field,
// message}. Unacknowledged events are kept (sessionStorage when there is one) and sent again
// after a reconnect or a page reload; a command id already taken is acknowledged again and
// never performed twice.

export { netease } from "./shims/netease.js";
export { tencent } from "./shims/tencent.js";
export { cloudroom } from "./shims/cloudroom.js";
export { juphoon } from "./shims/juphoon.js";

const DONE_KEPT = 1000;

function memoryStorage() {
  const data = new Map();
  return {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
}

function randomId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class BridgeClient {
  /**
   * @param {object} options
   * @param {string} options.url       the bridge's WebSocket URL (".../ws")
   * @param {string|function(): (string|Promise<string>)} options.token
   *        a token from the app's server, or a function that fetches a fresh one (needed to
   *        reconnect after a page reload: a token opens one connection)
   * @param {string[]} [options.sessions]  the sessions this app serves from the start
   * @param {Storage} [options.storage]    where unacknowledged events survive a reload
   *        (sessionStorage by default; memory when there is none)
   * @param {object} [options.backoff]     {initial: 200, max: 5000, factor: 2} milliseconds
   * @param {function} [options.onState]   the live view: {session, vendor, state, recording, files}
   * @param {function} [options.onStatus]  "connecting" | "connected" | "disconnected" | "refused"
   * @param {function} [options.onError]   an error message from the bridge, or a shim's failure
   */
  constructor(options) {
    const o = options || {};
    if (!o.url) throw new Error("BridgeClient: options.url (the bridge's ws:// URL) is required");
    if (!o.token) throw new Error("BridgeClient: options.token (a string or a function) is required");
    this.url = o.url;
    this.token = o.token;
    this.storage = o.storage || globalThis.sessionStorage || memoryStorage();
    this.storageKey = o.storageKey || "recstate-bridge";
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    this.backoff = Object.assign({ initial: 200, max: 5000, factor: 2 }, o.backoff || {});
    this.onState = o.onState || (() => {});
    this.onStatus = o.onStatus || (() => {});
    this.onError = o.onError || ((e) => console.warn("recstate bridge:", e));
    this.shims = new Map();
    this.status = "idle";
    this.resume = null; // the bridge's resume token: memory only, never stored
    this.ws = null;
    this.retries = 0;
    this.stopped = true;
    // testing switches: hold commands unacknowledged (listed in `held`: {id, name}); ignore
    // the bridge's acks of events
    this.debug = { holdCommands: false, dropAcks: false, held: [] };
    this.state = this.load();
    for (const s of o.sessions || []) this.state.sessions.includes(s) || this.state.sessions.push(s);
    this.save();
  }

  load() {
    let saved = null;
    try {
      saved = JSON.parse(this.storage.getItem(this.storageKey) || "null");
    } catch (e) {
      saved = null;
    }
    return Object.assign({ client: randomId(), seq: 0, sessions: [], outbox: [], done: [] }, saved || {});
  }

  save() {
    this.state.done = this.state.done.slice(-DONE_KEPT);
    this.storage.setItem(this.storageKey, JSON.stringify(this.state));
  }

  /** Register a vendor shim (see ./shims): it performs that vendor's commands. */
  use(shim) {
    this.shims.set(shim.vendor, shim);
    if (shim.attach) {
      shim.attach({
        emit: (session, name, data, extra) => this.emit(shim.vendor, session, name, data, extra),
      });
    }
    return this;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "stopped");
  }

  setStatus(status, detail) {
    this.status = status;
    this.onStatus(status, detail);
  }

  async connect() {
    if (this.stopped) return;
    this.setStatus("connecting");
    let token;
    try {
      token = this.resume || (typeof this.token === "function" ? await this.token() : this.token);
    } catch (e) {
      this.onError({ type: "token", message: String(e) });
      return this.reconnect();
    }
    this.resume = null; // one connection per token
    const ws = new this.WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "hello", token, sessions: this.state.sessions }));
    ws.onmessage = (m) => this.receive(ws, m.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.status !== "refused") this.setStatus("disconnected");
      this.reconnect();
    };
  }

  reconnect() {
    if (this.stopped) return;
    const b = this.backoff;
    const delay = Math.min(b.max, b.initial * Math.pow(b.factor, this.retries++));
    this.timer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
  }

  send(msg) {
    if (this.ws && this.status === "connected") this.ws.send(JSON.stringify(msg));
  }

  receive(ws, text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return this.onError({ type: "protocol", message: "not JSON from the bridge" });
    }
    switch (msg.type) {
      case "welcome":
        this.resume = msg.resume;
        this.retries = 0;
        this.setStatus("connected", msg);
        {
          // sessions added after the hello went out (a beCalling while connecting)
          const missing = this.state.sessions.filter((s) => !(msg.sessions || []).includes(s));
          if (missing.length) this.send({ type: "serve", sessions: missing });
        }
        for (const item of this.state.outbox) this.send(item);
        break;
      case "refused":
        this.setStatus("refused", msg);
        this.onError(msg);
        if (typeof this.token !== "function") this.stopped = true; // a fixed token will not get better
        break;
      case "command":
        this.command(msg);
        break;
      case "ack":
        if (!this.debug.dropAcks) this.acked(msg.id);
        break;
      case "error":
        if (msg.id) this.acked(msg.id); // refused for good: sending it again would not help
        this.onError(msg);
        break;
      case "state":
        this.onState(msg);
        break;
      default:
        break;
    }
  }

  acked(id) {
    const before = this.state.outbox.length;
    this.state.outbox = this.state.outbox.filter((m) => m.id !== id);
    if (this.state.outbox.length !== before) this.save();
  }

  async command(cmd) {
    if (this.debug.holdCommands) {
      this.debug.held.push({ id: cmd.id, name: cmd.name });
      return;
    }
    if (this.state.done.includes(cmd.id)) {
      this.send({ type: "ack", id: cmd.id }); // seen before: acknowledged again, not performed
      return;
    }
    this.state.done.push(cmd.id);
    this.save();
    this.send({ type: "ack", id: cmd.id });
    const shim = this.shims.get(cmd.vendor);
    if (!shim) {
      this.onError({ type: "shim", message: `no shim for vendor ${cmd.vendor}: client.use(${cmd.vendor}(sdk))`, command: cmd });
      return;
    }
    const ctx = {
      emit: (name, data) => this.emit(cmd.vendor, cmd.session, name, data, { command: cmd.id }),
    };
    try {
      await shim.perform(cmd, ctx);
    } catch (e) {
      this.onError({ type: "shim", message: String(e && e.message ? e.message : e), command: cmd });
    }
  }

  /** The sessions this app serves (commands for them come here). */
  serve(...sessions) {
    const added = sessions.filter((s) => !this.state.sessions.includes(s));
    if (!added.length) return;
    this.state.sessions.push(...added);
    this.save();
    this.send({ type: "serve", sessions: added });
  }

  /** Send an event (an SDK callback or an app intent) for a session; returns its id. */
  emit(vendor, session, name, data, extra) {
    this.serve(session);
    this.state.seq += 1;
    const msg = { type: "event", id: `${this.state.client}-${this.state.seq}`, vendor, session, name, data: data || {} };
    if (extra && extra.command) msg.command = extra.command;
    this.state.outbox.push(msg);
    this.save();
    this.send(msg);
    return msg.id;
  }
}
