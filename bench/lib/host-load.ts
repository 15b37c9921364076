/**
 * The machine's load around a measured window: the 1-minute load average, and the CPU the whole
 * host spent (from /proc/stat) minus what the server under test and this harness spent, i.e. the
 * other work on the host (other helpers' test suites, the Redis server for a Redis
 * configuration). Cheap: two reads of /proc/stat per window. Off Linux, only the load average.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** A snapshot taken at a window's edge. */
export interface HostSnapshot {
  /** performance.now(), ms. */
  at: number;
  /** Busy host CPU time since boot (user + nice + system + irq + softirq + steal), µs; NaN off Linux. */
  busyMicros: number;
  /** This (harness) process's user + system CPU, µs. */
  harnessMicros: number;
}

/** The load over one window. */
export interface HostLoad {
  /** 1-minute load average at the end of the window. */
  loadAverage: number;
  /** Cores' worth of CPU the whole host was busy with over the window (NaN off Linux). */
  hostBusyCores: number;
  /** Cores' worth of CPU spent by neither the server under test nor the harness (NaN off Linux). */
  otherBusyCores: number;
  /** Cores' worth of CPU the harness (load driver) spent. */
  harnessCores: number;
}

/** Clock ticks per second of /proc/stat (USER_HZ: 100 on every Linux this runs on). */
const USER_HZ = 100;

function hostBusyMicros(): number {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is inside user already)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return (busy * 1_000_000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/**
 * Takes a snapshot at a window's edge.
 *
 * @returns The host's and this process's CPU so far.
 * @example
 * ```ts
 * const before = hostSnapshot();
 * ```
 */
export function hostSnapshot(): HostSnapshot {
  const cpu = process.cpuUsage();
  return {
    at: performance.now(),
    busyMicros: hostBusyMicros(),
    harnessMicros: cpu.user + cpu.system,
  };
}

/**
 * The load over a window, given the server's own CPU over it.
 *
 * @param before - Snapshot at the window's start.
 * @param after - Snapshot at its end.
 * @param serverMicros - The server's CPU over the window, µs (from its marks).
 * @returns Load average and busy cores.
 * @example
 * ```ts
 * const load = hostLoad(before, hostSnapshot(), cpuMicros);
 * ```
 */
export function hostLoad(
  before: HostSnapshot,
  after: HostSnapshot,
  serverMicros: number,
): HostLoad {
  const wall = (after.at - before.at) * 1000;
  const busy = after.busyMicros - before.busyMicros;
  const harness = after.harnessMicros - before.harnessMicros;
  return {
    loadAverage: loadavg()[0] ?? 0,
    hostBusyCores: busy / wall,
    otherBusyCores: Math.max(0, busy - harness - serverMicros) / wall,
    harnessCores: harness / wall,
  };
}
