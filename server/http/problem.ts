import type { Context, Next } from 'koa';
import type { ErrorCode, Problem } from '../../shared/api';
import { HttpError } from '../errors';
import type { Logger } from '../log';

const codeForStatus = new Map<number, ErrorCode>([
  [400, 'bad_request'],
  [401, 'unauthenticated'],
  [404, 'not_found'],
  [405, 'method_not_allowed'],
  [413, 'payload_too_large'],
  [414, 'bad_request'],
  [431, 'bad_request'],
  [502, 'upstream_unavailable'],
  [503, 'store_unavailable'],
  [504, 'upstream_timeout'],
]);

/** The outermost middleware: every error becomes a JSON problem; no stack trace ever leaves. */
export function problemResponses(log: Logger) {
  return async function renderProblems(ctx: Context, next: Next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, 'not_found', 'Not found.');
    } catch (err) {
      const problem = toProblem(err);
      if (problem.status >= 500) {
        log.error('request.failed', { requestId: ctx.state.requestId, route: ctx.path, code: problem.body.error, reason: describe(err) });
      }
      ctx.status = problem.status;
      // Keep a stricter no-store policy a route already set (back-channel: "no-cache, no-store").
      if (!/no-store/.test(ctx.response.get('Cache-Control'))) ctx.set('Cache-Control', 'no-store');
      for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
      ctx.body = problem.body;
    }
  };
}

function toProblem(err: unknown): { status: number; body: Problem; headers: Record<string, string> } {
  if (err instanceof HttpError) {
    return {
      status: err.status,
      body: { error: err.code, message: err.expose ? err.message : 'Something went wrong.', ...(err.expose && err.signInUrl ? { signInUrl: err.signInUrl } : {}) },
      headers: err.headers ?? {},
    };
  }
  // Koa's own errors (ctx.throw, body limits, bad cookies): keep client mistakes as 4xx.
  const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
  if (status >= 400 && status < 500) {
    return { status, body: { error: codeForStatus.get(status) ?? 'bad_request', message: 'The request was not understood.' }, headers: {} };
  }
  return { status: 500, body: { error: 'internal_error', message: 'Something went wrong.' }, headers: {} };
}

/** An error's class and message, for logs only; messages we create never hold secrets. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 3; depth++) {
    if (e instanceof Error) {
      const code = (e as { errorCode?: unknown }).errorCode;
      parts.push(`${e.name}${typeof code === 'string' ? `(${code})` : ''}: ${e.message.split('\n')[0]}`);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' <- ').slice(0, 500);
}
