import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestBrowser } from '../support/browser';
import { echo, rawConnection, rawRequest, RawUpstream, type RecordedRequest } from '../support/raw-upstream';
import { startStack, type Stack } from '../support/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * RFC 9112 §6 (message body length) and §9.3 (persistent connections) at /api/*: the BFF frames
 * what it sends itself, and a connection to the API carries one user's bytes only, as whole,
 * well-framed requests. The API here is a raw TCP server that records every byte it receives.
 */
describe('API proxy request framing', () => {
  const LIMIT = 4096;
  const TIMEOUT_MS = 2500;
  let upstream: RawUpstream;
  let stack: Stack;
  let alice: TestBrowser;
  let bob: TestBrowser;

  beforeAll(async () => {
    upstream = await RawUpstream.start();
    stack = await startStack({ API_BASE_URL: upstream.url, API_TIMEOUT_MS: String(TIMEOUT_MS), API_MAX_BODY_BYTES: String(LIMIT) });
    alice = stack.browser();
    bob = stack.browser();
    await stack.signIn(alice, 'alice');
    await stack.signIn(bob, 'bob');
  });
  beforeEach(() => upstream.reset());
  afterAll(async () => {
    await stack?.close();
    await upstream?.close();
  });

  /** A request to the BFF written byte for byte: header lines as given, then `content` verbatim. */
  const rawApi = async (browser: TestBrowser, method: string, path: string, lines: string[], content = '') => {
    const cookie = await browser.jar.getCookieString(stack.url);
    const host = new URL(stack.url).host;
    return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nX-CSRF: 1\r\nAccept: application/json\r\nCookie: ${cookie}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${content}`;
  };

  /** Bob's next call gets the answer to his own request, sent on a connection that carried nothing of another's. */
  const expectBobsOwnAnswer = async (tainted: number[] = []) => {
    const before = upstream.mark();
    const res = await bob.api(`${stack.url}/api/todos`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ method: 'GET', target: '/todos', user: 'bob' });
    const { requests } = upstream.since(before);
    expect(requests.map((r) => `${r.method} ${r.target}`)).toEqual(['GET /todos']);
    const conn = upstream.connections[requests[0]!.connection - 1]!;
    expect(tainted).not.toContain(conn.id);
    expect(conn.malformed).toBeUndefined();
    expect(conn.pending.length).toBe(0);
  };

  const HOP_BY_HOP = ['Connection: keep-alive, X-Hop', 'X-Hop: 1', 'Keep-Alive: timeout=5', 'TE: trailers', 'Trailer: X-Sig', 'Upgrade: h2c', 'Proxy-Authorization: Basic YTpi', 'Proxy-Connection: keep-alive'];
  const framings: { name: string; lines: string[]; content: string; sent: string; declaresContent: boolean }[] = [
    { name: 'no framing', lines: [], content: '', sent: '', declaresContent: false },
    { name: 'Content-Length: 0', lines: ['Content-Length: 0'], content: '', sent: '', declaresContent: false },
    { name: 'Content-Length', lines: ['Content-Length: 5'], content: 'hello', sent: 'hello', declaresContent: true },
    { name: 'Content-Length with spaces', lines: ['Content-Length:    5   '], content: 'hello', sent: 'hello', declaresContent: true },
    { name: 'Content-Length with leading zeros', lines: ['Content-Length: 005'], content: 'hello', sent: 'hello', declaresContent: true },
    { name: 'Content-Length duplicated', lines: ['Content-Length: 5', 'Content-Length: 5'], content: 'hello', sent: 'hello', declaresContent: true },
    { name: 'Content-Length as a list', lines: ['Content-Length: 5, 5'], content: 'hello', sent: 'hello', declaresContent: true },
    { name: 'chunked', lines: ['Transfer-Encoding: chunked'], content: '5\r\nhello\r\n0\r\n\r\n', sent: 'hello', declaresContent: true },
    { name: 'chunked, mixed case, with a trailer', lines: ['Transfer-Encoding: ChUnKeD'], content: '2\r\nhe\r\n3\r\nllo\r\n0\r\nX-Sig: 1\r\n\r\n', sent: 'hello', declaresContent: true },
    { name: 'chunked and empty', lines: ['Transfer-Encoding: chunked'], content: '0\r\n\r\n', sent: '', declaresContent: true },
    { name: 'gzip, chunked', lines: ['Transfer-Encoding: gzip, chunked'], content: '5\r\nhello\r\n0\r\n\r\n', sent: 'hello', declaresContent: true },
    { name: 'Content-Length and chunked', lines: ['Content-Length: 5', 'Transfer-Encoding: chunked'], content: '5\r\nhello\r\n0\r\n\r\n', sent: 'hello', declaresContent: true },
    { name: 'chunked and Content-Length', lines: ['Transfer-Encoding: chunked', 'Content-Length: 12'], content: '5\r\nhello\r\n0\r\n\r\n', sent: 'hello', declaresContent: true },
  ];

  it('every method with every framing the browser may send: a 400 before any byte reaches the API, or exactly one well-framed request carrying exactly the content the browser sent', async () => {
    const failures: string[] = [];
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const framing of framings) {
        const label = `${method} with ${framing.name}`;
        const before = upstream.mark();
        const res = await rawRequest(stack.url, await rawApi(alice, method, '/api/things/1', [...HOP_BY_HOP, ...framing.lines], framing.content), { timeoutMs: TIMEOUT_MS + 2000 }).catch(
          (err: Error) => ({ status: 0, error: err.message }) as const,
        );
        // Let any bytes the BFF sent reach the API before looking.
        await sleep(20);
        const { requests, bytes } = upstream.since(before);
        const problems: string[] = [];
        if (res.status === 400) {
          if (bytes !== 0) problems.push(`400, yet ${bytes} bytes reached the API`);
          // The BFF's own refusals are JSON problems (Node's parser refuses some forms first).
          if ((method === 'GET' || method === 'DELETE') && framing.declaresContent && 'json' in res && res.header('content-type')?.includes('json')) {
            if (res.json().error !== 'body_not_allowed') problems.push(`code ${res.json().error}`);
          }
        } else {
          if (['GET', 'HEAD', 'DELETE'].includes(method) && framing.declaresContent) problems.push(`a ${method} declaring content got ${res.status}, not 400`);
          if (res.status !== 200) problems.push(`status ${res.status}${'error' in res ? ` (${res.error})` : ''}`);
          if (requests.length !== 1) problems.push(`${requests.length} requests reached the API: ${requests.map((r) => `${r.method} ${r.target}`).join(', ')}`);
          const req = requests[0];
          if (req) problems.push(...framingProblems(req, method, framing.sent));
        }
        for (const conn of upstream.connections) {
          if (conn.malformed) problems.push(`connection ${conn.id} unparseable: ${conn.malformed}`);
          const open = conn.requests.at(-1);
          if (!conn.closed && (conn.pending.length > 0 || (open && open.body === undefined))) problems.push(`connection ${conn.id} holds a partial request`);
        }
        if (problems.length > 0) failures.push(`${label}: ${problems.join('; ')}`);
        // A connection left in a bad state must not spoil the next case.
        for (const conn of upstream.connections) if (conn.malformed || conn.pending.length > 0) conn.socket.destroy();
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);

  it("a GET declaring content cannot make the API read another request as that content: alice's smuggled request never reaches the API and bob gets the answer to his own request", async () => {
    // The API answers once it has a request's head and then reads the content the head
    // declared, as Node's http server does; that is what lets a proxy desynchronise it.
    upstream.respond = (req) => ({ ...echo(req), at: 'head' });
    try {
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: api\r\n\r\nGET /smuggled-prefix HTTP/1.1\r\nX-Alice: ';
      const post = () => alice.api(`${stack.url}/api/notes`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: smuggled });
      // The head of alice's POST as the API receives it: the length her GET will declare, so
      // that the API reads that head as the GET's content and her POST's content as requests.
      const calibrate = upstream.mark();
      expect((await post()).status).toBe(200);
      const headLength = Buffer.byteLength(upstream.since(calibrate).requests[0]!.head, 'latin1');

      const get = await rawRequest(stack.url, await rawApi(alice, 'GET', '/api/me', [`Content-Length: ${headLength}`], 'x'.repeat(headLength)));
      await post();
      await expectBobsOwnAnswer();
      const targets = upstream.requests.map((r) => r.target);
      expect(targets).not.toContain('/smuggled');
      expect(targets).not.toContain('/smuggled-prefix');
      expect(upstream.requests.filter((r) => r.headers.some(([n]) => n === 'x-alice'))).toEqual([]);
      expect(get.status).toBe(400);
      expect(get.json().error).toBe('body_not_allowed');
      // Its unread content is never parsed on the browser's connection either: that closes.
      expect(get.closed).toBe(true);
    } finally {
      upstream.respond = echo;
    }
  });

  it('a connection to the API on which anything went wrong is never used for another request', async () => {
    const connectionOf = (target: string) => upstream.requests.filter((r) => r.target === target).at(-1)?.connection;
    const expectClosed = (id: number | undefined, ms: number) => upstream.until(() => id !== undefined && upstream.connections[id - 1]!.closed, ms);
    try {
      // The API answers 401 on the head, before the content, and does not read the content.
      upstream.respond = (req) => (req.target === '/early' ? { status: 401, headers: [['WWW-Authenticate', 'Bearer']], at: 'head', readBody: false } : echo(req));
      // Alice's content is a request; its first line goes out with the head, the rest after the answer.
      const [line, rest] = ['GET /smuggled-after-early-answer HTTP/1.1\r\n', 'Host: api\r\n\r\n'];
      const early = await rawConnection(stack.url);
      early.socket.write(await rawApi(alice, 'POST', '/api/early', ['Content-Type: text/plain', `Content-Length: ${line.length + rest.length}`], line));
      await upstream.until(() => early.received().includes('\r\n\r\n'));
      expect(early.received()).toMatch(/^HTTP\/1\.1 502 /);
      early.socket.write(rest);
      await sleep(100);
      early.socket.destroy();
      expect(upstream.requests.map((r) => r.target)).not.toContain('/smuggled-after-early-answer');
      await expectClosed(connectionOf('/early'), 1000);
      await expectBobsOwnAnswer([connectionOf('/early')!]);

      // The API answers on the head and never reads the content, which had gone out whole with
      // it: on a pooled connection the API would read that content as the next request, bob's.
      upstream.respond = (req) => (req.target === '/early-whole' ? { status: 200, headers: [['Content-Type', 'text/plain']], body: 'ok', at: 'head', readBody: false } : echo(req));
      const smuggled = 'DELETE /everything-of-whoever-comes-next HTTP/1.1\r\nHost: api\r\nX-Swallow: ';
      for (let round = 0; round < 5; round++) {
        const answer = await rawRequest(stack.url, await rawApi(alice, 'POST', '/api/early-whole', ['Content-Type: text/plain', `Content-Length: ${smuggled.length}`], smuggled));
        expect(answer.status).toBe(200);
        await expectClosed(connectionOf('/early-whole'), 1000);
        await expectBobsOwnAnswer([connectionOf('/early-whole')!]);
      }
      expect(upstream.requests.map((r) => r.target)).not.toContain('/everything-of-whoever-comes-next');

      // The browser goes away mid-upload: the API's connection closes now, not at the timeout.
      upstream.respond = echo;
      const aborted = await rawConnection(stack.url);
      aborted.socket.write(await rawApi(alice, 'POST', '/api/aborted', ['Content-Type: text/plain', 'Content-Length: 1000'], 'a'.repeat(100)));
      await upstream.until(() => connectionOf('/aborted') !== undefined && upstream.connections[connectionOf('/aborted')! - 1]!.pending.length >= 100);
      aborted.socket.destroy();
      await expectClosed(connectionOf('/aborted'), TIMEOUT_MS / 2);
      await expectBobsOwnAnswer([connectionOf('/aborted')!]);

      // A chunked body past the limit, cut off midway.
      const chunk = 'b'.repeat(1000);
      const tooBig = await rawRequest(
        stack.url,
        await rawApi(alice, 'POST', '/api/too-big', ['Content-Type: text/plain', 'Transfer-Encoding: chunked'], `${`3e8\r\n${chunk}\r\n`.repeat(6)}0\r\n\r\n`),
      );
      expect(tooBig.status).toBe(413);
      expect(tooBig.json().error).toBe('payload_too_large');
      if (connectionOf('/too-big') !== undefined) await expectClosed(connectionOf('/too-big'), 1000);
      await expectBobsOwnAnswer(connectionOf('/too-big') === undefined ? [] : [connectionOf('/too-big')!]);

      // An answer the BFF cannot parse.
      upstream.respond = (req) => (req.target === '/garbled' ? { status: 200, headers: [['Content-Length', 'twelve']] } : echo(req));
      expect((await alice.api(`${stack.url}/api/garbled`)).status).toBe(502);
      await expectClosed(connectionOf('/garbled'), 1000);
      await expectBobsOwnAnswer([connectionOf('/garbled')!]);

      // The browser goes away while a large answer is streaming.
      upstream.respond = (req) => (req.target === '/large' ? { status: 200, headers: [['Content-Type', 'text/plain']], body: 'c'.repeat(200_000), stall: 70_000 } : echo(req));
      const reader = await rawConnection(stack.url);
      reader.socket.write(await rawApi(alice, 'GET', '/api/large', []));
      await upstream.until(() => reader.received().length > 60_000);
      reader.socket.destroy();
      await expectClosed(connectionOf('/large'), 1000);
      await expectBobsOwnAnswer([connectionOf('/large')!]);

      // No answer in time.
      upstream.respond = (req) => (req.target === '/slow' ? 'hang' : echo(req));
      expect((await alice.api(`${stack.url}/api/slow`)).status).toBe(504);
      await expectClosed(connectionOf('/slow'), 1000);
      await expectBobsOwnAnswer([connectionOf('/slow')!]);
    } finally {
      upstream.respond = echo;
    }
  });
});

/** What is wrong with how `req` was framed, given the method and the content the browser sent. */
function framingProblems(req: RecordedRequest, method: string, sent: string): string[] {
  const problems: string[] = [];
  const names = req.headers.map(([n]) => n);
  if (req.method !== method) problems.push(`method ${req.method}`);
  if (req.body === undefined) problems.push('content never completed');
  else if (req.body.toString('latin1') !== sent) problems.push(`content ${JSON.stringify(req.body.toString('latin1'))}, sent ${JSON.stringify(sent)}`);
  const framing = req.headers.filter(([n]) => n === 'content-length' || n === 'transfer-encoding');
  if (framing.length > 1) problems.push(`framing ${JSON.stringify(framing)}`);
  const length = req.headers.find(([n]) => n === 'content-length')?.[1];
  if (length !== undefined && length !== String(Buffer.byteLength(sent))) problems.push(`Content-Length ${length}`);
  for (const hop of ['keep-alive', 'te', 'trailer', 'upgrade', 'x-hop', 'proxy-authorization', 'proxy-connection']) {
    if (names.includes(hop)) problems.push(`forwarded ${hop}`);
  }
  // Content goes on a connection of its own (close); a request without content may be pooled.
  const connection = req.headers.filter(([n]) => n === 'connection').map(([, v]) => v.toLowerCase());
  const allowed = req.body?.length ? ['close'] : ['close', 'keep-alive'];
  if (connection.length !== 1 || !allowed.includes(connection[0]!)) problems.push(`Connection ${JSON.stringify(connection)}`);
  return problems;
}
