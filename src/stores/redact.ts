/**
 * Store URLs made safe to print. Its own module so that a store (the Redis URL checks) can use
 * it without importing `openStore`, which loads every store's driver.
 */

/** Query parameters whose value is a secret (`password`, `sslpassword`, `pass`, `token`…). */
const SECRET_PARAM = /pass|secret|token/i;

/**
 * A store URL with every password replaced by `***`, for messages and logs: the password of the
 * user info (up to the LAST `@`, so a raw `@` — or `/`, `?`, `#` — inside it is hidden too;
 * drivers read user info up to the last `@` as well), and the value of every query parameter
 * whose name holds `pass`, `secret` or `token` (`?password=`, `?sslpassword=`), percent-encoded
 * names included. When in doubt it hides more (a host after a stray `@` in the query), never less.
 * @param url - a store URL as `TESSERA_STORE` or `--store` spell it (anything else is returned
 *   with the same rules applied)
 * @returns the URL, safe to print
 * @example
 * ```ts
 * redactStoreUrl('postgres://app:p@ss@db/x?password=y') // 'postgres://app:***@db/x?password=***'
 * ```
 */
export function redactStoreUrl(url: string): string {
  const start = url.indexOf('//');
  if (start < 0) return redactQuery(url);
  const head = url.slice(0, start + 2);
  let rest = url.slice(start + 2);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    if (colon >= 0) rest = `${info.slice(0, colon)}:***${rest.slice(at)}`;
  }
  return head + redactQuery(rest);
}

/** `text` with the values of secret-looking query parameters replaced by `***`. */
function redactQuery(text: string): string {
  const q = text.indexOf('?');
  if (q < 0) return text;
  const hash = text.indexOf('#', q);
  const end = hash < 0 ? text.length : hash;
  const pairs = text
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      const name = pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A malformed escape: judge the raw name.
      }
      return SECRET_PARAM.test(decoded) || SECRET_PARAM.test(name) ? `${name}=***` : pair;
    });
  return `${text.slice(0, q + 1)}${pairs.join('&')}${text.slice(end)}`;
}
