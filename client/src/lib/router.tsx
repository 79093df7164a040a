import { useSyncExternalStore, type MouseEvent, type ReactNode } from 'react';

/**
 * A router of two routes needs no library: the path lives in the URL, history.pushState moves
 * it, and every reader subscribes to one event. Unknown paths still render (a "not found" view),
 * and the BFF serves index.html for any path, so deep links and returnTo work.
 */
const NAVIGATED = 'spa:navigated';

function subscribe(onChange: () => void) {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATED, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATED, onChange);
  };
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function navigate(to: string) {
  if (to === window.location.pathname) return;
  window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATED));
}

/** The path and query the user is on: what "Sign in" comes back to. */
export function currentLocation(): string {
  return `${window.location.pathname}${window.location.search}`;
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const path = usePath();
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    // Let the browser handle new tabs and windows.
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} className={className} onClick={onClick} aria-current={path === to ? 'page' : undefined}>
      {children}
    </a>
  );
}
