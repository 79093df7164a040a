/**
 * Tells this app's other tabs about sign-in and sign-out (same origin only). A tab that learns
 * it is signed out (a 401, /auth/session, or its own Sign out) says so, and every other tab
 * shows "You have been signed out" without asking the BFF. Carries no token and no user data.
 */
export type SessionMessage = { type: 'signed-out' } | { type: 'signed-in' };

const CHANNEL_NAME = 'bff-session';

let channel: BroadcastChannel | null | undefined;

function open(): BroadcastChannel | null {
  // Older browsers without BroadcastChannel still get the visibility and 401 checks.
  if (channel === undefined) channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;
  return channel;
}

export function announce(message: SessionMessage) {
  open()?.postMessage(message);
}

export function onAnnouncement(listener: (message: SessionMessage) => void): () => void {
  const ch = open();
  if (!ch) return () => {};
  const handler = (event: MessageEvent) => {
    const data = event.data as Partial<SessionMessage> | null;
    if (data?.type === 'signed-out' || data?.type === 'signed-in') listener({ type: data.type });
  };
  ch.addEventListener('message', handler);
  return () => ch.removeEventListener('message', handler);
}
