/**
 * The option names each mode takes, and the check that refuses the others: a misspelt or foreign
 * option is refused with the nearest known name (unknown-options.ts), and sealed mode refuses an
 * option that needs server-side state.
 */
import { TesseraError } from './errors.js';
import type {
  CommonSessionsOptions,
  CookieOptions,
  CSRFOptions,
  SessionsOptions,
} from './option-types.js';
import { checkOptionNames } from './unknown-options.js';

/**
 * Every option name {@link createSessions} takes, each tagged with the mode that takes it:
 * `common` (both modes) or `server` (it needs server-side session state, so sealed mode refuses
 * it). THE list the unknown-option check reads (`maxAge` is refused with "did you mean
 * absoluteTimeout?"), in the order its messages list them. Adding an option to
 * {@link CommonSessionsOptions} or {@link SessionsOptions} without adding it here, or with the
 * wrong tag, is a compile error (`satisfies`).
 */
const OPTION_NAMES = {
  store: 'server',
  keys: 'common',
  preset: 'common',
  idleTimeout: 'common',
  absoluteTimeout: 'common',
  reauthRestartsAbsolute: 'common',
  touchFraction: 'common',
  rotationGrace: 'server',
  theftPolicy: 'server',
  userAgentPolicy: 'server',
  ipPolicy: 'server',
  encryptData: 'server',
  maxDataBytes: 'server',
  sessionLimit: 'server',
  maxRetries: 'server',
  cookie: 'common',
  csrf: 'common',
  guessLimiter: 'server',
  validate: 'common',
  allowInsecure: 'common',
  now: 'common',
  clock: 'common',
  clockSkewMs: 'server',
  logger: 'common',
} as const satisfies Record<keyof CommonSessionsOptions, 'common'> &
  Record<Exclude<keyof SessionsOptions, keyof CommonSessionsOptions>, 'server'>;

/** Whether `name` is an option of the server-side engine only. */
function serverOnly(name: string): boolean {
  return (
    Object.hasOwn(OPTION_NAMES, name) &&
    OPTION_NAMES[name as keyof typeof OPTION_NAMES] === 'server'
  );
}

/** The names of the nested option objects, checked like the top level. */
const COMMON_NESTED_NAMES = {
  cookie: Object.keys({
    name: true,
    persistent: true,
    sameSite: true,
    secure: true,
    httpOnly: true,
    path: true,
    domain: true,
  } as const satisfies Record<keyof CookieOptions, true>),
  csrf: Object.keys({
    enabled: true,
    origins: true,
    headerName: true,
    fieldName: true,
    allowSameSite: true,
    reportOnly: true,
  } as const satisfies Record<keyof CSRFOptions, true>),
} as const;

/**
 * Refuse option names {@link createSessions} does not know, naming the nearest known one (the
 * check `resolveOptions` runs; `tessera doctor` runs it on a configuration it reviews).
 * @param o - the options
 * @param extraNames - names the caller handles itself (sealed mode's `revocation`)
 * @throws TesseraError `ERR_CONFIG` for an unknown name, or a nested option that is no object
 */
export function checkOptionNamesOf(o: object, extraNames: readonly string[] = []): void {
  checkOptionNames(o, {
    names: [...Object.keys(OPTION_NAMES), ...extraNames],
    nested: { ...COMMON_NESTED_NAMES, sessionLimit: ['max', 'policy'] },
  });
}

/**
 * Refuse, for sealed-cookie mode, an option that needs server-side session state (with
 * `ERR_UNSUPPORTED`, naming it), then any option name it does not know (as
 * {@link checkOptionNamesOf} does).
 * @param o - the options
 * @param extraNames - names sealed mode handles itself (`revocation`)
 * @throws TesseraError `ERR_UNSUPPORTED` for a server-only option, `ERR_CONFIG` for an unknown one
 */
export function checkSealedOptionNames(o: object, extraNames: readonly string[]): void {
  for (const [name, value] of Object.entries(o)) {
    if (serverOnly(name) && value !== undefined) {
      throw new TesseraError(
        'ERR_UNSUPPORTED',
        `The option "${name}" needs server-side session state, which sealed-cookie mode does not have (see docs/sealed.md).`,
      );
    }
  }
  checkOptionNames(o, {
    // A server-only name left undefined is no option at all.
    names: [...Object.keys(OPTION_NAMES), ...extraNames],
    nested: COMMON_NESTED_NAMES,
  });
}
