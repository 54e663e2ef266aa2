import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVcgencmd, thermalSnapshot, wasThrottled, zoneThrottle } from '@s4op/agent';

const root = mkdtempSync(path.join(os.tmpdir(), 's4op-thermal-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function sysfs(name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  for (const [f, v] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), `${v}\n`);
  }
  return dir;
}

describe('thermal honesty', () => {
  it('decodes vcgencmd get_throttled bits', () => {
    expect(parseVcgencmd('throttled=0x0')).toEqual({
      source: 'vcgencmd',
      raw: '0x0',
      now: false,
      since_boot: false,
      flags: [],
    });
    const hot = parseVcgencmd('throttled=0x50005\n')!;
    expect(hot.now).toBe(true);
    expect(hot.since_boot).toBe(true);
    expect(hot.flags).toEqual(['under-voltage', 'throttled', 'under-voltage-occurred', 'throttling-occurred']);
    const past = parseVcgencmd('throttled=0x80000')!;
    expect([past.now, past.since_boot, past.flags]).toEqual([false, true, ['soft-temperature-limit-occurred']]);
    expect(parseVcgencmd('VCHI initialization failed')).toBeNull();
  });

  it('reads thermal zones: at the passive trip point means throttled', async () => {
    const cool = sysfs('cool', {
      'thermal_zone0/type': 'cpu-thermal',
      'thermal_zone0/temp': '48312',
      'thermal_zone0/trip_point_0_type': 'passive',
      'thermal_zone0/trip_point_0_temp': '80000',
      'thermal_zone0/trip_point_1_type': 'critical',
      'thermal_zone0/trip_point_1_temp': '90000',
    });
    expect(await zoneThrottle(cool)).toMatchObject({ source: 'thermal_zone', now: false, flags: [] });
    const hot = sysfs('hot', {
      'thermal_zone0/type': 'cpu-thermal',
      'thermal_zone0/temp': '81500',
      'thermal_zone0/trip_point_0_type': 'passive',
      'thermal_zone0/trip_point_0_temp': '80000',
    });
    const t = (await zoneThrottle(hot))!;
    expect(t.now).toBe(true);
    expect(t.flags).toEqual(['cpu-thermal-at-passive-trip']);
    expect(t.raw).toContain('81.5°C');
    const cooling = sysfs('cooling', {
      'thermal_zone0/type': 'soc',
      'thermal_zone0/temp': '50000',
      'cooling_device0/type': 'cpufreq-cpu0',
      'cooling_device0/cur_state': '2',
    });
    expect((await zoneThrottle(cooling))!.flags).toEqual(['cpu-cooling-active']);
    expect(await zoneThrottle(path.join(root, 'absent'))).toBeNull();
  });

  it('flags a result throttled before, after, or newly during the run', () => {
    const snap = (now: boolean, since: boolean) => ({
      temperature_c: 50,
      cpu_mhz: 1500,
      throttle: { source: 'vcgencmd' as const, raw: '', now, since_boot: since, flags: [] },
    });
    expect(wasThrottled(snap(false, false), snap(false, false))).toBe(false);
    expect(wasThrottled(snap(true, true), snap(false, true))).toBe(true);
    expect(wasThrottled(snap(false, false), snap(false, true))).toBe(true);
    expect(wasThrottled(snap(false, true), snap(false, true))).toBe(false);
    expect(
      wasThrottled(
        { temperature_c: null, cpu_mhz: null, throttle: null },
        { temperature_c: null, cpu_mhz: null, throttle: null },
      ),
    ).toBe(false);
  });

  it('takes a snapshot of this machine without failing', async () => {
    const s = await thermalSnapshot();
    expect(s.temperature_c === null || Number.isFinite(s.temperature_c)).toBe(true);
    expect(s.cpu_mhz === null || s.cpu_mhz > 0).toBe(true);
  });
});
