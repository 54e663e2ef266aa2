/**
 * Temperature, clock and throttling, read before and after each measurement so a figure taken on a hot,
 * slowed-down board is flagged instead of trusted. Sources, best first: a Raspberry Pi's
 * `vcgencmd get_throttled` (firmware flags, with sticky "since boot" bits), then Linux thermal zones
 * (a zone at or above its passive trip point, or an active CPU cooling device, means throttling).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import type { ThermalSnapshot, ThrottleState } from '@s4op/shared';

const THERMAL = '/sys/class/thermal';
const CPUFREQ = '/sys/devices/system/cpu';

async function read(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** vcgencmd get_throttled bits (Raspberry Pi firmware documentation). */
const VC_BITS: [number, string][] = [
  [0, 'under-voltage'],
  [1, 'arm-frequency-capped'],
  [2, 'throttled'],
  [3, 'soft-temperature-limit'],
  [16, 'under-voltage-occurred'],
  [17, 'arm-frequency-capped-occurred'],
  [18, 'throttling-occurred'],
  [19, 'soft-temperature-limit-occurred'],
];

/** Parses `throttled=0x50005` into flags. Exported for tests. */
export function parseVcgencmd(output: string): ThrottleState | null {
  const m = /throttled=(0x[0-9a-fA-F]+)/.exec(output);
  if (!m) return null;
  const word = parseInt(m[1]!, 16);
  const flags = VC_BITS.filter(([bit]) => (word >>> bit) & 1).map(([, name]) => name);
  return { source: 'vcgencmd', raw: m[1]!, now: (word & 0xf) !== 0, since_boot: (word & 0xf0000) !== 0, flags };
}

/** Set once vcgencmd turns out not to exist here, so later snapshots skip the spawn. */
let noVcgencmd = false;

function vcgencmd(): Promise<string | null> {
  if (noVcgencmd) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile('vcgencmd', ['get_throttled'], { timeout: 2000 }, (err, stdout) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') noVcgencmd = true;
      resolve(err ? null : stdout);
    });
  });
}

interface Zone {
  name: string;
  type: string;
  milli_c: number;
  passive_milli_c: number | null;
}

async function zones(root = THERMAL): Promise<Zone[]> {
  let entries: string[];
  try {
    entries = (await readdir(root)).filter((e) => e.startsWith('thermal_zone'));
  } catch {
    return [];
  }
  const out: Zone[] = [];
  for (const name of entries) {
    const temp = Number(await read(`${root}/${name}/temp`));
    if (!Number.isFinite(temp) || temp <= -273000) continue;
    let passive: number | null = null;
    for (let i = 0; i < 16; i++) {
      const type = await read(`${root}/${name}/trip_point_${i}_type`);
      if (type === null) break;
      const t = Number(await read(`${root}/${name}/trip_point_${i}_temp`));
      if (type === 'passive' && Number.isFinite(t) && t > 0) passive = passive === null ? t : Math.min(passive, t);
    }
    out.push({ name, type: (await read(`${root}/${name}/type`)) ?? '?', milli_c: temp, passive_milli_c: passive });
  }
  return out;
}

/** CPU cooling devices (cpufreq or cpu-idle throttling) with a non-zero state are throttling now. */
async function cpuCooling(root = THERMAL): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(root)).filter((e) => e.startsWith('cooling_device'));
  } catch {
    return [];
  }
  const active: string[] = [];
  for (const name of entries) {
    const type = (await read(`${root}/${name}/type`)) ?? '';
    if (!/cpu|processor/i.test(type)) continue;
    const state = Number(await read(`${root}/${name}/cur_state`));
    if (state > 0) active.push(`${name}(${type})=${state}`);
  }
  return active;
}

/** Thermal-zone throttle state, or null when the board exposes no zones. Exported for tests (root). */
export async function zoneThrottle(root = THERMAL): Promise<ThrottleState | null> {
  const zs = await zones(root);
  const cooling = await cpuCooling(root);
  if (zs.length === 0 && cooling.length === 0) return null;
  const hot = zs.filter((z) => z.passive_milli_c !== null && z.milli_c >= z.passive_milli_c);
  const flags = [...hot.map((z) => `${z.type}-at-passive-trip`), ...(cooling.length ? ['cpu-cooling-active'] : [])];
  const raw = [
    ...zs.map(
      (z) =>
        `${z.name}(${z.type})=${z.milli_c / 1000}°C${z.passive_milli_c ? `/trip ${z.passive_milli_c / 1000}` : ''}`,
    ),
    ...cooling,
  ].join(' ');
  return { source: 'thermal_zone', raw: raw.slice(0, 1024), now: flags.length > 0, since_boot: false, flags };
}

async function temperature(): Promise<number | null> {
  const zs = await zones();
  const cpu = zs.find((z) => /cpu|soc|x86_pkg/i.test(z.type)) ?? zs[0];
  return cpu ? Math.round(cpu.milli_c / 100) / 10 : null;
}

async function cpuMhz(): Promise<number | null> {
  const freqs: number[] = [];
  for (let i = 0; i < os.cpus().length; i++) {
    const khz = Number(await read(`${CPUFREQ}/cpu${i}/cpufreq/scaling_cur_freq`));
    if (Number.isFinite(khz) && khz > 0) freqs.push(khz / 1000);
  }
  if (freqs.length) return Math.round(freqs.reduce((a, b) => a + b, 0) / freqs.length);
  const speeds = os
    .cpus()
    .map((c) => c.speed)
    .filter((s) => s > 0);
  return speeds.length ? Math.round(speeds.reduce((a, b) => a + b, 0) / speeds.length) : null;
}

export async function thermalSnapshot(): Promise<ThermalSnapshot> {
  const vc = await vcgencmd();
  const throttle = (vc ? parseVcgencmd(vc) : null) ?? (await zoneThrottle());
  return { temperature_c: await temperature(), cpu_mhz: await cpuMhz(), throttle };
}

/** A result is flagged when throttled before or after, or when a sticky flag appeared during the run. */
export function wasThrottled(before: ThermalSnapshot, after: ThermalSnapshot): boolean {
  const now = Boolean(before.throttle?.now || after.throttle?.now);
  const newSticky = Boolean(after.throttle?.since_boot && !before.throttle?.since_boot);
  return now || newSticky;
}
