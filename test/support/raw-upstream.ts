import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A downstream API spoken to over raw TCP, for framing tests: it records every byte of every
 * connection and parses requests itself (RFC 9112 §6.3: Transfer-Encoding: chunked, else
 * Content-Length, else no body), so what the BFF put on the wire is what the test sees, with no
 * HTTP library in between to normalise or refuse it.
 */
export interface RecordedRequest {
  /** The connection it arrived on (1, 2, … in order of acceptance). */
  connection: number;
  method: string;
  target: string;
  /** Header fields as received, names lower-cased, in order, duplicates kept. */
  headers: [string, string][];
  /** The request line and header section, with the blank line. */
  head: string;
  /** The content after chunked decoding, or undefined while it is still being received. */
  body?: Buffer;
  /** How the request delimited its content (what the parser believed). */
  framing: 'none' | 'length' | 'chunked';
  /** Set when the answer was given before the content (see Answer.at). */
  answeredEarly: boolean;
}

export interface RawConnection {
  id: number;
  /** Every byte received, in order. */
  received: Buffer;
  requests: RecordedRequest[];
  /** Bytes received but not (yet) part of a complete request. */
  pending: Buffer;
  /** Why the parser gave up on this connection (it then answered 400 and closed). */
  malformed?: string;
  closed: boolean;
  socket: net.Socket;
}

export interface Answer {
  status: number;
  /** Header lines sent verbatim; Content-Length is added unless given. */
  headers?: [string, string][];
  body?: string | Buffer;
  /** Answer once the head is in ('head', as Node's http server does) or the whole request. */
  at?: 'head' | 'message';
  /**
   * With at: 'head', false makes the server treat the request as ended at its head, so the
   * bytes of its content are parsed as the next request (a server that answers early and does
   * not drain the body; the proxy must not rely on any server doing so).
   */
  readBody?: boolean;
  /** Send the head and this many bytes of the body, then stop (never end the response). */
  stall?: number;
}

export type Responder = (req: RecordedRequest) => Answer | 'hang' | 'destroy';

/** The default answer: JSON naming the request and whose token it carried. */
export const echo = (req: RecordedRequest): Answer => ({
  status: 200,
  headers: [['Content-Type', 'application/json']],
  body: JSON.stringify({ method: req.method, target: req.target, user: bearerUser(req), connection: req.connection, bodyBytes: req.body?.length }),
});

/** The preferred_username of the JWT in the request's Authorization header, if any. */
export function bearerUser(req: RecordedRequest): string | undefined {
  const auth = req.headers.find(([n]) => n === 'authorization')?.[1];
  const payload = /^Bearer [\w-]+\.([\w-]+)\.[\w-]+$/.exec(auth ?? '')?.[1];
  if (!payload) return undefined;
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { preferred_username?: string }).preferred_username;
}

