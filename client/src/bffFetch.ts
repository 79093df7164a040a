import type { ErrorCode, Problem } from '../../shared/api';
import { isSignInPath, takeClaimsSignIn } from './features/session/claimsChallenge';

/** Codes the SPA gives failures that never reached the BFF's problem renderer. */
export type ClientErrorCode = 'network_error' | 'unexpected_response';

/**
 * A failed BFF call. `code` is the problem's stable code when the BFF sent one (the API proxy
 * may pass on a downstream API's own codes too), so callers switch on it, never on `message`.
 */
export class BffError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | ClientErrorCode | (string & {}),
    message: string,
    /** With 401 reauthenticate after a claims challenge: the BFF's sign-in path that satisfies it. */
    readonly signInUrl?: string,
  ) {
    super(message);
    this.name = 'BffError';
  }
}

/** Set once the page is on its way to a sign-in: later 401s of the same page change nothing. */
let leaving = false;

type SignedOutListener = (error: BffError) => void;
const signedOutListeners = new Set<SignedOutListener>();

/**
 * Calls `listener` whenever the BFF answers 401: the session is gone, whatever the call was;
 * or (the error has a signInUrl) the API wants a new sign-in that this page did not start by
 * itself, because it already did for this route a moment ago.
 */
export function onSignedOut(listener: SignedOutListener): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export interface BffRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

/**
 * The one way the SPA talks to the BFF: same origin only, the session cookie and the anti-CSRF
 * header on every call (a custom header forces a CORS preflight the BFF never grants).
 */
export async function bffFetch<T>(path: string, request: BffRequest = {}): Promise<T> {
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error(`bffFetch takes a same-origin path, not ${path}`);
  const headers: Record<string, string> = { 'X-CSRF': '1', Accept: 'application/json' };
  if (request.body !== undefined) headers['Content-Type'] = 'application/json';
  // Where a sign-in the API asks for (a claims challenge) should come back to.
  if (/^\/api(?:\/|$)/.test(path)) headers['X-Return-To'] = currentRoute();

  let response: Response;
  try {
    response = await fetch(path, {
      method: request.method ?? 'GET',
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      signal: request.signal,
    });
  } catch (err) {
    if (request.signal?.aborted) throw err;
    throw new BffError(0, 'network_error', 'The server could not be reached. Check your connection and try again.');
  }

  const body = await readJson(response);
  if (!response.ok) {
    const error = toError(response.status, body);
    if (response.status === 401) {
      // A claims challenge: the whole page goes to the sign-in that satisfies it, not "signed out".
      if (error.signInUrl && (leaving || takeClaimsSignIn(currentRoute(), window.sessionStorage, Date.now()))) {
        if (!leaving) window.location.assign(error.signInUrl);
        leaving = true;
        throw error;
      }
      for (const listener of signedOutListeners) listener(error);
    }
    throw error;
  }
  if (response.status === 204) return undefined as T;
  if (body === undefined) throw new BffError(response.status, 'unexpected_response', 'The server sent an answer this page cannot read.');
  return body as T;
}

async function readJson(response: Response): Promise<unknown> {
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(response.headers.get('content-type') ?? '')) return undefined;
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

function toError(status: number, body: unknown): BffError {
  if (isProblem(body)) {
    const signInUrl = status === 401 && body.error === 'reauthenticate' && isSignInPath(body.signInUrl, window.location.origin) ? body.signInUrl : undefined;
    return new BffError(status, body.error, body.message, signInUrl);
  }
  const error = typeof (body as { error?: unknown } | undefined)?.error === 'string' ? (body as { error: string }).error : undefined;
  return new BffError(status, error ?? 'unexpected_response', `The server answered ${status}.`);
}

function isProblem(body: unknown): body is Problem {
  const candidate = body as Partial<Problem> | undefined;
  return typeof candidate?.error === 'string' && typeof candidate.message === 'string';
}

/** The route the user is on (path and query): what X-Return-To names. */
function currentRoute(): string {
  return `${window.location.pathname}${window.location.search}`;
}
