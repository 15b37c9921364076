/** Facts recorded with every result: the machine, Node, package versions, services. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import type { Service } from './matrix.js';

/** The machine a run happened on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  kernel: string;
  node: string;
  loadAverage: number[];
}

/**
 * Describes this machine.
 *
 * @returns CPU model, core count, memory, OS, Node version and the 1/5/15-minute load.
 * @example
 * ```ts
 * const machine = machineInfo();
 * ```
 */
export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    node: process.version,
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

const require = createRequire(import.meta.url);
const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');

/**
 * Reads the installed version of each package from its own package.json.
 *
 * @param names - Package names (`tessera-session` is this repository).
 * @returns name → version (`not installed` when absent).
 * @example
 * ```ts
 * packageVersions(['express']); // { express: '5.3.0' }
 * ```
 */
export function packageVersions(names: Iterable<string>): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of [...new Set(names)].sort()) {
    try {
      const file = name === 'tessera-session' ? join(root, 'package.json') : findPackageJson(name);
      versions[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      versions[name] = 'not installed';
    }
  }
  return versions;
}

/** Finds a package's package.json even when its `exports` hide it. */
function findPackageJson(name: string): string {
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    return join(root, 'node_modules', name, 'package.json');
  }
}

/** The service URLs the benchmarks use. */
export const SERVICE_URLS: Record<Service, string> = {
  // Read when asked: `--redis private` points REDIS_URL at the run's own server after start-up.
  get redis() {
    return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  },
  get postgres() {
    return process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  },
};

/**
 * Checks that a service accepts TCP connections (within 1 s).
 *
 * @param service - The service.
 * @returns True when reachable.
 * @example
 * ```ts
 * if (!(await serviceReachable('redis'))) console.warn('Redis down: skipping');
 * ```
 */
export function serviceReachable(service: Service): Promise<boolean> {
  const url = new URL(SERVICE_URLS[service]);
  const port = Number(url.port) || (service === 'redis' ? 6379 : 5432);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