export class RawUpstream {
  readonly connections: RawConnection[] = [];
  respond: Responder = echo;

  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<RawUpstream> {
    const server = net.createServer();
    const upstream = new RawUpstream(server);
    server.on('connection', (socket) => upstream.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return upstream;
  }

  get url() {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Every request, in the order they arrived (across connections). */
  get requests(): RecordedRequest[] {
    return this.arrived;
  }

  private readonly arrived: RecordedRequest[] = [];

  /** A point in the recording, for `since`. */
  mark(): { connections: number; requests: number; bytes: number[] } {
    return { connections: this.connections.length, requests: this.requests.length, bytes: this.connections.map((c) => c.received.length) };
  }

  /** What arrived after `mark`: the new requests and, per connection, the new bytes. */
  since(mark: ReturnType<RawUpstream['mark']>): { requests: RecordedRequest[]; bytes: number } {
    const bytes = this.connections.reduce((sum, c, i) => sum + c.received.length - (mark.bytes[i] ?? 0), 0);
    return { requests: this.requests.slice(mark.requests), bytes };
  }

  /** Waits until `check` holds (polling), or throws after `ms`. */
  async until(check: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('raw upstream: condition not met in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Closes every connection (the proxy must then open new ones) and answers with `echo` again. */
  async reset(): Promise<void> {
    this.respond = echo;
    for (const c of this.connections) c.socket.destroy();
    await this.until(() => this.connections.every((c) => c.closed));
    await new Promise((r) => setTimeout(r, 10));
  }

  close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket) {
    const conn: RawConnection = { id: this.connections.length + 1, received: Buffer.alloc(0), requests: [], pending: Buffer.alloc(0), closed: false, socket };
    this.connections.push(conn);
    // A request whose head is parsed and whose content is still arriving.
    let open: { req: RecordedRequest; framing: Framing; answer?: Answer } | undefined;
    socket.on('data', (chunk: Buffer) => {
      conn.received = Buffer.concat([conn.received, chunk]);
      conn.pending = Buffer.concat([conn.pending, chunk]);
      for (;;) {
        if (conn.malformed) return;
        if (!open) {
          const head = parseHead(conn.pending, 'request');
          if (head === undefined) return;
          if ('error' in head) return this.refuse(conn, head.error);
          conn.pending = conn.pending.subarray(head.length);
          const [method = '', target = ''] = head.startLine.split(' ');
          const req: RecordedRequest = { connection: conn.id, method, target, headers: head.headers, head: head.text, framing: head.framing.kind, answeredEarly: false };
          conn.requests.push(req);
          this.arrived.push(req);
          const answer = this.respond(req);
          if (answer === 'destroy') return socket.destroy();
          if (answer !== 'hang' && answer.at === 'head') {
            req.answeredEarly = true;
            this.answer(socket, req, answer);
            if (answer.readBody === false) {
              req.body = Buffer.alloc(0);
              continue;
            }
          }
          open = { req, framing: head.framing, answer: answer === 'hang' || answer.at === 'head' ? undefined : answer };
        }
        const content = readContent(conn.pending, open.framing);
        if (content === undefined) return;
        if ('error' in content) return this.refuse(conn, content.error);
        conn.pending = conn.pending.subarray(content.length);
        open.req.body = content.body;
        if (open.answer) this.answer(socket, open.req, open.answer);
        open = undefined;
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
    });
  }

  private answer(socket: net.Socket, req: RecordedRequest, answer: Answer) {
    if (socket.destroyed) return;
    const body = Buffer.from(answer.body ?? '');
    const headers = [...(answer.headers ?? [])];
    if (!headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n))) headers.push(['Content-Length', String(body.length)]);
    const head = `HTTP/1.1 ${answer.status} Status\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    const withBody = req.method !== 'HEAD' && answer.status !== 204 && answer.status !== 304;
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), withBody ? body.subarray(0, answer.stall ?? body.length) : Buffer.alloc(0)]));
  }

  private refuse(conn: RawConnection, reason: string) {
    conn.malformed = reason;
    conn.socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
}

type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

interface Head {
  startLine: string;
  headers: [string, string][];
  text: string;
  length: number;
  framing: Framing;
}

/**
 * Parses a start line and header section (RFC 9112 §2–§5) and the framing it declares (§6.3),
 * strictly: anything a lenient parser might read two ways is an error. undefined: incomplete.
 */
export function parseHead(buf: Buffer, kind: 'request' | 'response', method?: string): Head | { error: string } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > 65536 ? { error: 'header section too long' } : undefined;
  const text = buf.subarray(0, end + 4).toString('latin1');
  const [startLine = '', ...lines] = text.slice(0, -4).split('\r\n');
  const startOk = kind === 'request' ? /^[A-Z]+ [\x21-\x7e]+ HTTP\/1\.1$/.test(startLine) : /^HTTP\/1\.1 \d{3} /.test(startLine);
  if (!startOk) return { error: `bad start line ${JSON.stringify(startLine.slice(0, 80))}` };
  const headers: [string, string][] = [];
  for (const line of lines) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m || /[\r\n\0]/.test(m[2]!)) return { error: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
    headers.push([m[1]!.toLowerCase(), m[2]!]);
  }
  const te = headers.filter(([n]) => n === 'transfer-encoding');
  const cl = headers.filter(([n]) => n === 'content-length');
  let framing: Framing = { kind: 'none' };
  if (te.length > 0) {
    if (cl.length > 0) return { error: 'both Transfer-Encoding and Content-Length' };
    if (te.length > 1 || te[0]![1].toLowerCase() !== 'chunked') return { error: `unsupported Transfer-Encoding ${JSON.stringify(te.map(([, v]) => v))}` };
    framing = { kind: 'chunked' };
  } else if (cl.length > 0) {
    if (cl.length > 1 || !/^\d+$/.test(cl[0]![1])) return { error: `bad Content-Length ${JSON.stringify(cl.map(([, v]) => v))}` };
    framing = { kind: 'length', length: Number(cl[0]![1]) };
  }
  const status = Number(startLine.split(' ')[1]);
  if (kind === 'response' && (method === 'HEAD' || status === 204 || status === 304)) framing = { kind: 'none' };
  return { startLine, headers, text, length: end + 4, framing };
}

/** The content of one message framed as `framing`; undefined: incomplete. */
export function readContent(buf: Buffer, framing: Framing): { body: Buffer; length: number } | { error: string } | undefined {
  if (framing.kind === 'none') return { body: Buffer.alloc(0), length: 0 };
  if (framing.kind === 'length') return buf.length < framing.length ? undefined : { body: buf.subarray(0, framing.length), length: framing.length };
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const sizeText = buf.subarray(at, lineEnd).toString('latin1').split(';')[0]!;
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return { error: `bad chunk size ${JSON.stringify(sizeText)}` };
    const size = parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailer section, then the blank line.
      for (;;) {
        const end = buf.indexOf('\r\n', at);
        if (end < 0) return undefined;
        const empty = end === at;
        at = end + 2;
        if (empty) return { body: Buffer.concat(parts), length: at };
      }
    }
    if (buf.length < at + size + 2) return undefined;
    if (buf.subarray(at + size, at + size + 2).toString('latin1') !== '\r\n') return { error: 'chunk not followed by CRLF' };
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

export interface RawResponse {
  status: number;
  headers: [string, string][];
  header(name: string): string | undefined;
  body: Buffer;
  json<T = any>(): T;
  /** Whether the server closed the connection after this answer. */
  closed: boolean;
}

/**
 * Sends bytes to a server over a fresh TCP connection and reads one response, for requests an
 * HTTP client would refuse to write (a GET with a body, duplicated Content-Length).
 */
export function rawRequest(url: string, bytes: string | Buffer, options: { timeoutMs?: number } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const method = Buffer.from(bytes).toString('latin1').split(' ')[0];
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname === 'localhost' ? '127.0.0.1' : hostname);
    let buf = Buffer.alloc(0);
    let head: Head | undefined;
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within ${options.timeoutMs ?? 5000} ms; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
    }, options.timeoutMs ?? 5000);
    const tryParse = () => {
      if (!head) {
        const parsed = parseHead(buf, 'response', method);
        if (parsed === undefined) return;
        if ('error' in parsed) return finish(new Error(parsed.error));
        head = parsed;
      }
      const content = readContent(buf.subarray(head.length), head.framing);
      if (content === undefined) {
        if (closed && head.framing.kind === 'none') return done(buf.subarray(head.length));
        return;
      }
      if ('error' in content) return finish(new Error(content.error));
      done(content.body);
    };
    const done = (body: Buffer) => {
      const h = head!;
      const header = (name: string) => h.headers.find(([n]) => n === name.toLowerCase())?.[1];
      const close = /\bclose\b/i.test(header('connection') ?? '');
      finish(undefined, { status: Number(h.startLine.split(' ')[1]), headers: h.headers, header, body, json: () => JSON.parse(body.toString('utf8')), closed: close || closed });
    };
    let settled = false;
    const finish = (err?: Error, res?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      tryParse();
    });
    socket.on('end', () => {
      closed = true;
      tryParse();
      if (!settled) finish(new Error(`connection closed before a complete response: ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
    });
    socket.on('error', (err) => finish(err));
  });
}

/** An open TCP connection to the BFF that the test writes to in steps. */
export function rawConnection(url: string): Promise<{ socket: net.Socket; received(): string; closed(): boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname === 'localhost' ? '127.0.0.1' : hostname);
    let text = '';
    let ended = false;
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => (ended = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed: () => ended }));
    socket.once('error', reject);
  });
}
