import { describe, expect, it } from 'vitest';
import { parseRedisInfo, redisPerRequest } from './redis-server.js';

const info = (get: number, evalsha: number, info: number, cpu: [number, number], memory: number) =>
  [
    '# Commandstats',
    `cmdstat_get:calls=${get},usec=10,usec_per_call=1.00,rejected_calls=0,failed_calls=0`,
    `cmdstat_evalsha:calls=${evalsha},usec=10,usec_per_call=1.00,rejected_calls=0,failed_calls=0`,
    `cmdstat_info:calls=${info},usec=10,usec_per_call=1.00,rejected_calls=0,failed_calls=0`,
    '# CPU',
    `used_cpu_sys:${cpu[0].toFixed(6)}`,
    `used_cpu_user:${cpu[1].toFixed(6)}`,
    'used_cpu_sys_children:0.000000',
    '# Memory',
    `used_memory:${memory}`,
    'used_memory_human:1.00M',
  ].join('\r\n');

describe('parseRedisInfo', () => {
  it('reads calls per command, CPU in µs and used_memory', () => {
    expect(parseRedisInfo(info(7, 2, 1, [0.5, 1.25], 1_048_576))).toEqual({
      calls: { get: 7, evalsha: 2, info: 1 },
      cpuMicros: 1_750_000,
      usedMemory: 1_048_576,
    });
  });
});

describe('redisPerRequest', () => {
  it('gives commands run and Redis CPU per request, leaving out the harness own INFO calls', () => {
    const before = parseRedisInfo(info(100, 50, 10, [1, 1], 0));
    // 1000 requests: 1000 GETs, 1000 scripts whose inner commands count on their own (SET, ZADD).
    const after = {
      ...parseRedisInfo(info(1100, 1050, 12, [1.01, 1.02], 0)),
    };
    after.calls['set'] = 1000;
    after.calls['zadd'] = 1000;
    expect(redisPerRequest(before, after, 1000)).toEqual({
      'redis-server:calls': 4,
      'redis-server:GET': 1,
      'redis-server:EVALSHA': 1,
      'redis-server:SET': 1,
      'redis-server:ZADD': 1,
      'redis-server:cpuMicros': 30,
    });
  });

  it('is empty when no request was answered', () => {
    const snapshot = parseRedisInfo(info(1, 1, 1, [1, 1], 1));
    expect(redisPerRequest(snapshot, snapshot, 0)).toEqual({});
  });
});
