/**
 * The IdP sends the user back from its end-session page to `/?state=…` (the state our
 * end-session URL carried). Taken out of the address bar before anything reads it, so it never
 * ends up in a returnTo or a bookmark. Returns whether the user arrived that way.
 */
export function takeSignOutReturn(): boolean {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('state')) return false;
  url.searchParams.delete('state');
  window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`);
  return true;
}
